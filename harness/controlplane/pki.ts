// Fresh certificates and keys for one control plane: a CA, kube-apiserver's serving pair, serving pairs for
// restore-guard (and the e2e review relay), client certificates (kube-apiserver's for calling webhooks, and
// others'), and the ServiceAccount token signing key pair.
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface PemPair {
  cert: string;
  key: string;
}

export interface Pki {
  ca: PemPair;
  caFile: string;
  /** Signs a serving pair for the given DNS names and IPs with the CA. */
  serving(commonName: string, dnsNames: string[], ips: string[]): Promise<PemPair>;
  /** Signs a client certificate (clientAuth only) with that subject CN. */
  client(commonName: string): Promise<PemPair>;
  /** Writes a pair as <dir>/<name>.crt and .key; returns their paths. */
  write(pair: PemPair, name: string): Promise<{ certFile: string; keyFile: string }>;
}

const DAY = 24 * 3600 * 1000;

export async function createPki(dir: string): Promise<Pki> {
  const notBeforeDate = new Date(Date.now() - 3600_000);
  const notAfterDate = new Date(Date.now() + 7 * DAY);
  const caResult = await generate([{ name: 'commonName', value: 'restore-guard-e2e-ca' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const ca: PemPair = { cert: caResult.cert, key: caResult.private };
  const caFile = join(dir, 'ca.crt');
  await writeFile(caFile, ca.cert);

  const serving = async (commonName: string, dnsNames: string[], ips: string[]): Promise<PemPair> => {
    const result = await generate([{ name: 'commonName', value: commonName }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate,
      ca,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
        {
          name: 'subjectAltName',
          altNames: [...dnsNames.map((value) => ({ type: 2 as const, value })), ...ips.map((ip) => ({ type: 7 as const, ip }))],
        },
      ],
    });
    return { cert: result.cert, key: result.private };
  };

  const client = async (commonName: string): Promise<PemPair> => {
    const result = await generate([{ name: 'commonName', value: commonName }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate,
      ca,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', clientAuth: true },
      ],
    });
    return { cert: result.cert, key: result.private };
  };

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
