import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { AuthorizationAnswer, PodCheckpoint, RestoreAccess, RuntimeClassInfo, UserInfo } from '../restore/model.js';
import {
  DependencyError,
  type Authorizer,
  type CheckpointSource,
  type Deadline,
  type NamespaceSource,
  type RuntimeClassSource,
} from '../restore/ports.js';

export type LoadedKubeConfig =
  | { kubeConfig: KubeConfig; source: string }
  | { kubeConfig: undefined; reason: string };

/** Where loadKubeConfig looks; tests replace it, the webhook uses the process's own. */
export interface KubeConfigEnvironment {
  env: Record<string, string | undefined>;
  homeDir: string | undefined;
  /** Prepended to /var/run/secrets/kubernetes.io/serviceaccount (client-node's pathPrefix). */
  rootPrefix: string;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Finds the API server configuration: an explicit file, else the in-cluster service account, else
 * $KUBECONFIG, else ~/.kube/config. Never throws: with nothing usable it returns the reason, so the
 * webhook can still start and deny restores with that reason.
 */
export function loadKubeConfig(path?: string, environment: Partial<KubeConfigEnvironment> = {}): LoadedKubeConfig {
  const env = environment.env ?? process.env;
  const homeDir = 'homeDir' in environment ? environment.homeDir : safeHomeDir();
  const rootPrefix = environment.rootPrefix ?? '';

  if (path) return fromFiles([path], `kubeconfig ${path}`);

  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const tokenFile = `${rootPrefix}${SERVICE_ACCOUNT_DIR}/token`;
  if (host && port && readable(tokenFile)) {
    // client-node reads the host and port from process.env only.
    return withEnv({ KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port }, () => {
      try {
        const kubeConfig = new KubeConfig();
        kubeConfig.loadFromCluster(rootPrefix);
        return checked(kubeConfig, `in-cluster service account (https://${host}:${port})`);
      } catch (err) {
        return { kubeConfig: undefined, reason: `cannot use the in-cluster service account: ${messageOf(err)}` };
      }
    });
  }

  const fromEnv = env.KUBECONFIG;
  if (fromEnv) {
    const files = fromEnv.split(delimiter).filter((file) => file.length > 0);
    const existing = files.filter(readable);
    // Like kubectl: names in $KUBECONFIG that do not exist are skipped, and ~/.kube/config is not tried.
    if (existing.length === 0) {
      return { kubeConfig: undefined, reason: `none of the files in $KUBECONFIG (${fromEnv}) can be read` };
    }
    return fromFiles(existing, `$KUBECONFIG (${existing.join(delimiter)})`);
  }

  if (homeDir) {
    const file = join(homeDir, '.kube', 'config');
    if (readable(file)) return fromFiles([file], `kubeconfig ${file}`);
  }

  return {
    kubeConfig: undefined,
    reason:
      'no Kubernetes API configuration: no --kubeconfig, not running in a cluster, no $KUBECONFIG and no ~/.kube/config',
  };
}

function fromFiles(files: string[], source: string): LoadedKubeConfig {
  try {
    const [first, ...rest] = files;
    const kubeConfig = new KubeConfig();
    if (first === undefined) return { kubeConfig: undefined, reason: `${source}: no file` };
    kubeConfig.loadFromFile(first);
    for (const file of rest) {
      const more = new KubeConfig();
      more.loadFromFile(file);
      // The first file's current-context wins, as with kubectl.
      kubeConfig.mergeConfig(more, true);
    }
    return checked(kubeConfig, source);
  } catch (err) {
    return { kubeConfig: undefined, reason: `cannot load ${source}: ${messageOf(err)}` };
  }
}

function checked(kubeConfig: KubeConfig, source: string): LoadedKubeConfig {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) {
    return {
      kubeConfig: undefined,
      reason: `${source} has no cluster for its current context "${kubeConfig.getCurrentContext()}"`,
    };
  }
  return { kubeConfig, source };
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

function withEnv<T>(values: Record<string, string>, run: () => T): T {
  const saved = Object.fromEntries(Object.keys(values).map((key) => [key, process.env[key]]));
  Object.assign(process.env, values);
  try {
    return run();
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Stands in for every Kubernetes adapter when there is no API configuration: each call fails as
 * unreachable, so restores are denied with the reason instead of the webhook refusing to start.
 */
export class UnavailableApi implements Authorizer, CheckpointSource, RuntimeClassSource, NamespaceSource {
  constructor(readonly reason: string) {}

  authorize(_user: UserInfo, _access: RestoreAccess, _deadline: Deadline): Promise<AuthorizationAnswer> {
    return Promise.reject(this.error());
  }

  get(namespace: string, name: string, deadline: Deadline): Promise<PodCheckpoint | undefined>;
  get(name: string, deadline: Deadline): Promise<RuntimeClassInfo | undefined>;
  get(): Promise<never> {
    return Promise.reject(this.error());
  }

  labels(): Promise<never> {
    return Promise.reject(this.error());
  }

  private error(): DependencyError {
    return new DependencyError('unreachable', `the Kubernetes API server could not be reached: ${this.reason}`);
  }
}
