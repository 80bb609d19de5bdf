import { describe, expect, it } from 'vitest';
import { canonicalQuantity, sameQuantity } from '../../src/restore/quantity.js';
import { semanticDiff } from '../../src/restore/spec-diff.js';

describe('quantities', () => {
  it.each([
    ['1', '1000m'],
    ['0.5', '500m'],
    ['1Gi', '1073741824'],
    ['1k', '1000'],
    ['1e3', '1k'],
    ['1.5Gi', '1536Mi'],
    ['100M', '100000k'],
    ['0', '0m'],
  ])('%s equals %s', (a, b) => expect(sameQuantity(a, b)).toBe(true));

  it.each([
    ['1', '1001m'],
    ['1Gi', '1G'],
    ['1Ki', '1k'],
  ])('%s differs from %s', (a, b) => expect(sameQuantity(a, b)).toBe(false));

  it('rejects what is not a quantity', () => {
    expect(canonicalQuantity('abc')).toBeUndefined();
    expect(canonicalQuantity('1Xi')).toBeUndefined();
    expect(canonicalQuantity('')).toBeUndefined();
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
    expect(semanticDiff({ containers: [{ image: '1' }] }, { containers: [{ image: '1000m' }] }, 'spec')).toEqual([
      'spec.containers[0].image',
    ]);
  });

  it('names every differing field path', () => {
    const a = { containers: [{ name: 'a', image: 'x' }, { name: 'b' }], hostNetwork: true };
    const b = { containers: [{ name: 'a', image: 'y' }], dnsPolicy: 'None' };
    expect(semanticDiff(a, b, 'spec').sort()).toEqual(
      ['spec.containers[0].image', 'spec.containers[1]', 'spec.dnsPolicy', 'spec.hostNetwork'].sort(),
    );
  });

  it('tells a number from a string', () => {
    expect(semanticDiff({ x: 1 }, { x: '1' }, 'spec')).toEqual(['spec.x']);
  });
});
