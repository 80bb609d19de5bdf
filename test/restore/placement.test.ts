import jsonPatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/common/json.js';
import { placedSpec, podPatch, specPatch } from '../../src/restore/placement.js';
import { NODE, pinnedAffinity, podSpec, restorePod } from '../support/fixtures.js';

const apply = (pod: JsonObject, node = NODE, placement: 'nodeAffinity' | 'nodeName' | 'none' = 'nodeAffinity') =>
  jsonPatch.applyPatch(structuredClone(pod), podPatch(pod, node, placement)).newDocument;

describe('placedSpec', () => {
  it('pins with node affinity, sets spec.nodeName, or leaves the spec as it is', () => {
    const spec = podSpec();
    expect(placedSpec(spec, NODE, 'nodeAffinity')).toEqual({ ...spec, affinity: pinnedAffinity() });
    expect(placedSpec(spec, NODE, 'nodeName')).toEqual({ ...spec, nodeName: NODE });
    expect(placedSpec(spec, NODE, 'none')).toBe(spec);
  });
});

describe('podPatch', () => {
  it('patches only what placement changes', () => {
    expect(podPatch(restorePod(), NODE, 'nodeAffinity')).toEqual([{ op: 'add', path: '/spec/affinity', value: pinnedAffinity() }]);
    expect(podPatch(restorePod(), NODE, 'nodeName')).toEqual([{ op: 'add', path: '/spec/nodeName', value: NODE }]);
    expect(podPatch(restorePod({ spec: { nodeName: 'node-z' } }), NODE, 'nodeName')).toEqual([{ op: 'replace', path: '/spec/nodeName', value: NODE }]);
    expect(podPatch(restorePod(), NODE, 'none')).toEqual([]);
    expect(podPatch(restorePod({ spec: { affinity: pinnedAffinity() } }), NODE, 'nodeAffinity')).toEqual([]);
  });

  it('places a Pod whose spec is missing or not an object, keeping the rest of the Pod', () => {
    for (const spec of [undefined, null, ['x'], 'x']) {
      const pod: JsonObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, ...(spec === undefined ? {} : { spec }) };
      expect(apply(pod), JSON.stringify(spec)).toEqual({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { affinity: pinnedAffinity() } });
    }
  });
});

describe('specPatch', () => {
  it('compares only the fields that differ, and removes a field placement drops', () => {
    const spec = podSpec({ nodeName: 'node-z' });
    const { nodeName: _dropped, ...placed } = spec;
    expect(specPatch(spec, placed)).toEqual([{ op: 'remove', path: '/spec/nodeName' }]);
    expect(specPatch(spec, { ...spec })).toEqual([]);
  });
});
