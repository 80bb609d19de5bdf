import { describe, expect, it } from 'vitest';
import { defaultPolicy, type Policy } from '../../src/policy/policy.js';
import { namespaceDenial } from '../../src/restore/namespaces.js';

describe('namespaceDenial', () => {
  const policy = (namespaces: Policy['namespaces']): Policy => ({ ...defaultPolicy(), namespaces });
  const message = (decision: ReturnType<typeof namespaceDenial>) => decision?.status?.message;
  const PREFIX = 'restoring Pods from checkpoints is not permitted in namespace "team-a" by the restore-guard policy: ';

  it('says why a namespace is closed: excluded, not included, or not matching the selector', () => {
    expect(message(namespaceDenial(policy({ include: [], exclude: ['team-a'] }), 'team-a'))).toBe(`${PREFIX}it is excluded`);
    expect(message(namespaceDenial(policy({ include: ['team-b'], exclude: [] }), 'team-a'))).toBe(`${PREFIX}it is not in the included namespaces`);
    const selector = { matchLabels: { tier: 'prod' }, matchExpressions: [] };
    expect(message(namespaceDenial(policy({ include: [], exclude: [], selector }), 'team-a', { tier: 'dev' }))).toBe(
      `${PREFIX}its labels do not match the policy's namespace selector`,
    );
    expect(message(namespaceDenial(policy({ include: [], exclude: [], selector }), 'team-a'))).toBe(
      `${PREFIX}its labels do not match the policy's namespace selector`,
    );
  });

  it('permits an included namespace whose labels match', () => {
    const selector = { matchLabels: { tier: 'prod' }, matchExpressions: [] };
    expect(namespaceDenial(policy({ include: ['team-a'], exclude: ['team-b'], selector }), 'team-a', { tier: 'prod' })).toBeUndefined();
  });
});
