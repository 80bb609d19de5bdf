import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { AdmissionHandler } from '../../src/admission/handler.js';
import { renewCertificates } from '../../src/certs/authority.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { restoreDeciders } from '../../src/restore/webhooks.js';
import { CertificateReloader, readTlsMaterial, type TlsFiles } from '../../src/server/certificate-reloader.js';
import { createWebhookServer, secureContextOptions, type WebhookServer } from '../../src/server/webhook-server.js';
import { checkTlsMaterial } from '../../src/tls/check.js';
import { FakePorts } from '../support/fake-ports.js';
import { reviewBody } from '../support/fixtures.js';
import { startWebhookProcess, type WebhookProcess } from '../support/webhook-process.js';
import { SecretVolume } from '../support/secret-volume.js';
import { makeClientCa } from '../support/client-certs.js';

/**
 * Certificate hot reload: the kubelet updates a mounted Secret by writing a new timestamped directory and
 * swapping the `..data` symlink; the webhook must follow it without dropping connections, refuse broken
 * pairs, and report the expiry of what it serves.
 */

const SERVICE = 'restore-guard.restore-guard.svc';
const DAY = 24 * 3600 * 1000;
type Pair = { cert: string; key: string };

/** Serving pairs for the Service name, each from its own CA; `trust` holds every CA made so far. */
const trust: string[] = [];
async function servingPair(options: { now?: Date; days?: number } = {}): Promise<Pair> {
  const out = mkdtempSync(join(tmpdir(), 'rg-pair-'));
  const issued = await renewCertificates({
    outDir: out,
    ...(options.now ? { now: options.now } : {}),
    ...(options.days ? { leafValidityDays: options.days } : {}),
  });
  trust.push(readFileSync(issued.files.caCert, 'utf8'));
  return { cert: readFileSync(issued.files.tlsCert, 'utf8'), key: readFileSync(issued.files.tlsKey, 'utf8') };
}
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** One request over `agent`; says which socket carried it and which certificate that socket saw. */
function post(port: number, agent: Agent, extra: { cert?: string; key?: string } = {}): Promise<{ status: number; socket: TLSSocket; peer: string }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(reviewBody({ object: { metadata: { name: 'p', namespace: 'team-a' }, spec: { containers: [] } } }));
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/validate',
        method: 'POST',
        agent,
        ca: trust,
        servername: SERVICE,
        headers: { 'content-type': 'application/json' },
        ...extra,
      },
      (res) => {
        // Read before the end: a keep-alive agent takes the socket back once the body is consumed.
        const socket = res.socket as TLSSocket;
        const peer = socket.getPeerCertificate().fingerprint256;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, socket, peer }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The certificate a brand-new handshake gets. */
function newHandshake(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: trust, servername: SERVICE }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(files: TlsFiles, pollIntervalMs = 3_600_000) {
  const material = await readTlsMaterial(files);
  const metrics = createMetrics({ defaultMetrics: false });
  const handler = new AdmissionHandler({ deciders: restoreDeciders(new FakePorts().ports()), logger: createLogger('silent'), metrics });
  const app: WebhookServer = createWebhookServer({
    tls: material,
    ...(material.clientCa ? { clientCa: material.clientCa } : {}),
    handler,
    logger: createLogger('silent'),
  });
  let handshakes = 0;
  app.server.on('secureConnection', () => handshakes++);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const reloader = new CertificateReloader({
    files,
    initial: material,
    target: app.server,
    contextOptions: (m) => secureContextOptions(m, m.clientCa),
    logger: createLogger('silent'),
    metrics,
    pollIntervalMs,
  });
  reloader.start();
  cleanups.push(async () => {
    reloader.stop();
    await app.close();
  });
  return { app, reloader, metrics, port: (app.server.address() as { port: number }).port, handshakes: () => handshakes };
}

describe('certificate hot reload', () => {
  it('swaps in a renewed Secret: the live keep-alive connection keeps working, new handshakes get the new certificate', async () => {
    const volume = new SecretVolume(mkdtempSync(join(tmpdir(), 'rg-secret-')));
    const first = await servingPair();
    // Made up front: the agent keys its connection pool by the trusted CAs, which must not change below.
    const second = await servingPair();
    volume.write({ 'tls.crt': first.cert, 'tls.key': first.key });
    const server = await startServer({ certFile: volume.file('tls.crt'), keyFile: volume.file('tls.key') });
    expect(await metricValue(server.metrics, 'restore_guard_serving_certificate_expiry_timestamp_seconds')).toBe(
      Date.parse(new X509Certificate(first.cert).validTo) / 1000,
    );

    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    const before = await post(server.port, agent);
    expect(before.status).toBe(200);
    expect(before.peer).toBe(fingerprint(first.cert));

    const reloaded = once(server.reloader, 'reloaded');
    volume.write({ 'tls.crt': second.cert, 'tls.key': second.key }); // seen by the directory watch
    const [event] = (await reloaded) as [{ fingerprint: string }];
    expect(event.fingerprint).toBe(fingerprint(second.cert));

    const during = await post(server.port, agent);
    expect(during.status).toBe(200);
    expect(during.socket).toBe(before.socket); // same connection, not dropped
    expect(during.peer).toBe(fingerprint(first.cert));
    expect(server.handshakes()).toBe(1);

    expect(await newHandshake(server.port)).toBe(fingerprint(second.cert));
    const fresh = new Agent({ keepAlive: true });
    cleanups.push(() => fresh.destroy());
    expect((await post(server.port, fresh)).peer).toBe(fingerprint(second.cert));
    expect(await metricValue(server.metrics, 'restore_guard_certificate_reloads_total', { result: 'success' })).toBe(1);
    expect(await metricValue(server.metrics, 'restore_guard_serving_certificate_expiry_timestamp_seconds')).toBe(
      Date.parse(new X509Certificate(second.cert).validTo) / 1000,
    );
  });

  it('refuses a mismatched or an expired pair and keeps serving the previous one, then takes a good one', async () => {
    const volume = new SecretVolume(mkdtempSync(join(tmpdir(), 'rg-secret-')));
    const good = await servingPair();
    volume.write({ 'tls.crt': good.cert, 'tls.key': good.key });
    const server = await startServer({ certFile: volume.file('tls.crt'), keyFile: volume.file('tls.key') });

    const other = await servingPair();
    let refused = once(server.reloader, 'refused');
    volume.write({ 'tls.crt': other.cert, 'tls.key': good.key });
    expect(((await refused) as [{ reason: string }])[0].reason).toContain('does not match');
    expect(await newHandshake(server.port)).toBe(fingerprint(good.cert));

    const expired = await servingPair({ now: new Date(Date.now() - 400 * DAY), days: 30 });
    expect(checkTlsMaterial(expired).ok).toBe(false);
    refused = once(server.reloader, 'refused');
    volume.write({ 'tls.crt': expired.cert, 'tls.key': expired.key });
    expect(((await refused) as [{ reason: string }])[0].reason).toContain('expired');
    expect(await newHandshake(server.port)).toBe(fingerprint(good.cert));
    expect(await metricValue(server.metrics, 'restore_guard_certificate_reloads_total', { result: 'error' })).toBe(2);
    expect(await metricValue(server.metrics, 'restore_guard_serving_certificate_expiry_timestamp_seconds')).toBe(
      Date.parse(new X509Certificate(good.cert).validTo) / 1000,
    );
    // Looking again at the same refused files neither counts nor logs again.
    expect(await server.reloader.check()).toBe('unchanged');
    expect(await metricValue(server.metrics, 'restore_guard_certificate_reloads_total', { result: 'error' })).toBe(2);

    const renewed = await servingPair();
    const reloaded = once(server.reloader, 'reloaded');
    volume.write({ 'tls.crt': renewed.cert, 'tls.key': renewed.key });
    await reloaded;
    expect(await newHandshake(server.port)).toBe(fingerprint(renewed.cert));
  });

  it('polls as well: a change the directory watch cannot see (the mount reached through a swapped symlink) is picked up', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rg-mount-'));
    const first = await servingPair();
    for (const [name, pair] of [['a', first]] as const) {
      mkdirSync(join(root, name));
      writeFileSync(join(root, name, 'tls.crt'), pair.cert);
      writeFileSync(join(root, name, 'tls.key'), pair.key);
    }
    symlinkSync('a', join(root, 'current'));
    const server = await startServer({ certFile: join(root, 'current', 'tls.crt'), keyFile: join(root, 'current', 'tls.key') }, 25);

    const second = await servingPair();
    mkdirSync(join(root, 'b'));
    writeFileSync(join(root, 'b', 'tls.crt'), second.cert);
    writeFileSync(join(root, 'b', 'tls.key'), second.key);
    const reloaded = once(server.reloader, 'reloaded');
    symlinkSync('b', join(root, 'next'));
    renameSync(join(root, 'next'), join(root, 'current'));
    await reloaded;
    expect(await newHandshake(server.port)).toBe(fingerprint(second.cert));
  });
});

describe('--client-ca-file (mTLS)', () => {
  const clientCa = () => makeClientCa(`client CA ${Math.random()}`);

  it('admits only callers with a certificate from the client CA, and follows a changed client CA file', async () => {
    const volume = new SecretVolume(mkdtempSync(join(tmpdir(), 'rg-secret-')));
    const serving = await servingPair();
    const first = await clientCa();
    volume.write({ 'tls.crt': serving.cert, 'tls.key': serving.key, 'client-ca.crt': first.ca });
    const server = await startServer({ certFile: volume.file('tls.crt'), keyFile: volume.file('tls.key'), clientCaFile: volume.file('client-ca.crt') });
    const fresh = () => {
      const agent = new Agent({ keepAlive: false });
      cleanups.push(() => agent.destroy());
      return agent;
    };

    expect((await post(server.port, fresh(), first.client)).status).toBe(200);
    await expect(post(server.port, fresh())).rejects.toThrow();
    const second = await clientCa();
    await expect(post(server.port, fresh(), second.client)).rejects.toThrow();

    const reloaded = once(server.reloader, 'reloaded');
    volume.write({ 'tls.crt': serving.cert, 'tls.key': serving.key, 'client-ca.crt': second.ca });
    await reloaded;
    expect((await post(server.port, fresh(), second.client)).status).toBe(200);
    await expect(post(server.port, fresh(), first.client)).rejects.toThrow();
  });
});

describe('restore-guard serve follows its certificate files', () => {
  let webhook: WebhookProcess | undefined;
  afterEach(async () => {
    await webhook?.stop();
    webhook = undefined;
  });

  it('reloads a renewed mounted Secret, logs it and exports the expiry', async () => {
    const volume = new SecretVolume(mkdtempSync(join(tmpdir(), 'rg-secret-')));
    const first = await servingPair();
    volume.write({ 'tls.crt': first.cert, 'tls.key': first.key });
    webhook = await startWebhookProcess(['--tls-cert-file', volume.file('tls.crt'), '--tls-private-key-file', volume.file('tls.key')], {
      KUBECONFIG: '/nonexistent/kubeconfig',
    });
    const port = webhook.webhookPort;
    expect(await newHandshake(port)).toBe(fingerprint(first.cert));

    const second = await servingPair();
    const logged = new Promise<Record<string, unknown>>((resolve) => {
      createInterface({ input: webhook!.child.stdout! }).on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === 'serving certificate reloaded') resolve(entry);
      });
    });
    volume.write({ 'tls.crt': second.cert, 'tls.key': second.key });
    expect((await logged).fingerprint).toBe(fingerprint(second.cert));
    expect(await newHandshake(port)).toBe(fingerprint(second.cert));

    const metrics = await (await fetch(`http://127.0.0.1:${webhook.metricsPort}/metrics`)).text();
    expect(metrics).toContain(`restore_guard_serving_certificate_expiry_timestamp_seconds ${Date.parse(new X509Certificate(second.cert).validTo) / 1000}`);
    expect(metrics).toContain('restore_guard_certificate_reloads_total{result="success"} 1');
  });
});
