import { generate } from 'selfsigned';

export interface Pair {
  cert: string;
  key: string;
}

/** A CA that signs client certificates, and a way to issue them with any subject CN and DNS subjectAltNames. */
export interface ClientAuthority {
  ca: string;
  caKey: string;
  issue(commonName: string, dnsNames?: string[]): Promise<Pair>;
}

export async function clientAuthority(name: string): Promise<ClientAuthority> {
  const ca = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, digitalSignature: true, critical: true },
    ],
  });
  return {
    ca: ca.cert,
    caKey: ca.private,
    issue: (commonName, dnsNames = []) => issueClientCertificate({ cert: ca.cert, key: ca.private }, commonName, dnsNames),
  };
}

/** A client certificate (clientAuth) signed by `ca`, with that subject CN and DNS subjectAltNames. */
export async function issueClientCertificate(ca: Pair, commonName: string, dnsNames: string[] = []): Promise<Pair> {
  const client = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
      ...(dnsNames.length > 0 ? [{ name: 'subjectAltName' as const, altNames: dnsNames.map((value) => ({ type: 2 as const, value })) }] : []),
    ],
  });
  return { cert: client.cert, key: client.private };
}
