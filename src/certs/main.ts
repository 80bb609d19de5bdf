#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { DEFAULTS, renewCertificates, type RenewOptions } from './authority.js';

const USAGE = `npm run certs [-- flags]: create or renew restore-guard's self-signed serving certificate
and the API server's client certificate for mTLS

Writes into --out (default manifests/overlays/self-signed/generated, git-ignored):
  ca.crt, ca.key             the private CA (keep ca.key: renewals reuse the CA)
  tls.crt, tls.key           the serving pair for <service>.<namespace>.svc (and .svc.cluster.local)
  ca-bundle.crt, ca-bundle.b64  every CA the API server must trust, as PEM and as the caBundle value
                             (ca-bundle.crt is also restore-guard's --client-ca-file)
  apiserver-client.crt, .key the API server's client certificate (CN --client-name), same CA
  apiserver-admission-kubeconfig.yaml  that pair for kube-apiserver's webhook calls to the Service
  apiserver-admission-config.yaml      the --admission-control-config-file that uses it
then: kubectl apply -k manifests/overlays/self-signed, and give kube-apiserver the last two files
(restore-guard answers nothing else: the overlay turns on mTLS with --client-allowed-names)

Every run issues a new serving certificate. The CA is kept while it outlives the new serving certificate
by --ca-renew-margin days; otherwise (or with --rotate-ca) a new CA is made and the previous one stays in
the bundle for --overlap days, so pods still serving the previous certificate stay trusted meanwhile.

Flags:
  --out DIR                 output directory
  --service NAME            Service name (default ${DEFAULTS.service})
  --namespace NAME          its namespace (default ${DEFAULTS.namespace})
  --days N                  serving certificate validity (default ${DEFAULTS.leafValidityDays})
  --ca-days N               CA validity (default ${DEFAULTS.caValidityDays})
  --ca-renew-margin N       days (default ${DEFAULTS.caRenewMarginDays})
  --overlap N               days a replaced CA stays trusted (default ${DEFAULTS.overlapDays})
  --rotate-ca               make a new CA now
  --client-name NAME        CN of the API server's client certificate (default ${DEFAULTS.clientName};
                            the overlay's --client-allowed-names must list it)
  --kubeconfig-path PATH    where apiserver-admission-kubeconfig.yaml goes on the control plane hosts
                            (default ${DEFAULTS.clientKubeconfigPath})
`;

function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a whole number of days, got ${JSON.stringify(value)}`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      out: { type: 'string' },
      service: { type: 'string' },
      namespace: { type: 'string' },
      days: { type: 'string' },
      'ca-days': { type: 'string' },
      'ca-renew-margin': { type: 'string' },
      overlap: { type: 'string' },
      'rotate-ca': { type: 'boolean' },
      'client-name': { type: 'string' },
      'kubeconfig-path': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const options: RenewOptions = { outDir: values.out ?? 'manifests/overlays/self-signed/generated' };
  if (values.service) options.service = values.service;
  if (values.namespace) options.namespace = values.namespace;
  if (values['rotate-ca']) options.rotateCa = true;
  if (values['client-name']) options.clientName = values['client-name'];
  if (values['kubeconfig-path']) {
    if (!values['kubeconfig-path'].startsWith('/')) throw new Error('--kubeconfig-path must be absolute (kube-apiserver requires it)');
    options.clientKubeconfigPath = values['kubeconfig-path'];
  }
  const leafValidityDays = positiveInteger(values.days, '--days');
  const caValidityDays = positiveInteger(values['ca-days'], '--ca-days');
  const caRenewMarginDays = positiveInteger(values['ca-renew-margin'], '--ca-renew-margin');
  const overlapDays = positiveInteger(values.overlap, '--overlap');
  if (leafValidityDays !== undefined) options.leafValidityDays = leafValidityDays;
  if (caValidityDays !== undefined) options.caValidityDays = caValidityDays;
  if (caRenewMarginDays !== undefined) options.caRenewMarginDays = caRenewMarginDays;
  if (overlapDays !== undefined) options.overlapDays = overlapDays;

  const result = await renewCertificates(options);
  const lines = [
    `CA: ${result.ca.created ? 'new' : 'kept'} (${result.ca.reason}), ${result.ca.subject.replace(/\n/g, ', ')}, expires ${result.ca.notAfter.toISOString()}`,
    `serving certificate for ${result.dnsNames.join(', ')}: expires ${result.serving.notAfter.toISOString()}`,
    `caBundle: ${result.bundle.length} CA(s)${result.dropped.length ? `, ${result.dropped.length} dropped (expired or overlap over)` : ''}`,
    ...result.bundle.map((ca) => `  ${ca.subject.replace(/\n/g, ', ')} (until ${ca.notAfter.toISOString()})`),
    `API server client certificate ${result.client.commonName} (mTLS): expires ${result.client.notAfter.toISOString()}`,
    `written to ${options.outDir}; next: kubectl apply -k manifests/overlays/self-signed`,
    `  and on every control plane host: apiserver-admission-kubeconfig.yaml as ${options.clientKubeconfigPath ?? DEFAULTS.clientKubeconfigPath},`,
    `  kube-apiserver --admission-control-config-file=<apiserver-admission-config.yaml> (restore-guard answers only this certificate)`,
    `renew (run this again and re-apply) before ${new Date(result.serving.notAfter.getTime() - 30 * 24 * 3600 * 1000).toISOString()}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`certs: ${(error as Error).message}\n\n${USAGE}`);
  process.exitCode = 1;
});
