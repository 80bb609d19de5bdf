import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { matchPair, parseCertificates } from '../tls/check.js';
import { issueCa, issueClient, issueServing } from '../tls/issue.js';

/**
 * The self-signed serving certificate for clusters without cert-manager: a private CA and a serving
 * certificate it signs, written as files that the `self-signed` kustomize overlay turns into the Secret
 * and the webhooks' caBundle. Running it again renews: a new serving certificate every time; a new CA when
 * the current one would not outlive the new serving certificate (or on request), with the previous CA kept
 * in the bundle for an overlap so that pods still serving the previous certificate stay trusted.
 *
 * The same CA also signs the API server's client certificate for mTLS (`--client-ca-file` with the bundle,
 * `--client-allowed-names` with its CN), with a kubeconfig for kube-apiserver's
 * `--admission-control-config-file` that presents it to the webhook's Service.
 */

const DAY_MS = 24 * 3600 * 1000;
/** Tolerate a little clock skew between this machine and the API server. */
const BACKDATE_MS = 5 * 60 * 1000;

export interface CertificateFiles {
  caCert: string;
  caKey: string;
  tlsCert: string;
  tlsKey: string;
  /** Every CA the API server must trust, current first (PEM). */
  caBundle: string;
  /** base64 of caBundle, the value of webhooks[].clientConfig.caBundle. */
  caBundleBase64: string;
  /** The API server's client certificate for calling the webhook (mTLS), signed by the CA, and its key. */
  clientCert: string;
  clientKey: string;
  /** A kubeconfig for the API server's WebhookAdmissionConfiguration: that pair, for the webhook's Service. */
  clientKubeconfig: string;
  /** An AdmissionConfiguration for --admission-control-config-file, pointing at the kubeconfig (see its comment). */
  admissionConfig: string;
}

export function certificateFiles(outDir: string): CertificateFiles {
  return {
    caCert: join(outDir, 'ca.crt'),
    caKey: join(outDir, 'ca.key'),
    tlsCert: join(outDir, 'tls.crt'),
    tlsKey: join(outDir, 'tls.key'),
    caBundle: join(outDir, 'ca-bundle.crt'),
    caBundleBase64: join(outDir, 'ca-bundle.b64'),
    clientCert: join(outDir, 'apiserver-client.crt'),
    clientKey: join(outDir, 'apiserver-client.key'),
    clientKubeconfig: join(outDir, 'apiserver-admission-kubeconfig.yaml'),
    admissionConfig: join(outDir, 'apiserver-admission-config.yaml'),
  };
}

export interface RenewOptions {
  outDir: string;
  service?: string;
  namespace?: string;
  /** Make a new CA even if the current one is still good (a suspected key leak, a test). */
  rotateCa?: boolean;
  leafValidityDays?: number;
  caValidityDays?: number;
  /** How long a replaced CA stays in the bundle after its successor was made. */
  overlapDays?: number;
  /** A new CA is made when the current one has less than leafValidityDays + this left. */
  caRenewMarginDays?: number;
  /** The subject CN of the API server's client certificate: what --client-allowed-names must list. */
  clientName?: string;
  /** Where the kubeconfig will be on the control plane hosts (the AdmissionConfiguration names it; absolute). */
  clientKubeconfigPath?: string;
  now?: Date;
}

export const DEFAULTS = {
  service: 'restore-guard',
  namespace: 'restore-guard',
  leafValidityDays: 365,
  caValidityDays: 3650,
  overlapDays: 30,
  caRenewMarginDays: 30,
  clientName: 'kube-apiserver-admission-client',
  clientKubeconfigPath: '/etc/kubernetes/restore-guard/apiserver-admission-kubeconfig.yaml',
} as const;

export interface IssuedCertificate {
  subject: string;
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
}

export interface RenewResult {
  files: CertificateFiles;
  dnsNames: string[];
  ca: IssuedCertificate & { created: boolean; reason: string };
  serving: IssuedCertificate & { issuer: string };
  /** The API server's client certificate (subject CN `clientName`). */
  client: IssuedCertificate & { commonName: string };
  /** The kubeconfig user names it is presented for: the webhook's Service, as kube-apiserver looks it up. */
  clientUsers: string[];
  /** The CAs in the bundle, current first. */
  bundle: IssuedCertificate[];
  /** CAs that were in the previous bundle and are not any more (expired, or their overlap ended). */
  dropped: IssuedCertificate[];
}

/** The names kube-apiserver dials (`<service>.<namespace>.svc`) and its long form. */
export function servingDnsNames(service: string = DEFAULTS.service, namespace: string = DEFAULTS.namespace): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

function describe(cert: X509Certificate): IssuedCertificate {
  return { subject: cert.subject, fingerprint256: cert.fingerprint256, notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) };
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Writes next to the target and renames, so a reader (kustomize, a watcher) never sees half a file. */
async function writeAtomic(file: string, content: string, mode: number): Promise<void> {
  const temporary = `${file}.tmp-${process.pid}`;
  await writeFile(temporary, content.startsWith('-----') && !content.endsWith('\n') ? `${content}\n` : content, { mode });
  await chmod(temporary, mode);
  await rename(temporary, file);
}

interface KeyedCertificate {
  cert: X509Certificate;
  pem: string;
  key: string;
}

async function loadCa(files: CertificateFiles): Promise<KeyedCertificate | undefined> {
  const [pem, key] = await Promise.all([readOptional(files.caCert), readOptional(files.caKey)]);
  if (pem === undefined || key === undefined) return undefined;
  const match = matchPair({ cert: pem, key });
  return match.ok && match.cert.ca ? { cert: match.cert, pem, key } : undefined;
}

function keyed(pair: { cert: string; key: string }): KeyedCertificate {
  return { cert: new X509Certificate(pair.cert), pem: pair.cert, key: pair.key };
}

async function createCa(now: number, validityDays: number): Promise<KeyedCertificate> {
  // A distinct subject per CA: verifiers that pick an issuer by name never confuse the old CA with the new.
  const pair = await issueCa({
    commonName: `restore-guard CA ${new Date(now).toISOString()}`,
    organization: 'restore-guard',
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + validityDays * DAY_MS),
  });
  return keyed(pair);
}

/** A leaf's validity: from a little before now for `validityDays`, but never past its CA's. */
function leafValidity(ca: KeyedCertificate, now: number, validityDays: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(Math.min(now + validityDays * DAY_MS, Date.parse(ca.cert.validTo))) };
}

async function issueServingFor(ca: KeyedCertificate, dnsNames: string[], now: number, validityDays: number): Promise<KeyedCertificate> {
  const [commonName = 'restore-guard'] = dnsNames;
  return keyed(await issueServing({ commonName, dnsNames, issuer: { cert: ca.pem, key: ca.key }, ...leafValidity(ca, now, validityDays) }));
}

async function issueClientFor(ca: KeyedCertificate, commonName: string, now: number, validityDays: number): Promise<KeyedCertificate> {
  return keyed(await issueClient({ commonName, issuer: { cert: ca.pem, key: ca.key }, ...leafValidity(ca, now, validityDays) }));
}

/**
 * kube-apiserver picks the credentials for a webhook by the Service's `<name>.<namespace>.svc:<port>` (also
 * without `:443`), so the user is named that way; the data is embedded, so the file stands alone.
 */
export function admissionKubeconfigYaml(users: string[], client: { cert: string; key: string }): string {
  const b64 = (text: string) => Buffer.from(text.endsWith('\n') ? text : `${text}\n`).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    users: users.map((name) => ({ name, user: { 'client-certificate-data': b64(client.cert), 'client-key-data': b64(client.key) } })),
  });
}

/** kube-apiserver's --admission-control-config-file: both webhook admission plugins use the kubeconfig. */
export function admissionConfigurationYaml(kubeconfigPath: string): string {
  const configuration = () => ({ apiVersion: 'apiserver.config.k8s.io/v1', kind: 'WebhookAdmissionConfiguration', kubeConfigFile: kubeconfigPath });
  return (
    `# kube-apiserver --admission-control-config-file: present the client certificate in\n` +
    `# ${kubeconfigPath} (copy apiserver-admission-kubeconfig.yaml there) when calling webhooks.\n` +
    stringify({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AdmissionConfiguration',
      plugins: [
        { name: 'ValidatingAdmissionWebhook', configuration: configuration() },
        { name: 'MutatingAdmissionWebhook', configuration: configuration() },
      ],
    })
  );
}

/**
 * Which earlier CAs stay trusted: those not expired whose successor (the next CA made after them) is
 * younger than the overlap. The CA in use is always first.
 */
function chooseBundle(current: X509Certificate, earlier: X509Certificate[], now: number, overlapMs: number) {
  const unique = new Map<string, X509Certificate>();
  for (const cert of [current, ...earlier]) if (cert.ca && !unique.has(cert.fingerprint256)) unique.set(cert.fingerprint256, cert);
  const byAge = [...unique.values()].sort((a, b) => Date.parse(a.validFrom) - Date.parse(b.validFrom));
  const kept: X509Certificate[] = [current];
  const dropped: X509Certificate[] = [];
  for (const [index, cert] of byAge.entries()) {
    if (cert.fingerprint256 === current.fingerprint256) continue;
    const successor = byAge[index + 1];
    const supersededAt = successor ? Date.parse(successor.validFrom) + BACKDATE_MS : now;
    const keep = Date.parse(cert.validTo) > now && now < supersededAt + overlapMs;
    (keep ? kept : dropped).push(cert);
  }
  const [first, ...rest] = kept;
  return { bundle: [first as X509Certificate, ...rest.sort((a, b) => Date.parse(b.validFrom) - Date.parse(a.validFrom))], dropped };
}

/** Creates or renews the CA, the serving pair and the caBundle in `options.outDir`. */
export async function renewCertificates(options: RenewOptions): Promise<RenewResult> {
  const settings = { ...DEFAULTS, ...options };
  const now = (options.now ?? new Date()).getTime();
  const files = certificateFiles(options.outDir);
  const dnsNames = servingDnsNames(settings.service, settings.namespace);
  await mkdir(options.outDir, { recursive: true });

  const previousBundle = parseCertificates((await readOptional(files.caBundle)) ?? '');
  const previousCa = await loadCa(files);
  const needsToLast = (settings.leafValidityDays + settings.caRenewMarginDays) * DAY_MS;
  let reason: string;
  if (!previousCa) reason = 'no usable CA in the output directory';
  else if (options.rotateCa) reason = 'rotation requested';
  else if (Date.parse(previousCa.cert.validTo) - now < needsToLast) reason = `the CA expires ${previousCa.cert.validTo}, too soon for a new serving certificate`;
  else if (Date.parse(previousCa.cert.validFrom) > now) reason = 'the CA is not valid yet';
  else reason = '';
  const ca = reason ? await createCa(now, settings.caValidityDays) : (previousCa as KeyedCertificate);
  if (!reason) reason = 'the CA is valid long enough';

  const serving = await issueServingFor(ca, dnsNames, now, settings.leafValidityDays);
  const client = await issueClientFor(ca, settings.clientName, now, settings.leafValidityDays);
  const clientUsers = [`${settings.service}.${settings.namespace}.svc:443`];
  const earlier = previousCa ? [previousCa.cert, ...previousBundle] : previousBundle;
  const { bundle, dropped } = chooseBundle(ca.cert, earlier, now, settings.overlapDays * DAY_MS);
  const bundlePem = bundle.map((cert) => cert.toString().trim()).join('\n') + '\n';

  // The CA key first and the bundle before the serving pair: an interrupted run leaves a bundle that
  // already trusts whatever serving certificate is written next.
  await writeAtomic(files.caKey, ca.key, 0o600);
  await writeAtomic(files.caCert, ca.pem, 0o644);
  await writeAtomic(files.caBundle, bundlePem, 0o644);
  await writeAtomic(files.caBundleBase64, Buffer.from(bundlePem).toString('base64'), 0o644);
  await writeAtomic(files.tlsKey, serving.key, 0o600);
  await writeAtomic(files.tlsCert, serving.pem, 0o644);
  await writeAtomic(files.clientKey, client.key, 0o600);
  await writeAtomic(files.clientCert, client.pem, 0o644);
  await writeAtomic(files.clientKubeconfig, admissionKubeconfigYaml(clientUsers, { cert: client.pem, key: client.key }), 0o600);
  await writeAtomic(files.admissionConfig, admissionConfigurationYaml(settings.clientKubeconfigPath), 0o644);

  return {
    files,
    dnsNames,
    ca: { ...describe(ca.cert), created: ca !== previousCa, reason },
    serving: { ...describe(serving.cert), issuer: serving.cert.issuer },
    client: { ...describe(client.cert), commonName: settings.clientName },
    clientUsers,
    bundle: bundle.map(describe),
    dropped: dropped.map(describe),
  };
}
