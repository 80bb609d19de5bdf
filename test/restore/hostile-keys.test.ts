import { describe, expect, it } from 'vitest';
import { parseReview } from '../../src/admission/review.js';
import { cacheKey } from '../../src/kube/authorization-cache.js';
import { parsePolicy } from '../../src/policy/parse.js';
import { defaultPolicy, modeFor, type Policy } from '../../src/policy/policy.js';
import type { Decision } from '../../src/admission/decision.js';
import type { JsonObject } from '../../src/common/json.js';
import { applyMode, type RestoreDecision } from '../../src/restore/messages.js';
import type { AdmissionRequest, UserInfo, Webhook } from '../../src/admission/request.js';
import { restoreDeciders } from '../../src/restore/webhooks.js';
import { deadlineIn } from '../support/deadlines.js';
import { FakePorts } from '../support/fake-ports.js';
import { pinnedAffinity, readyCheckpoint, restoreAccessTo } from '../support/fixtures.js';

// Every string in a review is hostile. The names of Object.prototype's members are the keys that an
// object with a prototype answers without holding them: used as a namespace, user, group, extra key,
// option key or label key, each must be decided exactly like a neutral name.
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);
const NEUTRAL = 'neutral';

type Role = 'namespace' | 'user' | 'group' | 'extra' | 'option' | 'label';

interface Case {
  webhook: Webhook;
  operation: 'CREATE' | 'UPDATE';
  granted: boolean;
  /** Policy variants that request data must not be able to escape. */
  policy: 'default' | 'other-namespace-warns' | 'excluded' | 'selector' | 'selector-matching';
  nodeName?: boolean;
}

const CASES: Case[] = [
  { webhook: 'mutate', operation: 'CREATE', granted: false, policy: 'default' },
  { webhook: 'validate', operation: 'CREATE', granted: false, policy: 'default' },
  { webhook: 'mutate', operation: 'CREATE', granted: true, policy: 'default' },
  { webhook: 'validate', operation: 'CREATE', granted: true, policy: 'default' },
  { webhook: 'validate', operation: 'CREATE', granted: true, policy: 'default', nodeName: true },
  { webhook: 'validate', operation: 'UPDATE', granted: false, policy: 'default' },
  { webhook: 'mutate', operation: 'CREATE', granted: false, policy: 'other-namespace-warns' },
  { webhook: 'validate', operation: 'CREATE', granted: true, policy: 'excluded' },
  { webhook: 'mutate', operation: 'CREATE', granted: true, policy: 'selector' },
  { webhook: 'mutate', operation: 'CREATE', granted: true, policy: 'selector-matching' },
];

function policyFor(variant: Case['policy'], name: string, role: Role): Policy {
  const namespace = role === 'namespace' ? name : 'team-a';
  const labelKey = role === 'label' ? name : 'tier';
  const documents: Record<Case['policy'], string> = {
    default: '',
    'other-namespace-warns': 'namespaceModes: {somewhere-else: warn}',
    // A policy may only name valid namespaces; the hostile one is excluded after parsing.
    excluded: '',
    'selector-matching': '',
    selector: `namespaces: {selector: {matchLabels: ${JSON.stringify({ [labelKey]: 'gold' })}, matchExpressions: [{key: ${JSON.stringify(labelKey)}, operator: Exists}]}}`,
  };
  const parsed = parsePolicy(`apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n${documents[variant]}`);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  if (variant === 'excluded') parsed.policy.namespaces.exclude = [namespace];
  if (variant === 'selector-matching') return policyFor('selector', name, role);
  return parsed.policy;
}

/** The review as kube-apiserver would send it, parsed from text the way the server does. */
function request(c: Case, name: string, role: Role): AdmissionRequest {
  const at = (r: Role, fallback: string) => (role === r ? name : fallback);
  const options = role === 'option' ? { [name]: 'x' } : {};
  const pod = (checkpoint: string): JsonObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'restored', namespace: at('namespace', 'team-a') },
    spec: {
      containers: [{ name: 'app', image: 'registry.example/app@sha256:1111' }],
      restoreFrom: { name: checkpoint, options },
      affinity: pinnedAffinity(),
      ...(c.nodeName ? { nodeName: 'node-a' } : {}),
    },
  });
  const body = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: at('namespace', 'team-a'),
      operation: c.operation,
      userInfo: {
        username: at('user', 'alice'),
        groups: [at('group', 'devs')],
        extra: { [at('extra', 'scopes')]: ['a'] },
      },
      object: pod('ckpt'),
      oldObject: c.operation === 'UPDATE' ? pod('other') : null,
    },
  };
  const parsed = parseReview(JSON.parse(JSON.stringify(body)));
  if (parsed.kind !== 'review') throw new Error(`review refused: ${JSON.stringify(parsed)}`);
  return parsed.request;
}

async function decide(c: Case, name: string, role: Role): Promise<{ decision: Decision; sarUsers: UserInfo[] }> {
  const fake = new FakePorts();
  const namespace = role === 'namespace' ? name : 'team-a';
  const user = role === 'user' ? name : 'alice';
  const labelKey = role === 'label' ? name : 'tier';
  fake.checkpoints.set(`${namespace}/ckpt`, readyCheckpoint({ namespace }));
  if (c.granted) fake.grants.add(`${user}/${namespace}/ckpt`);
  const sarUsers: UserInfo[] = [];
  const ports = fake.ports();
  const policy = policyFor(c.policy, name, role);
  const reviewer = restoreDeciders({
    ...ports,
    authorizer: {
      authorize: (u, access, deadline) => {
        sarUsers.push(u);
        return ports.authorizer.authorize(u, access, deadline);
      },
    },
    // Labels arrive as JSON from the API server: own keys only.
    namespaces: { labels: async () => (c.policy === 'selector-matching' ? JSON.parse(JSON.stringify({ [labelKey]: 'gold' })) : {}) },
    policy: () => policy,
  });
  return { decision: await reviewer[c.webhook].decide(request(c, name, role), deadlineIn(1000)), sarUsers };
}

/** A decision with the hostile name written as the neutral one, so the two can be compared whole. */
function normalised(decision: Decision, name: string): unknown {
  return JSON.parse(JSON.stringify(decision).split(JSON.stringify(name).slice(1, -1)).join(NEUTRAL));
}

const ROLES: Role[] = ['namespace', 'user', 'group', 'extra', 'option', 'label'];

describe('request data named like Object.prototype members', () => {
  it.each(ROLES)('as a %s, every name is decided exactly like a neutral one', async (role) => {
    for (const c of CASES) {
      const expected = await decide(c, NEUTRAL, role);
      for (const name of PROTOTYPE_NAMES) {
        const actual = await decide(c, name, role);
        expect(normalised(actual.decision, name), `${role} ${JSON.stringify(name)} in ${JSON.stringify(c)}`).toEqual(expected.decision);
      }
    }
  });

  it('a namespace named "constructor" with no grants is denied on both webhooks and on UPDATE', async () => {
    for (const c of CASES.filter((x) => !x.granted && x.policy === 'default')) {
      const { decision } = await decide(c, 'constructor', 'namespace');
      expect(decision.allowed, JSON.stringify(c)).toBe(false);
    }
  });

  it('an excluded namespace named "constructor" stays denied', async () => {
    const { decision } = await decide({ webhook: 'validate', operation: 'CREATE', granted: true, policy: 'excluded' }, 'constructor', 'namespace');
    expect(decision.status?.code).toBe(403);
    expect(decision.outcome).toBe('namespace-not-permitted');
  });

  it('a restore option named "__proto__" is an option like any other (422 without a runtimeClassName)', async () => {
    const { decision } = await decide({ webhook: 'validate', operation: 'CREATE', granted: true, policy: 'default' }, '__proto__', 'option');
    expect(decision.status?.code).toBe(422);
    expect(decision.outcome).toBe('options-need-runtime-class');
  });

  it('an extra key named "__proto__" reaches the SubjectAccessReview and the cache key', async () => {
    const { sarUsers } = await decide({ webhook: 'mutate', operation: 'CREATE', granted: false, policy: 'default' }, '__proto__', 'extra');
    expect(sarUsers).toHaveLength(1);
    const extra = sarUsers[0]?.extra ?? {};
    expect(Object.hasOwn(extra, '__proto__')).toBe(true);
    expect(JSON.parse(JSON.stringify({ extra })).extra).toEqual(JSON.parse('{"__proto__":["a"]}'));
    const without: UserInfo = { ...(sarUsers[0] as UserInfo), extra: {} };
    expect(cacheKey(sarUsers[0] as UserInfo, restoreAccessTo('ckpt'))).not.toBe(cacheKey(without, restoreAccessTo('ckpt')));
  });
});

describe('modes', () => {
  it('a namespace mode is read only from the policy, never inherited', () => {
    const policy = defaultPolicy();
    for (const name of PROTOTYPE_NAMES) expect(modeFor(policy, name)).toBe('enforce');
  });

  it('anything but an explicit warn or audit enforces', () => {
    const denial: RestoreDecision = {
      allowed: false,
      status: { code: 403, reason: 'Forbidden', message: 'no' },
      warnings: [],
      auditAnnotations: {},
      outcome: 'unauthorized',
    };
    for (const mode of ['enforce', 'Warn', '', 'constructor', undefined, Object] as unknown[]) {
      expect(applyMode(denial, mode as 'enforce').allowed, String(mode)).toBe(false);
    }
    expect(applyMode(denial, 'warn').allowed).toBe(true);
    expect(applyMode(denial, 'audit').allowed).toBe(true);
  });
});
