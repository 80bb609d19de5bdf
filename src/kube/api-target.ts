import { accessSync, constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { RefreshingTarget, type ApiTarget, type ConnectionMaterial } from './api-client.js';

export type LoadedApiTarget = { target: ApiTarget; source: string } | { target: undefined; reason: string };

/** Where loadApiTarget looks; tests replace it, the webhook uses the process's own. */
export interface ApiTargetEnvironment {
  env: Record<string, string | undefined>;
  homeDir: string | undefined;
  /** The pod's service account files (token, ca.crt). */
  serviceAccountDir: string;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

// client-go re-reads the token file every minute; bound tokens rotate well before they expire.
const REFRESH_MS = 60_000;

/**
 * Finds the API server: an explicit kubeconfig, else the in-cluster service account, else $KUBECONFIG,
 * else ~/.kube/config. Never throws: with nothing usable it returns the reason, so the webhook can still
 * start and deny restores with that reason.
 */
export async function loadApiTarget(path?: string, environment: Partial<ApiTargetEnvironment> = {}): Promise<LoadedApiTarget> {
  const env = environment.env ?? process.env;
  const homeDir = 'homeDir' in environment ? environment.homeDir : safeHomeDir();
  const serviceAccountDir = environment.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;

  if (path) return fromFiles([path], `kubeconfig ${path}`);

  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host && port && readable(join(serviceAccountDir, 'token'))) return inCluster(host, port, serviceAccountDir);

  const fromEnv = env.KUBECONFIG;
  if (fromEnv) {
    const files = fromEnv.split(delimiter).filter((file) => file.length > 0);
    const existing = files.filter(readable);
    // Like kubectl: names in $KUBECONFIG that do not exist are skipped, and ~/.kube/config is not tried.
    if (existing.length === 0) {
      return { target: undefined, reason: `none of the files in $KUBECONFIG (${fromEnv}) can be read` };
    }
    return fromFiles(existing, `$KUBECONFIG (${existing.join(delimiter)})`);
  }

  if (homeDir) {
    const file = join(homeDir, '.kube', 'config');
    if (readable(file)) return fromFiles([file], `kubeconfig ${file}`);
  }

  return {
    target: undefined,
    reason: 'no Kubernetes API configuration: no --kubeconfig, not running in a cluster, no $KUBECONFIG and no ~/.kube/config',
  };
}

/** The pod's own service account, read directly: the production path loads no kubeconfig library. */
async function inCluster(host: string, port: string, dir: string): Promise<LoadedApiTarget> {
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const tokenFile = join(dir, 'token');
  const caFile = join(dir, 'ca.crt');
  const load = async (): Promise<ConnectionMaterial> => {
    const [token, ca] = await Promise.all([readFile(tokenFile, 'utf8'), readFile(caFile)]);
    return { ca, headers: { authorization: `Bearer ${token.trim()}` } };
  };
  try {
    return { target: await checkedTarget(new URL(server), load), source: `in-cluster service account (${server})` };
  } catch (err) {
    return { target: undefined, reason: `cannot use the in-cluster service account: ${messageOf(err)}` };
  }
}

/**
 * Kubeconfig files are read by @kubernetes/client-node, loaded only here: it knows every way a
 * kubeconfig authenticates (exec plugins, OIDC, cloud providers), and out-of-cluster runs are rare.
 */
async function fromFiles(files: string[], source: string): Promise<LoadedApiTarget> {
  try {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const [first, ...rest] = files;
    const kubeConfig = new KubeConfig();
    if (first === undefined) return { target: undefined, reason: `${source}: no file` };
    kubeConfig.loadFromFile(first);
    for (const file of rest) {
      const more = new KubeConfig();
      more.loadFromFile(file);
      // The first file's current-context wins, as with kubectl.
      kubeConfig.mergeConfig(more, true);
    }
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) {
      return { target: undefined, reason: `${source} has no cluster for its current context "${kubeConfig.getCurrentContext()}"` };
    }
    const server = new URL(cluster.server);
    // As client-node: credentials never travel in clear text unless TLS is explicitly waived.
    if (server.protocol === 'http:' && !cluster.skipTLSVerify) {
      return { target: undefined, reason: `${source}: plain http (${cluster.server}) needs insecure-skip-tls-verify` };
    }
    const load = async (): Promise<ConnectionMaterial> => {
      const options: HttpsRequestOptions = {};
      await kubeConfig.applyToHTTPSOptions(options);
      return materialOf(options);
    };
    return { target: await checkedTarget(server, load), source };
  } catch (err) {
    return { target: undefined, reason: `cannot load ${source}: ${messageOf(err)}` };
  }
}

/** A target whose material loads now: a broken one is reported at start, a good one is kept for the first call. */
async function checkedTarget(server: URL, load: () => Promise<ConnectionMaterial>): Promise<ApiTarget> {
  const target = new RefreshingTarget(server, load, REFRESH_MS);
  await target.transport();
  return target;
}

function materialOf(options: HttpsRequestOptions): ConnectionMaterial {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (typeof value === 'string') headers[name.toLowerCase()] = value;
  }
  if (options.auth) headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
  const material: ConnectionMaterial = { headers };
  if (typeof options.ca === 'string' || Buffer.isBuffer(options.ca)) material.ca = options.ca;
  if (typeof options.cert === 'string' || Buffer.isBuffer(options.cert)) material.cert = options.cert;
  if (typeof options.key === 'string' || Buffer.isBuffer(options.key)) material.key = options.key;
  if (options.rejectUnauthorized !== undefined) material.rejectUnauthorized = options.rejectUnauthorized;
  if (options.servername) material.servername = options.servername;
  return material;
}

function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function safeHomeDir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
