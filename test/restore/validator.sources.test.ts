import { beforeEach, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/common/json.js';
import { defaultPolicy, type Policy } from '../../src/policy/policy.js';
import { dynamoSnapshotSource, gkePodSnapshotSource, type RestoreSource } from '../../src/policy/sources.js';
import { RestoreMutator } from '../../src/restore/mutator.js';
import { RestoreValidator } from '../../src/restore/validator.js';
import { deadlineIn } from '../support/deadlines.js';
import { FakePorts } from '../support/fake-ports.js';
import { createRequest, readyCheckpoint } from '../support/fixtures.js';

const DYNAMO = dynamoSnapshotSource();
const GKE = gkePodSnapshotSource();
const policy: Policy = { ...defaultPolicy(), sources: [{ preset: 'kep-5823' }, DYNAMO, GKE] };

function annotatedPod(annotations: Record<string, string>, spec: JsonObject = {}): JsonObject {
  return { metadata: { name: 'worker', namespace: 'team-a', annotations }, spec: { containers: [{ name: 'c', image: 'img' }], ...spec } };
}

describe.each([
  ['dynamo-snapshot', DYNAMO, 'nvidia.com/restore-from'],
  ['gke-pod-snapshot', GKE, 'podsnapshot.gke.io/ps-name'],
] as [string, RestoreSource, string][])('restores through %s', (name, source, annotation) => {
  let fake: FakePorts;
  const decide = (pod: JsonObject, webhook: 'validate' | 'mutate' = 'validate', user = 'alice') => {
    const ports = { ...fake.ports(), policy: () => policy };
    const decider = webhook === 'validate' ? new RestoreValidator(ports) : new RestoreMutator(ports);
    const request = createRequest(pod);
    return decider.decide({ ...request, userInfo: { ...request.userInfo, username: user } }, deadlineIn(1000));
  };
  beforeEach(() => {
    fake = new FakePorts();
    fake.grants.add('alice/team-a/snap');
    // Shared storage: the snapshot has no node and no template.
    fake.checkpoints.set('team-a/snap', readyCheckpoint({ nodeName: undefined, template: undefined }));
  });

  it('allows a granted requester, asking for the source verb on its resource, with no placement and no template', async () => {
    const decision = await decide(annotatedPod({ [annotation]: 'snap' }));
    expect(decision).toMatchObject({ allowed: true, outcome: 'restore-allowed' });
    expect(decision.auditAnnotations).toStrictEqual({ source: name, checkpoint: 'snap', decision: 'allowed' });
    expect(fake.accesses).toEqual([{ verb: 'restore', ...source.resource, namespace: 'team-a', name: 'snap' }]);
    expect(fake.sourcesRead).toEqual([name]);
    expect(fake.calls).not.toContain('template team-a/snap');
  });

  it('does not place the Pod (the mutating webhook only authorizes)', async () => {
    const decision = await decide(annotatedPod({ [annotation]: 'snap' }), 'mutate');
    expect(decision).toMatchObject({ allowed: true });
    expect(decision.patch).toBeUndefined();
    expect(decision.auditAnnotations).toStrictEqual({ source: name, checkpoint: 'snap', decision: 'allowed' });
  });

  it('denies a requester without the grant (403), naming the annotation, before reading the snapshot', async () => {
    const decision = await decide(annotatedPod({ [annotation]: 'snap' }), 'validate', 'bob');
    expect(decision.status).toMatchObject({ code: 403 });
    expect(decision.status?.message).toContain(`creating a Pod with annotation "${annotation}" requires the "restore" verb`);
    expect(decision.status?.message).toContain(`podsnapshots.${source.resource.group} "snap"`);
    expect(fake.sourcesRead).toEqual([]);
  });

  it('denies a missing and a not-ready snapshot for a granted requester', async () => {
    fake.grants.add('alice/team-a/gone');
    expect((await decide(annotatedPod({ [annotation]: 'gone' }))).outcome).toBe('checkpoint-not-found');
    fake.checkpoints.set('team-a/snap', readyCheckpoint({ nodeName: undefined, ready: false, notReadyReason: 'InProgress' }));
    const notReady = await decide(annotatedPod({ [annotation]: 'snap' }));
    expect(notReady.outcome).toBe('checkpoint-not-ready');
    expect(notReady.status?.message).toContain('condition Ready=True');
  });

  it('denies a value that cannot name an object (422) before any call', async () => {
    for (const value of ['', 'Snap', '../snap', 'a'.repeat(254)]) {
      const decision = await decide(annotatedPod({ [annotation]: value }));
      expect(decision.status).toMatchObject({ code: 422 });
      expect(decision.status?.message).toContain(`annotation "${annotation}" must name an object`);
    }
    expect(fake.calls).toEqual([]);
  });

  it('ignores the node name and a spec that no template describes', async () => {
    const decision = await decide(annotatedPod({ [annotation]: 'snap' }, { nodeName: 'some-node', hostNetwork: true }));
    expect(decision.allowed).toBe(true);
  });
});

describe('sources together', () => {
  let fake: FakePorts;
  beforeEach(() => {
    fake = new FakePorts();
  });

  it('denies a Pod that names two sources (422) before any call', async () => {
    const pod = { ...annotatedPod({ 'nvidia.com/restore-from': 'a' }), spec: { containers: [], restoreFrom: { name: 'b' } } };
    const decision = await new RestoreValidator({ ...fake.ports(), policy: () => policy }).decide(createRequest(pod), deadlineIn(1000));
    expect(decision.status).toMatchObject({ code: 422 });
    expect(decision.outcome).toBe('ambiguous-reference');
    expect(decision.status?.message).toBe(
      'a Pod may restore from one source only; this one references spec.restoreFrom (kep-5823) and annotation "nvidia.com/restore-from" (dynamo-snapshot)',
    );
    expect(decision.auditAnnotations.source).toBe('kep-5823,dynamo-snapshot');
    expect(fake.calls).toEqual([]);
  });

  it('lets an annotation through untouched when its source is not enabled', async () => {
    const decision = await new RestoreValidator(fake.ports()).decide(createRequest(annotatedPod({ 'nvidia.com/restore-from': 'a' })), deadlineIn(1000));
    expect(decision.outcome).toBe('not-a-restore');
  });

  it('denies a preset annotation while the configured policy is not loaded, whatever the defaults enable', async () => {
    const ports = { ...fake.ports(), policyUnavailable: () => 'restore-guard has not loaded its configured policy' };
    const decision = await new RestoreValidator(ports).decide(createRequest(annotatedPod({ 'podsnapshot.gke.io/ps-name': 'a' })), deadlineIn(1000));
    expect(decision).toMatchObject({ allowed: false, outcome: 'policy-not-loaded' });
    expect(decision.auditAnnotations.source).toBe('gke-pod-snapshot');
    const plain = await new RestoreValidator(ports).decide(createRequest(annotatedPod({})), deadlineIn(1000));
    expect(plain.outcome).toBe('not-a-restore');
  });

  it('matches a preset once while the policy is not loaded, also when the last policy enabled it', async () => {
    const ports = { ...fake.ports(), policy: () => policy, policyUnavailable: () => 'the policy ConfigMap could not be read' };
    const decision = await new RestoreValidator(ports).decide(createRequest(annotatedPod({ 'nvidia.com/restore-from': 'a' })), deadlineIn(1000));
    expect(decision.outcome).toBe('policy-not-loaded');
    expect(decision.auditAnnotations.source).toBe('dynamo-snapshot');
  });

  it('says which annotation must be a string', async () => {
    const pod = annotatedPod({});
    (pod.metadata as JsonObject).annotations = { 'nvidia.com/restore-from': 7 };
    const decision = await new RestoreValidator({ ...fake.ports(), policy: () => policy }).decide(createRequest(pod), deadlineIn(1000));
    expect(decision.status?.message).toBe('annotation "nvidia.com/restore-from" must be a string');
  });
});
