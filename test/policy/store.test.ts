import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { defaultPolicy } from '../../src/policy/policy.js';
import { PolicyStore } from '../../src/policy/store.js';

const HEADER = 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n';

function store() {
  const metrics = createMetrics({ defaultMetrics: false });
  return { store: new PolicyStore({ logger: createLogger('silent'), metrics }), metrics };
}

describe('PolicyStore', () => {
  it('starts with the defaults at generation 1', () => {
    const { store: s } = store();
    expect(s.current()).toEqual(defaultPolicy());
    expect(s.generation).toBe(1);
  });

  it('applies a valid change with a new generation and tells listeners', () => {
    const { store: s, metrics } = store();
    const seen: string[] = [];
    s.onChange((policy, previous) => seen.push(`${previous.mode}->${policy.mode}`));
    expect(s.apply(`${HEADER}mode: warn`, 'configmap', 'ns/cm')).toEqual({ result: 'accepted', generation: 2 });
    expect(s.current().mode).toBe('warn');
    expect(seen).toEqual(['enforce->warn']);
    return metrics.registry.getSingleMetricAsString('restore_guard_policy_generation').then((text) => expect(text).toContain('restore_guard_policy_generation 2'));
  });

  it('keeps the last good policy when a document is invalid, and counts it', async () => {
    const { store: s, metrics } = store();
    s.apply(`${HEADER}mode: audit`, 'file', 'p');
    const before = s.current();
    const result = s.apply(`${HEADER}mode: sometimes`, 'file', 'p');
    expect(result.result).toBe('rejected');
    expect(s.current()).toBe(before);
    expect(s.generation).toBe(2);
    expect(await metrics.registry.getSingleMetricAsString('restore_guard_policy_reloads_total')).toContain('source="file",result="rejected"} 1');
  });

  it('does not bump the generation for a document that changes nothing', () => {
    const { store: s } = store();
    expect(s.apply(`${HEADER}mode: enforce\n# only a comment changed`, 'configmap', 'x').result).toBe('unchanged');
    expect(s.generation).toBe(1);
  });

  it('goes back to the defaults when the document disappears', () => {
    const { store: s } = store();
    s.apply(`${HEADER}mode: warn`, 'configmap', 'x');
    expect(s.apply(undefined, 'configmap', 'x').result).toBe('accepted');
    expect(s.current()).toEqual(defaultPolicy());
    expect(s.generation).toBe(3);
  });

  it('has nothing unavailable when no source is configured', () => {
    expect(store().store.unavailable()).toBeUndefined();
  });

  it('is unavailable from expect() until the configured source delivers a valid policy, and says why', () => {
    const { store: s } = store();
    s.expect('ConfigMap ns/cm');
    expect(s.unavailable()).toContain('ConfigMap ns/cm');
    expect(s.unavailable()).toContain('not been read yet');
    s.readFailed('the API server answered HTTP 500');
    expect(s.unavailable()).toContain('HTTP 500');
    expect(s.apply(`${HEADER}mode: sometimes`, 'configmap', 'ns/cm').result).toBe('rejected');
    expect(s.unavailable()).toContain('does not validate');
    expect(s.unavailable()).toContain('/mode');
    expect(s.apply(`${HEADER}mode: warn`, 'configmap', 'ns/cm').result).toBe('accepted');
    expect(s.unavailable()).toBeUndefined();
    // Once loaded, a later bad document keeps the last good policy: still available.
    s.apply(`${HEADER}mode: sometimes`, 'configmap', 'ns/cm');
    expect(s.unavailable()).toBeUndefined();
  });

  it('counts a configured document equal to the defaults, or no document at all, as loaded', () => {
    const a = store().store;
    a.expect('f');
    expect(a.apply(HEADER, 'file', 'f').result).toBe('unchanged');
    expect(a.unavailable()).toBeUndefined();
    const b = store().store;
    b.expect('cm');
    b.apply(undefined, 'configmap', 'cm');
    expect(b.unavailable()).toBeUndefined();
  });
});
