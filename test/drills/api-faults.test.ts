import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { JsonObject } from '../../src/common/json.js';
import { FakeApi } from '../../harness/fake-api.js';
import { pinnedAffinity, rawCheckpoint, restorePod, reviewBody } from '../support/fixtures.js';
import { post } from '../support/https-client.js';
import { admissionAnswer, scrapeMetric, startLoad, type LoadOutcome } from '../support/load.js';
import { startAgainstFakeApi, type WebhookProcess } from '../support/webhook-process.js';

/**
 * API fault drill under load: the built binary serves a steady stream of mixed reviews (restores by
 * requesters the authorization cache has never seen, and plain Pods) while the fake API server goes down,
 * answers 500, answers 429, answers slower than the review's deadline and drops its watches, with a
 * recovery after each. One process throughout: nothing is restarted.
 *
 * Verdicts count answers, never time: a restore is judged against a phase only when it was both sent
 * and answered inside it. The client gives up after the review's own timeout, as kube-apiserver does.
 */

const TIMEOUT = '5s'; // timeoutSeconds of the shipped webhook configurations
const CLIENT_TIMEOUT_MS = 5_000;
const SLOW_MS = 8_000; // the fake API's delay in the slow phase: past the review's deadline
/** Times through the whole cycle: down, back, 500, back, 429, back, slow, back, watch dropped. */
const CYCLES = 2;

interface Fault {
  name: string;
  apply: (api: FakeApi) => Promise<void>;
  clear: (api: FakeApi) => Promise<void>;
  /** The denial a restore gets while it lasts. */
  code: number;
  message: RegExp;
  /** Restores sent and answered inside the fault before it is lifted. */
  restores: number;
}

const FAULTS: Fault[] = [
  { name: 'down', apply: (api) => api.setFault('down'), clear: (api) => api.setFault('none'), code: 503, message: /could not be reached/, restores: 30 },
  { name: 'HTTP 500', apply: (api) => api.setFault('status500'), clear: (api) => api.setFault('none'), code: 503, message: /answered HTTP 500/, restores: 30 },
  { name: 'HTTP 429', apply: (api) => api.setFault('status429'), clear: (api) => api.setFault('none'), code: 503, message: /answered HTTP 429/, restores: 30 },
  {
    name: 'slower than the deadline',
    apply: async (api) => api.setDelay(SLOW_MS),
    clear: async (api) => api.setDelay(0),
    code: 504,
    message: /no answer from the Kubernetes API server before the deadline/,
    restores: 6,
  },
];

type Kind = 'restore' | 'plain';
interface Meta {
  uid: string;
  kind: Kind;
  /** The phase the call was sent in. */
  phase: number;
}
interface Phase {
  name: string;
  fault: Fault | undefined;
  /** Whether restores inside it must all be allowed (healthy) or all denied (fault); transitions are not judged. */
  judged: boolean;
}

describe('API fault drill under load (built binary, fake API server)', () => {
  let api: FakeApi;
  let webhook: WebhookProcess;
  let ca: string;

  beforeAll(async () => {
    api = await FakeApi.start();
    api.checkpoints.put(rawCheckpoint());
    // Granted through a group: every requester is new to the authorization cache, and allowed when the API answers.
    api.grant({ group: 'restorers', namespace: 'team-a' });
    webhook = await startAgainstFakeApi(api);
    ca = webhook.ca;
  });
  afterAll(async () => {
    await webhook?.stop();
    await api?.close();
  });

  const restoreReview = (uid: string, user: string, checkpoint = 'ckpt') =>
    reviewBody({
      uid,
      object: restorePod({ checkpoint: { name: checkpoint }, spec: { affinity: pinnedAffinity() } }),
      userInfo: { username: user, groups: ['restorers', 'system:authenticated'], extra: {} },
    });
  const probe = async (uid: string, checkpoint = 'ckpt') => {
    const reply = await post(webhook.webhookPort, `/validate?timeout=${TIMEOUT}`, JSON.stringify(restoreReview(uid, `probe-${uid}`, checkpoint)), { ca });
    return admissionAnswer(reply, uid);
  };
  const watchAdded = () => scrapeMetric(webhook.metricsPort, 'restore_guard_watch_events_total', { resource: 'podcheckpoints', type: 'ADDED' });

  it('denies restores with a clear reason while the API fails, never a plain Pod, and recovers without a restart', async () => {
    const pid = webhook.child.pid;
    const phases: Phase[] = [{ name: 'healthy (start)', fault: undefined, judged: true }];
    let current = 0;
    const outcomes: Array<LoadOutcome<Meta> & { answeredIn: number }> = [];
    const load = startLoad<Meta>({
      port: webhook.webhookPort,
      ca,
      workers: 8,
      connection: (worker) => (worker < 6 ? 'keep-alive' : 'new'),
      next: (seq) => {
        const uid = `f-${seq}`;
        const kind: Kind = seq % 2 === 0 ? 'restore' : 'plain';
        const path = `/${seq % 4 < 2 ? 'validate' : 'mutate'}?timeout=${TIMEOUT}`;
        const object: JsonObject = { metadata: { name: `plain-${seq}`, namespace: 'team-a' }, spec: { containers: [{ name: 'app', image: 'x' }] } };
        const body = kind === 'restore' ? restoreReview(uid, `requester-${seq}`) : reviewBody({ uid, object });
        return { path, body: JSON.stringify(body), meta: { uid, kind, phase: current } };
      },
      onOutcome: (outcome) => outcomes.push({ ...outcome, answeredIn: current }),
      maxCalls: 200_000,
      pauseMs: 10,
      timeoutMs: CLIENT_TIMEOUT_MS,
    });
    /** Restores sent and answered inside phase `index`. */
    const restoresIn = (index: number) => outcomes.filter((o) => o.meta.kind === 'restore' && o.meta.phase === index && o.answeredIn === index);
    const enter = (phase: Phase) => {
      phases.push(phase);
      current = phases.length - 1;
    };
    const healthyPhase = async (name: string) => {
      // Recovered: a new requester's restore is allowed again (the probe is not part of the counted load).
      await vi.waitFor(async () => expect((await probe(`recovered-${phases.length}`))?.allowed).toBe(true), { timeout: 15_000, interval: 50 });
      enter({ name, fault: undefined, judged: true });
      const index = current;
      await vi.waitFor(() => expect(restoresIn(index).length).toBeGreaterThanOrEqual(30), { timeout: 20_000, interval: 20 });
    };
    /** The watch is open again and sees a checkpoint created now; a review of it is answered from the cache (and one template read). */
    const watchSeesNewCheckpoint = async (name: string) => {
      await vi.waitFor(() => expect(api.openWatches).toBe(2), { timeout: 20_000, interval: 20 });
      const added = await watchAdded();
      api.checkpoints.put(rawCheckpoint({ name }));
      await vi.waitFor(async () => expect(await watchAdded()).toBe(added + 1), { timeout: 20_000, interval: 20 });
      const gets = api.calls('podcheckpoints.get');
      expect((await probe(`cached-${name}`, name))?.allowed).toBe(true);
      // The record came from the cache; only the captured template was read (once), and is then kept.
      expect(api.calls('podcheckpoints.get')).toBe(gets + 1);
      expect((await probe(`cached-again-${name}`, name))?.allowed).toBe(true);
      expect(api.calls('podcheckpoints.get')).toBe(gets + 1);
    };

    await vi.waitFor(() => expect(restoresIn(0).length).toBeGreaterThanOrEqual(30), { timeout: 20_000, interval: 20 });
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      for (const fault of FAULTS) {
        // Every window closes before the API changes: an answer is judged only if the API held still from send to answer.
        enter({ name: `going ${fault.name} #${cycle}`, fault: undefined, judged: false });
        await fault.apply(api);
        enter({ name: `${fault.name} #${cycle}`, fault, judged: true });
        const index = current;
        await vi.waitFor(() => expect(restoresIn(index).length).toBeGreaterThanOrEqual(fault.restores), { timeout: 30_000, interval: 20 });
        // The fault's window closes before the API comes back; answers in between are not judged.
        enter({ name: `recovering from ${fault.name} #${cycle}`, fault: undefined, judged: false });
        await fault.clear(api);
        await healthyPhase(`healthy after ${fault.name} #${cycle}`);
        await watchSeesNewCheckpoint(`after-${index}`);
      }
      // The watch dropped (an API server restart, a load balancer): reviews carry on, the watch resumes.
      const restartsBefore = await scrapeMetric(webhook.metricsPort, 'restore_guard_watch_restarts_total', { resource: 'podcheckpoints' });
      api.dropWatches();
      enter({ name: `watch dropped #${cycle}`, fault: undefined, judged: true });
      const dropped = current;
      await vi.waitFor(() => expect(restoresIn(dropped).length).toBeGreaterThanOrEqual(30), { timeout: 20_000, interval: 20 });
      await watchSeesNewCheckpoint(`after-drop-${cycle}`);
      expect(await scrapeMetric(webhook.metricsPort, 'restore_guard_watch_restarts_total', { resource: 'podcheckpoints' })).toBeGreaterThan(restartsBefore);
    }
    const summary = await load.stop();

    // Zero transport failures, zero answers that are not the AdmissionReview asked for.
    expect(summary.transportFailures, summary.errors.join('\n')).toBe(0);
    const malformed = outcomes.filter((o) => admissionAnswer(o, o.meta.uid) === undefined);
    expect(malformed.slice(0, 3).map((o) => ({ status: o.status, body: o.body }))).toEqual([]);
    // Zero plain reviews denied, in any phase.
    const plain = outcomes.filter((o) => o.meta.kind === 'plain');
    expect(plain.filter((o) => admissionAnswer(o, o.meta.uid)?.allowed !== true)).toEqual([]);

    const totals = { faultRestores: 0, healthyRestores: 0, faultWindows: 0 };
    for (const [index, phase] of phases.entries()) {
      if (!phase.judged) continue;
      const restores = restoresIn(index).map((o) => admissionAnswer(o, o.meta.uid));
      const allowed = restores.filter((a) => a?.allowed).length;
      if (phase.fault) {
        // Zero restores allowed while the API fails; each denial says what failed.
        expect(allowed, phase.name).toBe(0);
        for (const answer of restores) {
          expect(answer?.status?.code, phase.name).toBe(phase.fault.code);
          expect(answer?.status?.message, phase.name).toMatch(phase.fault.message);
          expect(answer?.status?.message, phase.name).toContain('The restore is denied until this succeeds');
        }
      } else {
        // And every one allowed once it answers again.
        expect(allowed, phase.name).toBe(restores.length);
      }
      if (phase.fault) {
        totals.faultWindows++;
        totals.faultRestores += restores.length;
      } else {
        totals.healthyRestores += restores.length;
      }
    }
    expect(webhook.child.pid).toBe(pid);
    expect(webhook.child.exitCode).toBeNull();
    expect(webhook.logs.filter((l) => l.msg === 'restore-guard is serving')).toHaveLength(1);
    console.info(
      `API fault drill: ${summary.calls} calls (${plain.length} plain, all allowed; ${summary.calls - plain.length} restores), ${summary.transportFailures} transport failures, ` +
        `${malformed.length} malformed answers; ${totals.faultRestores} restores inside ${totals.faultWindows} fault windows, 0 allowed; ` +
        `${totals.healthyRestores} restores inside healthy windows, all allowed`,
    );
  }, 180_000);

  it('oracle over the wire, after the drill: an unauthorized requester gets one answer for an existing, a not-ready and a missing checkpoint', async () => {
    api.checkpoints.put(rawCheckpoint({ name: 'warming', ready: false }));
    const gets = api.calls('podcheckpoints.get');
    for (const path of ['/mutate', '/validate']) {
      const answers = await Promise.all(
        ['ckpt', 'warming', 'missing'].map(async (name) => {
          const uid = `oracle-${path.slice(1)}-${name}`;
          const body = reviewBody({
            uid,
            object: restorePod({ checkpoint: { name }, spec: { affinity: pinnedAffinity() } }),
            userInfo: { username: 'mallory', groups: ['system:authenticated'], extra: {} },
          });
          const answer = admissionAnswer(await post(webhook.webhookPort, `${path}?timeout=${TIMEOUT}`, JSON.stringify(body), { ca }), uid);
          expect(answer?.status?.code, `${path} ${name}`).toBe(403);
          return JSON.stringify({ ...answer, uid: 'X' })
            .replaceAll(`\\"${name}\\"`, 'NAME')
            .replaceAll(`"${name}"`, 'NAME');
        }),
      );
      expect(new Set(answers).size, path).toBe(1);
      expect(answers[0]).not.toContain('node-a');
    }
    // Nothing about the checkpoint was read for a requester who may not restore it.
    expect(api.calls('podcheckpoints.get')).toBe(gets);
  });
});
