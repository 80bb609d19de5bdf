import { beforeEach, describe, expect, it } from 'vitest';
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
    expect(decision.auditAnnotations).toEqual({ checkpoint: 'ckpt', decision: 'denied', reason: 'node-name-set' });
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
});
