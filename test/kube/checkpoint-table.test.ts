import { describe, expect, it } from 'vitest';
import { CheckpointTable } from '../../src/kube/checkpoint-table.js';
import { keyOf } from '../../src/kube/watch-cache.js';
import { compactCheckpoint } from '../../src/restore/checkpoint.js';
import type { PodCheckpoint } from '../../src/restore/model.js';
import { rawCheckpoint } from '../support/fixtures.js';

/** A record as compactCheckpoint gives it: every field present, absent ones undefined. */
function record(namespace: string, name: string, fields: Partial<PodCheckpoint> = {}): PodCheckpoint {
  return {
    namespace,
    name,
    nodeName: 'node-a',
    ready: true,
    notReadyReason: undefined,
    completionTime: '2026-01-01T00:00:00Z',
    resourceVersion: '42',
    ...fields,
  };
}

function put(table: CheckpointTable, checkpoint: PodCheckpoint): void {
  table.set(keyOf(checkpoint.namespace, checkpoint.name), checkpoint);
}

describe('CheckpointTable: compact records in columns', () => {
  it('gives back exactly the record compactCheckpoint made of an object', () => {
    const raw = rawCheckpoint({ namespace: 'team-a', name: 'cp-1', node: 'node-7' });
    Object.assign(raw.metadata as object, { resourceVersion: '981' });
    Object.assign(raw.status as object, { completionTime: '2026-03-04T05:06:07Z' });
    const compact = compactCheckpoint(raw);
    if (!compact) throw new Error('fixture did not compact');
    const table = new CheckpointTable();
    put(table, compact);
    expect(compact.resourceVersion).toBe('981');
    expect(table.get('team-a/cp-1')).toStrictEqual(compact);
  });

  it('keeps a not-ready record with its reason and without node, time or resourceVersion', () => {
    const table = new CheckpointTable();
    const notReady = record('ns', 'pending', {
      ready: false,
      notReadyReason: 'InProgress',
      nodeName: undefined,
      completionTime: undefined,
      resourceVersion: undefined,
    });
    put(table, notReady);
    expect(table.get('ns/pending')).toStrictEqual(notReady);
  });

  it.each([
    ['a time with fractions of a second', { completionTime: '2026-01-01T00:00:00.5Z' }],
    ['a time with an offset', { completionTime: '2026-01-01T01:00:00+01:00' }],
    ['a date that does not exist', { completionTime: '2026-02-30T00:00:00Z' }],
    ['a time that is not one', { completionTime: 'yesterday' }],
    ['a resourceVersion with a leading zero', { resourceVersion: '0042' }],
    ['a resourceVersion longer than a double holds', { resourceVersion: '12345678901234567890' }],
    ['a resourceVersion that is not a number', { resourceVersion: 'v1.abc' }],
    ['both at once', { completionTime: 'soon', resourceVersion: 'x' }],
  ])('gives back %s as the same text', (_, fields) => {
    const table = new CheckpointTable();
    const odd = record('ns', 'odd', fields);
    put(table, odd);
    expect(table.get('ns/odd')).toStrictEqual(odd);
  });

  it('gives back the numeric forms as the text they came from', () => {
    const table = new CheckpointTable();
    const edges = [
      record('ns', 'zero', { resourceVersion: '0' }),
      record('ns', 'big', { resourceVersion: '999999999999999', completionTime: '1999-12-31T23:59:59Z' }),
    ];
    for (const edge of edges) put(table, edge);
    expect(edges.map((e) => table.get(keyOf(e.namespace, e.name)))).toStrictEqual(edges);
  });

  it('replaces a record in place: one row, the new fields, none of the old text left behind', () => {
    const table = new CheckpointTable();
    put(table, record('ns', 'cp', { resourceVersion: 'text-1', completionTime: 'odd' }));
    const next = record('ns', 'cp', { ready: false, notReadyReason: 'Failed', nodeName: 'node-b', resourceVersion: undefined, completionTime: undefined });
    put(table, next);
    expect(table.size).toBe(1);
    expect(table.get('ns/cp')).toStrictEqual(next);
  });

  it('reuses a deleted row without carrying over its node, reason or text', () => {
    const table = new CheckpointTable(1);
    put(table, record('ns', 'old', { nodeName: 'node-old', ready: false, notReadyReason: 'Old', resourceVersion: 'abc', completionTime: 'then' }));
    table.delete('ns/old');
    const fresh = record('ns', 'new', { nodeName: undefined, completionTime: undefined, resourceVersion: undefined });
    put(table, fresh);
    expect(table.get('ns/old')).toBeUndefined();
    expect(table.get('ns/new')).toStrictEqual(fresh);
    expect(table.size).toBe(1);
  });

  it('grows past its first capacity and keeps every row; deleting leaves the others intact', () => {
    const table = new CheckpointTable(2);
    const all = Array.from({ length: 100 }, (_, i) =>
      record(`ns-${i % 7}`, `cp-${i}`, { ready: i % 2 === 0, notReadyReason: i % 2 === 0 ? undefined : `R${i}`, resourceVersion: String(i + 1) }),
    );
    for (const r of all) put(table, r);
    for (const r of all.filter((_, i) => i % 3 === 0)) table.delete(keyOf(r.namespace, r.name));
    const kept = all.filter((_, i) => i % 3 !== 0);
    expect(table.size).toBe(kept.length);
    expect(kept.map((r) => table.get(keyOf(r.namespace, r.name)))).toStrictEqual(kept);
  });

  it('answers undefined for keys it never held, prototype names included, and ignores deleting them', () => {
    const table = new CheckpointTable();
    put(table, record('__proto__', 'constructor'));
    table.delete('ns/missing');
    expect(table.get('constructor/__proto__')).toBeUndefined();
    expect(table.get('toString')).toBeUndefined();
    expect(table.get('__proto__/constructor')).toStrictEqual(record('__proto__', 'constructor'));
    expect(table.size).toBe(1);
  });
});
