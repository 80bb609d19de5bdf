// Fresh certificates and keys for one control plane: a CA, kube-apiserver's serving pair, serving pairs for
// restore-guard (and the e2e review relay), client certificates (kube-apiserver's for calling webhooks, and
// others'), and the ServiceAccount token signing key pair.
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PemPair } from '../../src/tls/check.js';
import { issueCa, issueClient, issueLeaf } from '../../src/tls/issue.js';

export interface Pki {
  ca: PemPair;
  caFile: string;
  /** Signs a serving pair for the given DNS names and IPs with the CA (serverAuth and clientAuth). */
  serving(commonName: string, dnsNames: string[], ips: string[]): Promise<PemPair>;
  /** Signs a client certificate (clientAuth only) with that subject CN. */
  client(commonName: string): Promise<PemPair>;
  /** Writes a pair as <dir>/<name>.crt and .key; returns their paths. */
  write(pair: PemPair, name: string): Promise<{ certFile: string; keyFile: string }>;
}

const DAY = 24 * 3600 * 1000;

export async function createPki(dir: string): Promise<Pki> {
  const validity = { notBefore: new Date(Date.now() - 3600_000), notAfter: new Date(Date.now() + 7 * DAY) };
  const ca = await issueCa({ commonName: 'restore-guard-e2e-ca', ...validity });
  const caFile = join(dir, 'ca.crt');
  await writeFile(caFile, ca.cert);

  const serving = (commonName: string, dnsNames: string[], ips: string[]): Promise<PemPair> =>
    issueLeaf({ commonName, dnsNames, ips, extKeyUsage: ['serverAuth', 'clientAuth'], issuer: ca, ...validity });
  const client = (commonName: string): Promise<PemPair> => issueClient({ commonName, issuer: ca, ...validity });

  const write = async (pair: PemPair, name: string) => {
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    await writeFile(certFile, pair.cert);
    await writeFile(keyFile, pair.key, { mode: 0o600 });
    return { certFile, keyFile };
  };

  return { ca, caFile, serving, client, write };
}

/** The ServiceAccount token signing key (private) and verification key (public), PEM. */
export function serviceAccountKeys(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKey, publicKey };
}
