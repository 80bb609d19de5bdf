import type { PemPair } from '../../src/tls/check.js';
import { issueCa, issueClient } from '../../src/tls/issue.js';

export type Pair = PemPair;

/** A CA that signs client certificates, and a way to issue them with any subject CN and DNS subjectAltNames. */
export interface ClientAuthority {
  ca: string;
  issue(commonName: string, dnsNames?: string[]): Promise<Pair>;
}

export async function clientAuthority(name: string): Promise<ClientAuthority> {
  const ca = await issueCa({ commonName: name });
  return { ca: ca.cert, issue: (commonName, dnsNames = []) => issueClient({ commonName, dnsNames, issuer: ca }) };
}

/** A client CA and a certificate it signed for "kube-apiserver", for mTLS tests. */
export async function makeClientCa(name: string): Promise<{ ca: string; client: Pair }> {
  const authority = await clientAuthority(name);
  return { ca: authority.ca, client: await authority.issue('kube-apiserver') };
}
