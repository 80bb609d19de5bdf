import { describe, expect, it } from 'vitest';
import { compactCheckpoint, toPodCheckpoint } from '../../src/restore/checkpoint.js';

const raw = (status: Record<string, unknown>) => ({ metadata: { name: 'c', namespace: 'team-a' }, status });

describe('toPodCheckpoint', () => {
  it('reads node, template, completion time, and readiness from the Ready condition', () => {
    expect(
      toPodCheckpoint(raw({ nodeName: 'n', completionTime: 't', checkpointedPodTemplate: { spec: {} }, conditions: [{ type: 'Ready', status: 'True' }] })),
    ).toEqual({
      name: 'c',
      namespace: 'team-a',
      nodeName: 'n',
      completionTime: 't',
      template: { spec: {} },
      ready: true,
    });
    expect(toPodCheckpoint(raw({ conditions: [{ type: 'Ready', status: 'False', reason: 'CheckpointInProgress' }] }))).toMatchObject({
      ready: false,
      notReadyReason: 'CheckpointInProgress',
    });
    expect(toPodCheckpoint(raw({ conditions: [{ type: 'Ready', status: 'Unknown' }] }))).toMatchObject({ ready: false, notReadyReason: 'Ready=Unknown' });
  });

  it("understands the first upstream revision's status.phase when there is no Ready condition", () => {
    expect(toPodCheckpoint(raw({ phase: 'Ready' }))).toMatchObject({ ready: true });
    expect(toPodCheckpoint(raw({ phase: 'Checkpointing' }))).toMatchObject({ ready: false, notReadyReason: 'Checkpointing' });
    expect(toPodCheckpoint(raw({}))).toMatchObject({ ready: false, notReadyReason: 'no Ready condition yet' });
    // The condition wins over the phase.
    expect(toPodCheckpoint(raw({ phase: 'Ready', conditions: [{ type: 'Ready', status: 'False' }] }))).toMatchObject({ ready: false });
  });

  it('refuses an object without a name or a namespace', () => {
    expect(toPodCheckpoint({ metadata: { name: 'c' } })).toBeUndefined();
    expect(toPodCheckpoint({ metadata: { namespace: 'n' } })).toBeUndefined();
  });

  it('leaves out what the status does not say (no empty node, template or completion time; no reason when ready)', () => {
    expect(
      toPodCheckpoint(raw({ nodeName: '', completionTime: '', conditions: [{ type: 'Ready', status: 'True', reason: 'CheckpointCompleted' }] })),
    ).toStrictEqual({
      name: 'c',
      namespace: 'team-a',
      ready: true,
    });
    expect(toPodCheckpoint(raw({ phase: 'Ready' }))).toStrictEqual({ name: 'c', namespace: 'team-a', ready: true });
  });

  it('reads readiness from the Ready condition, not from the first condition', () => {
    const conditions = ['Ready', { type: 'Other', status: 'True' }, { type: 'Ready', status: 'False', reason: 'CheckpointInProgress' }];
    expect(toPodCheckpoint(raw({ conditions }))).toStrictEqual({ name: 'c', namespace: 'team-a', ready: false, notReadyReason: 'CheckpointInProgress' });
    expect(toPodCheckpoint(raw({ conditions: [{ type: 'Other', status: 'True' }] }))).toMatchObject({ ready: false, notReadyReason: 'no Ready condition yet' });
    expect(toPodCheckpoint(raw({ conditions: [{ type: 'Ready', status: false }] }))).toMatchObject({ ready: false, notReadyReason: 'Ready=false' });
    expect(toPodCheckpoint(raw({ conditions: [{ type: 'Ready', status: ['True'] }] }))).toMatchObject({ ready: false, notReadyReason: 'Ready=["True"]' });
  });
});

describe('compactCheckpoint', () => {
  const full = {
    metadata: { name: 'c', namespace: 'team-a', resourceVersion: '42' },
    status: {
      nodeName: 'n',
      completionTime: 't',
      checkpointedPodTemplate: { spec: { containers: [{ name: 'x', image: 'y'.repeat(1000) }] } },
      conditions: [{ type: 'Ready', status: 'False', reason: 'CheckpointInProgress' }],
    },
  };

  it('keeps what a review reads before the template, in one fixed shape, and never the template', () => {
    expect(compactCheckpoint(full)).toStrictEqual({
      namespace: 'team-a',
      name: 'c',
      nodeName: 'n',
      ready: false,
      notReadyReason: 'CheckpointInProgress',
      completionTime: 't',
      resourceVersion: '42',
    });
    const bare = compactCheckpoint({ metadata: { name: 'c', namespace: 'team-a' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
    expect(Object.keys(bare ?? {})).toEqual(['namespace', 'name', 'nodeName', 'ready', 'notReadyReason', 'completionTime', 'resourceVersion']);
    expect(bare).toMatchObject({ ready: true, nodeName: undefined, notReadyReason: undefined, resourceVersion: undefined });
  });

  it('refuses an object without a name', () => {
    expect(compactCheckpoint({ metadata: { namespace: 'team-a' } })).toBeUndefined();
  });

  it('reads the template too when asked for the whole checkpoint, and leaves it out on request', () => {
    expect(toPodCheckpoint(full)?.template).toEqual(full.status.checkpointedPodTemplate);
    expect(toPodCheckpoint(full, { template: false })?.template).toBeUndefined();
    expect(toPodCheckpoint(full)?.resourceVersion).toBe('42');
  });
});
