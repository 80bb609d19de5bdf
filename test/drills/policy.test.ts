import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { JsonObject } from '../../src/common/json.js';
import { FakeApi } from '../../harness/fake-api.js';
import { pinnedAffinity, rawCheckpoint, restorePod, reviewBody } from '../support/fixtures.js';
import { admissionAnswer, scrapeMetric, startLoad, type LoadOutcome } from '../support/load.js';
import { startAgainstFakeApi, type WebhookProcess } from '../support/webhook-process.js';

/**
 * Policy drill under load: the built binary follows its policy ConfigMap (--policy-configmap) through the
 * fake API while a steady stream of reviews runs and the ConfigMap is rewritten with invalid documents:
 * bad YAML, wrong types, unknown keys, very large ones. Each is refused; the last good policy decides every
 * review meanwhile, with 0 failed reviews; a good document still takes effect afterwards.
 */

const HEADER = 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n';
const ROUNDS = 3;

const INVALID: Array<[string, string]> = [
  ['bad YAML: unclosed flow sequence', `${HEADER}mode: [warn\n`],
  ['bad YAML: tab indentation', `${HEADER}namespaces:\n\tinclude: [a]\n`],
  ['bad YAML: duplicate key', `${HEADER}mode: warn\nmode: audit\n`],
  ['bad YAML: two documents', `${HEADER}---\nmode: warn\n`],
  ['bad YAML: binary junk', `${HEADER}\u0000\u0001\u0002: [}{\n`],
  [
    'bad YAML: alias bomb',
    `${HEADER}a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`,
  ],
  ['bad YAML: nested 20,000 deep', `${HEADER}mode: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`],
  ['wrong type: requireReady is a string', `${HEADER}requireReady: "yes"\n`],
  ['wrong type: mode is a number', `${HEADER}mode: 5\n`],
  ['wrong types: cache TTL a number, maxEntries negative', `${HEADER}authorizationCache: { allowedTTL: 10, maxEntries: -1 }\n`],
  ['wrong type: the document is a list', '- apiVersion: restore-guard.dev/v1alpha1\n- kind: RestorePolicy\n'],
  ['wrong type: the document is null', 'null\n'],
  ['unknown key at the top', `${HEADER}requireReadyy: true\n`],
  ['unknown nested key', `${HEADER}namespaces: { includes: [team-a] }\n`],
  ['wrong apiVersion', 'apiVersion: restore-guard.dev/v1\nkind: RestorePolicy\nmode: warn\n'],
  ['very large: 300 KiB (over the 256 KiB bound)', `${HEADER}mode: warn\n# ${'x'.repeat(300 * 1024)}\n`],
  ['very large: 900 KiB, near the ConfigMap limit', `${HEADER}mode: warn\n# ${'y'.repeat(900 * 1024)}\n`],
  ['very large: 1,200 namespaceModes (over 1,000)', `${HEADER}namespaceModes:\n${Array.from({ length: 1_200 }, (_, i) => `  ns-${i}: warn`).join('\n')}\n`],
];

type Regime = 'warn' | 'enforce' | 'switching';
/** Regimes are judged only for calls sent and answered inside the same one: a switch may overtake a call in flight. */
type Kind = 'plain' | 'restore' | 'mismatched restore';
interface Meta {
  uid: string;
  kind: Kind;
  regime: Regime;
}

describe('policy drill under load (built binary, --policy-configmap)', () => {
  let api: FakeApi;
  let webhook: WebhookProcess;
  let ca: string;

  beforeAll(async () => {
    api = await FakeApi.start();
    api.checkpoints.put(rawCheckpoint());
    api.grant({ group: 'restorers', namespace: 'team-a', name: 'ckpt' });
    webhook = await startAgainstFakeApi(api, ['--policy-configmap', 'restore-guard/restore-guard-policy']);
    ca = webhook.ca;
  });
  afterAll(async () => {
    await webhook?.stop();
    await api?.close();
  });

  const putPolicy = (text: string) =>
    api.configMaps.put({ metadata: { namespace: 'restore-guard', name: 'restore-guard-policy', uid: 'cm-uid' }, data: { 'policy.yaml': text } });
  const metric = (name: string, labels: Record<string, string> = {}) => scrapeMetric(webhook.metricsPort, name, labels);
  const rejected = () => metric('restore_guard_policy_reloads_total', { source: 'configmap', result: 'rejected' });
  const invalidEvents = () => api.events.filter((e) => e.reason === 'InvalidPolicy').length;

  it(`refuses ${INVALID.length * ROUNDS} invalid ConfigMaps under load; the last good policy decides, 0 failed reviews`, async () => {
    putPolicy(`${HEADER}mode: warn\n`);
    await vi.waitFor(async () => expect(await metric('restore_guard_policy_generation')).toBe(2), { timeout: 15_000, interval: 20 });
    let regime: Regime = 'warn';
    const outcomes: Array<LoadOutcome<Meta> & { answeredIn: Regime }> = [];
    const load = startLoad<Meta>({
      port: webhook.webhookPort,
      ca,
      workers: 6,
      connection: (worker) => (worker < 4 ? 'keep-alive' : 'new'),
      next: (seq) => {
        const uid = `p-${seq}`;
        const kind: Kind = (['plain', 'restore', 'mismatched restore'] as const)[seq % 3] ?? 'plain';
        const object: JsonObject =
          kind === 'plain'
            ? { metadata: { name: `plain-${seq}`, namespace: 'team-a' }, spec: { containers: [{ name: 'app', image: 'x' }] } }
            : restorePod({ spec: { affinity: pinnedAffinity(), ...(kind === 'mismatched restore' ? { hostNetwork: true } : {}) } });
        const body = reviewBody({ uid, object, userInfo: { username: `requester-${seq % 20}`, groups: ['restorers'], extra: {} } });
        return { path: '/validate?timeout=5s', body: JSON.stringify(body), meta: { uid, kind, regime } };
      },
      onOutcome: (outcome) => outcomes.push({ ...outcome, answeredIn: regime }),
      maxCalls: 100_000,
      pauseMs: 10,
      timeoutMs: 5_000,
    });

    let refused = 0;
    const barrage = async (round: number) => {
      for (const [name, text] of INVALID) {
        const seen = outcomes.length;
        putPolicy(round === 1 ? text : `${text}# round ${round}\n`);
        refused++;
        await vi.waitFor(async () => expect(await rejected(), name).toBe(refused), { timeout: 15_000, interval: 20 });
        await vi.waitFor(() => expect(outcomes.length - seen).toBeGreaterThanOrEqual(20), { timeout: 15_000, interval: 20 });
      }
    };

    await vi.waitFor(() => expect(outcomes.length).toBeGreaterThanOrEqual(30), { timeout: 15_000, interval: 20 });
    await barrage(1);
    expect(await metric('restore_guard_policy_generation')).toBe(2);
    // A good document still takes effect after the barrage, without a restart.
    regime = 'switching';
    putPolicy(`${HEADER}mode: enforce\n`);
    await vi.waitFor(async () => expect(await metric('restore_guard_policy_generation')).toBe(3), { timeout: 15_000, interval: 20 });
    regime = 'enforce';
    for (let round = 2; round <= ROUNDS; round++) await barrage(round);
    expect(await metric('restore_guard_policy_generation')).toBe(3);
    const summary = await load.stop();

    expect(summary.transportFailures, summary.errors.join('\n')).toBe(0);
    const wrong = outcomes.filter((o) => {
      const answer = admissionAnswer(o, o.meta.uid);
      if (!answer) return true;
      if (o.meta.kind === 'plain') return !answer.allowed;
      if (o.meta.regime === 'switching' || o.answeredIn !== o.meta.regime) return false;
      const generation = o.meta.regime === 'warn' ? '2' : '3';
      if (answer.auditAnnotations?.['policy-generation'] !== generation) return true;
      if (o.meta.kind === 'restore') return !answer.allowed;
      // The spec differs from the checkpoint's template: warn allows and says so, enforce denies (422).
      return o.meta.regime === 'warn'
        ? !answer.allowed || !answer.warnings?.some((w) => w.includes('would deny'))
        : answer.allowed || answer.status?.code !== 422;
    });
    expect(wrong.slice(0, 3).map((o) => ({ meta: o.meta, status: o.status, body: o.body }))).toEqual([]);
    const count = (regime: Regime, kind: Kind) => outcomes.filter((o) => o.meta.regime === regime && o.answeredIn === regime && o.meta.kind === kind).length;
    for (const regime of ['warn', 'enforce'] as const)
      for (const kind of ['plain', 'restore', 'mismatched restore'] as const) expect(count(regime, kind)).toBeGreaterThan(0);

    expect(refused).toBe(INVALID.length * ROUNDS);
    expect(invalidEvents()).toBe(refused);
    expect(await metric('restore_guard_policy_reloads_total', { source: 'configmap', result: 'accepted' })).toBe(2);
    expect((await fetch(`http://127.0.0.1:${webhook.metricsPort}/readyz`)).status).toBe(200);
    expect(webhook.child.exitCode).toBeNull();
    console.info(
      `policy drill: ${refused} invalid ConfigMaps refused (${INVALID.length} kinds x ${ROUNDS}), ${summary.calls} reviews, ` +
        `${summary.transportFailures} failed, ${wrong.length} decided by anything but the last good policy`,
    );
  }, 120_000);
});
