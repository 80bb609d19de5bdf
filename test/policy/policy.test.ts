import { DEFAULT_CONTROLLERS } from '../../src/policy/workloads.js';
import { describe, expect, it } from 'vitest';
import { defaultPolicy, modeFor } from '../../src/policy/policy.js';

describe('defaultPolicy', () => {
  it("is the documented default: enforce, upstream's checkpoint API, node affinity, ready, equal spec, warn on a mounted token, closed, captures need exec", () => {
    expect(defaultPolicy()).toStrictEqual({
      mode: 'enforce',
      namespaceModes: {},
      checkpointAPI: { group: 'node.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints', verb: 'restore' },
      authorizationCache: { allowedTtlMs: 10_000, deniedTtlMs: 5_000, maxEntries: 10_000 },
      placement: 'nodeAffinity',
      requireReady: true,
      specEquality: 'enforce',
      sources: [{ preset: 'kep-5823' }],
      workloads: { delegation: 'disabled', controllers: [...DEFAULT_CONTROLLERS], kinds: [] },
      serviceAccountToken: 'warn',
      namespaces: { include: [], exclude: [] },
      failureMode: 'closed',
      checkpoints: { guard: 'enforce', access: { verb: 'create', group: '', resource: 'pods', subresource: 'exec' } },
    });
  });

  it('is a new object each time', () => {
    const a = defaultPolicy();
    a.namespaces.exclude.push('x');
    expect(defaultPolicy().namespaces.exclude).toEqual([]);
  });
});

describe('modeFor', () => {
  it("takes the namespace's own mode, else the policy's, never an inherited member", () => {
    const policy = { ...defaultPolicy(), mode: 'warn' as const, namespaceModes: { 'team-a': 'audit' as const } };
    expect(modeFor(policy, 'team-a')).toBe('audit');
    expect(modeFor(policy, 'team-b')).toBe('warn');
    expect(modeFor(policy, 'constructor')).toBe('warn');
  });
});
