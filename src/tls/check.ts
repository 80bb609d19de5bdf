import { createPrivateKey, X509Certificate } from 'node:crypto';

/**
 * Checks of certificates and keys, the one place that parses them: the serving pair the webhook is started
 * with or reloads, the client CA file, the development certificate and the CA that `npm run certs` reuses.
 */

/** A certificate and its private key, PEM. */
export interface PemPair {
  cert: string;
  key: string;
}

/** What the webhook serves with: the PEM pair and, with --client-ca-file, the CAs that sign client certificates. */
export interface TlsMaterial extends PemPair {
  clientCa?: string;
}

export type PairCheck = { ok: true; notAfter: Date; notBefore: Date; fingerprint: string } | { ok: false; reason: string };

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificate blocks of a text, in order (keys and other blocks left out, nothing parsed). */
export function certificateBlocks(pem: string): string[] {
  return pem.match(PEM_CERTIFICATE) ?? [];
}

/** The certificates in a PEM text, in order; blocks that do not parse are skipped. */
export function parseCertificates(pem: string): X509Certificate[] {
  const certificates: X509Certificate[] = [];
  for (const block of certificateBlocks(pem)) {
    try {
      certificates.push(new X509Certificate(block));
    } catch {
      // not a certificate we can use: leave it out
    }
  }
  return certificates;
}

/** The pair's certificate, when it parses and the key is its own; otherwise why not. */
export function matchPair(pair: PemPair): { ok: true; cert: X509Certificate } | { ok: false; reason: string } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.cert);
  } catch (error) {
    return { ok: false, reason: `the certificate does not parse: ${(error as Error).message}` };
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(pair.key))) return { ok: false, reason: 'the private key does not match the certificate' };
  } catch (error) {
    return { ok: false, reason: `the private key does not parse: ${(error as Error).message}` };
  }
  return { ok: true, cert };
}

/** Whether the pair can be served at `now`: the certificate parses, the key is its own, and it is within its validity. */
export function checkPair(pair: PemPair, now: number = Date.now()): PairCheck {
  const match = matchPair(pair);
  if (!match.ok) return match;
  const notBefore = new Date(match.cert.validFrom);
  const notAfter = new Date(match.cert.validTo);
  if (now >= notAfter.getTime()) return { ok: false, reason: `the certificate expired at ${notAfter.toISOString()}` };
  if (now < notBefore.getTime()) return { ok: false, reason: `the certificate is not valid before ${notBefore.toISOString()}` };
  return { ok: true, notAfter, notBefore, fingerprint: match.cert.fingerprint256 };
}

/** Why the text of a client CA file cannot be used (no PEM certificate in it, or one that does not parse), or undefined. */
export function clientCaProblem(pem: string): string | undefined {
  const blocks = certificateBlocks(pem);
  if (blocks.length === 0) return 'the client CA file holds no PEM certificate';
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      return `a client CA certificate does not parse: ${(error as Error).message}`;
    }
  }
  return undefined;
}

/** Whether `material` can be served at `now`: the pair passes checkPair and the client CA file (if any) holds usable certificates. */
export function checkTlsMaterial(material: TlsMaterial, now: number = Date.now()): PairCheck {
  const check = checkPair(material, now);
  if (!check.ok || material.clientCa === undefined) return check;
  const problem = clientCaProblem(material.clientCa);
  return problem ? { ok: false, reason: problem } : check;
}

/** When the certificate of a PEM text ends, or undefined when it does not parse. */
export function certificateNotAfter(pem: string): Date | undefined {
  try {
    return new Date(new X509Certificate(pem).validTo);
  } catch {
    return undefined;
  }
}
