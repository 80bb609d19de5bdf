import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/common/json.js';
import { decideUpdate } from '../../src/restore/update-rules.js';
import { dynamoSnapshotSource, gkePodSnapshotSource } from '../../src/policy/sources.js';
import { KEP, restorePod } from '../support/fixtures.js';

function withStatus(pod: JsonObject, restored: 'True' | 'False' | 'Unknown' | undefined): JsonObject {
  return restored ? { ...pod, status: { conditions: [{ type: 'PodRestored', status: restored }] } } : pod;
}
function edit(pod: JsonObject, change: (spec: JsonObject) => void): JsonObject {
  const copy = structuredClone(pod);
  change(copy.spec as JsonObject);
  return copy;
}

describe('decideUpdate', () => {
  const old = restorePod({ spec: { schedulingGates: [{ name: 'a' }, { name: 'b' }] } });

  it('rejects any change to restoreFrom with 422 (change, remove, add)', () => {
    const changed = edit(old, (s) => (s.restoreFrom = { name: 'other' }));
    const removed = edit(old, (s) => delete s.restoreFrom);
    const plain = edit(old, (s) => delete s.restoreFrom);
    for (const [from, to] of [
      [old, changed],
      [old, removed],
      [plain, old],
    ] as const) {
      const decision = decideUpdate(withStatus(from, 'True'), to);
      expect(decision.status).toMatchObject({ code: 422, reason: 'Invalid' });
    }
    const optionChanged = edit(old, (s) => (s.restoreFrom = { name: 'ckpt', options: { tcp: 'close' } }));
    expect(decideUpdate(old, optionChanged).outcome).toBe('restore-from-changed');
  });

  it('lists at most 20 changed fields, then says how many more', () => {
    const many = edit(old, (s) => {
      for (let i = 0; i < 25; i++) s[`field${String(i).padStart(2, '0')}`] = 'x';
    });
    const message = decideUpdate(old, many).status?.message ?? '';
    expect(message).toContain('spec.field19');
    expect(message).not.toContain('spec.field20');
    expect(message).toMatch(/spec\.field19 and 5 more$/);
  });

  it('freezes the spec until PodRestored=True (403), naming the fields', () => {
    const image = edit(old, (s) => (((s.containers as JsonObject[])[0] as JsonObject).image = 'other'));
    for (const status of [undefined, 'Unknown', 'False'] as const) {
      const decision = decideUpdate(withStatus(old, status), image);
      expect(decision.status).toMatchObject({ code: 403, reason: 'Forbidden' });
      expect(decision.status?.message).toContain('spec.containers[0].image');
    }
    expect(decideUpdate(withStatus(old, 'True'), image).allowed).toBe(true);
  });

  it('allows removing scheduling gates, not adding, renaming or reordering them', () => {
    expect(
      decideUpdate(
        old,
        edit(old, (s) => (s.schedulingGates = [{ name: 'b' }])),
      ).allowed,
    ).toBe(true);
    expect(
      decideUpdate(
        old,
        edit(old, (s) => delete s.schedulingGates),
      ).allowed,
    ).toBe(true);
    expect(
      decideUpdate(
        old,
        edit(old, (s) => (s.schedulingGates = [{ name: 'a' }, { name: 'b' }, { name: 'c' }])),
      ).allowed,
    ).toBe(false);
    expect(
      decideUpdate(
        old,
        edit(old, (s) => (s.schedulingGates = [{ name: 'x' }])),
      ).allowed,
    ).toBe(false);
    expect(
      decideUpdate(
        old,
        edit(old, (s) => (s.schedulingGates = [{ name: 'b' }, { name: 'a' }])),
      ).allowed,
    ).toBe(false);
  });

  it('lets metadata changes pass', () => {
    const labelled = { ...structuredClone(old), metadata: { name: 'restored', namespace: 'team-a', labels: { x: 'y' } } };
    expect(decideUpdate(old, labelled).allowed).toBe(true);
  });

  it('freezes resources and ephemeral containers as well (resize, ephemeralcontainers)', () => {
    const resized = edit(old, (s) => (((s.containers as JsonObject[])[0] as JsonObject).resources = { limits: { cpu: '2' } }));
    const debug = edit(old, (s) => (s.ephemeralContainers = [{ name: 'dbg', image: 'busybox' }]));
    expect(decideUpdate(old, resized).outcome).toBe('spec-frozen');
    expect(decideUpdate(old, debug).outcome).toBe('spec-frozen');
  });

  it('names the checkpoint in the audit annotations from either shape of restoreFrom, old object first', () => {
    expect(decideUpdate(old, old).auditAnnotations).toEqual({ checkpoint: 'ckpt' });
    const stringShape = edit(old, (s) => (s.restoreFrom = 'plain'));
    expect(decideUpdate(stringShape, stringShape).auditAnnotations).toEqual({ checkpoint: 'plain' });
    const added = decideUpdate(
      edit(old, (s) => delete s.restoreFrom),
      old,
    );
    expect(added.auditAnnotations).toEqual({ checkpoint: 'ckpt', decision: 'denied', reason: 'restore-from-changed' });
    const nameless = edit(old, (s) => (s.restoreFrom = { name: 7 }));
    expect(decideUpdate(nameless, nameless).auditAnnotations).toEqual({});
  });

  it('reads the restored condition only from a PodRestored condition with status True', () => {
    const image = edit(old, (s) => (((s.containers as JsonObject[])[0] as JsonObject).image = 'other'));
    const withConditions = (conditions: unknown[]): JsonObject => ({ ...old, status: { conditions } as JsonObject });
    expect(decideUpdate(withConditions([{ type: 'Ready', status: 'True' }]), image).outcome).toBe('spec-frozen');
    expect(decideUpdate(withConditions(['PodRestored', null]), image).outcome).toBe('spec-frozen');
    expect(
      decideUpdate(
        withConditions([
          { type: 'Ready', status: 'True' },
          { type: 'PodRestored', status: 'True' },
        ]),
        image,
      ).outcome,
    ).toBe('restored-pod-update');
    expect(decideUpdate(withConditions([{ type: 'PodRestored', status: 'True' }]), image).auditAnnotations).toEqual({ checkpoint: 'ckpt' });
  });

  it('names a gate change first, then the other fields, and allows a gate-only removal with nothing else changed', () => {
    const both = edit(old, (s) => {
      s.schedulingGates = [{ name: 'x' }];
      s.hostNetwork = true;
    });
    expect(decideUpdate(old, both).status?.message).toMatch(/Changed: spec\.schedulingGates, spec\.hostNetwork$/);
    const removedAndChanged = edit(old, (s) => {
      s.schedulingGates = [{ name: 'a' }];
      s.hostNetwork = true;
    });
    expect(decideUpdate(old, removedAndChanged).status?.message).toMatch(/Changed: spec\.hostNetwork$/);
    expect(
      decideUpdate(
        old,
        edit(old, (s) => (s.schedulingGates = [{ name: 'a' }])),
      ).outcome,
    ).toBe('update-allowed');
  });

  it('treats a gate without a name as a gate named "" (adding one is a change)', () => {
    const nameless = edit(old, (s) => (s.schedulingGates = [{ name: 'a' }, { name: 'b' }, { x: 1 }]));
    expect(decideUpdate(old, nameless).outcome).toBe('spec-frozen');
    expect(
      decideUpdate(
        nameless,
        edit(old, (s) => (s.schedulingGates = [{ name: 'a' }, { x: 1 }])),
      ).outcome,
    ).toBe('update-allowed');
  });

  it('reads gate names only from objects with a string name (a gate without one is named "")', () => {
    const gated = (...schedulingGates: unknown[]) => edit(old, (s) => (s.schedulingGates = schedulingGates as JsonObject[]));
    expect(decideUpdate(gated(null, { name: 'a' }), gated({ name: 'a' })).outcome).toBe('update-allowed');
    expect(decideUpdate(gated({ x: 1 }), gated({ name: 5 })).outcome).toBe('update-allowed');
    expect(decideUpdate(gated({ name: '' }), gated({ x: 1 })).outcome).toBe('update-allowed');
    expect(decideUpdate(gated({ name: 'a' }), gated({ x: 1 })).outcome).toBe('spec-frozen');
  });

  it('reads a Pod without a spec as one that does not restore', () => {
    const specless = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'restored' } };
    expect(decideUpdate(specless, old).auditAnnotations).toEqual({ checkpoint: 'ckpt', decision: 'denied', reason: 'restore-from-changed' });
    expect(decideUpdate(old, specless).auditAnnotations).toEqual({ checkpoint: 'ckpt', decision: 'denied', reason: 'restore-from-changed' });
    expect(decideUpdate({ spec: {} }, specless).outcome).toBe('update-allowed');
  });
});

describe('decideUpdate with annotation sources', () => {
  const DYNAMO = dynamoSnapshotSource();
  const sources = [KEP, DYNAMO];
  const pod = (annotations: Record<string, string>, conditions: JsonObject[] = [], image = 'img'): JsonObject => ({
    metadata: { name: 'w', annotations },
    spec: { containers: [{ name: 'c', image }] },
    status: { conditions },
  });
  const restored = [{ type: 'nvidia.com/Restored', status: 'True' }];

  it('denies adding, changing or removing the annotation (422), even once restored', () => {
    for (const [from, to] of [
      [pod({}), pod({ 'nvidia.com/restore-from': 'snap' })],
      [pod({ 'nvidia.com/restore-from': 'snap' }, restored), pod({ 'nvidia.com/restore-from': 'other' })],
      [pod({ 'nvidia.com/restore-from': 'snap' }, restored), pod({})],
    ] as const) {
      const decision = decideUpdate(from, to, sources);
      expect(decision.status).toMatchObject({ code: 422 });
      expect(decision.status?.message).toBe(
        'annotation "nvidia.com/restore-from" is immutable: it cannot be added, changed or removed on an existing Pod; restore again by creating a new Pod',
      );
    }
  });

  it("freezes the spec until the source's own restored condition, not KEP-5823's", () => {
    const before = pod({ 'nvidia.com/restore-from': 'snap' }, [{ type: 'PodRestored', status: 'True' }]);
    const frozen = decideUpdate(before, pod({ 'nvidia.com/restore-from': 'snap' }, [], 'other'), sources);
    expect(frozen.outcome).toBe('spec-frozen');
    expect(frozen.status?.message).toContain('(condition nvidia.com/Restored=True)');
    expect(frozen.auditAnnotations.checkpoint).toBe('snap');
    const after = decideUpdate(pod({ 'nvidia.com/restore-from': 'snap' }, restored), pod({ 'nvidia.com/restore-from': 'snap' }, [], 'other'), sources);
    expect(after.outcome).toBe('restored-pod-update');
  });

  it('allows an unchanged reference with an unchanged spec (a status or label update)', () => {
    const same = pod({ 'nvidia.com/restore-from': 'snap' });
    expect(decideUpdate(same, { ...same, metadata: { ...(same.metadata as JsonObject), labels: { a: 'b' } } }, sources).outcome).toBe('update-allowed');
  });

  it('counts an annotations object that disappears as removing the reference', () => {
    const from = pod({ 'nvidia.com/restore-from': 'snap' }, restored);
    const bare: JsonObject = { metadata: { name: 'w' }, spec: from.spec ?? null };
    expect(decideUpdate(from, bare, sources).outcome).toBe('restore-from-changed');
  });

  it('reads no inherited annotation key', () => {
    const inherited: JsonObject = { metadata: { annotations: Object.create({ 'nvidia.com/restore-from': 'snap' }) as JsonObject }, spec: {} };
    expect(decideUpdate(inherited, pod({ 'nvidia.com/restore-from': 'snap' }), sources).outcome).toBe('restore-from-changed');
  });

  it('lifts the freeze of a Pod that references two sources only when both report their restore', () => {
    const both = { 'nvidia.com/restore-from': 'a', 'podsnapshot.gke.io/ps-name': 'b' };
    const all = [KEP, DYNAMO, gkePodSnapshotSource()];
    const one = decideUpdate(pod(both, restored), pod(both, [], 'other'), all);
    expect(one.outcome).toBe('spec-frozen');
    expect(one.status?.message).toContain('(condition nvidia.com/Restored=True, PodRestored=True)');
    const twice = decideUpdate(pod(both, [...restored, { type: 'PodRestored', status: 'True' }]), pod(both, [], 'other'), all);
    expect(twice.outcome).toBe('restored-pod-update');
  });

  it('names no checkpoint when the reference names none', () => {
    const from: JsonObject = { spec: { restoreFrom: 42, containers: [] } };
    expect(decideUpdate(from, { spec: { restoreFrom: 42, containers: [{ name: 'x' }] } }).auditAnnotations).not.toHaveProperty('checkpoint');
  });
});
