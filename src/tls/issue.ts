import type { PemPair } from './check.js';

/**
 * Issuing certificates, the one place that does: a CA, a serving pair, a client certificate, each self-signed or
 * signed by a CA. EC P-256 keys, SHA-256 signatures. Used by the development certificate, `npm run certs`, and
 * the tests' and control plane harness's PKI.
 */

const DAY_MS = 24 * 3600 * 1000;
/** Tolerate a little clock skew between the machine that issues and the one that verifies. */
const DEFAULT_BACKDATE_MS = 5 * 60 * 1000;
const DEFAULT_VALIDITY_MS = 365 * DAY_MS;

export type ExtendedKeyUsage = 'serverAuth' | 'clientAuth';

export interface CertificateRequest {
  commonName: string;
  organization?: string;
  /** The CA that signs it; without one, the certificate signs itself. */
  issuer?: PemPair;
  /** Default: five minutes ago. */
  notBefore?: Date;
  /** Default: 365 days after now. */
  notAfter?: Date;
}

export interface LeafRequest extends CertificateRequest {
  /** What the certificate is for: serving (digitalSignature and keyEncipherment), client (digitalSignature), or both. */
  extKeyUsage: ExtendedKeyUsage[];
  /** subjectAltName entries; no extension when both are empty. */
  dnsNames?: string[];
  ips?: string[];
}

type Extension = NonNullable<NonNullable<Parameters<typeof import('selfsigned').generate>[1]>['extensions']>[number];

async function issue(request: CertificateRequest, extensions: Extension[]): Promise<PemPair> {
  // Loaded on demand: it adds ~8 MiB of RSS (measured) that a webhook serving a given certificate never needs.
  const { generate } = await import('selfsigned');
  const notBeforeDate = request.notBefore ?? new Date(Date.now() - DEFAULT_BACKDATE_MS);
  const notAfterDate = request.notAfter ?? new Date(Date.now() + DEFAULT_VALIDITY_MS);
  const subject = [
    { name: 'commonName', value: request.commonName },
    ...(request.organization === undefined ? [] : [{ name: 'organizationName', value: request.organization }]),
  ];
  const result = await generate(subject, {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ...(request.issuer ? { ca: { cert: request.issuer.cert, key: request.issuer.key } } : {}),
    extensions,
  });
  // PEM texts end with a line break, so that bundles can be made by joining them.
  return { cert: withNewline(result.cert), key: withNewline(result.private) };
}

const withNewline = (pem: string) => (pem.endsWith('\n') ? pem : `${pem}\n`);

/** A CA that signs leaf certificates only (pathLen 0). */
export function issueCa(request: CertificateRequest): Promise<PemPair> {
  return issue(request, [
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
  ]);
}

/** A leaf certificate: not a CA, for the given extended key usages and subjectAltNames. */
export function issueLeaf(request: LeafRequest): Promise<PemPair> {
  const serverAuth = request.extKeyUsage.includes('serverAuth');
  const clientAuth = request.extKeyUsage.includes('clientAuth');
  const altNames = [...(request.dnsNames ?? []).map((value) => ({ type: 2 as const, value })), ...(request.ips ?? []).map((ip) => ({ type: 7 as const, ip }))];
  return issue(request, [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, ...(serverAuth ? { keyEncipherment: true } : {}), critical: true },
    { name: 'extKeyUsage', ...(serverAuth ? { serverAuth } : {}), ...(clientAuth ? { clientAuth } : {}) },
    ...(altNames.length > 0 ? [{ name: 'subjectAltName' as const, altNames }] : []),
  ]);
}

/** A serving certificate (serverAuth) for these names. */
export function issueServing(request: Omit<LeafRequest, 'extKeyUsage'>): Promise<PemPair> {
  return issueLeaf({ ...request, extKeyUsage: ['serverAuth'] });
}

/** A client certificate (clientAuth): the subject CN and any DNS subjectAltNames are the identities it presents. */
export function issueClient(request: Omit<LeafRequest, 'extKeyUsage' | 'ips'>): Promise<PemPair> {
  return issueLeaf({ ...request, extKeyUsage: ['clientAuth'] });
}
