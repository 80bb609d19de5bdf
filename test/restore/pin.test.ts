import { describe, expect, it } from 'vitest';
import { isPinned, pinRequirement, pinSpec } from '../../src/restore/pin.js';
import type { JsonObject } from '../../src/common/json.js';

const pin = pinRequirement('node-a');
const terms = (spec: JsonObject) => ((spec.affinity as JsonObject).nodeAffinity as JsonObject).requiredDuringSchedulingIgnoredDuringExecution as JsonObject;

describe('pinSpec', () => {
  it('creates a required selector with one pinned term when there is none', () => {
    const spec = pinSpec({ containers: [] }, 'node-a');
    expect(terms(spec)).toEqual({ nodeSelectorTerms: [{ matchFields: [pin] }] });
  });

  it('keeps preferred node affinity and pod affinity untouched', () => {
    const preferred = [{ weight: 1, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }] } }];
    const podAffinity = { requiredDuringSchedulingIgnoredDuringExecution: [] };
    const spec = pinSpec({ affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: preferred }, podAffinity } }, 'node-a');
    const nodeAffinity = (spec.affinity as JsonObject).nodeAffinity as JsonObject;
    expect(nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution).toEqual(preferred);
    expect((spec.affinity as JsonObject).podAffinity).toEqual(podAffinity);
    expect(terms(spec)).toEqual({ nodeSelectorTerms: [{ matchFields: [pin] }] });
  });

  it('ANDs the pin into every non-empty term and adds no term (terms are ORed)', () => {
    const zone = { key: 'zone', operator: 'In', values: ['z1'] };
    const other = { key: 'metadata.name', operator: 'NotIn', values: ['node-b'] };
    const spec = pinSpec(
      {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [zone] }, { matchFields: [other] }, {}],
            },
          },
        },
      },
      'node-a',
    );
    expect(terms(spec).nodeSelectorTerms).toEqual([{ matchExpressions: [zone], matchFields: [pin] }, { matchFields: [other, pin] }, {}]);
  });

  it('skips terms that already hold the exact pin, so reinvocation changes nothing', () => {
    const once = pinSpec({ containers: [] }, 'node-a');
    expect(pinSpec(once, 'node-a')).toEqual(once);
  });

  it('does not treat a pin to another node as its own', () => {
    const spec = pinSpec(pinSpec({}, 'node-b'), 'node-a');
    expect(terms(spec).nodeSelectorTerms).toEqual([{ matchFields: [pinRequirement('node-b'), pin] }]);
  });

  it('leaves a required selector without a list of terms as it is', () => {
    const spec = pinSpec({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: 'junk' } } } }, 'node-a');
    expect(terms(spec)).toEqual({ nodeSelectorTerms: 'junk' });
  });

  it('leaves terms that are not objects as they are', () => {
    const spec = pinSpec(
      { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: ['junk', { matchFields: [] }] } } } },
      'node-a',
    );
    expect(terms(spec).nodeSelectorTerms).toEqual(['junk', { matchFields: [] }]);
  });

  it('does not modify its input', () => {
    const input: JsonObject = {
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'k', operator: 'Exists' }] }] } },
      },
    };
    const before = structuredClone(input);
    pinSpec(input, 'node-a');
    expect(input).toEqual(before);
  });
});

describe('isPinned', () => {
  it('needs a non-empty required term, every one of them pinned', () => {
    expect(isPinned(pinSpec({}, 'node-a'), 'node-a')).toBe(true);
    expect(isPinned(pinSpec({}, 'node-a'), 'node-b')).toBe(false);
    expect(isPinned({}, 'node-a')).toBe(false);
    const oneUnpinned = {
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchFields: [pin] }, { matchExpressions: [{ key: 'k', operator: 'Exists' }] }],
          },
        },
      },
    };
    expect(isPinned(oneUnpinned, 'node-a')).toBe(false);
    const onlyEmpty = { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{}] } } } };
    expect(isPinned(onlyEmpty, 'node-a')).toBe(false);
  });

  it('rejects a pin that lists more than the one node', () => {
    const wide = {
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-a', 'node-b'] }] }],
          },
        },
      },
    };
    expect(isPinned(wide, 'node-a')).toBe(false);
  });

  it('holds the pin only with key metadata.name, operator In and exactly the node', () => {
    const pinnedBy = (...requirements: unknown[]) => ({
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: requirements as JsonObject[] }] } } },
    });
    expect(isPinned(pinnedBy(null, 'x', pin), 'node-a')).toBe(true);
    expect(isPinned(pinnedBy({ key: 'metadata.name', operator: 'NotIn', values: ['node-a'] }), 'node-a')).toBe(false);
    expect(isPinned(pinnedBy({ key: 'metadata.uid', operator: 'In', values: ['node-a'] }), 'node-a')).toBe(false);
    expect(isPinned(pinnedBy({ key: 'metadata.uid', operator: 'NotIn', values: ['node-a'] }), 'node-a')).toBe(false);
    expect(isPinned(pinnedBy({ key: 'metadata.name', operator: 'In', values: 'node-a' }), 'node-a')).toBe(false);
  });

  it('ignores empty terms and terms that are not objects', () => {
    const withTerms = (...nodeSelectorTerms: unknown[]) => ({
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: nodeSelectorTerms as JsonObject[] } } },
    });
    expect(isPinned(withTerms({}, 'junk', null, { matchFields: [pin] }), 'node-a')).toBe(true);
    expect(isPinned(withTerms({ matchFields: [], matchExpressions: [] }, { matchFields: [pin] }), 'node-a')).toBe(true);
    expect(isPinned(withTerms('junk'), 'node-a')).toBe(false);
  });
});
