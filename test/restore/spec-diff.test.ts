import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/common/json.js';
import { podShapeAt, semanticDiff, semanticDiffExcept } from '../../src/restore/spec-diff.js';
import { decideUpdate } from '../../src/restore/update-rules.js';
import { restorePod } from '../support/fixtures.js';

// Issue #11 item 3: quantity rules applied to any key named limits, requests, capacity, overhead or
// sizeLimit anywhere in the spec. They apply now only where the core/v1 Pod spec holds a resource.Quantity.

/** A spec with `value` at the dotted path (numbers index lists), everything else absent. */
function specWith(path: string, value: string): JsonObject {
  const spec: JsonObject = {};
  const parts = path.split('.');
  let node: JsonObject | JsonObject[] = spec;
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    const nextIsIndex = /^\d+$/.test(parts[i + 1] ?? '');
    const child = last ? value : nextIsIndex ? [] : {};
    if (Array.isArray(node)) node[Number(part)] = child;
    else node[part] = child;
    node = child;
  });
  return spec;
}

const fieldPath = (path: string): string => `spec.${path}`.replace(/\.(\d+)(?=\.|$)/g, '[$1]');

// Every place a core/v1 PodSpec holds a quantity (k8s.io/api core/v1 types.go, walked from PodSpec).
const QUANTITY_PATHS = [
  'containers.0.resources.limits.cpu',
  'containers.1.resources.requests.memory',
  'initContainers.0.resources.limits.cpu',
  'initContainers.0.resources.requests.hugepages-2Mi',
  'ephemeralContainers.0.resources.limits.cpu',
  'resources.limits.cpu',
  'resources.requests.memory',
  'overhead.cpu',
  'volumes.0.emptyDir.sizeLimit',
  'volumes.0.ephemeral.volumeClaimTemplate.spec.resources.requests.storage',
  'volumes.0.ephemeral.volumeClaimTemplate.spec.resources.limits.storage',
  'containers.0.env.0.valueFrom.resourceFieldRef.divisor',
  'initContainers.0.env.2.valueFrom.resourceFieldRef.divisor',
  'volumes.1.downwardAPI.items.0.resourceFieldRef.divisor',
  'volumes.0.projected.sources.1.downwardAPI.items.0.resourceFieldRef.divisor',
];

// Keys that look like quantity fields but hold ordinary strings (or are not where the Pod spec has them).
const PLAIN_PATHS = [
  'volumes.0.csi.volumeAttributes.limits',
  'volumes.0.csi.volumeAttributes.requests',
  'volumes.0.csi.volumeAttributes.capacity',
  'volumes.0.csi.volumeAttributes.overhead',
  'volumes.0.csi.volumeAttributes.sizeLimit',
  'volumes.0.flexVolume.options.limits',
  'nodeSelector.limits',
  'nodeSelector.sizeLimit',
  'containers.0.overhead',
  'containers.0.resources.limits',
  'containers.0.resources.requests',
  'containers.0.env.0.value',
  'volumes.0.ephemeral.volumeClaimTemplate.metadata.annotations.limits',
  'volumes.0.ephemeral.volumeClaimTemplate.metadata.labels.sizeLimit',
  'restoreFrom.options.limits',
  'capacity.cpu',
];

describe('semanticDiff: quantities only where the Pod spec holds them', () => {
  it.each(QUANTITY_PATHS)('compares spec.%s by value', (path) => {
    expect(semanticDiff(specWith(path, '1'), specWith(path, '1000m'), 'spec')).toEqual([]);
    expect(semanticDiff(specWith(path, '1Gi'), specWith(path, '1073741824'), 'spec')).toEqual([]);
    expect(semanticDiff(specWith(path, '1'), specWith(path, '1001m'), 'spec')).toEqual([fieldPath(path)]);
  });

  it.each(PLAIN_PATHS)('compares spec.%s as a plain string', (path) => {
    expect(semanticDiff(specWith(path, '1'), specWith(path, '1000m'), 'spec')).toEqual([fieldPath(path)]);
    expect(semanticDiff(specWith(path, '1'), specWith(path, '1'), 'spec')).toEqual([]);
  });

  it('reports a limits map in csi.volumeAttributes that only a quantity reading would call equal', () => {
    const volume = (limits: string): JsonObject => ({
      volumes: [{ name: 'v', csi: { driver: 'x.example.com', volumeAttributes: { limits, requests: '1Gi', capacity: '2' } } }],
      containers: [{ name: 'a', resources: { limits: { cpu: limits } } }],
    });
    expect(semanticDiff(volume('1'), volume('1000m'), 'spec')).toEqual(['spec.volumes[0].csi.volumeAttributes.limits']);
  });

  it('reports two over-long quantities that are equal as numbers but differ in text', () => {
    const long = `0.${'7'.repeat(40_000)}`;
    const a = { containers: [{ name: 'a', resources: { limits: { cpu: long } } }] };
    const b = { containers: [{ name: 'a', resources: { limits: { cpu: `${long}00` } } }] };
    expect(semanticDiff(a, b, 'spec')).toEqual(['spec.containers[0].resources.limits.cpu']);
  });

  it('looks the shape up from where the values sit in a Pod', () => {
    expect(podShapeAt('spec')).toBeDefined();
    expect(podShapeAt('spec.containers[3].resources.limits.cpu')?.quantity).toBe(true);
    expect(podShapeAt('spec.restoreFrom')).toBeUndefined();
    expect(podShapeAt('metadata.annotations')).toBeUndefined();
    expect(podShapeAt('spec.constructor')).toBeUndefined();
    // restoreFrom is compared alone, with its own root: nothing in it is a quantity.
    expect(semanticDiff({ name: 'c', options: { limits: '1' } }, { name: 'c', options: { limits: '1000m' } }, 'spec.restoreFrom')).toEqual([
      'spec.restoreFrom.options.limits',
    ]);
  });
});

describe('semanticDiff: keys named like Object.prototype members', () => {
  it('reads only own keys: an empty value under such a key equals an absent one, a non-empty one differs', () => {
    for (const key of Object.getOwnPropertyNames(Object.prototype)) {
      const empty = JSON.parse(`{${JSON.stringify(key)}: {}}`) as JsonObject;
      const full = JSON.parse(`{${JSON.stringify(key)}: {"a": "b"}}`) as JsonObject;
      expect(semanticDiff(empty, {}, 'spec'), key).toEqual([]);
      expect(semanticDiff({}, empty, 'spec'), key).toEqual([]);
      expect(semanticDiff(full, {}, 'spec'), key).toEqual([`spec.${key}`]);
      expect(semanticDiff({}, full, 'spec'), key).toEqual([`spec.${key}`]);
    }
  });
});

describe('decideUpdate with quantity look-alikes', () => {
  const old = restorePod({
    spec: {
      volumes: [{ name: 'data', csi: { driver: 'x.example.com', volumeAttributes: { limits: '1' } } }],
    },
  });
  const edit = (change: (spec: JsonObject) => void): JsonObject => {
    const copy = structuredClone(old);
    change(copy.spec as JsonObject);
    return copy;
  };

  it('freezes a csi volumeAttributes "limits" value: "1" to "1000m" is a change', () => {
    const changed = edit((s) => (((s.volumes as JsonObject[])[0]?.csi as JsonObject).volumeAttributes = { limits: '1000m' }));
    const decision = decideUpdate(old, changed);
    expect(decision.outcome).toBe('spec-frozen');
    expect(decision.status?.message).toContain('spec.volumes[0].csi.volumeAttributes.limits');
  });

  it('freezes 40,000-digit container and csi limits that differ only in text', () => {
    const long = `0.${'3'.repeat(40_000)}`;
    const withLimits = (text: string): JsonObject =>
      edit((s) => {
        ((s.containers as JsonObject[])[0] as JsonObject).resources = { limits: { cpu: text } };
        ((s.volumes as JsonObject[])[0]?.csi as JsonObject).volumeAttributes = { limits: text };
      });
    const decision = decideUpdate(withLimits(long), withLimits(`${long}0`));
    expect(decision.outcome).toBe('spec-frozen');
    expect(decision.status?.message).toContain('spec.containers[0].resources.limits.cpu');
    expect(decision.status?.message).toContain('spec.volumes[0].csi.volumeAttributes.limits');
  });

  it('rejects a restoreFrom option change that a quantity reading would call equal', () => {
    const withOption = (value: string): JsonObject => edit((s) => (s.restoreFrom = { name: 'ckpt', options: { limits: value } }));
    expect(decideUpdate(withOption('1'), withOption('1000m')).outcome).toBe('restore-from-changed');
  });

  it('still lets equal real quantities through: "1" and "1000m" CPU', () => {
    const withCpu = (cpu: string): JsonObject =>
      edit((s) => (((s.containers as JsonObject[])[0] as JsonObject).resources = { limits: { cpu }, requests: { memory: '1Gi' } }));
    expect(decideUpdate(withCpu('1'), withCpu('1000m')).outcome).toBe('update-allowed');
  });
});

describe('semanticDiff', () => {
  it('treats absent, null and empty alike', () => {
    expect(semanticDiff({ a: [], b: {}, c: null, d: '' }, {}, 'spec')).toEqual([]);
    expect(semanticDiff({ tolerations: [] }, { tolerations: null }, 'spec')).toEqual([]);
  });

  it('compares quantities by value only where they are quantities', () => {
    const a = { containers: [{ resources: { limits: { cpu: '1' } } }] };
    const b = { containers: [{ resources: { limits: { cpu: '1000m' } } }] };
    expect(semanticDiff(a, b, 'spec')).toEqual([]);
    expect(semanticDiff({ containers: [{ image: '1' }] }, { containers: [{ image: '1000m' }] }, 'spec')).toEqual(['spec.containers[0].image']);
  });

  it('names every differing field path', () => {
    const a = { containers: [{ name: 'a', image: 'x' }, { name: 'b' }], hostNetwork: true };
    const b = { containers: [{ name: 'a', image: 'y' }], dnsPolicy: 'None' };
    expect(semanticDiff(a, b, 'spec').sort()).toEqual(['spec.containers[0].image', 'spec.containers[1]', 'spec.dnsPolicy', 'spec.hostNetwork'].sort());
  });

  it('tells a number from a string', () => {
    expect(semanticDiff({ x: 1 }, { x: '1' }, 'spec')).toEqual(['spec.x']);
  });

  it('treats an object of only empty values, and an empty string next to an absent or null value, as empty', () => {
    expect(semanticDiff({ securityContext: { runAsUser: null, seLinuxOptions: {} } }, {}, 'spec')).toEqual([]);
    expect(semanticDiff({}, { hostname: '' }, 'spec')).toEqual([]);
    expect(semanticDiff({ hostname: null }, { hostname: '' }, 'spec')).toEqual([]);
    expect(semanticDiff({ securityContext: { runAsUser: 0 } }, {}, 'spec')).toEqual(['spec.securityContext']);
  });

  it('finds no difference between equal values that are not strings', () => {
    expect(semanticDiff(5, 5, 'spec.x')).toEqual([]);
    expect(semanticDiff(true, true, 'spec.x')).toEqual([]);
    expect(semanticDiff(5, 6, 'spec.x')).toEqual(['spec.x']);
  });
});

describe('semanticDiffExcept: the fields a restore may change, on either side', () => {
  const IGNORED = new Set(['nodeName', 'schedulingGates']);
  const base: JsonObject = { containers: [{ name: 'c', image: 'img' }] };

  it('skips an ignored field that only one side has, or that differs, and still reports every other field', () => {
    expect(semanticDiffExcept({ ...base, nodeName: 'node-a' }, base, IGNORED, 'spec')).toEqual([]);
    expect(semanticDiffExcept(base, { ...base, nodeName: 'node-a', schedulingGates: [{ name: 'g' }] }, IGNORED, 'spec')).toEqual([]);
    expect(semanticDiffExcept({ ...base, nodeName: 'a' }, { ...base, nodeName: 'b' }, IGNORED, 'spec')).toEqual([]);
    expect(semanticDiffExcept(base, { ...base, hostNetwork: true, nodeName: 'b' }, IGNORED, 'spec')).toEqual(['spec.hostNetwork']);
    expect(semanticDiffExcept({ ...base, hostPID: true }, base, IGNORED, 'spec')).toEqual(['spec.hostPID']);
  });

  it('ignores only at the top level: the same name deeper is compared', () => {
    const deep = (nodeName: string): JsonObject => ({ containers: [{ name: 'c', image: 'img', env: [{ name: 'nodeName', value: nodeName }] }] });
    expect(semanticDiffExcept(deep('a'), deep('b'), IGNORED, 'spec')).toEqual(['spec.containers[0].env[0].value']);
  });
});
