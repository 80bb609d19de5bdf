import { Agent } from 'node:https';
import { connect } from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AdmissionHandler } from '../../src/admission/handler.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { restoreDeciders } from '../../src/restore/webhooks.js';
import { generateServingPair } from '../../src/server/dev-certificate.js';
import type { PemPair } from '../../src/tls/check.js';
import { type IntakeLimits } from '../../src/server/intake-limits.js';
import { createWebhookServer, type WebhookServer } from '../../src/server/webhook-server.js';
import { FakePorts } from '../support/fake-ports.js';
import { reviewBody } from '../support/fixtures.js';
import { post } from '../support/https-client.js';
import { slowSender, type SlowSender } from '../support/slow-sender.js';

/**
 * The intake limits on the real Fastify app over HTTPS (in process): the in-flight body budget refuses
 * with 429 + Retry-After + a JSON Status while small reviews still pass, makes room by cutting stalled
 * uploads, refuses JSON too costly to parse; the connection cap closes connections past it.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const plainPod = (name: string) => ({ metadata: { name, namespace: 'team-a' }, spec: { containers: [{ name: 'app', image: 'x' }] } });
/** An UPDATE review of about `bytes` bytes (a Pod with a large annotation, twice). */
const largeReview = (uid: string, bytes: number) => {
  const pod = { ...plainPod('big'), metadata: { name: 'big', namespace: 'team-a', annotations: { blob: 'x'.repeat(Math.floor(bytes / 2)) } } };
  return JSON.stringify(reviewBody({ uid, operation: 'UPDATE', object: pod, oldObject: pod }));
};

let tls: PemPair | undefined;
const servers: WebhookServer[] = [];
const senders: SlowSender[] = [];

async function start(limits: Partial<IntakeLimits>) {
  tls ??= await generateServingPair();
  const metrics = createMetrics({ defaultMetrics: false });
  const handler = new AdmissionHandler({ deciders: restoreDeciders(new FakePorts().ports()), logger: createLogger('silent'), metrics });
  const app = createWebhookServer({ tls, handler, logger: createLogger('silent'), limits, metrics });
  servers.push(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  return { app, port, ca: tls.cert, metrics };
}

async function refusals(metrics: Metrics, reason: string): Promise<number> {
  const metric = await metrics.requestsRefused.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

afterEach(async () => {
  for (const sender of senders.splice(0)) sender.destroy();
  for (const app of servers.splice(0)) await app.close();
});

describe('in-flight body budget', () => {
  it('refuses a body that does not fit with 429, Retry-After and a JSON Status, closing its connection; small reviews still pass', async () => {
    // 4 MiB budget: bodies over 64 KiB share 3 MiB. Nothing counts as stalled during this test.
    const { port, ca, metrics } = await start({ maxInflightBodyBytes: 4 * MiB, stalledUploadMs: 3_600_000 });
    const holder = slowSender({ port, ca, contentLength: 2 * MiB + 512 * KiB, upfront: MiB });
    senders.push(holder);
    await holder.started;
    // Once the holder is charged, a 1 MiB review no longer fits in the large share.
    let refused: Awaited<ReturnType<typeof post>> | undefined;
    await vi.waitFor(
      async () => {
        refused = await post(port, '/validate', largeReview('large', MiB), { ca });
        expect(refused.status).toBe(429);
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(refused?.contentType).toContain('application/json');
    expect(refused?.body).toEqual({
      apiVersion: 'v1',
      kind: 'Status',
      status: 'Failure',
      code: 429,
      reason: 'TooManyRequests',
      message: expect.stringContaining('too many request bodies in flight') as string,
      details: { retryAfterSeconds: 1 },
    });
    expect(await refusals(metrics, 'body-budget')).toBeGreaterThanOrEqual(1);
    // Small reviews are served from the quarter kept for them, over kept-alive connections too.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 20; i++) {
        const reply = await post(port, '/validate', JSON.stringify(reviewBody({ uid: `small-${i}`, object: plainPod(`p${i}`) })), { ca, agent });
        expect(reply.status).toBe(200);
        expect(reply.body).toMatchObject({ response: { uid: `small-${i}`, allowed: true } });
      }
    } finally {
      agent.destroy();
    }
    // The holder is untouched; once it goes, the large review fits again.
    expect(holder.isEnded).toBe(false);
    holder.destroy();
    await vi.waitFor(
      async () => {
        const ok = await post(port, '/validate', largeReview('large-again', MiB), { ca });
        expect(ok.status).toBe(200);
        expect(ok.body).toMatchObject({ response: { uid: 'large-again', allowed: true } });
      },
      { timeout: 10_000, interval: 50 },
    );
  });

  it('sends Retry-After and Connection: close on the 429, before reading the body', async () => {
    const { port, ca } = await start({ maxInflightBodyBytes: 4 * MiB, stalledUploadMs: 3_600_000 });
    const holder = slowSender({ port, ca, contentLength: 3 * MiB, upfront: 64 * KiB });
    senders.push(holder);
    await holder.started;
    // A second sender declares 1 MiB and sends nothing: the refusal must come without its body.
    await vi.waitFor(
      async () => {
        const refusedSender = slowSender({ port, ca, contentLength: MiB });
        senders.push(refusedSender);
        const end = await refusedSender.ended;
        expect(end.status).toBe(429);
        expect(end.answer.toLowerCase()).toContain('retry-after: 1\r\n');
        expect(end.answer.toLowerCase()).toContain('connection: close\r\n');
      },
      { timeout: 10_000, interval: 50 },
    );
  });

  it('counts chunked bodies as they arrive and refuses the one that overflows', async () => {
    const { port, ca, metrics } = await start({ maxInflightBodyBytes: 4 * MiB, stalledUploadMs: 3_600_000 });
    const holder = slowSender({ port, ca, contentLength: 2 * MiB, upfront: 64 * KiB });
    senders.push(holder);
    await holder.started;
    // 2 MiB chunked after the holder's 2 MiB passes the 3 MiB large share.
    const chunked = slowSender({ port, ca, contentLength: undefined, upfront: 2 * MiB });
    senders.push(chunked);
    const end = await chunked.ended;
    // The answer may be lost to the reset of a connection closed with unread data; the count is not.
    if (end.status !== undefined) expect(end.status).toBe(429);
    expect(await refusals(metrics, 'body-budget')).toBeGreaterThanOrEqual(1);
  });

  it('makes room by cutting an upload that stalled (408), and serves the newcomer', async () => {
    const { port, ca, metrics } = await start({ maxInflightBodyBytes: 4 * MiB, stalledUploadMs: 200 });
    const stalled = slowSender({ port, ca, contentLength: 3 * MiB, upfront: 2 * MiB });
    senders.push(stalled);
    await stalled.started;
    await vi.waitFor(
      async () => {
        const reply = await post(port, '/validate', largeReview('newcomer', MiB), { ca });
        expect(reply.status).toBe(200);
        expect(reply.body).toMatchObject({ response: { uid: 'newcomer', allowed: true } });
      },
      { timeout: 10_000, interval: 100 },
    );
    const end = await stalled.ended;
    if (end.status !== undefined) {
      expect(end.status).toBe(408);
      expect(end.answer).toContain('"kind":"Status"');
    }
    expect(await refusals(metrics, 'stalled-upload')).toBe(1);
  });

  it('refuses JSON that would take too much heap to parse with 413, and stays up', async () => {
    const { port, ca, metrics } = await start({ maxInflightBodyBytes: 16 * MiB });
    // 4 MiB of empty objects: ~90 MiB of V8 heap once parsed, more than the whole budget.
    const bomb = `[${Array.from({ length: (4 * MiB) / 3 }, () => '{}').join(',')}]`;
    const reply = await post(port, '/validate', bomb, { ca });
    expect(reply.status).toBe(413);
    expect(reply.body).toMatchObject({ kind: 'Status', code: 413, reason: 'RequestEntityTooLarge' });
    expect(await refusals(metrics, 'too-complex')).toBe(1);
    const ok = await post(port, '/validate', largeReview('after', 2 * MiB), { ca });
    expect(ok.body).toMatchObject({ response: { uid: 'after', allowed: true } });
  });
});

describe('connection cap', () => {
  /** Opens a TLS connection; resolves with the socket once the handshake is done, or with the error. */
  const open = (port: number, ca: string) =>
    new Promise<{ socket?: ReturnType<typeof connect>; error?: string }>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
      socket.once('secureConnect', () => resolve({ socket }));
      socket.once('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
      socket.once('close', () => resolve({ error: 'closed' }));
    });

  it('closes connections past --max-connections as they are accepted, counts them, and accepts again once one goes', async () => {
    const { app, port, ca, metrics } = await start({ maxConnections: 5 });
    const held = await Promise.all(Array.from({ length: 5 }, () => open(port, ca)));
    try {
      expect(held.map((h) => h.error)).toEqual([undefined, undefined, undefined, undefined, undefined]);
      const extra = await open(port, ca);
      expect(extra.socket).toBeUndefined();
      expect(extra.error).toBeDefined();
      // A review on a new connection is refused the same way (no answer: kube-apiserver retries resets).
      await expect(post(port, '/validate', JSON.stringify(reviewBody({ uid: 'over', object: plainPod('p') })), { ca })).rejects.toThrow();
      expect(await refusals(metrics, 'connection-limit')).toBe(2);
      held[0]?.socket?.destroy();
      await vi.waitFor(
        async () => {
          const connections = await new Promise<number>((resolve) => app.server.getConnections((_, n) => resolve(n)));
          expect(connections).toBeLessThan(5);
        },
        { timeout: 5_000, interval: 20 },
      );
      const reply = await post(port, '/validate', JSON.stringify(reviewBody({ uid: 'after', object: plainPod('p') })), { ca });
      expect(reply.body).toMatchObject({ response: { uid: 'after', allowed: true } });
    } finally {
      for (const h of held) h.socket?.destroy();
    }
  });
});
