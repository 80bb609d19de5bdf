import { beforeEach, describe, expect, it } from 'vitest';
import { DependencyError } from '../../src/restore/ports.js';
import { restoreDeciders } from '../../src/restore/webhooks.js';
import { createRequest, pinnedAffinity, readyCheckpoint, restorePod } from '../support/fixtures.js';
import { deadlineIn } from '../support/deadlines.js';
import { FakePorts } from '../support/fake-ports.js';

describe('RestoreReviewer', () => {
  let fake: FakePorts;
  let reviewer: ReturnType<typeof restoreDeciders>;
  beforeEach(() => {
    fake = new FakePorts();
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint());
    reviewer = restoreDeciders(fake.ports());
  });
  const pinned = () => restorePod({ spec: { affinity: pinnedAffinity() } });

  it('allows a Pod without restoreFrom with no outbound call', async () => {
    const decision = await reviewer.validate.decide(createRequest({ spec: { containers: [] } }), deadlineIn(1000));
    expect(decision).toEqual({ allowed: true, warnings: [], auditAnnotations: {}, outcome: 'not-a-restore', ignored: true });
    expect(fake.calls).toEqual([]);
  });

  it('never reads the checkpoint for an unauthorized requester', async () => {
    for (const webhook of ['mutate', 'validate'] as const) {
      const decision = await reviewer[webhook].decide(createRequest(pinned()), deadlineIn(1000));
      expect(decision.status?.code).toBe(403);
    }
    expect(fake.calls).toEqual(['authorize alice team-a/ckpt', 'authorize alice team-a/ckpt']);
  });

  it('authorizes, then reads the checkpoint, then allows', async () => {
    fake.grants.add('alice/team-a/ckpt');
    const decision = await reviewer.validate.decide(createRequest(pinned()), deadlineIn(1000));
    expect(decision.allowed).toBe(true);
    expect(fake.calls).toEqual(['authorize alice team-a/ckpt', 'checkpoint team-a/ckpt']);
  });

  it('reads the RuntimeClass only when restore options ask for it', async () => {
    fake.grants.add('alice/team-a/ckpt');
    const pod = restorePod({ checkpoint: { name: 'ckpt', options: { tcp: 'close' } }, spec: { affinity: pinnedAffinity(), runtimeClassName: 'gvisor' } });
    await reviewer.validate.decide(createRequest(pod), deadlineIn(1000));
    expect(fake.calls).toContain('runtimeclass gvisor');
  });

  it('uses the namespace of the Pod when the request has none', async () => {
    fake.grants.add('alice/team-a/ckpt');
    const decision = await reviewer.mutate.decide(createRequest(restorePod(), { namespace: '' }), deadlineIn(1000));
    expect(decision.allowed).toBe(true);
  });

  it('denies every restore review with 503 and no outbound call while the configured policy is not loaded', async () => {
    fake.grants.add('alice/team-a/ckpt');
    const waiting = restoreDeciders({ ...fake.ports(), policyUnavailable: () => 'restore-guard has not loaded its configured policy (x): why' });
    for (const webhook of ['mutate', 'validate'] as const) {
      const decision = await waiting[webhook].decide(createRequest(pinned()), deadlineIn(1000));
      expect(decision).toMatchObject({ allowed: false, outcome: 'policy-not-loaded', status: { code: 503 } });
      expect(decision.status?.message).toContain('has not loaded its configured policy (x): why');
    }
    const update = await waiting.validate.decide(createRequest(pinned(), { operation: 'UPDATE', oldObject: pinned() }), deadlineIn(1000));
    expect(update.allowed).toBe(false);
    expect(fake.calls).toEqual([]);
    const plain = await waiting.validate.decide(createRequest({ spec: { containers: [] } }), deadlineIn(1000));
    expect(plain.allowed).toBe(true);
  });

  it('denies a malformed restoreFrom with 422 and no outbound call', async () => {
    const decision = await reviewer.validate.decide(createRequest({ spec: { restoreFrom: 42 } }), deadlineIn(1000));
    expect(decision.status?.code).toBe(422);
    expect(fake.calls).toEqual([]);
  });

  it.each([
    ['unreachable', 503, 'could not be reached'],
    ['timeout', 504, 'timed out'],
    ['server-error', 503, 'HTTP 500'],
    ['evaluation-error', 500, 'webhook authorizer failed'],
  ] as const)('fails closed when a port fails (%s)', async (failure, code, text) => {
    fake.failure = new DependencyError(failure, text);
    for (const webhook of ['mutate', 'validate'] as const) {
      const decision = await reviewer[webhook].decide(createRequest(pinned()), deadlineIn(1000));
      expect(decision.allowed).toBe(false);
      expect(decision.status?.code).toBe(code);
      expect(decision.status?.message).toContain(text);
      expect(decision.status?.message).toContain('authorization');
    }
  });

  it('fails closed when the checkpoint lookup fails after authorization', async () => {
    fake.grants.add('alice/team-a/ckpt');
    const ports = fake.ports();
    ports.checkpoints = { get: async () => Promise.reject(new DependencyError('unreachable', 'connection refused')) };
    const decision = await restoreDeciders(ports).validate.decide(createRequest(pinned()), deadlineIn(1000));
    expect(decision.allowed).toBe(false);
    expect(decision.status?.message).toContain('checkpoint lookup');
  });

  it('denies without calling out when the deadline is already spent', async () => {
    fake.grants.add('alice/team-a/ckpt');
    const decision = await reviewer.validate.decide(createRequest(pinned()), deadlineIn(0));
    expect(decision.status?.code).toBe(504);
    expect(fake.calls).toEqual([]);
  });

  it('lets an unexpected error propagate (the admission layer turns it into a 500 denial)', async () => {
    fake.failure = new TypeError('bug');
    await expect(reviewer.validate.decide(createRequest(pinned()), deadlineIn(1000))).rejects.toThrow('bug');
  });

  it('validates UPDATE with no outbound call and does not mutate it', async () => {
    const old = pinned();
    const next = structuredClone(old);
    (next.spec as { restoreFrom: unknown }).restoreFrom = { name: 'other' };
    const request = createRequest(next, { operation: 'UPDATE', oldObject: old });
    expect((await reviewer.validate.decide(request, deadlineIn(1000))).status?.code).toBe(422);
    expect((await reviewer.mutate.decide(request, deadlineIn(1000))).allowed).toBe(true);
    expect(fake.calls).toEqual([]);
  });
});
