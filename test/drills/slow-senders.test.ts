import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { BODY_LIMIT_BYTES } from '../../src/server/webhook-server.js';
import { reviewBody } from '../support/fixtures.js';
import { admissionAnswer, scrapeMetric, startLoad, type LoadOutcome } from '../support/load.js';
import { slowSender, type SlowSender, type SlowSenderEnd } from '../support/slow-sender.js';
import { startWebhookProcess, type WebhookProcess } from '../support/webhook-process.js';

/**
 * Slow-sender drill: the built binary, with the Deployment's NODE_OPTIONS (V8 heap bounds) and default
 * limits, while a steady stream of reviews runs, is attacked by clients that send a large body and stop
 * before its end, reconnecting when they are refused or cut; by clients that trickle a body, or their
 * headers, one byte at a time. Before the limits, 80 near-complete 7 MiB bodies took the process to
 * 676 MiB RSS (the pod's limit is 384Mi), and no connection was ever closed.
 */

const MANIFEST = join(import.meta.dirname, '..', '..', 'manifests', 'base', 'deployment.yaml');
/** RSS the process must stay under: two thirds of the pod's 384Mi limit (the derivation in intake-limits.ts gives ~345 MiB as the worst case). */
const RSS_CEILING_MIB = 256;
/** Connections each sending a near-complete 7 MiB body, then stalling. */
const NEAR_COMPLETE = 80;
/**
 * Rounds each of them makes at most (a new connection when the last one was refused or cut), until enough
 * stalled uploads were cut. Most rounds are refused at once (429): with 4 rounds the attack was often over
 * before 5 uploads had stalled long enough to be cut (~5 cuts in 320 rounds), and the drill failed by chance.
 */
const ROUNDS = 12;
const BODY_TRICKLERS = 12;
const HEADER_TRICKLERS = 6;

function deploymentNodeOptions(): string {
  const deployment = parseYaml(readFileSync(MANIFEST, 'utf8')) as {
    spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } };
  };
  const value = deployment.spec.template.spec.containers[0]?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
  if (!value) throw new Error('no NODE_OPTIONS in the Deployment');
  return value;
}

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

describe('slow-sender drill (built binary, the Deployment’s NODE_OPTIONS, default intake limits)', () => {
  let webhook: WebhookProcess | undefined;
  const senders: SlowSender[] = [];
  afterEach(() => {
    for (const sender of senders.splice(0)) sender.destroy();
    if (webhook && webhook.child.exitCode === null && webhook.child.signalCode === null) webhook.child.kill('SIGKILL');
    webhook = undefined;
  });

  it('80 near-complete 7 MiB bodies (up to 12 rounds) and 18 tricklers: reviews all answered, RSS bounded, every slow connection closed', async () => {
    const nodeOptions = deploymentNodeOptions();
    expect(nodeOptions).toContain('--max-old-space-size=160');
    const proc = await startWebhookProcess([], { NODE_OPTIONS: nodeOptions });
    webhook = proc;
    const pid = proc.child.pid ?? 0;
    const metric = (reason: string) => scrapeMetric(proc.metricsPort, 'restore_guard_requests_refused_total', { reason });

    let maxRss = rssMiB(pid);
    const sampler = setInterval(() => {
      if (proc.child.exitCode === null) maxRss = Math.max(maxRss, rssMiB(pid));
    }, 50);

    // The legitimate stream: kube-apiserver's few-KB reviews, kept-alive and new connections.
    let attacking = true;
    type Meta = { uid: string };
    const outcomes: Array<LoadOutcome<Meta>> = [];
    const load = startLoad<Meta>({
      port: proc.webhookPort,
      ca: proc.ca,
      workers: 6,
      connection: (worker) => (worker < 3 ? 'keep-alive' : 'new'),
      next: (seq) => {
        if (!attacking) return undefined;
        const uid = `legit-${seq}`;
        const object = { metadata: { name: `pod-${seq}`, namespace: 'team-a' }, spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] } };
        return { path: `/${seq % 2 === 0 ? 'validate' : 'mutate'}?timeout=5s`, body: JSON.stringify(reviewBody({ uid, object })), meta: { uid } };
      },
      onOutcome: (outcome) => outcomes.push(outcome),
      maxCalls: 100_000,
      pauseMs: 10,
      timeoutMs: 5_000,
    });

    try {
      // The attack: near-complete bodies that stall, reconnecting when refused or cut.
      const ends: Array<Promise<SlowSenderEnd>> = [];
      const nearComplete = BODY_LIMIT_BYTES - 1024;
      const attackers = Array.from({ length: NEAR_COMPLETE }, async () => {
        for (let round = 0; round < ROUNDS && attacking; round++) {
          const sender = slowSender({ port: proc.webhookPort, ca: proc.ca, contentLength: nearComplete, upfront: nearComplete - 16 });
          senders.push(sender);
          const end = sender.ended;
          ends.push(end);
          await end;
        }
      });
      // Tricklers: bodies one byte at a time (large and small declared lengths), and headers one byte at a time.
      for (let i = 0; i < BODY_TRICKLERS; i++) {
        const sender = slowSender({ port: proc.webhookPort, ca: proc.ca, contentLength: i % 2 === 0 ? nearComplete : 16 * 1024, trickleMs: 250 });
        senders.push(sender);
        ends.push(sender.ended);
      }
      for (let i = 0; i < HEADER_TRICKLERS; i++) {
        const sender = slowSender({ port: proc.webhookPort, ca: proc.ca, contentLength: 1024, trickleMs: 250, trickleHeaders: true });
        senders.push(sender);
        ends.push(sender.ended);
      }

      // Attack until stalled uploads have been cut to make room a few times and reviews kept flowing.
      await vi.waitFor(
        async () => {
          expect(proc.child.exitCode).toBeNull();
          expect(maxRss).toBeLessThan(RSS_CEILING_MIB);
          expect(load.summary.answered).toBeGreaterThanOrEqual(300);
          expect(await metric('stalled-upload')).toBeGreaterThanOrEqual(5);
        },
        { timeout: 30_000, interval: 200 },
      );
      attacking = false;
      const summary = await load.stop();

      // Every slow connection is closed by the server: cut, refused, or past the request/headers timeouts.
      const closedBy = await vi.waitFor(
        () => {
          const open = senders.filter((s) => !s.isEnded).length;
          expect(open).toBe(0);
          return Promise.all(ends);
        },
        { timeout: 50_000, interval: 200 },
      );
      await Promise.all(attackers);
      clearInterval(sampler);

      expect(summary.transportFailures, summary.errors.join('\n')).toBe(0);
      const bad = outcomes.filter((o) => admissionAnswer(o, o.meta.uid)?.allowed !== true);
      expect(bad.map((o) => ({ status: o.status, error: o.error, body: o.body })).slice(0, 5)).toEqual([]);
      expect(proc.child.exitCode).toBeNull();
      expect(maxRss).toBeLessThan(RSS_CEILING_MIB);

      const refusedBudget = await metric('body-budget');
      const cut = await metric('stalled-upload');
      const timedOut = await metric('timeout');
      expect(refusedBudget).toBeGreaterThan(0);
      expect(timedOut).toBeGreaterThan(0);
      const byStatus = new Map<string, number>();
      for (const end of closedBy) byStatus.set(String(end.status ?? 'no answer'), (byStatus.get(String(end.status ?? 'no answer')) ?? 0) + 1);
      console.info(
        `slow-sender drill: ${summary.calls} reviews (${summary.handshakes} handshakes, ${summary.reused} kept-alive), ${summary.transportFailures} failed; ` +
          `${closedBy.length} slow connections (${[...byStatus].map(([s, n]) => `${n} × ${s}`).join(', ')}), all closed by the server; ` +
          `refused: ${refusedBudget} body-budget (429), ${cut} stalled-upload (408), ${timedOut} timeout; max RSS ${maxRss.toFixed(0)} MiB`,
      );
    } finally {
      clearInterval(sampler);
      attacking = false;
      await load.stop();
    }
  }, 100_000);
});
