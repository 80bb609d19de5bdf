import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { connect } from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AdmissionHandler } from '../../src/admission/handler.js';
import { renewCertificates } from '../../src/certs/authority.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { restoreDeciders } from '../../src/restore/webhooks.js';
import { CertificateReloader, readTlsMaterial, type TlsFiles } from '../../src/server/certificate-reloader.js';
import { createWebhookServer, secureContextOptions } from '../../src/server/webhook-server.js';
import { clientAuthority, type Pair } from '../support/client-certs.js';
import { FakePorts } from '../support/fake-ports.js';
import { pinnedAffinity, readyCheckpoint, restorePod, reviewBody } from '../support/fixtures.js';
import { SecretVolume } from '../support/secret-volume.js';
import { runCli, startWebhookProcess } from '../support/webhook-process.js';

/**
 * --client-allowed-names, in process: the threat of issue #11 (a forged AdmissionReview claiming
 * system:masters learns about checkpoints) from a caller whose certificate the client CA did sign, but
 * for another identity. Such a caller gets its connection closed after the handshake, before any HTTP is
 * read; the API server's identity (by CN or by DNS name) is answered; both hold across reloads of the
 * serving pair and of the client CA (setSecureContext).
 */

const SERVICE = 'restore-guard.restore-guard.svc';
const API_SERVER = 'kube-apiserver-admission-client';

/** The forged review of the finding: mallory in system:masters asks about a checkpoint. */
const forged = (uid: string) =>
  JSON.stringify(
    reviewBody({
      uid,
      userInfo: { username: 'mallory', uid: 'm', groups: ['system:masters', 'system:authenticated'], extra: {} },
      object: restorePod({ spec: { affinity: pinnedAffinity() } }),
    }),
  );

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function servingPair(): Promise<Pair & { ca: string }> {
  const out = mkdtempSync(join(tmpdir(), 'rg-id-pair-'));
  const issued = await renewCertificates({ outDir: out });
  return { cert: readFileSync(issued.files.tlsCert, 'utf8'), key: readFileSync(issued.files.tlsKey, 'utf8'), ca: readFileSync(issued.files.caCert, 'utf8') };
}

async function counter(metrics: Metrics, name: string): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

async function startServer(files: TlsFiles, allowedNames?: string[]) {
  const material = await readTlsMaterial(files);
  const metrics = createMetrics({ defaultMetrics: false });
  const ports = new FakePorts();
  // mallory could restore, and the checkpoint exists: an answer would tell her where it is.
  ports.grants.add('mallory/team-a/ckpt');
  ports.checkpoints.set('team-a/ckpt', readyCheckpoint());
  const lines: Array<Record<string, unknown>> = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => {
    for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  const logger = createLogger('info', stream);
  const handler = new AdmissionHandler({ deciders: restoreDeciders(ports.ports()), logger, metrics });
  const app = createWebhookServer({
    tls: material,
    ...(material.clientCa ? { clientCa: material.clientCa } : {}),
    ...(allowedNames ? { clientIdentity: { allowedNames, metrics } } : {}),
    handler,
    logger,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const reloader = new CertificateReloader({
    files,
    initial: material,
    target: app.server,
    contextOptions: (m) => secureContextOptions(m, m.clientCa),
    logger,
    metrics,
    pollIntervalMs: 3_600_000,
  });
  reloader.start();
  cleanups.push(async () => {
    reloader.stop();
    await app.close();
  });
  return { port: (app.server.address() as { port: number }).port, metrics, ports, lines, reloader };
}

/** One forged review on a new connection: the HTTP answer, or why there was none. */
function post(
  port: number,
  ca: string,
  client: Partial<Pair>,
  uid = 'forged',
): Promise<{ status?: number; body?: { response?: { allowed?: boolean; auditAnnotations?: Record<string, string> } }; error?: string }> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/mutate?timeout=5s',
        method: 'POST',
        agent: false,
        ca,
        servername: SERVICE,
        ...client,
        headers: { 'content-type': 'application/json' },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += String(chunk)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as never }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end(forged(uid));
  });
}

/** A raw TLS client that writes a whole HTTP request the moment its handshake completes: every byte it gets back. */
function rawExchange(port: number, ca: string, client: Pair): Promise<{ handshake: boolean; received: string }> {
  return new Promise((resolve) => {
    let handshake = false;
    let received = '';
    const socket = connect({ host: '127.0.0.1', port, ca, servername: SERVICE, ...client }, () => {
      handshake = true;
      const body = forged('raw');
      socket.write(`POST /mutate HTTP/1.1\r\nhost: ${SERVICE}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    socket.on('data', (chunk: Buffer) => (received += String(chunk)));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ handshake, received }));
  });
}

describe('--client-allowed-names (mTLS with pinned identities)', () => {
  it('answers the API server (by CN or by DNS name) and closes, unanswered, a certificate of the same CA for anyone else', async () => {
    const serving = await servingPair();
    const authority = await clientAuthority('cluster CA');
    const volume = new SecretVolume(mkdtempSync(join(tmpdir(), 'rg-id-secret-')));
    volume.write({ 'tls.crt': serving.cert, 'tls.key': serving.key, 'client-ca.crt': authority.ca });
    const server = await startServer({ certFile: volume.file('tls.crt'), keyFile: volume.file('tls.key'), clientCaFile: volume.file('client-ca.crt') }, [
      API_SERVER,
      'webhook-client.example.com',
    ]);

    const apiServer = await authority.issue(API_SERVER);
    const byDnsName = await authority.issue('some-other-cn', ['WEBHOOK-CLIENT.example.com']);
    const mallory = await authority.issue('mallory');
    const sneaky = await authority.issue('mallory', [`x, DNS:${API_SERVER}`]);

    const answered = await post(server.port, serving.ca, apiServer, 'api-server');
    expect(answered.status).toBe(200);
    // The leak the pin closes: an answered forged review names the node and says the checkpoint is usable.
    expect(answered.body?.response?.auditAnnotations?.['node']).toBe('node-a');
    expect((await post(server.port, serving.ca, byDnsName)).status).toBe(200);
    const reviewsAnswered = await counter(server.metrics, 'restore_guard_reviews_total');
    const lookups = server.ports.calls.length;

    for (const [who, client] of [
      ['mallory', mallory],
      ['a SAN that only quotes the allowed name', sneaky],
    ] as const) {
      const refused = await post(server.port, serving.ca, client);
      expect(refused.status, who).toBeUndefined();
      expect(refused.error, who).toBeDefined();
    }
    const raw = await rawExchange(server.port, serving.ca, mallory);
    expect(raw).toEqual({ handshake: true, received: '' });

    expect(await counter(server.metrics, 'restore_guard_reviews_total')).toBe(reviewsAnswered);
    expect(await counter(server.metrics, 'restore_guard_malformed_reviews_total')).toBe(0);
    expect(server.ports.calls.length).toBe(lookups);
    expect(await counter(server.metrics, 'restore_guard_client_certificates_refused_total')).toBe(3);
    // Logged once per identity, at warn, with the CN presented.
    const warnings = server.lines.filter((l) => String(l.msg).startsWith('refused a client certificate'));
    expect(warnings.map((l) => [l.level, l.clientCN])).toEqual([
      [40, 'mallory'],
      [40, 'mallory'],
    ]);
    expect(warnings[1]?.clientDnsNames).toEqual([`x, DNS:${API_SERVER}`]);
  });

  it('keeps the pin across reloads of the serving pair and of the client CA', async () => {
    const serving = await servingPair();
    const first = await clientAuthority('first client CA');
    const volume = new SecretVolume(mkdtempSync(join(tmpdir(), 'rg-id-secret-')));
    volume.write({ 'tls.crt': serving.cert, 'tls.key': serving.key, 'client-ca.crt': first.ca });
    const server = await startServer({ certFile: volume.file('tls.crt'), keyFile: volume.file('tls.key'), clientCaFile: volume.file('client-ca.crt') }, [
      API_SERVER,
    ]);
    expect((await post(server.port, serving.ca, await first.issue(API_SERVER))).status).toBe(200);
    expect((await post(server.port, serving.ca, await first.issue('mallory'))).status).toBeUndefined();

    // A renewed serving pair (new CA, so trust both) and a new client CA, in one Secret update.
    const renewed = await servingPair();
    const second = await clientAuthority('second client CA');
    const reloaded = once(server.reloader, 'reloaded');
    volume.write({ 'tls.crt': renewed.cert, 'tls.key': renewed.key, 'client-ca.crt': second.ca });
    await reloaded;
    const trust = `${serving.ca}\n${renewed.ca}`;
    expect((await post(server.port, trust, await second.issue(API_SERVER))).status).toBe(200);
    const refused = await post(server.port, trust, await second.issue('mallory'));
    expect(refused.status).toBeUndefined();
    expect(refused.error).toBeDefined();
    // The first CA is not trusted any more, whatever the name.
    expect((await post(server.port, trust, await first.issue(API_SERVER))).status).toBeUndefined();
    expect(await counter(server.metrics, 'restore_guard_client_certificates_refused_total')).toBe(2);
  });

  it('cannot be set up without a client CA (the names of an unverified certificate mean nothing)', async () => {
    const serving = await servingPair();
    const handler = new AdmissionHandler({
      deciders: restoreDeciders(new FakePorts().ports()),
      logger: createLogger('silent'),
      metrics: createMetrics({ defaultMetrics: false }),
    });
    expect(() => createWebhookServer({ tls: serving, clientIdentity: { allowedNames: [API_SERVER] }, handler, logger: createLogger('silent') })).toThrow(
      /client CA/,
    );
  });
});

describe('restore-guard serve (built binary): --client-ca-file must be usable, --client-allowed-names is enforced', () => {
  const exitOf = (args: string[]) => {
    const child = runCli(['serve', '--port', '0', '--metrics-port', '0', '--bind-address', '127.0.0.1', ...args], { KUBECONFIG: '/nonexistent/kubeconfig' });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => {
      stdout += String(c);
      // It started after all (the bug): stop it, so the test fails on the exit code instead of hanging.
      if (stdout.includes('restore-guard is serving')) child.kill('SIGTERM');
    });
    child.stderr?.on('data', (c: Buffer) => (stderr += String(c)));
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  };

  it('refuses to start with an empty, unreadable or certificate-less client CA file, saying so (mTLS would silently be off)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-id-ca-'));
    const serving = await servingPair();
    writeFileSync(join(dir, 'tls.crt'), serving.cert);
    writeFileSync(join(dir, 'tls.key'), serving.key);
    writeFileSync(join(dir, 'empty.crt'), '');
    writeFileSync(join(dir, 'key-only.crt'), serving.key);
    const pair = ['--tls-cert-file', join(dir, 'tls.crt'), '--tls-private-key-file', join(dir, 'tls.key')];
    for (const [file, reason] of [
      ['empty.crt', /--client-ca-file \S+empty\.crt is not usable: the client CA file holds no PEM certificate/],
      ['key-only.crt', /--client-ca-file \S+key-only\.crt is not usable: the client CA file holds no PEM certificate/],
      ['missing.crt', /--client-ca-file \S+missing\.crt cannot be read \(ENOENT/],
    ] as const) {
      for (const args of [[...pair], []]) {
        const result = await exitOf([...args, '--client-ca-file', join(dir, file)]);
        expect(result.code, `${file} ${args.length ? 'with a serving pair' : 'with a development certificate'}`).toBe(1);
        expect(result.stderr).toMatch(reason);
        expect(result.stdout).not.toContain('restore-guard is serving');
        expect(result.stdout).not.toContain('serving certificate');
      }
    }
  });

  it('refuses --client-allowed-names without --client-ca-file (usage error, exit 2)', async () => {
    const result = await exitOf(['--client-allowed-names', API_SERVER]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--client-allowed-names needs --client-ca-file');
  });

  it('answers only the pinned identity over TLS 1.2 and 1.3, counts and logs the others', async () => {
    const serving = await servingPair();
    const authority = await clientAuthority('cluster CA');
    const volume = new SecretVolume(mkdtempSync(join(tmpdir(), 'rg-id-secret-')));
    volume.write({ 'tls.crt': serving.cert, 'tls.key': serving.key, 'client-ca.crt': authority.ca });
    const webhook = await startWebhookProcess(
      [
        '--tls-cert-file',
        volume.file('tls.crt'),
        '--tls-private-key-file',
        volume.file('tls.key'),
        '--client-ca-file',
        volume.file('client-ca.crt'),
        '--client-allowed-names',
        `${API_SERVER},other`,
      ],
      { KUBECONFIG: '/nonexistent/kubeconfig' },
    );
    cleanups.push(async () => void (await webhook.stop()));
    const apiServer = await authority.issue(API_SERVER);
    const mallory = await authority.issue('mallory');
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const tls = { minVersion: version, maxVersion: version };
      expect((await post(webhook.webhookPort, serving.ca, { ...apiServer, ...tls })).status, version).toBe(200);
      const refused = await post(webhook.webhookPort, serving.ca, { ...mallory, ...tls });
      expect(refused.status, version).toBeUndefined();
      expect(refused.error, version).toBeDefined();
    }
    const metrics = await (await fetch(`http://127.0.0.1:${webhook.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^restore_guard_client_certificates_refused_total 2$/m);
    await vi.waitFor(() => expect(webhook.logs.filter((l) => l.clientCN === 'mallory').map((l) => l.level)).toEqual([40]), { timeout: 5_000, interval: 20 });
  });
});
