import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type ConnectionOptions, type SecureVersion } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { renewCertificates } from '../../src/certs/authority.js';
import { reviewBody } from '../support/fixtures.js';
import { admissionAnswer } from '../support/load.js';
import { startWebhookProcess, type WebhookProcess } from '../support/webhook-process.js';
import { SecretVolume } from '../support/secret-volume.js';
import { makeClientCa } from '../support/client-certs.js';

/**
 * TLS floor and mTLS of the built binary (`--tls-cert-file`, `--tls-private-key-file`, `--client-ca-file`).
 * The client below really can speak TLS 1.0 and 1.1 (OpenSSL security level 0; a control server proves
 * it), so a refusal is the webhook's own, not the client's. Checked again after a certificate reload,
 * since setSecureContext replaces every TLS setting.
 */

const SERVICE = 'restore-guard.restore-guard.svc';
/** OpenSSL 3 refuses TLS below 1.2 at its default security level, on both sides. */
const LEGACY = { ciphers: 'DEFAULT@SECLEVEL=0' };

type Pair = { cert: string; key: string };

const clientCa = makeClientCa;

/** A bare TLS handshake at exactly `version`: the protocol agreed, or the error code. */
function handshake(port: number, version: SecureVersion, options: ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: SERVICE, minVersion: version, maxVersion: version, ...options });
    socket.once('secureConnect', () => {
      resolve(`connected ${socket.getProtocol() ?? ''}`);
      socket.destroy();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(`refused ${error.code ?? error.message}`));
  });
}

/** One review over a new connection at exactly `version`: the HTTP answer, or why there was none. */
function review(port: number, version: SecureVersion, options: ConnectionOptions): Promise<{ status?: number; body?: unknown; error?: string }> {
  return new Promise((resolve) => {
    const body = JSON.stringify(reviewBody({ uid: `tls-${version}`, object: { metadata: { name: 'p', namespace: 'team-a' }, spec: { containers: [] } } }));
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/validate',
        method: 'POST',
        agent: false,
        servername: SERVICE,
        minVersion: version,
        maxVersion: version,
        ...options,
        headers: { 'content-type': 'application/json' },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += String(chunk)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
        res.on('error', (error) => resolve({ error: error.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end(body);
  });
}

describe('TLS floor and mTLS (built binary)', () => {
  let webhook: WebhookProcess;
  let volume: SecretVolume;
  let out: string;
  let trust: string;
  let caller: { ca: string; client: Pair };
  let stranger: { ca: string; client: Pair };
  const issue = async (): Promise<Pair> => {
    const issued = await renewCertificates({ outDir: out });
    return { cert: readFileSync(issued.files.tlsCert, 'utf8'), key: readFileSync(issued.files.tlsKey, 'utf8') };
  };

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'rg-tls-ca-'));
    volume = new SecretVolume(mkdtempSync(join(tmpdir(), 'rg-tls-secret-')));
    const serving = await issue();
    trust = readFileSync(join(out, 'ca.crt'), 'utf8');
    caller = await clientCa('API server client CA');
    stranger = await clientCa('some other CA');
    volume.write({ 'tls.crt': serving.cert, 'tls.key': serving.key, 'client-ca.crt': caller.ca });
    webhook = await startWebhookProcess(
      ['--tls-cert-file', volume.file('tls.crt'), '--tls-private-key-file', volume.file('tls.key'), '--client-ca-file', volume.file('client-ca.crt')],
      { KUBECONFIG: '/nonexistent/kubeconfig' },
    );
  });
  afterAll(async () => {
    await webhook?.stop();
  });

  it('the legacy client really speaks TLS 1.0 and 1.1 (control: a server that allows them)', async () => {
    const pair = await issue();
    const server = createServer({ ...pair, minVersion: 'TLSv1', ...LEGACY }, (socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      expect(await handshake(port, 'TLSv1', { ca: trust, ...LEGACY })).toBe('connected TLSv1');
      expect(await handshake(port, 'TLSv1.1', { ca: trust, ...LEGACY })).toBe('connected TLSv1.1');
    } finally {
      server.close();
    }
  });

  const floorHolds = async () => {
    const withCert = { ca: trust, ...caller.client };
    for (const version of ['TLSv1', 'TLSv1.1'] as const) {
      // The server's protocol_version alert: refused by the webhook, not given up by the client.
      expect(await handshake(webhook.webhookPort, version, { ...withCert, ...LEGACY }), version).toBe('refused ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    }
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const reply = await review(webhook.webhookPort, version, withCert);
      expect(admissionAnswer(reply, `tls-${version}`)?.allowed, version).toBe(true);
    }
  };

  it('refuses TLS 1.0 and 1.1 and serves 1.2 and 1.3, also after the certificate is reloaded', async () => {
    await floorHolds();
    const renewed = await issue();
    volume.write({ 'tls.crt': renewed.cert, 'tls.key': renewed.key, 'client-ca.crt': caller.ca });
    const fingerprint = new X509Certificate(renewed.cert).fingerprint256;
    await vi.waitFor(() => expect(webhook.logs.some((l) => l.msg === 'serving certificate reloaded' && l.fingerprint === fingerprint)).toBe(true), {
      timeout: 20_000,
      interval: 10,
    });
    await floorHolds();
  });

  it('with --client-ca-file, refuses a caller without a client certificate or with one from another CA, over TLS 1.2 and 1.3', async () => {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const anonymous = await review(webhook.webhookPort, version, { ca: trust });
      expect(anonymous.status, `${version} without a certificate`).toBeUndefined();
      expect(anonymous.error, version).toBeDefined();
      const foreign = await review(webhook.webhookPort, version, { ca: trust, ...stranger.client });
      expect(foreign.status, `${version} with another CA's certificate`).toBeUndefined();
      const admitted = await review(webhook.webhookPort, version, { ca: trust, ...caller.client });
      expect(admissionAnswer(admitted, `tls-${version}`)?.allowed, version).toBe(true);
    }
  });
});
