import jsonPatch from 'fast-json-patch';
import { beforeEach, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/parse.js';
import { defaultPolicy, type Policy } from '../../src/policy/policy.js';
import type { JsonObject } from '../../src/common/json.js';
import { matchesSelector } from '../../src/restore/namespaces.js';
import { DependencyError } from '../../src/restore/ports.js';
import { restoreDeciders } from '../../src/restore/webhooks.js';
import { deadlineIn } from '../support/deadlines.js';
import { createRequest, NODE, pinnedAffinity, readyCheckpoint, restorePod } from '../support/fixtures.js';
import { FakePorts } from '../support/fake-ports.js';

const NOW = Date.parse('2026-11-27T12:00:00Z');

function policyFrom(yaml: string): Policy {
  const result = parsePolicy(`apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n${yaml}`);
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.policy;
}

describe('policy knobs', () => {
  let fake: FakePorts;
  let policy: Policy;
  let labels: Record<string, Record<string, string>>;
  let now = NOW;
  const review = (webhook: 'mutate' | 'validate', pod: JsonObject, namespace = 'team-a') => {
    for (const [name, value] of Object.entries(labels)) fake.namespaceLabels.set(name, value);
    const ports = { ...fake.ports(), policy: () => policy, now: () => now };
    return restoreDeciders(ports)[webhook].decide(createRequest(pod, { namespace }), deadlineIn(1000));
  };
  const pinned = (spec: JsonObject = {}) => restorePod({ spec: { affinity: pinnedAffinity(), ...spec } });

  beforeEach(() => {
    fake = new FakePorts();
    fake.grants.add('alice/team-a/ckpt');
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint({ completionTime: '2026-11-27T11:00:00Z' }));
    policy = defaultPolicy();
    labels = { 'team-a': { tier: 'prod' } };
    now = NOW;
  });

  describe('mode', () => {
    it('enforce denies', async () => {
      expect((await review('validate', pinned({ hostNetwork: true }))).allowed).toBe(false);
    });

    it('warn allows and says what would have been denied', async () => {
      policy = policyFrom('mode: warn');
      const decision = await review('validate', pinned({ hostNetwork: true }));
      expect(decision.allowed).toBe(true);
      expect(decision.warnings.join()).toContain('would deny (warn mode)');
      expect(decision.warnings.join()).toContain('spec.hostNetwork');
      expect(decision.auditAnnotations).toMatchObject({ decision: 'would-deny', mode: 'warn', reason: 'spec-mismatch' });
    });

    it('audit allows with audit annotations only', async () => {
      policy = policyFrom('mode: audit');
      fake.grants.clear();
      const decision = await review('validate', pinned());
      expect(decision.allowed).toBe(true);
      expect(decision.warnings).toEqual([]);
      expect(decision.auditAnnotations).toMatchObject({ decision: 'would-deny', mode: 'audit', reason: 'unauthorized' });
    });

    it('can be overridden per namespace', async () => {
      policy = policyFrom('mode: warn\nnamespaceModes: { team-a: enforce }');
      expect((await review('validate', pinned({ hostNetwork: true }))).allowed).toBe(false);
      policy = policyFrom('namespaceModes: { team-a: audit }');
      expect((await review('validate', pinned({ hostNetwork: true }))).allowed).toBe(true);
    });

    it('never turns a warn-mode mutation into a patch for an unauthorized requester', async () => {
      policy = policyFrom('mode: warn');
      fake.grants.clear();
      const decision = await review('mutate', restorePod());
      expect(decision.allowed).toBe(true);
      expect(decision.patch).toBeUndefined();
    });
  });

  describe('placement', () => {
    it('nodeName: the mutation sets spec.nodeName, reinvocation changes nothing, validation checks it', async () => {
      policy = policyFrom('placement: nodeName');
      const pod = restorePod();
      const mutated = await review('mutate', pod);
      const placed = jsonPatch.applyPatch(structuredClone(pod), mutated.patch ?? []).newDocument;
      expect((placed.spec as JsonObject).nodeName).toBe(NODE);
      expect((placed.spec as JsonObject).affinity).toBeUndefined();
      expect((await review('mutate', placed)).patch).toBeUndefined();
      expect((await review('validate', placed)).allowed).toBe(true);
      const elsewhere = restorePod({ spec: { nodeName: 'node-z' } });
      expect((await review('mutate', elsewhere)).outcome).toBe('node-name-set');
      expect((await review('validate', elsewhere)).outcome).toBe('not-placed');
      expect((await review('validate', restorePod())).outcome).toBe('not-placed');
    });

    it('none: no patch and no placement check', async () => {
      policy = policyFrom('placement: none');
      expect((await review('mutate', restorePod())).patch).toBeUndefined();
      expect((await review('validate', restorePod())).allowed).toBe(true);
    });
  });

  it('requireReady: false lets a checkpoint that is not Ready be used', async () => {
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint({ ready: false, notReadyReason: 'Pending' }));
    expect((await review('validate', pinned())).outcome).toBe('checkpoint-not-ready');
    policy = policyFrom('requireReady: false');
    expect((await review('validate', pinned())).allowed).toBe(true);
  });

  it('specEquality: warn allows with the differing fields, off does not compare', async () => {
    policy = policyFrom('specEquality: warn');
    const warned = await review('validate', pinned({ hostNetwork: true }));
    expect(warned.allowed).toBe(true);
    expect(warned.warnings.join()).toContain('spec.hostNetwork');
    policy = policyFrom('specEquality: off');
    const off = await review('validate', pinned({ hostNetwork: true }));
    expect(off.allowed).toBe(true);
    expect(off.warnings.join()).not.toContain('spec.hostNetwork');
  });

  it('maxCheckpointAge allows a checkpoint exactly as old as the limit and denies one a millisecond older', async () => {
    policy = policyFrom('maxCheckpointAge: 1h');
    const completed = Date.parse('2026-11-27T11:00:00Z');
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint({ completionTime: new Date(completed).toISOString() }));
    now = completed + 3_600_000;
    expect((await review('validate', pinned())).allowed).toBe(true);
    now = completed + 3_600_001;
    expect((await review('validate', pinned())).outcome).toBe('checkpoint-too-old');
  });

  it('maxCheckpointAge denies an old checkpoint and one of unknown age', async () => {
    policy = policyFrom('maxCheckpointAge: 2h');
    expect((await review('validate', pinned())).allowed).toBe(true);
    policy = policyFrom('maxCheckpointAge: 30m');
    expect((await review('validate', pinned())).outcome).toBe('checkpoint-too-old');
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint());
    expect((await review('validate', pinned())).outcome).toBe('checkpoint-age-unknown');
  });

  it('serviceAccountToken: ignore, warn (default) and require-disabled', async () => {
    const warned = await review('validate', pinned());
    expect(warned.allowed).toBe(true);
    expect(warned.warnings.join()).toContain('automountServiceAccountToken: false');
    policy = policyFrom('serviceAccountToken: ignore');
    expect((await review('validate', pinned())).warnings).toEqual([]);
    policy = policyFrom('serviceAccountToken: require-disabled');
    expect((await review('validate', pinned())).outcome).toBe('service-account-token-mounted');
    const template = { spec: { ...(readyCheckpoint().template?.spec as JsonObject), automountServiceAccountToken: false } };
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint({ template }));
    const disabled = await review('validate', pinned({ automountServiceAccountToken: false }));
    expect(disabled.allowed).toBe(true);
    expect(disabled.warnings).toEqual([]);
  });

  describe('namespaces', () => {
    it('denies excluded and not-included namespaces before any authorization', async () => {
      policy = policyFrom('namespaces: { exclude: [team-a] }');
      expect((await review('validate', pinned())).outcome).toBe('namespace-not-permitted');
      policy = policyFrom('namespaces: { include: [team-b] }');
      expect((await review('validate', pinned())).outcome).toBe('namespace-not-permitted');
      expect(fake.calls).toEqual([]);
      policy = policyFrom('namespaces: { include: [team-a] }');
      expect((await review('validate', pinned())).allowed).toBe(true);
    });

    it('reads namespace labels only when a selector is set, and matches them', async () => {
      await review('validate', pinned());
      expect(fake.calls.some((c) => c.startsWith('namespace'))).toBe(false);
      policy = policyFrom('namespaces: { selector: { matchLabels: { tier: prod } } }');
      expect((await review('validate', pinned())).allowed).toBe(true);
      expect(fake.calls).toContain('namespace team-a');
      labels['team-a'] = { tier: 'dev' };
      expect((await review('validate', pinned())).outcome).toBe('namespace-not-permitted');
      delete labels['team-a'];
      expect((await review('validate', pinned())).outcome).toBe('namespace-not-permitted');
    });

    it('matches every selector operator', () => {
      const selector = {
        matchLabels: { a: '1' },
        matchExpressions: [
          { key: 'b', operator: 'In' as const, values: ['x', 'y'] },
          { key: 'c', operator: 'NotIn' as const, values: ['bad'] },
          { key: 'd', operator: 'Exists' as const, values: [] },
          { key: 'e', operator: 'DoesNotExist' as const, values: [] },
        ],
      };
      expect(matchesSelector({ a: '1', b: 'x', d: '' }, selector)).toBe(true);
      expect(matchesSelector({ a: '1', b: 'x', d: '', c: 'bad' }, selector)).toBe(false);
      expect(matchesSelector({ a: '1', b: 'z', d: '' }, selector)).toBe(false);
      expect(matchesSelector({ a: '1', b: 'x' }, selector)).toBe(false);
      expect(matchesSelector({ a: '1', b: 'x', d: '', e: '' }, selector)).toBe(false);
      expect(matchesSelector({ a: '2', b: 'x', d: '' }, selector)).toBe(false);
    });

    it('NotIn matches a namespace without the label at all, as Kubernetes selectors do', () => {
      const notIn = { matchLabels: {}, matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['bad'] }] };
      expect(matchesSelector({}, notIn)).toBe(true);
      expect(matchesSelector({ tier: 'good' }, notIn)).toBe(true);
      expect(matchesSelector({ tier: 'bad' }, notIn)).toBe(false);
    });
  });

  describe('failureMode', () => {
    it('closed (default) denies when the API fails', async () => {
      fake.failure = new DependencyError('unreachable', 'connection refused');
      expect((await review('validate', pinned())).allowed).toBe(false);
    });

    it('open allows, loudly', async () => {
      policy = policyFrom('failureMode: open');
      fake.failure = new DependencyError('unreachable', 'connection refused');
      const decision = await review('validate', pinned());
      expect(decision.allowed).toBe(true);
      expect(decision.outcome).toBe('fail-open');
      expect(decision.warnings.join()).toContain('FAILED OPEN');
      expect(decision.auditAnnotations).toMatchObject({ decision: 'fail-open' });
    });

    it('open never turns a rule denial into an allow', async () => {
      policy = policyFrom('failureMode: open');
      fake.grants.clear();
      expect((await review('validate', pinned())).allowed).toBe(false);
    });
  });
});
