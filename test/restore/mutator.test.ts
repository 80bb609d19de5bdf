import { beforeEach, describe, expect, it } from 'vitest';
import { RestoreMutator } from '../../src/restore/mutator.js';
import { deadlineIn } from '../support/deadlines.js';
import { createRequest, NODE, pinnedAffinity, readyCheckpoint, restorePod } from '../support/fixtures.js';
import { FakePorts } from '../support/fake-ports.js';

describe('RestoreMutator', () => {
  let fake: FakePorts;
  let mutator: RestoreMutator;
  beforeEach(() => {
    fake = new FakePorts();
    fake.grants.add('alice/team-a/ckpt');
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint());
    mutator = new RestoreMutator(fake.ports());
  });

  it('places a Pod with restore options without reading its RuntimeClass (the validator checks options)', async () => {
    const pod = restorePod({ checkpoint: { name: 'ckpt', options: { tcp: 'close' } }, spec: { runtimeClassName: 'gvisor' } });
    const decision = await mutator.decide(createRequest(pod), deadlineIn(1000));
    expect(decision).toMatchObject({ allowed: true, outcome: 'placed', auditAnnotations: { checkpoint: 'ckpt', node: NODE, decision: 'placed' } });
    expect(fake.calls).toEqual(['authorize alice team-a/ckpt', 'checkpoint team-a/ckpt']);
  });

  it('leaves an UPDATE alone, without a patch or an outbound call', async () => {
    const old = restorePod({ spec: { affinity: pinnedAffinity() } });
    const next = restorePod({ spec: { affinity: pinnedAffinity(), hostNetwork: true } });
    const decision = await mutator.decide(createRequest(next, { operation: 'UPDATE', oldObject: old }), deadlineIn(1000));
    expect(decision).toEqual({ allowed: true, warnings: [], auditAnnotations: { source: 'kep-5823' }, outcome: 'update-not-mutated' });
    expect(fake.calls).toEqual([]);
  });
});
