import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { AdmissionHandler } from '../admission/handler.js';
import { CachedAuthorizer } from '../kube/authorization-cache.js';
import { KubeCheckpointSource } from '../kube/checkpoint-source.js';
import { loadKubeConfig, UnavailableApi } from '../kube/kubeconfig.js';
import { KubeRuntimeClassSource } from '../kube/runtime-class-source.js';
import { SubjectAccessReviewAuthorizer } from '../kube/sar-authorizer.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { parsePolicy } from '../policy/parse.js';
import { defaultPolicy, type Policy } from '../policy/policy.js';
import { RestoreReviewer, type ReviewerPorts } from '../restore/reviewer.js';
import { ensureDevCertificate, type PemPair } from '../server/dev-certificate.js';
import { createOpsServer, type ReadinessCheck } from '../server/ops-server.js';
import { createWebhookServer } from '../server/webhook-server.js';
import type { ServeOptions } from './options.js';

export interface RunningWebhook {
  webhookPort: number;
  metricsPort: number;
  close(): Promise<void>;
}

async function loadPolicy(file: string | undefined): Promise<Policy> {
  if (!file) return defaultPolicy();
  const result = parsePolicy(await readFile(file, 'utf8'));
  if (!result.ok) throw new Error(`invalid policy in ${file}: ${result.errors.join('; ')}`);
  return result.policy;
}

async function loadTls(options: ServeOptions, logger: Logger): Promise<PemPair> {
  if (options.tlsCertFile && options.tlsPrivateKeyFile) {
    return { cert: await readFile(options.tlsCertFile, 'utf8'), key: await readFile(options.tlsPrivateKeyFile, 'utf8') };
  }
  const dev = await ensureDevCertificate(options.devCertDir);
  logger.warn(
    { certFile: dev.certFile, keyFile: dev.keyFile, created: dev.created },
    'no --tls-cert-file given: serving with a self-signed development certificate',
  );
  return dev;
}

/** Wires the adapters to the API server, or to an "unreachable" stand-in when there is no config. */
function connectApi(options: ServeOptions, policy: Policy, logger: Logger, metrics: ReturnType<typeof createMetrics>) {
  const loaded = loadKubeConfig(options.kubeconfig);
  if (!loaded.kubeConfig) {
    logger.warn({ reason: loaded.reason }, 'no Kubernetes API configured: every restore will be denied');
    const unavailable = new UnavailableApi(loaded.reason);
    return { ports: { authorizer: unavailable, checkpoints: unavailable, runtimeClasses: unavailable }, readiness: [], stop: () => {} };
  }
  logger.info({ source: loaded.source }, 'using Kubernetes API');
  const { kubeConfig } = loaded;
  const { group, version, resource } = policy.checkpointAPI;
  const checkpoints = new KubeCheckpointSource({ kubeConfig, group, version, resource, metrics, logger });
  const runtimeClasses = new KubeRuntimeClassSource({ kubeConfig, metrics, logger });
  const sar = new SubjectAccessReviewAuthorizer({ kubeConfig, metrics, logger });
  const authorizer = new CachedAuthorizer(sar, {
    ...policy.authorizationCache,
    metrics,
  });
  checkpoints.start();
  runtimeClasses.start();
  const readiness: ReadinessCheck[] = [
    { name: `${resource}.${group} watch`, ready: () => checkpoints.hasSynced() },
    { name: 'runtimeclasses.node.k8s.io watch', ready: () => runtimeClasses.hasSynced() },
  ];
  return {
    ports: { authorizer, checkpoints, runtimeClasses },
    readiness,
    stop: () => {
      checkpoints.stop();
      runtimeClasses.stop();
      sar.close();
    },
  };
}

/** Starts the webhook and its operations port; resolves once both listen. */
export async function startWebhook(options: ServeOptions, logger: Logger = createLogger(options.logLevel)): Promise<RunningWebhook> {
  const metrics = createMetrics();
  const policy = await loadPolicy(options.policyFile);
  metrics.policyGeneration.set(1);
  const tls = await loadTls(options, logger);
  const api = connectApi(options, policy, logger, metrics);
  const ports: ReviewerPorts = { ...api.ports, policy: () => policy };
  const handler = new AdmissionHandler({ decider: new RestoreReviewer(ports), logger, metrics });
  const webhook = createWebhookServer({ tls, handler, logger });
  const ops = createOpsServer({ registry: metrics.registry, readiness: api.readiness });

  await webhook.listen({ port: options.port, host: options.bindAddress });
  await new Promise<void>((resolve, reject) => {
    ops.once('error', reject);
    ops.listen(options.metricsPort, options.bindAddress, () => resolve());
  });
  const webhookPort = (webhook.server.address() as AddressInfo).port;
  const metricsPort = (ops.address() as AddressInfo).port;
  logger.info({ webhookPort, metricsPort }, 'restore-guard is serving');
  return {
    webhookPort,
    metricsPort,
    close: async () => {
      api.stop();
      ops.closeAllConnections();
      await Promise.all([webhook.close(), new Promise<void>((resolve) => ops.close(() => resolve()))]);
    },
  };
}

/** `restore-guard serve`: runs until SIGTERM or SIGINT, then drains and exits. */
export async function serve(options: ServeOptions): Promise<void> {
  const logger = createLogger(options.logLevel);
  const running = await startWebhook(options, logger);
  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal, delayMs: options.shutdownDelayMs }, 'shutting down');
    setTimeout(() => {
      running.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'error while shutting down');
          process.exit(1);
        },
      );
    }, options.shutdownDelayMs);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
