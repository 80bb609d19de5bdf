import { beforeEach, describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../src/admission/request.js';
import type { JsonObject } from '../../src/common/json.js';
import { defaultPolicy, type Policy } from '../../src/policy/policy.js';
import { dynamoSnapshotSource } from '../../src/policy/sources.js';
import { carriesReference, controllerOwner } from '../../src/restore/delegation.js';
import { DependencyError } from '../../src/restore/ports.js';
import { RestoreValidator } from '../../src/restore/validator.js';
import { workloadKinds } from '../../src/restore/workloads.js';
import { deadlineIn } from '../support/deadlines.js';
import { FakePorts } from '../support/fake-ports.js';
import { alice, createRequest, KEP, readyCheckpoint } from '../support/fixtures.js';

const DYNAMO = dynamoSnapshotSource();
const RS_CONTROLLER = 'system:serviceaccount:kube-system:replicaset-controller';
const delegating: Policy = {
  ...defaultPolicy(),
  sources: [{ preset: 'kep-5823' }, DYNAMO],
  workloads: { ...defaultPolicy().workloads, delegation: 'enabled' },
};
const kinds = workloadKinds(delegating);
const RS = kinds.find((k) => k.kind === 'ReplicaSet');

const annotations = (snapshot: string) => ({ 'nvidia.com/restore-from': snapshot });
const owned = (owner: { kind: string; name: string; uid: string; apiVersion?: string; controller?: boolean }) => [
  { apiVersion: owner.apiVersion ?? 'apps/v1', kind: owner.kind, name: owner.name, uid: owner.uid, controller: owner.controller ?? true },
];
const replicaSet = (snapshot: string, uid = 'rs-uid'): JsonObject => ({
  metadata: { name: 'web-1', namespace: 'team-a', uid },
  spec: { template: { metadata: { annotations: annotations(snapshot) }, spec: { containers: [] } } },
});
const pod = (snapshot: string, ownerReferences: JsonObject[] = owned({ kind: 'ReplicaSet', name: 'web-1', uid: 'rs-uid' })): JsonObject => ({
  metadata: { name: 'web-1-abc', namespace: 'team-a', annotations: annotations(snapshot), ownerReferences },
  spec: { containers: [] },
});

describe('controllerOwner and carriesReference', () => {
  it('follows only the controller ownerReference of a workload kind', () => {
    expect(controllerOwner(pod('s'), kinds)).toMatchObject({ kind: { kind: 'ReplicaSet' }, name: 'web-1', uid: 'rs-uid' });
    expect(controllerOwner(pod('s', owned({ kind: 'ReplicaSet', name: 'web-1', uid: 'u', controller: false })), kinds)).toBeUndefined();
    expect(controllerOwner(pod('s', owned({ kind: 'ReplicaSet', name: 'web-1', uid: 'u', apiVersion: 'example.com/v1' })), kinds)).toBeUndefined();
    expect(controllerOwner(pod('s', owned({ kind: 'Node', name: 'n', uid: 'u', apiVersion: 'v1' })), kinds)).toBeUndefined();
    for (const missing of ['apiVersion', 'kind', 'name', 'uid']) {
      const reference: JsonObject = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'rs-uid', controller: true };
      delete reference[missing];
      expect(controllerOwner(pod('s', [reference]), kinds)).toBeUndefined();
    }
    expect(controllerOwner(pod('s', owned({ kind: 'ReplicaSet', name: 'web-1', uid: 'u', apiVersion: 'v1' })), kinds)).toBeUndefined();
  });

  it('compares the source, the name and the options of the reference', () => {
    if (!RS) throw new Error('no ReplicaSet kind');
    expect(carriesReference(replicaSet('snap'), RS, DYNAMO, { name: 'snap', options: {} })).toBe(true);
    expect(carriesReference(replicaSet('snap'), RS, DYNAMO, { name: 'other', options: {} })).toBe(false);
    expect(carriesReference(replicaSet('snap'), RS, DYNAMO, { name: 'snap', options: { tcp: 'close' } })).toBe(false);
    const withOptions = (options: JsonObject): JsonObject => ({ spec: { template: { spec: { restoreFrom: { name: 'c', options } } } } });
    expect(carriesReference(withOptions({ tcp: 'close' }), RS, KEP, { name: 'c', options: { tcp: 'close' } })).toBe(true);
    expect(carriesReference(withOptions({ tcp: 'keep' }), RS, KEP, { name: 'c', options: { tcp: 'close' } })).toBe(false);
    expect(carriesReference({ spec: { template: { spec: {} } } }, RS, KEP, { name: 'c', options: {} })).toBe(false);
  });
});

describe('a Pod made by a trusted controller (delegation)', () => {
  let fake: FakePorts;
  const decide = (request: AdmissionRequest, policy: Policy = delegating) =>
    new RestoreValidator({ ...fake.ports(), policy: () => policy }).decide(request, deadlineIn(1000));
  const as = (user: string, object: JsonObject) => createRequest(object, { userInfo: { ...alice, username: user } });
  beforeEach(() => {
    fake = new FakePorts();
    fake.owners.set('replicasets/team-a/web-1', replicaSet('snap'));
    fake.checkpoints.set('team-a/snap', readyCheckpoint({ name: 'snap', nodeName: undefined, template: undefined }));
  });

  it("is admitted when its owner's template carries the same reference, with no SubjectAccessReview", async () => {
    const decision = await decide(as(RS_CONTROLLER, pod('snap')));
    expect(decision).toMatchObject({ allowed: true, outcome: 'restore-allowed' });
    expect(decision.auditAnnotations['delegated-by']).toBe('ReplicaSet/web-1');
    expect(fake.calls).toEqual(['owner replicasets team-a/web-1', 'checkpoint team-a/snap']);
  });

  it('still runs every check on the snapshot (delegation replaces authorization only)', async () => {
    fake.checkpoints.set('team-a/snap', readyCheckpoint({ name: 'snap', nodeName: undefined, ready: false }));
    expect((await decide(as(RS_CONTROLLER, pod('snap')))).outcome).toBe('checkpoint-not-ready');
  });

  it.each([
    ['the owner restores another snapshot', () => fake.owners.set('replicasets/team-a/web-1', replicaSet('other'))],
    ['the owner was replaced (another uid)', () => fake.owners.set('replicasets/team-a/web-1', replicaSet('snap', 'new-uid'))],
    ['the owner is gone', () => fake.owners.delete('replicasets/team-a/web-1')],
  ])("falls back to the controller's own grant when %s", async (_case, arrange) => {
    arrange();
    const decision = await decide(as(RS_CONTROLLER, pod('snap')));
    expect(decision.outcome).toBe('unauthorized');
    expect(fake.calls).toContain(`authorize ${RS_CONTROLLER} team-a/snap`);
  });

  it('trusts no one else: a Pod bob makes with an ownerReference to a restoring ReplicaSet is checked against bob', async () => {
    const decision = await decide(as('bob', pod('snap')));
    expect(decision.outcome).toBe('unauthorized');
    expect(fake.calls).toEqual(['authorize bob team-a/snap']);
  });

  it('is off by default: the controller needs its own grant', async () => {
    const decision = await decide(as(RS_CONTROLLER, pod('snap')), { ...delegating, workloads: defaultPolicy().workloads });
    expect(decision.outcome).toBe('unauthorized');
    expect(decision.status?.message).toContain('This Pod is created by a workload controller');
    expect(fake.calls).toEqual([`authorize ${RS_CONTROLLER} team-a/snap`]);
  });

  it('checks a controller whose object names no owner against its own grant', async () => {
    expect((await decide(as(RS_CONTROLLER, pod('snap', [])))).outcome).toBe('unauthorized');
    expect(fake.calls).toEqual([`authorize ${RS_CONTROLLER} team-a/snap`]);
  });

  it('trusts only the listed identities', async () => {
    const narrowed = { ...delegating, workloads: { ...delegating.workloads, controllers: ['system:kube-controller-manager'] } };
    expect((await decide(as(RS_CONTROLLER, pod('snap')), narrowed)).outcome).toBe('unauthorized');
    expect((await decide(as('system:kube-controller-manager', pod('snap')), narrowed)).outcome).toBe('restore-allowed');
  });

  it('fails closed when the owner cannot be read, naming the step', async () => {
    fake.failure = new DependencyError('unreachable', 'connection refused');
    const decision = await decide(as(RS_CONTROLLER, pod('snap')));
    expect(decision.status).toMatchObject({ code: 503 });
    expect(decision.status?.message).toContain('could not complete the owner lookup');
  });

  it('admits a ReplicaSet the deployment controller writes from a restoring Deployment', async () => {
    fake.owners.set('deployments/team-a/web', {
      metadata: { name: 'web', uid: 'd-uid' },
      spec: { template: { metadata: { annotations: annotations('snap') }, spec: {} } },
    });
    const rs = {
      ...replicaSet('snap'),
      metadata: { name: 'web-1', namespace: 'team-a', ownerReferences: owned({ kind: 'Deployment', name: 'web', uid: 'd-uid' }) },
    };
    const request = createRequest(rs, {
      group: 'apps',
      resource: 'replicasets',
      userInfo: { ...alice, username: 'system:serviceaccount:kube-system:deployment-controller' },
    });
    const decision = await decide(request);
    expect(decision).toMatchObject({ allowed: true, outcome: 'template-allowed' });
    expect(decision.auditAnnotations['delegated-by']).toBe('Deployment/web');
  });
});
