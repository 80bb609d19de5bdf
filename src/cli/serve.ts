import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { AdmissionHandler } from '../admission/handler.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { PolicyFileSource } from '../policy/file-source.js';
import { PolicyStore } from '../policy/store.js';
import type { RestorePorts } from '../restore/facts.js';
import { restoreDeciders } from '../restore/webhooks.js';
import { ensureDevCertificate } from '../server/dev-certificate.js';
import { createOpsServer } from '../server/ops-server.js';
import { createWebhookServer, secureContextOptions } from '../server/webhook-server.js';
import { CertificateReloader, readTlsMaterial, type TlsFiles } from '../server/certificate-reloader.js';
import { clientCaProblem, type TlsMaterial } from '../tls/check.js';
import { connectApi } from './api-wiring.js';
import type { ServeOptions } from './options.js';
import { StartupError } from './startup-error.js';

export interface RunningWebhook {
  webhookPort: number;
  metricsPort: number;
  close(): Promise<void>;
  /** Reports not ready, keeps serving for `delayMs`, then stops accepting and lets calls in flight finish. */
  shutdown(delayMs: number): Promise<void>;
}

/**
 * Past this, a drain that has not finished is cut short. The manifests leave 20 s of the grace period
 * after the preStop sleep: 5 s of shutdown delay plus this ends well before the kubelet's SIGKILL.
 */
const DRAIN_LIMIT_MS = 10_000;

/**
 * --client-ca-file must hold a usable CA: an empty, unreadable or certificate-less file would otherwise
 * leave the webhook serving without mTLS, which the admin asked for. Startup fails instead.
 */
async function checkClientCaFile(file: string): Promise<void> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw new StartupError(`--client-ca-file ${file} cannot be read (${(error as Error).message}); not starting without the mTLS that was asked for`);
  }
  const problem = clientCaProblem(pem);
  if (problem) throw new StartupError(`--client-ca-file ${file} is not usable: ${problem}; not starting without the mTLS that was asked for`);
}

/** The serving pair (and client CAs) and the files they come from, which the reloader follows. */
async function loadTls(options: ServeOptions, logger: Logger): Promise<TlsMaterial & { files: TlsFiles }> {
  const clientCa = options.clientCaFile ? { clientCaFile: options.clientCaFile } : {};
  if (options.tlsCertFile && options.tlsPrivateKeyFile) {
    const files: TlsFiles = { certFile: options.tlsCertFile, keyFile: options.tlsPrivateKeyFile, ...clientCa };
    return { ...(await readTlsMaterial(files)), files };
  }
  const dev = await ensureDevCertificate(options.devCertDir);
  logger.warn(
    { certFile: dev.certFile, keyFile: dev.keyFile, created: dev.created },
    'no --tls-cert-file given: serving with a self-signed development certificate',
  );
  const files: TlsFiles = { certFile: dev.certFile, keyFile: dev.keyFile, ...clientCa };
  return { ...(await readTlsMaterial(files)), files };
}

/** Starts the webhook and its operations port; resolves once both listen. */
export async function startWebhook(options: ServeOptions, logger: Logger = createLogger(options.logLevel)): Promise<RunningWebhook> {
  // First, before anything starts that would keep the process alive.
  if (options.clientCaFile) await checkClientCaFile(options.clientCaFile);
  const metrics = createMetrics();
  const store = new PolicyStore({ logger, metrics });
  if (options.policyConfigMap) store.expect('configmap', `ConfigMap ${options.policyConfigMap.namespace}/${options.policyConfigMap.name}`);
  if (options.policyFile) store.expect('file', `--policy-file ${options.policyFile}`);
  const policyFile = options.policyFile ? new PolicyFileSource(options.policyFile, store, logger) : undefined;
  await policyFile?.start();
  // A file is read before serving: one that does not validate is a start-up error, not silent defaults.
  const unloaded = policyFile && store.unavailable();
  if (unloaded) {
    policyFile?.stop();
    throw new StartupError(unloaded);
  }
  const tls = await loadTls(options, logger);
  const api = await connectApi(options, store, logger, metrics);
  const ports: RestorePorts = { ...api.ports, policy: () => store.current(), policyUnavailable: () => store.unavailable() };
  const handler = new AdmissionHandler({
    deciders: restoreDeciders(ports),
    logger,
    metrics,
    auditContext: () => ({ 'policy-generation': String(store.generation) }),
  });
  if (options.clientCaFile && !options.clientAllowedNames) {
    logger.warn({ clientCaFile: options.clientCaFile }, 'mTLS without --client-allowed-names: any client certificate the client CA signed gets answers');
  }
  const webhook = createWebhookServer({
    tls,
    ...(options.clientCaFile ? { clientCa: tls.clientCa ?? '' } : {}),
    ...(options.clientAllowedNames ? { clientIdentity: { allowedNames: options.clientAllowedNames, metrics } } : {}),
    handler,
    logger,
    limits: {
      ...(options.maxConnections ? { maxConnections: options.maxConnections } : {}),
      ...(options.maxInflightBodyBytes ? { maxInflightBodyBytes: options.maxInflightBodyBytes } : {}),
    },
    metrics,
  });
  const certificates = new CertificateReloader({
    files: tls.files,
    initial: tls,
    target: webhook.server,
    contextOptions: (material) => secureContextOptions(material, material.clientCa),
    logger,
    metrics,
  });
  certificates.start();
  let draining = false;
  // Not ready while draining, so endpoints drop the pod while it still answers the calls in flight.
  const readiness = [
    { name: 'the configured policy', ready: () => store.unavailable() === undefined },
    ...api.readiness,
    { name: 'shutdown (draining)', ready: () => !draining },
  ];
  const ops = createOpsServer({ registry: metrics.registry, readiness });

  await webhook.listen({ port: options.port, host: options.bindAddress });
  await new Promise<void>((resolve, reject) => {
    ops.once('error', reject);
    ops.listen(options.metricsPort, options.bindAddress, () => resolve());
  });
  const webhookPort = (webhook.server.address() as AddressInfo).port;
  const metricsPort = (ops.address() as AddressInfo).port;
  logger.info({ webhookPort, metricsPort }, 'restore-guard is serving');
  const close = async () => {
    certificates.stop();
    policyFile?.stop();
    api.stop();
    ops.closeAllConnections();
    await Promise.all([webhook.close(), new Promise<void>((resolve) => ops.close(() => resolve()))]);
  };
  return {
    webhookPort,
    metricsPort,
    close,
    shutdown: async (delayMs) => {
      draining = true;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      await close();
    },
  };
}

/** `restore-guard serve`: runs until SIGTERM or SIGINT, then drains and exits. */
export async function serve(options: ServeOptions): Promise<void> {
  const logger = createLogger(options.logLevel);
  const running = await startWebhook(options, logger);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, delayMs: options.shutdownDelayMs }, 'shutting down: not ready, still serving, then draining');
    setTimeout(() => {
      logger.warn('drain did not finish in time; exiting');
      process.exit(0);
    }, options.shutdownDelayMs + DRAIN_LIMIT_MS).unref();
    running.shutdown(options.shutdownDelayMs).then(
      () => {
        logger.info('drained; exiting');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
