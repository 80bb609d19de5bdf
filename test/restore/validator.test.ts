import { beforeEach, describe, expect, it } from 'vitest';
import { DependencyError } from '../../src/restore/ports.js';
import { RestoreValidator } from '../../src/restore/validator.js';
import { deadlineIn } from '../support/deadlines.js';
import { createRequest, NODE, pinnedAffinity, podSpec, readyCheckpoint, restorePod } from '../support/fixtures.js';
import { FakePorts } from '../support/fake-ports.js';

describe('RestoreValidator', () => {
  let fake: FakePorts;
  let validator: RestoreValidator;
  beforeEach(() => {
    fake = new FakePorts();
    fake.grants.add('alice/team-a/ckpt');
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint());
    validator = new RestoreValidator(fake.ports());
  });

  it('denies a Pod that names a node before any outbound call, naming the checkpoint but not its node', async () => {
    const decision = await validator.decide(createRequest(restorePod({ spec: { nodeName: NODE, affinity: pinnedAffinity() } })), deadlineIn(1000));
    expect(decision).toMatchObject({ allowed: false, outcome: 'node-name-set' });
    expect(decision.auditAnnotations).toEqual({ source: 'kep-5823', checkpoint: 'ckpt', decision: 'denied', reason: 'node-name-set' });
    expect(fake.calls).toEqual([]);
  });

  it('reads the RuntimeClass the restore options name, and allows what it permits', async () => {
    fake.runtimeClasses.set('gvisor', { name: 'gvisor', allowedRestoreOptions: ['tcp'] });
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint({ template: { spec: podSpec({ runtimeClassName: 'gvisor' }) } }));
    const pod = restorePod({ checkpoint: { name: 'ckpt', options: { tcp: 'close' } }, spec: { affinity: pinnedAffinity(), runtimeClassName: 'gvisor' } });
    const decision = await validator.decide(createRequest(pod), deadlineIn(1000));
    expect(decision.outcome).toBe('restore-allowed');
    expect(fake.calls).toEqual(['authorize alice team-a/ckpt', 'checkpoint team-a/ckpt', 'runtimeclass gvisor']);
  });

  it('denies restore options when their RuntimeClass does not exist', async () => {
    const pod = restorePod({ checkpoint: { name: 'ckpt', options: { tcp: 'close' } }, spec: { affinity: pinnedAffinity(), runtimeClassName: 'gvisor' } });
    expect((await validator.decide(createRequest(pod), deadlineIn(1000))).outcome).toBe('runtime-class-not-found');
  });

  describe('with a cache of compact records (the template read on demand)', () => {
    const pinned = () => restorePod({ spec: { affinity: pinnedAffinity() } });
    beforeEach(() => {
      fake.compact = true;
    });

    it('reads the template once the checks before it pass, and allows', async () => {
      const decision = await validator.decide(createRequest(pinned()), deadlineIn(1000));
      expect(decision.outcome).toBe('restore-allowed');
      expect(fake.calls).toEqual(['authorize alice team-a/ckpt', 'checkpoint team-a/ckpt', 'template team-a/ckpt']);
    });

    it('reads no template for an unauthorized requester, nor for a checkpoint a check before it refuses', async () => {
      fake.grants.clear();
      expect((await validator.decide(createRequest(pinned()), deadlineIn(1000))).outcome).toBe('unauthorized');
      fake.grants.add('alice/team-a/ckpt');
      fake.checkpoints.set('team-a/ckpt', readyCheckpoint({ ready: false, notReadyReason: 'CheckpointInProgress' }));
      expect((await validator.decide(createRequest(pinned()), deadlineIn(1000))).outcome).toBe('checkpoint-not-ready');
      expect(fake.calls.filter((c) => c.startsWith('template'))).toEqual([]);
    });

    it('denies, naming the checkpoint lookup, when the template cannot be read', async () => {
      const ports = fake.ports();
      const failing = new RestoreValidator({
        ...ports,
        checkpoints: { ...ports.checkpoints, withTemplate: async () => Promise.reject(new DependencyError('unreachable', 'connection refused')) },
      });
      const decision = await failing.decide(createRequest(pinned()), deadlineIn(1000));
      expect(decision).toMatchObject({ allowed: false, outcome: 'unreachable', status: { code: 503 } });
      expect(decision.status?.message).toContain('checkpoint lookup');
    });

    it('denies as not found when the checkpoint is gone by the time its template is read', async () => {
      const ports = fake.ports();
      const gone = new RestoreValidator({ ...ports, checkpoints: { ...ports.checkpoints, withTemplate: async () => undefined } });
      expect((await gone.decide(createRequest(pinned()), deadlineIn(1000))).outcome).toBe('checkpoint-not-found');
    });
  });
});
