import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { join } from 'node:path';

export interface PemPair {
  cert: string;
  key: string;
}

/** The names kube-apiserver and local tools use to reach the webhook. */
export const SERVING_DNS_NAMES = [
  'localhost',
  'restore-guard',
  'restore-guard.restore-guard',
  'restore-guard.restore-guard.svc',
  'restore-guard.restore-guard.svc.cluster.local',
];
const VALIDITY_DAYS = 365;
const RENEW_WITHIN_MS = 30 * 24 * 3600 * 1000;

/** A usable pair: the key matches the certificate, and it is valid for a while yet. */
export function isUsablePair(pair: PemPair, now = Date.now()): boolean {
  try {
    const cert = new X509Certificate(pair.cert);
    const stillValid = Date.parse(cert.validTo) - now > RENEW_WITHIN_MS && Date.parse(cert.validFrom) <= now;
    return stillValid && cert.checkPrivateKey(createPrivateKey(pair.key));
  } catch {
    return false;
  }
}

export async function generateServingPair(): Promise<PemPair> {
  // Loaded on demand: it adds ~8 MiB of RSS (measured) that a webhook serving a given certificate never needs.
  const { generate } = await import('selfsigned');
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + VALIDITY_DAYS * 24 * 3600 * 1000);
  const result = await generate([{ name: 'commonName', value: 'restore-guard.restore-guard.svc' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...SERVING_DNS_NAMES.map((value) => ({ type: 2 as const, value })),
          { type: 7 as const, ip: '127.0.0.1' },
          { type: 7 as const, ip: '::1' },
        ],
      },
    ],
  });
  return { cert: result.cert, key: result.private };
}

/**
 * The development certificate in `dir` (tls.crt, tls.key): reused while it is usable, made anew
 * otherwise. Only for running without --tls-cert-file; clusters mount a real one.
 */
export async function ensureDevCertificate(dir: string): Promise<PemPair & { certFile: string; keyFile: string; created: boolean }> {
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  try {
    const existing = { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
    if (isUsablePair(existing)) return { ...existing, certFile, keyFile, created: false };
  } catch {
    // Missing or unreadable: make a new one below.
  }
  const pair = await generateServingPair();
  await mkdir(dir, { recursive: true });
  await writeFile(keyFile, pair.key, { mode: 0o600 });
  await writeFile(certFile, pair.cert);
  return { ...pair, certFile, keyFile, created: true };
}
