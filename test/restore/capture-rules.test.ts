import { beforeEach, describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../src/admission/request.js';
import type { JsonObject } from '../../src/common/json.js';
import { defaultPolicy, type Policy } from '../../src/policy/policy.js';
import { dynamoSnapshotSource } from '../../src/policy/sources.js';
import { DependencyError } from '../../src/restore/ports.js';
import { RestoreMutator } from '../../src/restore/mutator.js';
import { RestoreValidator } from '../../src/restore/validator.js';
import { deadlineIn } from '../support/deadlines.js';
import { FakePorts } from '../support/fake-ports.js';
import { alice, createRequest } from '../support/fixtures.js';

const base: Policy = { ...defaultPolicy(), sources: [{ preset: 'kep-5823' }, dynamoSnapshotSource()] };
const podCheckpoint = (pod: unknown = 'web-0'): JsonObject => ({
  metadata: { name: 'ckpt', namespace: 'team-a' },
  spec: { sourcePod: { name: pod } as JsonObject },
});
const EXEC_MESSAGE =
  'user "bob" cannot create pods/exec on Pod "web-0" in namespace "team-a": creating podcheckpoints.node.k8s.io of that Pod requires ' +
  '"create" on pods/exec (group core), because a checkpoint holds the Pod\'s memory, secrets included';

describe('taking a checkpoint (the validating webhook)', () => {
  let fake: FakePorts;
  const decide = (user: string, object: JsonObject = podCheckpoint(), policy: Policy = base, overrides: Partial<AdmissionRequest> = {}) =>
    new RestoreValidator({ ...fake.ports(), policy: () => policy }).decide(
      createRequest(object, {
        group: 'node.k8s.io',
        version: 'v1alpha1',
        resource: 'podcheckpoints',
        userInfo: { ...alice, username: user },
        ...overrides,
      }),
      deadlineIn(1000),
    );
  const withCheckpoints = (checkpoints: Partial<Policy['checkpoints']>, rest: Partial<Policy> = {}): Policy => ({
    ...base,
    ...rest,
    checkpoints: { ...base.checkpoints, ...checkpoints },
  });
  beforeEach(() => {
    fake = new FakePorts();
    fake.grants.add('alice/team-a/web-0');
  });

  it('admits a requester who may exec into the source Pod, asking only the authorizer', async () => {
    const decision = await decide('alice');
    expect(decision).toMatchObject({ allowed: true, outcome: 'capture-allowed' });
    expect(decision.auditAnnotations).toStrictEqual({ source: 'kep-5823', checkpoint: 'ckpt', 'source-pod': 'web-0', decision: 'allowed' });
    expect(fake.calls).toEqual(['authorize alice team-a/web-0']);
    expect(fake.accesses).toEqual([{ verb: 'create', group: '', version: 'v1', resource: 'pods', subresource: 'exec', namespace: 'team-a', name: 'web-0' }]);
    expect(fake.requesters[0]).toEqual({ ...alice, username: 'alice' });
  });

  it('denies (403) a requester who may not, naming verb, resource, subresource, Pod, namespace and why', async () => {
    const decision = await decide('bob');
    expect(decision).toMatchObject({ allowed: false, outcome: 'capture-unauthorized', status: { code: 403, reason: 'Forbidden', message: EXEC_MESSAGE } });
    expect(decision.auditAnnotations).toStrictEqual({
      source: 'kep-5823',
      checkpoint: 'ckpt',
      'source-pod': 'web-0',
      decision: 'denied',
      reason: 'capture-unauthorized',
    });
    expect(fake.calls).toEqual(['authorize bob team-a/web-0']);
  });

  it("names the new object in the audit annotations: the request's name, else its metadata name or generateName", async () => {
    const named = await decide('alice', { metadata: { generateName: 'ckpt-' }, spec: { sourcePod: { name: 'web-0' } } });
    expect(named.auditAnnotations.checkpoint).toBe('ckpt-');
    expect((await decide('alice', podCheckpoint(), base, { name: 'from-request' })).auditAnnotations.checkpoint).toBe('from-request');
  });

  it("guards a Dynamo PodSnapshot's source Pod, naming its resource", async () => {
    const snapshot = { metadata: { name: 'snap' }, spec: { source: { podRef: { name: 'web-0', containers: ['main'] } } } };
    const decision = await decide('bob', snapshot, base, { group: 'nvidia.com', resource: 'podsnapshots' });
    expect(decision.status?.message).toContain('creating podsnapshots.nvidia.com of that Pod requires "create" on pods/exec');
    expect(decision.auditAnnotations).toMatchObject({ source: 'dynamo-snapshot', checkpoint: 'snap', 'source-pod': 'web-0' });
    expect((await decide('alice', snapshot, base, { group: 'nvidia.com', resource: 'podsnapshots' })).allowed).toBe(true);
  });

  it('warn: allows with a warning and records what would have been denied', async () => {
    const decision = await decide('bob', podCheckpoint(), withCheckpoints({ guard: 'warn' }));
    expect(decision).toMatchObject({ allowed: true, outcome: 'capture-unauthorized', warnings: [`restore-guard would deny (warn mode): ${EXEC_MESSAGE}`] });
    expect(decision.auditAnnotations).toMatchObject({ decision: 'would-deny', mode: 'warn', 'source-pod': 'web-0' });
  });

  it("follows the namespace's mode when it is the milder, never a stricter one", async () => {
    const mode = async (guard: 'enforce' | 'warn', namespaceMode: 'enforce' | 'warn' | 'audit') => {
      const decision = await decide('bob', podCheckpoint(), withCheckpoints({ guard }, { namespaceModes: { 'team-a': namespaceMode } }));
      return decision.allowed ? decision.auditAnnotations.mode : 'enforce';
    };
    expect(await mode('enforce', 'audit')).toBe('audit');
    expect(await mode('enforce', 'warn')).toBe('warn');
    expect(await mode('warn', 'audit')).toBe('audit');
    expect(await mode('warn', 'enforce')).toBe('warn');
    expect(await mode('enforce', 'enforce')).toBe('enforce');
  });

  it('off: not its business, no call', async () => {
    const decision = await decide('bob', podCheckpoint(), withCheckpoints({ guard: 'off' }));
    expect(decision).toMatchObject({ allowed: true, outcome: 'not-a-capture', ignored: true });
    expect(fake.calls).toEqual([]);
  });

  it('an object that names no source Pod passes with no call', async () => {
    const decision = await decide('bob', { metadata: { name: 'ckpt' }, spec: {} });
    expect(decision).toMatchObject({ allowed: true, outcome: 'not-a-capture' });
    expect(fake.calls).toEqual([]);
  });

  it('a source Pod name that cannot be one is denied (422) before any call', async () => {
    const decision = await decide('alice', podCheckpoint(7));
    expect(decision).toMatchObject({ allowed: false, outcome: 'malformed-source-pod', status: { code: 422, message: 'spec.sourcePod.name must be a string' } });
    expect((await decide('alice', podCheckpoint('../x'))).status?.message).toBe(
      'spec.sourcePod.name must name a Pod: a DNS-1123 subdomain of at most 253 characters',
    );
    expect(fake.calls).toEqual([]);
  });

  it('an authorizer that cannot answer denies (503), naming the step; failureMode open allows loudly', async () => {
    fake.failure = new DependencyError('unreachable', 'connection refused');
    const closed = await decide('alice');
    expect(closed).toMatchObject({ allowed: false, outcome: 'unreachable', status: { code: 503 } });
    expect(closed.status?.message).toBe(
      'restore-guard could not complete the authorization for pods "web-0" in namespace "team-a": connection refused. ' +
        'The checkpoint is denied until this succeeds; retry shortly',
    );
    expect(closed.auditAnnotations).toMatchObject({ 'source-pod': 'web-0', step: 'authorization' });
    const open = await decide('alice', podCheckpoint(), withCheckpoints({}, { failureMode: 'open' }));
    expect(open).toMatchObject({ allowed: true, outcome: 'fail-open', failedOpen: true });
  });

  it("asks for the policy's access, whole", async () => {
    const policy = withCheckpoints({ access: { verb: 'get', group: 'example.com', resource: 'memorydumps', subresource: '' } });
    await decide('alice', podCheckpoint(), policy);
    expect(fake.accesses).toEqual([{ verb: 'get', group: 'example.com', version: '', resource: 'memorydumps', namespace: 'team-a', name: 'web-0' }]);
  });

  it('is not the mutating webhook’s business', async () => {
    const decision = await new RestoreMutator({ ...fake.ports(), policy: () => base }).decide(
      createRequest(podCheckpoint(), { group: 'node.k8s.io', resource: 'podcheckpoints', userInfo: { ...alice, username: 'bob' } }),
      deadlineIn(1000),
    );
    expect(decision).toMatchObject({ allowed: true, outcome: 'not-a-capture' });
    expect(fake.calls).toEqual([]);
  });

  it('until the policy is loaded, a capture is denied (503) whatever the guard', async () => {
    const decision = await new RestoreValidator({ ...fake.ports(), policy: () => base, policyUnavailable: () => 'not yet' }).decide(
      createRequest(podCheckpoint(), { group: 'node.k8s.io', resource: 'podcheckpoints' }),
      deadlineIn(1000),
    );
    expect(decision).toMatchObject({ allowed: false, outcome: 'policy-not-loaded', auditAnnotations: { source: 'kep-5823' } });
    expect(fake.calls).toEqual([]);
  });
});
