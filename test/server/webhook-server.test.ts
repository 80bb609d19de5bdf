import { Agent } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdmissionHandler } from '../../src/admission/handler.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { Deadline } from '../../src/admission/deadline.js';
import { DependencyError } from '../../src/restore/ports.js';
import { restoreDeciders } from '../../src/restore/webhooks.js';
import { generateServingPair } from '../../src/server/dev-certificate.js';
import type { PemPair } from '../../src/tls/check.js';
import { createWebhookServer, KEEP_ALIVE_TIMEOUT_MS, type WebhookServer } from '../../src/server/webhook-server.js';
import { pinnedAffinity, readyCheckpoint, restorePod, reviewBody } from '../support/fixtures.js';
import { FakePorts } from '../support/fake-ports.js';
import { post } from '../support/https-client.js';

/** A port that waits far longer than any review may, but gives up when the review's deadline does. */
function slowAuthorizer(fake: FakePorts) {
  return (deadline: Deadline) =>
    new Promise<never>((_, reject) => {
      const timer = setTimeout(() => reject(new Error('should have been cut by the deadline')), 60_000);
      deadline.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        fake.calls.push('cut by deadline');
        reject(new DependencyError('timeout', 'the SubjectAccessReview timed out'));
      });
    });
}

describe('webhook server over HTTPS', () => {
  let tls: PemPair;
  let app: WebhookServer;
  let port: number;
  let connections = 0;
  const fake = new FakePorts();
  let slow = false;

  beforeAll(async () => {
    tls = await generateServingPair();
    fake.grants.add('alice/team-a/ckpt');
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint());
    const ports = fake.ports();
    const authorize = ports.authorizer.authorize.bind(ports.authorizer);
    const wait = slowAuthorizer(fake);
    ports.authorizer = { authorize: (user, access, deadline) => (slow ? wait(deadline) : authorize(user, access, deadline)) };
    const handler = new AdmissionHandler({
      deciders: restoreDeciders(ports),
      logger: createLogger('error'),
      metrics: createMetrics({ defaultMetrics: false }),
    });
    app = createWebhookServer({ tls, handler, logger: createLogger('silent') });
    app.server.on('secureConnection', () => connections++);
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => app.close());

  const send = (path: string, body: unknown, extra: { agent?: Agent; contentType?: string } = {}) =>
    post(port, path, typeof body === 'string' ? body : JSON.stringify(body), { ca: tls.cert, ...extra });

  it('pins through /mutate and allows through /validate', async () => {
    const mutated = await send('/mutate', reviewBody({ object: restorePod() }));
    expect(mutated.status).toBe(200);
    expect(mutated.contentType).toContain('application/json');
    expect(mutated.body).toMatchObject({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'req-1', allowed: true, patchType: 'JSONPatch' },
    });
    const validated = await send('/validate', reviewBody({ object: restorePod({ spec: { affinity: pinnedAffinity() } }) }));
    expect(validated.body).toMatchObject({ response: { uid: 'req-1', allowed: true } });
  });

  it('answers v1beta1 in v1beta1', async () => {
    const reply = await send('/validate', reviewBody({ object: restorePod() }, 'admission.k8s.io/v1beta1'));
    expect(reply.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1beta1', response: { uid: 'req-1' } });
  });

  it('keeps connections alive longer than kube-apiserver (90 s) and reuses them', async () => {
    expect(app.server.keepAliveTimeout).toBe(KEEP_ALIVE_TIMEOUT_MS);
    expect(KEEP_ALIVE_TIMEOUT_MS).toBeGreaterThan(90_000);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const before = connections;
    for (let i = 0; i < 5; i++) await send('/validate', reviewBody({ object: restorePod() }), { agent });
    expect(connections - before).toBe(1);
    agent.destroy();
  });

  it('accepts a 6 MiB UPDATE review and refuses more than 7 MiB with a JSON error', async () => {
    const big = restorePod({ spec: { affinity: pinnedAffinity() } });
    (big.metadata as Record<string, unknown>).annotations = { blob: 'x'.repeat(3 * 1024 * 1024) };
    const ok = await send('/validate', reviewBody({ operation: 'UPDATE', object: big, oldObject: big }));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ response: { uid: 'req-1', allowed: true } });
    (big.metadata as Record<string, unknown>).annotations = { blob: 'x'.repeat(4 * 1024 * 1024) };
    const tooBig = await send('/validate', reviewBody({ operation: 'UPDATE', object: big, oldObject: big }));
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toMatchObject({ kind: 'Status', code: 413, reason: 'RequestEntityTooLarge' });
  });

  it.each([
    ['truncated JSON', '{"apiVersion":"admission.k8s.io/v1","kind":"Adm', 400],
    ['an empty body', '', 400],
    ['JSON that is not a review', '{"hello":"world"}', 400],
    ['a JSON array', '[1,2,3]', 400],
  ])('answers %s with an HTTP error and a JSON body', async (_, body, status) => {
    const reply = await send('/validate', body);
    expect(reply.status).toBe(status);
    expect(reply.contentType).toContain('application/json');
    expect(reply.body).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest' });
  });

  it('answers another media type with a JSON error', async () => {
    const reply = await send('/validate', '<x/>', { contentType: 'application/xml' });
    expect(reply.status).toBe(415);
    expect(reply.body).toMatchObject({ kind: 'Status', code: 415, reason: 'UnsupportedMediaType' });
  });

  it('answers keys such as __proto__ and constructor instead of refusing the body', async () => {
    const body = JSON.stringify(reviewBody({ object: restorePod() })).replace(
      '"metadata":{',
      '"metadata":{"__proto__":{"x":1},"constructor":{"prototype":{}},',
    );
    const reply = await send('/validate', body);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ response: { uid: 'req-1' } });
  });

  it('serves nothing else', async () => {
    const reply = await send('/other', reviewBody({}));
    expect(reply.status).toBe(404);
    expect(reply.body).toMatchObject({ kind: 'Status', code: 404, reason: 'NotFound' });
  });

  it('answers inside ?timeout when the API is slow, denying the restore', async () => {
    slow = true;
    try {
      const reply = await post(port, '/validate?timeout=1s', JSON.stringify(reviewBody({ object: restorePod({ spec: { affinity: pinnedAffinity() } }) })), {
        ca: tls.cert,
        timeoutMs: 5_000,
      });
      expect(reply.body).toMatchObject({ response: { uid: 'req-1', allowed: false, status: { code: 504, reason: 'Timeout' } } });
      expect(fake.calls).toContain('cut by deadline');
      // A review that is not a restore is not held up by the slow API.
      const plain = await post(port, '/validate?timeout=1s', JSON.stringify(reviewBody({ object: { metadata: { name: 'p' }, spec: {} } })), { ca: tls.cert });
      expect(plain.body).toMatchObject({ response: { allowed: true } });
    } finally {
      slow = false;
    }
  });
});
