import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/parse.js';
import { defaultPolicy } from '../../src/policy/policy.js';

describe('parsePolicy', () => {
  it('gives every default for an empty document', () => {
    expect(parsePolicy('')).toEqual({ ok: true, policy: defaultPolicy() });
  });

  it('reads a full document', () => {
    const result = parsePolicy(`
apiVersion: restore-guard.dev/v1alpha1
kind: RestorePolicy
checkpointAPI: { group: checkpoint.k8s.io, version: v1alpha1 }
authorizationCache: { allowedTTL: 30s, deniedTTL: 1m, maxEntries: 5 }
`);
    expect(result.ok && result.policy).toEqual({
      ...defaultPolicy(),
      checkpointAPI: { group: 'checkpoint.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints', verb: 'restore' },
      authorizationCache: { allowedTtlMs: 30_000, deniedTtlMs: 60_000, maxEntries: 5 },
    });
  });

  it.each([
    ['unknown key', 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\nchekpointAPI: {}', 'unknown field "chekpointAPI"'],
    ['wrong kind', 'apiVersion: restore-guard.dev/v1alpha1\nkind: Policy', '/kind'],
    ['bad duration', 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\nauthorizationCache: { allowedTTL: soon }', '/authorizationCache/allowedTTL'],
    ['bad YAML', 'apiVersion: [', 'not valid YAML'],
    ['not a map', '- a\n- b', 'must be object'],
  ])('refuses %s with a clear error', (_, text, expected) => {
    const result = parsePolicy(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.join('\n')).toContain(expected);
  });
});
