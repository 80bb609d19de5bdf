import { describe, expect, it } from 'vitest';
import { dynamoSnapshotSource } from '../../src/policy/sources.js';
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

describe('toPodCheckpoint with a source layout', () => {
  const dynamo = dynamoSnapshotSource();
  const snapshot = (status: Record<string, unknown>) => ({ metadata: { name: 's', namespace: 'team-a', resourceVersion: '7' }, status });

  it("reads readiness from the source's condition, never from a phase", () => {
    expect(toPodCheckpoint(snapshot({ conditions: [{ type: 'Ready', status: 'True' }] }), { layout: dynamo })).toMatchObject({ ready: true });
    expect(toPodCheckpoint(snapshot({ phase: 'Ready' }), { layout: dynamo })).toMatchObject({ ready: false, notReadyReason: 'no Ready condition yet' });
    expect(toPodCheckpoint(snapshot({ conditions: [{ type: 'Failed', status: 'True' }] }), { layout: dynamo })).toMatchObject({ ready: false });
    const custom = { ...dynamo, preset: undefined, ready: { condition: 'example.com/Usable', status: 'True' } };
    expect(toPodCheckpoint(snapshot({ conditions: [{ type: 'example.com/Usable', status: 'False' }] }), { layout: custom })).toMatchObject({
      ready: false,
      notReadyReason: 'example.com/Usable=False',
    });
  });

  it('takes every object as ready when the source checks no readiness', () => {
    expect(toPodCheckpoint(snapshot({}), { layout: { ...dynamo, ready: undefined } })).toMatchObject({ ready: true });
  });

  it('reads the node and the template only from the paths the source gives', () => {
    const layout = { ...dynamo, placement: { mode: 'nodeName' as const, nodePath: 'status.source.node' }, template: { path: 'spec.podTemplate' } };
    const raw = { ...snapshot({ nodeName: 'ignored', source: { node: 'n1' } }), spec: { podTemplate: { spec: {} } } };
    expect(toPodCheckpoint(raw, { layout })).toMatchObject({ nodeName: 'n1', template: { spec: {} } });
    expect(toPodCheckpoint(raw, { layout: dynamo })).not.toHaveProperty('nodeName');
    expect(toPodCheckpoint(raw, { layout: dynamo })).not.toHaveProperty('template');
    // Own keys only: an inherited field is not a node.
    const inherited = { ...snapshot({}), status: Object.create({ source: { node: 'n2' } }) as Record<string, unknown> };
    expect(toPodCheckpoint(inherited, { layout })).not.toHaveProperty('nodeName');
  });

  it('dates a snapshot by when it became Ready, a PodCheckpoint only by its completion time', () => {
    const since = { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-11-29T10:00:00Z' }] };
    expect(toPodCheckpoint(snapshot(since), { layout: dynamo })?.completionTime).toBe('2026-11-29T10:00:00Z');
    expect(toPodCheckpoint(snapshot({ ...since, completionTime: '2026-11-29T09:00:00Z' }), { layout: dynamo })?.completionTime).toBe('2026-11-29T09:00:00Z');
    expect(toPodCheckpoint(snapshot(since))?.completionTime).toBeUndefined();
    const notReady = { conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2026-11-29T10:00:00Z' }] };
    expect(toPodCheckpoint(snapshot(notReady), { layout: dynamo })?.completionTime).toBeUndefined();
  });

  it('keeps the compact record free of templates for any layout', () => {
    const layout = { ...dynamo, template: { path: 'spec.podTemplate' } };
    expect(compactCheckpoint({ ...snapshot({}), spec: { podTemplate: { spec: {} } } }, layout)?.template).toBeUndefined();
  });

  it('takes only strings for the node and the completion time', () => {
    const layout = { ...dynamo, placement: { mode: 'nodeName' as const, nodePath: 'status.node' } };
    const odd = snapshot({ node: { name: 'n' }, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: 1234 }] });
    const read = toPodCheckpoint(odd, { layout });
    expect(read).not.toHaveProperty('nodeName');
    expect(read).not.toHaveProperty('completionTime');
  });

  it('dates nothing by a condition when the source checks no readiness', () => {
    const untyped = snapshot({ conditions: [{ status: 'True', lastTransitionTime: '2026-11-29T10:00:00Z' }] });
    expect(toPodCheckpoint(untyped, { layout: { ...dynamo, ready: undefined } })).not.toHaveProperty('completionTime');
  });

  it("reads the compact record by the source's layout", () => {
    expect(compactCheckpoint(snapshot({ phase: 'Ready' }), dynamo)?.ready).toBe(false);
    expect(compactCheckpoint(snapshot({ phase: 'Ready' }))?.ready).toBe(true);
  });
});
