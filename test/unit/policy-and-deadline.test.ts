import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/common/duration.js';
import { parsePolicy } from '../../src/policy/parse.js';
import { defaultPolicy } from '../../src/policy/policy.js';
import { deadlineAfter, outboundBudgetMs } from '../../src/server/deadline.js';

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

describe('durations and deadlines', () => {
  it('parses Go-style durations', () => {
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('5')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });

  it('keeps a reserve out of the timeout kube-apiserver gives', () => {
    expect(outboundBudgetMs('10s')).toBe(9_000);
    expect(outboundBudgetMs('5s')).toBe(4_500);
    expect(outboundBudgetMs('1s')).toBe(900);
    expect(outboundBudgetMs(undefined)).toBe(9_000);
    expect(outboundBudgetMs('garbage')).toBe(9_000);
    expect(outboundBudgetMs('10m')).toBe(29_000);
  });

  it('counts down on the clock it is given', () => {
    let now = 1000;
    const deadline = deadlineAfter(500, () => now);
    expect(deadline.remainingMs()).toBe(500);
    now += 400;
    expect(deadline.remainingMs()).toBe(100);
    now += 400;
    expect(deadline.remainingMs()).toBe(0);
  });
});
