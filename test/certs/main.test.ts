import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server } from 'node:tls';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { certificateFiles, renewCertificates, type CertificateFiles } from '../../src/certs/authority.js';
import { parseCertificates } from '../../src/tls/check.js';

/** `npm run certs`: a CA and serving pair whose chain verifies, a caBundle that matches, renewal and CA rotation. */

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const DAY = 24 * 3600 * 1000;
const SERVICE_NAME = 'restore-guard.restore-guard.svc';

const read = (file: string) => readFileSync(file, 'utf8');
const bundleOf = (files: CertificateFiles) => parseCertificates(read(files.caBundle));
const issuerIn = (leafPem: string, cas: X509Certificate[]) => {
  const leaf = new X509Certificate(leafPem);
  return cas.find((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
};

/** A TLS handshake as kube-apiserver makes it: caBundle as the only trust, the Service name as SNI. */
async function handshake(pair: { cert: string; key: string }, ca: string, servername = SERVICE_NAME): Promise<{ authorized: boolean; error?: string }> {
  const server: Server = createServer(pair, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as { port: number }).port;
    return await new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ca, servername }, () => {
        resolve({ authorized: socket.authorized });
        socket.destroy();
      });
      socket.once('error', (error) => resolve({ authorized: false, error: error.message }));
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('npm run certs', () => {
  it('makes a CA and a serving pair for the Service names, a chain that verifies and a caBundle that matches', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rg-certs-'));
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist', 'certs', 'main.js'), '--out', out]);
    expect(stdout).toContain('CA: new');
    const files = certificateFiles(out);

    const leaf = new X509Certificate(read(files.tlsCert));
    const ca = new X509Certificate(read(files.caCert));
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.subjectAltName).toBe('DNS:restore-guard.restore-guard.svc, DNS:restore-guard.restore-guard.svc.cluster.local');
    expect(leaf.checkIssued(ca) && leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(read(files.tlsKey)))).toBe(true);

    expect(bundleOf(files).map((c) => c.fingerprint256)).toEqual([ca.fingerprint256]);
    expect(Buffer.from(read(files.caBundleBase64), 'base64').toString()).toBe(read(files.caBundle));
    expect(statSync(files.tlsKey).mode & 0o077).toBe(0);
    expect(statSync(files.caKey).mode & 0o077).toBe(0);

    const pair = { cert: read(files.tlsCert), key: read(files.tlsKey) };
    const bundle = Buffer.from(read(files.caBundleBase64), 'base64').toString();
    expect(await handshake(pair, bundle)).toEqual({ authorized: true });
    expect(await handshake(pair, bundle, 'restore-guard.restore-guard.svc.cluster.local')).toEqual({ authorized: true });
    const wrongName = await handshake(pair, bundle, 'other.restore-guard.svc');
    expect(wrongName.authorized).toBe(false);
  });

  it("issues the API server's client certificate (mTLS) from the same CA, with the kubeconfig and AdmissionConfiguration that present it", async () => {
    const out = mkdtempSync(join(tmpdir(), 'rg-certs-'));
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist', 'certs', 'main.js'), '--out', out, '--client-name', 'apiserver-webhooks', '--kubeconfig-path', '/srv/k8s/rg.yaml']);
    expect(stdout).toContain('API server client certificate apiserver-webhooks');
    const files = certificateFiles(out);
    const client = new X509Certificate(read(files.clientCert));
    expect(client.subject).toBe('CN=apiserver-webhooks');
    expect(client.ca).toBe(false);
    expect(client.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // clientAuth only
    expect(issuerIn(read(files.clientCert), bundleOf(files))).toBeDefined();
    expect(client.checkPrivateKey(createPrivateKey(read(files.clientKey)))).toBe(true);
    expect(statSync(files.clientKey).mode & 0o077).toBe(0);
    expect(statSync(files.clientKubeconfig).mode & 0o077).toBe(0);
    const kubeconfig = read(files.clientKubeconfig);
    expect(kubeconfig).toContain('name: restore-guard.restore-guard.svc:443');
    expect(kubeconfig).toContain(`client-certificate-data: ${Buffer.from(read(files.clientCert)).toString('base64')}`);
    expect(kubeconfig).toContain(`client-key-data: ${Buffer.from(read(files.clientKey)).toString('base64')}`);
    const admission = read(files.admissionConfig);
    expect(admission.match(/kubeConfigFile: \/srv\/k8s\/rg\.yaml/g)).toHaveLength(2);
    expect(admission).toContain('name: ValidatingAdmissionWebhook');
    expect(admission).toContain('name: MutatingAdmissionWebhook');

    await expect(run(process.execPath, [join(ROOT, 'dist', 'certs', 'main.js'), '--out', out, '--kubeconfig-path', 'relative.yaml'])).rejects.toThrow(/must be absolute/);
  });

  it('renews: a new serving certificate from the same CA while the CA has time left', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rg-certs-'));
    const now = new Date();
    const first = await renewCertificates({ outDir: out, now });
    const firstLeaf = read(first.files.tlsCert);
    const second = await renewCertificates({ outDir: out, now: new Date(now.getTime() + 200 * DAY) });
    expect(second.ca.created).toBe(false);
    expect(second.ca.fingerprint256).toBe(first.ca.fingerprint256);
    expect(second.serving.fingerprint256).not.toBe(first.serving.fingerprint256);
    expect(second.serving.notAfter.getTime()).toBeGreaterThan(first.serving.notAfter.getTime());
    expect(read(second.files.tlsCert)).not.toBe(firstLeaf);
    expect(second.bundle).toHaveLength(1);
    // Both the old and the new serving certificate are trusted by the one bundle.
    expect(issuerIn(firstLeaf, bundleOf(second.files))).toBeDefined();
    expect(issuerIn(read(second.files.tlsCert), bundleOf(second.files))).toBeDefined();
  });

  it('rotates the CA ahead of its expiry and keeps the old CA in the bundle during the overlap, then drops it', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rg-certs-'));
    const start = Date.now();
    const first = await renewCertificates({ outDir: out, now: new Date(start), caValidityDays: 500, leafValidityDays: 100 });
    const oldLeaf = { cert: read(first.files.tlsCert), key: read(first.files.tlsKey) };

    // 380 days in, the CA has 120 days left: less than a new serving certificate (100) plus the margin (30).
    const rotated = await renewCertificates({ outDir: out, now: new Date(start + 380 * DAY), caValidityDays: 500, leafValidityDays: 100 });
    expect(rotated.ca.created).toBe(true);
    expect(rotated.ca.reason).toContain('too soon');
    expect(rotated.bundle.map((c) => c.fingerprint256)).toEqual([rotated.ca.fingerprint256, first.ca.fingerprint256]);
    const newLeaf = read(rotated.files.tlsCert);
    expect(new X509Certificate(newLeaf).issuer).toBe(rotated.ca.subject);
    // During the overlap the API server trusts pods that still serve the old certificate, and the new one.
    const bundle = bundleOf(rotated.files);
    expect(issuerIn(oldLeaf.cert, bundle)?.fingerprint256).toBe(first.ca.fingerprint256);
    expect(issuerIn(newLeaf, bundle)?.fingerprint256).toBe(rotated.ca.fingerprint256);

    // The next renewal after the overlap (30 days by default) trusts only the new CA.
    const later = await renewCertificates({ outDir: out, now: new Date(start + 411 * DAY), caValidityDays: 500, leafValidityDays: 100 });
    expect(later.ca.created).toBe(false);
    expect(later.bundle.map((c) => c.fingerprint256)).toEqual([rotated.ca.fingerprint256]);
    expect(later.dropped.map((c) => c.fingerprint256)).toEqual([first.ca.fingerprint256]);
  });

  it('rotates on request (--rotate-ca) and both chains verify over TLS with the bundle', async () => {
    const out = mkdtempSync(join(tmpdir(), 'rg-certs-'));
    const first = await renewCertificates({ outDir: out });
    const oldPair = { cert: read(first.files.tlsCert), key: read(first.files.tlsKey) };
    const oldCa = read(first.files.caCert);
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist', 'certs', 'main.js'), '--out', out, '--rotate-ca']);
    expect(stdout).toContain('CA: new (rotation requested)');
    expect(stdout).toContain('caBundle: 2 CA(s)');
    const files = certificateFiles(out);
    const bundle = Buffer.from(read(files.caBundleBase64), 'base64').toString();
    expect(await handshake(oldPair, bundle)).toEqual({ authorized: true });
    expect(await handshake({ cert: read(files.tlsCert), key: read(files.tlsKey) }, bundle)).toEqual({ authorized: true });
    // The old CA alone does not trust the new certificate: the bundle is what carries the overlap.
    expect((await handshake({ cert: read(files.tlsCert), key: read(files.tlsKey) }, oldCa)).authorized).toBe(false);
  });
});
