import { parseArgs } from 'node:util';
import type { LevelWithSilent } from 'pino';
import { LOG_LEVELS } from '../observability/logger.js';
import { parseDuration } from '../common/duration.js';
import { parseAllowedNames } from '../server/client-identity.js';
import { DEFAULT_INTAKE_LIMITS, MIN_INFLIGHT_BODY_BYTES, parseByteSize } from '../server/intake-limits.js';

export interface ServeOptions {
  port: number;
  bindAddress: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  /** CAs whose client certificates may call the webhook (mTLS: the API server's client certificate). */
  clientCaFile?: string;
  /** With clientCaFile: the client certificate must name one of these (subject CN or DNS subjectAltName). */
  clientAllowedNames?: string[];
  /** Where the development certificate goes when no certificate files are given. */
  devCertDir: string;
  metricsPort: number;
  kubeconfig?: string;
  /** The in-cluster service account files (token, ca.crt), read when the pod runs in a cluster. */
  serviceAccountDir?: string;
  policyFile?: string;
  /** The policy ConfigMap (`namespace/name`), followed live through the API. */
  policyConfigMap?: { namespace: string; name: string };
  logLevel: LevelWithSilent;
  /** How long to keep serving after SIGTERM before closing listeners (endpoints need time to update). */
  shutdownDelayMs: number;
  /** Connections the webhook port holds at once (server/intake-limits.ts; the flag parser always sets it). */
  maxConnections?: number;
  /** What the requests in flight may cost together, in bytes (server/intake-limits.ts; always set by the flag parser). */
  maxInflightBodyBytes?: number;
}

export const USAGE = `restore-guard: admission webhook that decides who may restore a Pod from a PodCheckpoint

Usage:
  restore-guard serve [flags]
  restore-guard check -f POD.yaml [flags]   would this Pod be admitted, and why (restore-guard check --help)
  restore-guard test DIR                    run policy test files offline (restore-guard test --help)
  restore-guard --help | --version

Flags of serve:
  --port N                      HTTPS port for POST /mutate and /validate (default 8443)
  --bind-address ADDR           address to listen on (default 0.0.0.0)
  --tls-cert-file PATH          serving certificate (PEM); with --tls-private-key-file
  --tls-private-key-file PATH   serving key (PEM). Without both, a self-signed development
                                certificate is made in --dev-cert-dir and reused. Both files
                                are watched and reloaded without a restart
  --client-ca-file PATH         require a client certificate signed by one of these CAs (PEM),
                                e.g. the API server's (mTLS); reloaded like the serving pair.
                                The file must hold at least one PEM certificate
  --client-allowed-names NAMES  with --client-ca-file: a client certificate must also name one
                                of these (subject CN or DNS subjectAltName; comma-separated,
                                repeatable); any other gets its connection closed unanswered
  --dev-cert-dir DIR            where the development certificate goes (default certs/dev)
  --metrics-port N              plain HTTP for /healthz, /readyz, /metrics (default 8080)
  --kubeconfig PATH             API server access (default: in-cluster, else $KUBECONFIG,
                                else ~/.kube/config; with none, restores are denied)
  --service-account-dir DIR     in-cluster token and ca.crt, used when $KUBERNETES_SERVICE_HOST
                                is set (default /var/run/secrets/kubernetes.io/serviceaccount)
  --policy-file PATH            RestorePolicy YAML, followed live (default: built-in defaults)
  --policy-configmap NS/NAME    RestorePolicy from key policy.yaml of a ConfigMap, followed
                                live through the API (the manifests use
                                restore-guard/restore-guard-policy)
  --log-level LEVEL             ${LOG_LEVELS.join('|')} (default info)
  --shutdown-delay DURATION     keep serving this long after SIGTERM (default 0s)
  --max-connections N           connections the webhook port holds at once; more are closed as
                                they are accepted (default 512)
  --max-inflight-body-bytes SIZE
                                what the requests in flight may cost together: bodies while they
                                arrive, then their parsed JSON until answered; over it, 429 with
                                Retry-After (default 48Mi, at least 16Mi; sized for the
                                Deployment's 384Mi memory limit)
`;

export class UsageError extends Error {}

function port(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port number, got ${JSON.stringify(value)}`);
  return n;
}

export function parseServeOptions(args: string[]): ServeOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        'bind-address': { type: 'string' },
        'tls-cert-file': { type: 'string' },
        'tls-private-key-file': { type: 'string' },
        'client-ca-file': { type: 'string' },
        'client-allowed-names': { type: 'string', multiple: true },
        'dev-cert-dir': { type: 'string' },
        'metrics-port': { type: 'string' },
        kubeconfig: { type: 'string' },
        'service-account-dir': { type: 'string' },
        'policy-file': { type: 'string' },
        'policy-configmap': { type: 'string' },
        'log-level': { type: 'string' },
        'shutdown-delay': { type: 'string' },
        'max-connections': { type: 'string' },
        'max-inflight-body-bytes': { type: 'string' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const logLevel = (values['log-level'] ?? 'info') as LevelWithSilent;
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  if (Boolean(values['tls-cert-file']) !== Boolean(values['tls-private-key-file'])) {
    throw new UsageError('--tls-cert-file and --tls-private-key-file go together');
  }
  const shutdownDelayMs = parseDuration(values['shutdown-delay'] ?? '0s');
  if (shutdownDelayMs === undefined) throw new UsageError('--shutdown-delay must be a duration such as 5s');
  const maxConnections = Number(values['max-connections'] ?? DEFAULT_INTAKE_LIMITS.maxConnections);
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) throw new UsageError('--max-connections must be a whole number of at least 1');
  const maxInflightBodyBytes =
    values['max-inflight-body-bytes'] === undefined ? DEFAULT_INTAKE_LIMITS.maxInflightBodyBytes : parseByteSize(values['max-inflight-body-bytes']);
  if (maxInflightBodyBytes === undefined || maxInflightBodyBytes < MIN_INFLIGHT_BODY_BYTES) {
    throw new UsageError('--max-inflight-body-bytes must be a size such as 48Mi, at least 16Mi');
  }
  const options: ServeOptions = {
    port: port(values.port, '--port', 8443),
    bindAddress: values['bind-address'] ?? '0.0.0.0',
    devCertDir: values['dev-cert-dir'] ?? 'certs/dev',
    metricsPort: port(values['metrics-port'], '--metrics-port', 8080),
    logLevel,
    shutdownDelayMs,
    maxConnections,
    maxInflightBodyBytes,
  };
  if (values['tls-cert-file']) options.tlsCertFile = values['tls-cert-file'];
  if (values['tls-private-key-file']) options.tlsPrivateKeyFile = values['tls-private-key-file'];
  if (values['client-ca-file']) options.clientCaFile = values['client-ca-file'];
  if (values['client-allowed-names'] !== undefined) {
    if (!options.clientCaFile) throw new UsageError('--client-allowed-names needs --client-ca-file: names are only checked on certificates that CA verified');
    const names = parseAllowedNames(values['client-allowed-names']);
    if (names.length === 0) throw new UsageError('--client-allowed-names needs at least one name');
    options.clientAllowedNames = names;
  }
  if (values.kubeconfig) options.kubeconfig = values.kubeconfig;
  if (values['service-account-dir']) options.serviceAccountDir = values['service-account-dir'];
  if (values['policy-file']) options.policyFile = values['policy-file'];
  const configMap = values['policy-configmap'];
  if (configMap) {
    const [namespace = '', name = '', ...rest] = configMap.split('/');
    if (!namespace || !name || rest.length > 0) throw new UsageError('--policy-configmap must be NAMESPACE/NAME');
    if (options.policyFile) throw new UsageError('--policy-file and --policy-configmap are alternatives; give one');
    options.policyConfigMap = { namespace, name };
  }
  return options;
}
