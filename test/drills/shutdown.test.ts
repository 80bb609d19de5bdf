import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseServeOptions } from '../../src/cli/options.js';
import type { JsonObject } from '../../src/common/json.js';
import { FakeApi } from '../../harness/fake-api.js';
import { pinnedAffinity, rawCheckpoint, restorePod, reviewBody } from '../support/fixtures.js';
import { post } from '../support/https-client.js';
import { admissionAnswer, startLoad, type LoadOutcome } from '../support/load.js';
import { startAgainstFakeApi, type WebhookProcess } from '../support/webhook-process.js';

/**
 * Shutdown drill: the built binary, started with the Deployment's own flags, is stopped the way the
 * kubelet stops the pod while a steady stream of reviews runs. The API server is modelled honestly: it
 * keeps sending, on its keep-alive connections and on new ones, until the endpoint is removed, which
 * happens PROPAGATION_MS after readiness fails (here: after /readyz is first seen answering 503).
 * In a cluster the endpoint starts to go at deletion, before the preStop sleep; counting from the
 * readiness failure instead is the harsher case.
 */

const MANIFEST = join(import.meta.dirname, '..', '..', 'manifests', 'base', 'deployment.yaml');
/** Endpoint removal after readiness fails: well inside the manifests' --shutdown-delay (checked below). */
const PROPAGATION_MS = 2_000;

interface PodShutdown {
  args: string[];
  preStopSeconds: number;
  shutdownDelayMs: number;
  gracePeriodSeconds: number;
}

function deploymentShutdown(): PodShutdown {
  const deployment = parseYaml(readFileSync(MANIFEST, 'utf8')) as {
    spec: {
      template: {
        spec: { terminationGracePeriodSeconds: number; containers: Array<{ args: string[]; lifecycle: { preStop: { sleep: { seconds: number } } } }> };
      };
    };
  };
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  if (!container) throw new Error('no container in the Deployment');
  const [, ...flags] = container.args;
  return {
    args: container.args,
    preStopSeconds: container.lifecycle.preStop.sleep.seconds,
    // Through the real flag parser, as the binary reads it.
    shutdownDelayMs: parseServeOptions(flags).shutdownDelayMs,
    gracePeriodSeconds: pod.terminationGracePeriodSeconds,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The kubelet's side: SIGKILL when the grace period (counted from deletion) ends. Resolves with how the process ended. */
function exitWithinGrace(
  webhook: WebhookProcess,
  graceMs: number,
): { ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; cancel: () => void } {
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (webhook.child.exitCode !== null || webhook.child.signalCode !== null) resolve({ code: webhook.child.exitCode, signal: webhook.child.signalCode });
    else webhook.child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const killer = setTimeout(() => webhook.child.kill('SIGKILL'), graceMs);
  void ended.then(() => clearTimeout(killer));
  return { ended, cancel: () => clearTimeout(killer) };
}

describe('shutdown drill (built binary, the Deployment’s preStop, --shutdown-delay and grace period)', () => {
  let api: FakeApi | undefined;
  let webhook: WebhookProcess | undefined;
  afterEach(async () => {
    if (webhook && webhook.child.exitCode === null && webhook.child.signalCode === null) webhook.child.kill('SIGKILL');
    webhook = undefined;
    await api?.close();
    api = undefined;
  });

  async function start(shutdownDelayMs: number) {
    api = await FakeApi.start();
    api.checkpoints.put(rawCheckpoint());
    api.grant({ group: 'restorers', namespace: 'team-a', name: 'ckpt' });
    webhook = await startAgainstFakeApi(api, ['--shutdown-delay', `${shutdownDelayMs}ms`]);
    return { api, webhook, ca: webhook.ca, readyz: `http://127.0.0.1:${webhook.metricsPort}/readyz` };
  }

  it('SIGTERM under load: 0 failed calls, and the process exits by itself inside the grace period', async () => {
    const pod = deploymentShutdown();
    expect(pod.args).toContain(`--shutdown-delay=${pod.shutdownDelayMs / 1000}s`);
    expect(PROPAGATION_MS).toBeLessThan(pod.shutdownDelayMs / 2);
    expect(pod.preStopSeconds * 1000 + pod.shutdownDelayMs).toBeLessThan(pod.gracePeriodSeconds * 1000);
    const { webhook: proc, ca, readyz } = await start(pod.shutdownDelayMs);

    type Phase = 'serving' | 'preStop' | 'not ready';
    type Meta = { uid: string; restore: boolean; phase: Phase };
    let phase: Phase = 'serving';
    let endpointRemoved = false;
    const outcomes: Array<LoadOutcome<Meta>> = [];
    const load = startLoad<Meta>({
      port: proc.webhookPort,
      ca,
      workers: 6,
      // kube-apiserver reuses its connections, and opens new ones as it needs them.
      connection: (worker) => (worker < 4 ? 'keep-alive' : 'new'),
      next: (seq) => {
        if (endpointRemoved) return undefined;
        const uid = `s-${seq}`;
        const restore = seq % 2 === 0;
        const object: JsonObject = restore
          ? restorePod({ spec: { affinity: pinnedAffinity() } })
          : { metadata: { name: `plain-${seq}`, namespace: 'team-a' }, spec: { containers: [{ name: 'app', image: 'x' }] } };
        const body = reviewBody({ uid, object, userInfo: { username: `requester-${seq % 50}`, groups: ['restorers', 'system:authenticated'], extra: {} } });
        return { path: `/${seq % 3 === 0 ? 'mutate' : 'validate'}?timeout=5s`, body: JSON.stringify(body), meta: { uid, restore, phase } };
      },
      onOutcome: (outcome) => outcomes.push(outcome),
      maxCalls: 100_000,
      pauseMs: 20,
      timeoutMs: 5_000,
    });

    await vi.waitFor(() => expect(load.summary.answered).toBeGreaterThanOrEqual(100), { timeout: 15_000, interval: 20 });
    // The pod is deleted: the kubelet runs the preStop sleep, then sends SIGTERM; SIGKILL at the end of the grace period.
    const exit = exitWithinGrace(proc, pod.gracePeriodSeconds * 1000);
    phase = 'preStop';
    await sleep(pod.preStopSeconds * 1000);
    proc.child.kill('SIGTERM');
    await vi.waitFor(async () => expect((await fetch(readyz)).status).toBe(503), { timeout: 5_000, interval: 20 });
    phase = 'not ready';
    await sleep(PROPAGATION_MS);
    endpointRemoved = true;
    const summary = await load.stop();
    const { code, signal } = await exit.ended;

    expect(summary.transportFailures, summary.errors.join('\n')).toBe(0);
    const bad = outcomes.filter((o) => admissionAnswer(o, o.meta.uid)?.allowed !== true);
    expect(bad.map((o) => ({ phase: o.meta.phase, status: o.status, error: o.error, body: o.body })).slice(0, 5)).toEqual([]);
    const byPhase = (p: Phase) => outcomes.filter((o) => o.meta.phase === p).length;
    // Load really ran through every stage, on kept-alive and on new connections.
    expect(byPhase('serving')).toBeGreaterThan(0);
    expect(byPhase('preStop')).toBeGreaterThan(0);
    expect(byPhase('not ready')).toBeGreaterThan(0);
    expect(summary.reused).toBeGreaterThan(0);
    expect(summary.handshakes).toBeGreaterThan(6);
    // Exited by itself, cleanly, before the kubelet's SIGKILL.
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const messages = proc.logs.map((l) => l.msg);
    expect(messages).toContain('drained; exiting');
    expect(messages).not.toContain('drain did not finish in time; exiting');
    console.info(
      `shutdown drill: ${summary.calls} calls (${byPhase('serving')} before deletion, ${byPhase('preStop')} during preStop, ${byPhase('not ready')} after SIGTERM), ` +
        `${summary.handshakes} handshakes, ${summary.reused} on kept-alive connections, ${summary.transportFailures} failed; exit code ${code}`,
    );
  }, 60_000);

  it('a review in flight when the drain begins is answered, and its keep-alive connection does not hold the drain', async () => {
    const pod = deploymentShutdown();
    const { api: fake, webhook: proc, ca } = await start(1_000);
    fake.setDelay(3_000); // the SubjectAccessReview outlasts the shutdown delay
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const body = JSON.stringify(
        reviewBody({
          uid: 'in-flight',
          object: restorePod({ spec: { affinity: pinnedAffinity() } }),
          userInfo: { username: 'late', groups: ['restorers'], extra: {} },
        }),
      );
      const sars = fake.calls('subjectaccessreviews');
      const answer = post(proc.webhookPort, '/validate?timeout=10s', body, { ca, agent });
      await vi.waitFor(() => expect(fake.calls('subjectaccessreviews')).toBe(sars + 1), { timeout: 5_000, interval: 10 });
      // SIGTERM with the preStop already spent: what is left of the grace period.
      const exit = exitWithinGrace(proc, (pod.gracePeriodSeconds - pod.preStopSeconds) * 1000);
      proc.child.kill('SIGTERM');
      const reply = await answer;
      expect(admissionAnswer(reply, 'in-flight')?.allowed).toBe(true);
      expect(await exit.ended).toEqual({ code: 0, signal: null });
      expect(proc.logs.map((l) => l.msg)).not.toContain('drain did not finish in time; exiting');
    } finally {
      agent.destroy();
    }
  }, 60_000);
});
