import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkPair, type PemPair } from '../tls/check.js';
import { issueServing } from '../tls/issue.js';

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
  const check = checkPair(pair, now);
  return check.ok && check.notAfter.getTime() - now > RENEW_WITHIN_MS;
}

/** The development serving pair: self-signed, for the names above and loopback. */
export function generateServingPair(): Promise<PemPair> {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + VALIDITY_DAYS * 24 * 3600 * 1000);
  return issueServing({ commonName: 'restore-guard.restore-guard.svc', notBefore, notAfter, dnsNames: SERVING_DNS_NAMES, ips: ['127.0.0.1', '::1'] });
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
