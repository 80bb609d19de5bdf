// restore-guard as a process against the real control plane, registered through the shipped webhook
// configurations (with url and caBundle in place of the in-cluster Service), and the review relay that lets
// kube-apiserver send restoreFrom reviews for the e2e test CRD. restore-guard runs with mTLS and a pinned
// name (--client-ca-file, --client-allowed-names) and answers only kube-apiserver's webhook client certificate.
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TLSSocket } from 'node:tls';
import type { PemPair } from '../../src/tls/check.js';
import { issueClient, issueServing } from '../../src/tls/issue.js';
import { run, shippedInstall, TEST_POD_GROUP, WEBHOOK_KINDS, type ControlPlaneInfo, type Manifest } from './controlplane.js';
import { kubectl } from './kubectl.js';
import { eventually, freePort, httpsRequest } from './net.js';
import { RESTORE_GUARD_MAIN } from './paths.js';
import { Supervisor, type Managed } from './processes.js';

function clusterCa(info: ControlPlaneInfo): PemPair {
  return { cert: readFileSync(info.caFile, 'utf8'), key: readFileSync(info.caKeyFile, 'utf8') };
}

/** A serving pair signed by the control plane's CA (loopback and the in-cluster Service names). */
export function servingPair(info: ControlPlaneInfo, commonName: string): Promise<PemPair> {
  return issueServing({
    commonName,
    issuer: clusterCa(info),
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + 7 * 24 * 3600_000),
    dnsNames: ['localhost', 'restore-guard.restore-guard.svc'],
    ips: ['127.0.0.1'],
  });
}

export interface RestoreGuardOptions {
  /** Extra `serve` flags, e.g. ['--policy-configmap', 'restore-guard/restore-guard-policy'] or ['--policy-file', f]. */
  args?: string[];
  logLevel?: string;
  /**
   * How it finds the API server: as a pod does (its ServiceAccount's token and the cluster CA as mounted
   * files, KUBERNETES_SERVICE_HOST/PORT; the default, as the Deployment runs it), or from a kubeconfig.
   */
  access?: 'in-cluster' | 'kubeconfig';
  /**
   * Client identities it answers (--client-allowed-names, with the cluster CA as --client-ca-file). Default:
   * kube-apiserver's webhook client certificate only; `false`: no mTLS.
   */
  allowedClients?: string[] | false;
}

export interface RestoreGuard {
  port: number;
  metricsPort: number;
  ca: string;
  /** What kube-apiserver presents to it (its webhook client pair): for tests that call it as kube-apiserver does. */
  apiServerClient: PemPair;
  /** Every JSON log line so far (all instances, restarts included). */
  logs: Array<Record<string, unknown>>;
  running(): boolean;
  stop(): Promise<void>;
  /** Starts it again on the same ports (after stop()). */
  start(): Promise<void>;
  metrics(): Promise<string>;
  /** The sum of one counter over all its label sets (0 when it has none yet). */
  counter(name: string): Promise<number>;
  close(): Promise<void>;
}

/** Starts `restore-guard serve` with the credentials of its own ServiceAccount and waits until it is ready. */
export async function startRestoreGuard(info: ControlPlaneInfo, options: RestoreGuardOptions = {}): Promise<RestoreGuard> {
  const server = new URL(info.server);
  const access: { args: string[]; env: Record<string, string> } =
    options.access === 'kubeconfig'
      ? { args: [`--kubeconfig=${info.restoreGuardKubeconfig}`], env: {} }
      : {
          args: [`--service-account-dir=${info.restoreGuardServiceAccountDir}`],
          env: { KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port },
        };
  const dir = await mkdtemp(join(info.dir, 'restore-guard-'));
  const supervisor = new Supervisor(dir);
  const pair = await servingPair(info, 'restore-guard.restore-guard.svc');
  await writeFile(join(dir, 'tls.crt'), pair.cert);
  await writeFile(join(dir, 'tls.key'), pair.key, { mode: 0o600 });
  const allowedClients = options.allowedClients ?? [info.webhookClient.name];
  const mtls = allowedClients === false ? [] : [`--client-ca-file=${info.caFile}`, `--client-allowed-names=${allowedClients.join(',')}`];
  const [port, metricsPort] = [await freePort(), await freePort()];
  const logs: Array<Record<string, unknown>> = [];
  const logFile = createWriteStream(join(dir, 'restore-guard.log'), { flags: 'a' });
  let current: Managed | undefined;

  const start = async () => {
    const managed = supervisor.spawn(
      'restore-guard',
      process.execPath,
      [
        RESTORE_GUARD_MAIN,
        'serve',
        ...access.args,
        `--tls-cert-file=${join(dir, 'tls.crt')}`,
        `--tls-private-key-file=${join(dir, 'tls.key')}`,
        '--bind-address=127.0.0.1',
        `--port=${port}`,
        `--metrics-port=${metricsPort}`,
        `--log-level=${options.logLevel ?? 'debug'}`,
        ...mtls,
        ...(options.args ?? []),
      ],
      { output: 'pipe', env: { HOME: dir, ...access.env } },
    );
    current = managed;
    managed.child.stderr?.pipe(logFile, { end: false });
    createInterface({ input: managed.child.stdout! }).on('line', (line) => {
      logFile.write(`${line}\n`);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    });
    await eventually(
      'restore-guard to be ready (watches synced)',
      async () => {
        if (!managed.running()) throw new Error('restore-guard exited');
        const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
        return res.status === 200 ? true : undefined;
      },
      { diagnose: () => logs.slice(-20).map((l) => JSON.stringify(l)).join('\n') },
    );
  };
  const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  try {
    await start();
  } catch (error) {
    await supervisor.stopAll();
    logFile.end();
    throw error;
  }

  return {
    port,
    metricsPort,
    ca: readFileSync(info.caFile, 'utf8'),
    apiServerClient: webhookClientPair(info),
    logs,
    running: () => current?.running() ?? false,
    stop: async () => {
      if (current) await supervisor.stop(current);
    },
    start,
    metrics,
    counter: async (name) => sumCounter(await metrics(), name),
    close: async () => {
      await supervisor.stopAll();
      logFile.end();
    },
  };
}

/** A client certificate of the cluster CA for `commonName`: what any user of the cluster may hold. */
export function clusterClientCertificate(info: ControlPlaneInfo, commonName: string): Promise<PemPair> {
  return issueClient({ commonName, issuer: clusterCa(info), notBefore: new Date(Date.now() - 3600_000), notAfter: new Date(Date.now() + 24 * 3600_000) });
}

/** kube-apiserver's webhook client pair (see ControlPlaneInfo.webhookClient). */
export function webhookClientPair(info: ControlPlaneInfo): PemPair {
  return { cert: readFileSync(info.webhookClient.certFile, 'utf8'), key: readFileSync(info.webhookClient.keyFile, 'utf8') };
}

export function sumCounter(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * The shipped webhook configurations, pointed at `url` (https://127.0.0.1:PORT) with the CA as caBundle;
 * `install`: another rendering than shippedInstall()'s (e.g. with source Components).
 */
export async function shippedWebhooks(info: ControlPlaneInfo, url: string, install?: Manifest[]): Promise<Manifest[]> {
  const caBundle = Buffer.from(readFileSync(info.caFile)).toString('base64');
  const configurations = (install ?? (await shippedInstall(info))).filter((o) => WEBHOOK_KINDS.has(String(o.kind)));
  if (configurations.length !== 2) throw new Error(`manifests/base should ship 2 webhook configurations, found ${configurations.length}`);
  for (const configuration of configurations) {
    for (const webhook of (configuration.webhooks ?? []) as Array<Record<string, unknown>>) {
      const clientConfig = webhook.clientConfig as { service?: { path?: string } };
      webhook.clientConfig = { url: `${url}${clientConfig.service?.path ?? ''}`, caBundle };
    }
  }
  return configurations;
}

/**
 * Test-only twins of the shipped configurations for the e2e CRD `pods.e2e.restore-guard.dev`: the same
 * webhooks (names, matchConditions, failurePolicy, timeouts, reinvocation, namespaceSelector), with the rules'
 * API group swapped and the relay's url.
 */
export async function testPodWebhooks(info: ControlPlaneInfo, relayUrl: string): Promise<Manifest[]> {
  const configurations = await shippedWebhooks(info, relayUrl);
  for (const configuration of configurations) {
    const metadata = configuration.metadata as { name: string; labels?: Record<string, string> };
    metadata.name = `${metadata.name}-e2e-test-pods`;
    for (const webhook of (configuration.webhooks ?? []) as Array<{ rules?: Array<{ apiGroups: string[] }> }>) {
      for (const rule of webhook.rules ?? []) rule.apiGroups = [TEST_POD_GROUP];
    }
  }
  return configurations;
}

/**
 * Registers restore-guard through its real configurations (core Pods, straight to restore-guard) and the
 * test twins (e2e Pods, through the relay), then waits until kube-apiserver calls it: a dry-run restore as
 * the admin is denied by the mutating webhook (the checkpoint does not exist), and a dry-run update that adds
 * restoreFrom is denied by the validating one.
 */
export async function registerWebhooks(info: ControlPlaneInfo, restoreGuard: RestoreGuard, relay: ReviewRelay): Promise<void> {
  await run(info, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: await shippedWebhooks(info, `https://127.0.0.1:${restoreGuard.port}`) });
  await run(info, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: await testPodWebhooks(info, relay.url) });
  await run(info, ['apply', '--server-side', '--force-conflicts', '-f', '-'], {
    input: { apiVersion: `${TEST_POD_GROUP}/v1`, kind: 'Pod', metadata: { name: 'e2e-webhook-probe', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
  });
  await eventually('the mutating webhook to be called by kube-apiserver', async () => {
    const result = await kubectl(info, ['create', '--dry-run=server', '-f', '-'], {
      input: { apiVersion: `${TEST_POD_GROUP}/v1`, kind: 'Pod', metadata: { name: 'e2e-probe', namespace: 'default' }, spec: { restoreFrom: { name: 'e2e-probe-missing' }, containers: [] } },
    });
    return result.stderr.includes('admission webhook "pin.restore-guard.dev" denied the request') ? true : undefined;
  });
  await eventually('the validating webhook to be called by kube-apiserver', async () => {
    const result = await kubectl(info, ['patch', '--dry-run=server', '-n', 'default', `pods.${TEST_POD_GROUP}`, 'e2e-webhook-probe', '--type=merge', '-p', '{"spec":{"restoreFrom":{"name":"x"}}}']);
    return result.stderr.includes('admission webhook "restore.restore-guard.dev" denied the request') ? true : undefined;
  });
}

export interface ReviewRelay {
  url: string;
  /** Reviews forwarded so far. */
  forwarded: number;
  close(): Promise<void>;
}

/**
 * Why a relay: no released kube-apiserver serves `spec.restoreFrom` on Pods (it is dropped when the request is
 * decoded), so a real Pod never carries it to a webhook. The e2e CRD `pods.e2e.restore-guard.dev` keeps unknown
 * fields, so kube-apiserver does send reviews with restoreFrom for it: real users, real objects, real
 * matchConditions, patches applied by kube-apiserver, denials formatted by it. restore-guard only decides on
 * core `pods`, so this relay changes exactly one thing in each review on its way: the API group of
 * request.kind/resource/requestKind/requestResource, from e2e.restore-guard.dev to "" (core). The answer goes
 * back byte for byte, and when restore-guard cannot be reached the relay answers 502, which kube-apiserver
 * treats as a failed call (failurePolicy). Like restore-guard, the relay accepts only kube-apiserver's webhook
 * client certificate (mTLS, the name checked), and it passes the call on with that same certificate, so
 * restore-guard's own check sees the identity kube-apiserver presented.
 */
export async function startReviewRelay(info: ControlPlaneInfo, target: () => number): Promise<ReviewRelay> {
  const pair = await servingPair(info, 'e2e-review-relay');
  const ca = readFileSync(info.caFile, 'utf8');
  const client = webhookClientPair(info);
  const state = { forwarded: 0 };
  const server: Server = createServer({ cert: pair.cert, key: pair.key, ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        try {
          const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: Record<string, { group?: string } | undefined> };
          for (const field of ['kind', 'resource', 'requestKind', 'requestResource']) {
            const gv = review.request?.[field];
            if (gv && gv.group === TEST_POD_GROUP) gv.group = '';
          }
          state.forwarded += 1;
          const answer = await httpsRequest(`https://127.0.0.1:${target()}${req.url ?? '/'}`, { ca, ...client, method: 'POST', body: JSON.stringify(review) });
          res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
        } catch (error) {
          res.writeHead(502, { 'content-type': 'text/plain' }).end(`relay: ${(error as Error).message}`);
        }
      })();
    });
  });
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    if (socket.getPeerCertificate().subject?.CN !== info.webhookClient.name) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    get forwarded() {
      return state.forwarded;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
