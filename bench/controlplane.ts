// The `controlplane` scenario (opt-in: `npm run bench -- --scenarios controlplane`): what restore-guard adds to
// real Pod CREATEs through a real kube-apiserver (issue #14, "Performance through the real API server").
//
// The e2e harness's control plane (etcd and kube-apiserver built by `npm run controlplane:build`, restore-guard's
// manifests/base with the podcheckpoint-standin and source-dynamo-snapshot Components installed, all but the
// webhook configurations) and restore-guard as its own process, as the Deployment runs it: its ServiceAccount's
// token and the cluster CA as mounted files, the policy from the ConfigMap with
// `sources: [{preset: kep-5823}, {preset: dynamo-snapshot}]`, mTLS with kube-apiserver's webhook client
// certificate, the Deployment's NODE_OPTIONS. A Ready PodSnapshot (the stand-in CRD of the e2e fixtures) and
// alice, a static token user, granted `restore` on it and `create` on pods.
//
// alice then sends Pod CREATEs (dryRun=All: admission, webhooks included, runs in full, nothing is written to
// etcd) at a fixed rate, open loop, in three arms:
//   a. the Pod names the snapshot in nvidia.com/restore-from, no restore-guard webhook registered (baseline);
//   b. the same, with restore-guard's MutatingWebhookConfiguration and ValidatingWebhookConfiguration applied
//      (the shipped ones, whose matchConditions select Pods with the annotation), pointed at the process;
//   c. the Pod without the annotation, webhooks registered: matchConditions keep it away from restore-guard.
// Each repeat runs the three arms, forward then backward in the next repeat (a b c, c b a, ...), so drift of
// the machine hits every arm; the added latency is b − a and c − a within one repeat, then the median of those.
// With `interleave`, the webhooks stay registered and the three arms take turns request by request (a b c a b
// c ..., the same total rate, three times as long), so whatever else the machine does hits them equally; arm a
// then sends its Pods to a namespace every restore-guard entry excludes by namespaceSelector (kube-apiserver
// matches the selector and calls nothing), which is not quite "no webhook registered".
// Nothing is pinned to a CPU here: kube-apiserver, etcd, restore-guard and the load generator share the machine.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  POLICY_CONFIGMAP,
  run,
  setPolicy,
  shippedInstall,
  startControlPlane,
  WEBHOOK_KINDS,
  type ControlPlane,
  type Manifest,
} from '../harness/controlplane/controlplane.js';
import { kubectl } from '../harness/controlplane/kubectl.js';
import { eventually } from '../harness/controlplane/net.js';
import { servingPair } from '../harness/controlplane/restoreguard.js';
import { DYNAMO, installSnapshotCrds } from '../harness/controlplane/sources.js';
import type { JsonObject } from '../src/common/json.js';
import { pod } from './fixtures.js';
import { median, openLoop, percentile, postTo, summarize } from './load.js';
import { cpuSeconds, startWebhookProcess, type ServerProcess } from './processes.js';

export const ARMS = ['a', 'b', 'c'] as const;
export type Arm = (typeof ARMS)[number];
export const ARM_NAMES: Record<Arm, string> = {
  a: 'annotated, no webhook (baseline)',
  b: 'annotated, restore-guard registered',
  c: 'no annotation, restore-guard registered',
};

export const NAMESPACE = 'bench-dynamo';
/** Interleaved mode: arm a's namespace, which every restore-guard webhook entry excludes. */
export const UNGUARDED_NAMESPACE = 'bench-dynamo-unguarded';
export const SNAPSHOT = 'worker-snapshot';
export const ANNOTATION = 'nvidia.com/restore-from';
/** The static user of the harness that sends the Pods (token file user, in e2e:developers). */
const USER = 'alice';
/** The stand-in CRD another helper keeps for the e2e tests; a minimal one is used when it is not there. */

export interface ControlPlaneBenchConfig {
  rate: number;
  warmupS: number;
  durationS: number;
  repeats: number;
  /** Arms request by request in one phase (webhooks registered, arm a excluded by namespaceSelector). */
  interleave: boolean;
  /**
   * `validating`: register the ValidatingWebhookConfiguration only. For a source with placement none (as
   * dynamo-snapshot) the mutating entry has nothing to patch; this measures what it costs.
   */
  webhooks: 'both' | 'validating';
  /** Before each repeat, wait at most this long for other tenants to use at most FOREIGN_CORES_LIMIT. */
  quietWaitS: number;
  nodeOptions: string[];
  logLevel: string;
  main: string | undefined;
  log: (line: string) => void;
}

export interface ArmResult {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  samples: number;
  sent: number;
  /** Answers other than 201 Created, and transport errors (measured requests only). */
  errors: number;
  /** The first unexpected answer, to say what went wrong. */
  firstError?: string;
  /** p99 of how late the generator dispatched requests (ms): large means the load generator lagged. */
  dispatchLagP99: number;
  /**
   * Reviews restore-guard answered during the arm (warm-up included), per Pod sent. Interleaved: all reviews
   * per Pod of arm b (a and c add to it if they reach restore-guard), NaN for a and c.
   */
  reviewsPerPod: number;
  /** CPU used during the arm, in cores: kube-apiserver, etcd, restore-guard, the load generator, and everything else. */
  cores: { apiserver: number; etcd: number; restoreGuard: number; loadGenerator: number; foreign: number };
  /**
   * Where a webhook call's time goes (whole arm, warm-up included): restore-guard's own time per review (its
   * histogram), reviews it took over 5 ms for, SubjectAccessReviews it sent, and kube-apiserver's time per call
   * to a restore-guard webhook (apiserver_admission_webhook_admission_duration_seconds: TLS, network, queueing).
   */
  timing: { restoreGuardMsPerReview: number; restoreGuardReviewsOver5ms: number; subjectAccessReviews: number; apiserverMsPerWebhookCall: number };
}

/**
 * An arm during which other tenants of the machine used more than this many cores (CPU of the whole machine,
 * steal included, minus the processes of the benchmark) measured them as much as the webhook: its repeat is
 * left out of the medians when any repeat is clean, and the table says how many were.
 */
export const FOREIGN_CORES_LIMIT = 0.25;

export interface ControlPlaneSummary {
  /** Repeats in which no arm saw more than FOREIGN_CORES_LIMIT of other tenants' CPU; the medians are over these when any. */
  clean: number;
  repeats: number;
  arms: Record<
    Arm,
    {
      p50: number;
      p99: number;
      p999: number;
      errors: number;
      dispatchLagP99: number;
      reviewsPerPod: number;
      restoreGuardCores: number;
      foreignCores: number;
      restoreGuardMsPerReview: number;
      apiserverMsPerWebhookCall: number;
    }
  >;
  /** Median over repeats of the per-repeat difference to arm a, in ms, and of the per-repeat p99 ratio. */
  added: Record<'b' | 'c', { p50: number; p99: number; p99Ratio: number; p99PerRepeat: number[] }>;
}

export interface ControlPlaneResult {
  mode: 'sequential' | 'interleaved';
  webhooks: 'both' | 'validating';
  /** Reviews one restore Pod sends restore-guard with these configurations (2: /mutate and /validate). */
  reviewsPerRestore: number;
  kubernetes: string;
  etcd: string;
  dryRun: 'All';
  rate: number;
  warmupS: number;
  durationS: number;
  podBytes: Record<Arm, number>;
  /** CPU while nothing is sent (webhooks registered), over 5 s before the first repeat. */
  idleCores: ArmResult['cores'];
  repeats: Array<{ order: Arm[]; arms: Partial<Record<Arm, ArmResult>> }>;
  summary: ControlPlaneSummary;
}

/** Lets this process and the children it starts from now on run on every CPU (main() pins the load generator). */
function unpinSelf(): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', `0-${cpus().length - 1}`, String(process.pid)], { stdio: 'ignore' });
  } catch {
    // no taskset: nothing was pinned either
  }
}

/** The webhook configurations of the install, every entry pointed at restore-guard's port with the cluster CA. */
function webhookConfigurations(cp: ControlPlane, install: Manifest[], port: number, exclude: string | undefined, which: 'both' | 'validating'): Manifest[] {
  const caBundle = readFileSync(cp.caFile).toString('base64');
  const kinds = which === 'both' ? WEBHOOK_KINDS : new Set(['ValidatingWebhookConfiguration']);
  const configurations = structuredClone(install.filter((o) => kinds.has(String(o.kind))));
  for (const configuration of configurations) {
    for (const webhook of (configuration.webhooks ?? []) as Array<{ clientConfig: { service?: { path?: string }; url?: string; caBundle?: string } }>) {
      webhook.clientConfig = { url: `https://127.0.0.1:${port}${webhook.clientConfig.service?.path ?? ''}`, caBundle };
      if (exclude) {
        const entry = webhook as { namespaceSelector?: { matchExpressions?: object[] } };
        const selector = (entry.namespaceSelector ??= {});
        selector.matchExpressions = [...(selector.matchExpressions ?? []), { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [exclude] }];
      }
    }
  }
  const names = configurations.flatMap((c) => ((c.webhooks ?? []) as Array<{ name: string }>).map((w) => w.name));
  if ((which === 'both' && !names.includes('dynamo-snapshot.pin.restore-guard.dev')) || !names.includes('dynamo-snapshot.restore.restore-guard.dev')) {
    throw new Error(`the install has no dynamo-snapshot webhook entries (found ${names.join(', ')})`);
  }
  return configurations;
}

/** The Pod alice creates: the 4-container Pod of the other scenarios, named `name`, with or without the reference. */
function podTemplate(annotated: boolean, namespace: string): (name: string) => string {
  const object = pod('NAME_PLACEHOLDER') as JsonObject & { metadata: JsonObject & { annotations: Record<string, string> } };
  object.metadata.namespace = namespace;
  if (annotated) object.metadata.annotations[ANNOTATION] = SNAPSHOT;
  const [head, tail] = JSON.stringify(object).split('NAME_PLACEHOLDER') as [string, string];
  return (name) => `${head}${name}${tail}`;
}

interface Sender {
  post(namespace: string, body: string): Promise<{ status: number; text: string }>;
  close(): void;
}

/** POSTs Pods to kube-apiserver as alice (bearer token), HTTPS keep-alive, dryRun=All. */
function sender(cp: ControlPlane): Sender {
  const server = new URL(cp.server);
  const agent = new Agent({ keepAlive: true, maxSockets: 64, ca: readFileSync(cp.caFile, 'utf8') });
  const headers = { authorization: `Bearer ${cp.tokens[USER]}`, 'content-type': 'application/json', accept: 'application/json' };
  return {
    post: (namespace, body) =>
      postTo({ host: server.hostname, port: server.port, path: `/api/v1/namespaces/${namespace}/pods?dryRun=All`, agent, headers, timeoutMs: 30_000 }, body),
    close: () => agent.destroy(),
  };
}

interface Outcome {
  latencies: number[];
  sent: number;
  errors: number;
  firstError?: string;
}

/**
 * Open loop: a Pod every 1/rate s for warmupS + durationS, request i as next(i) says (its arm, namespace and
 * body); latency from dispatch to the end of the answer, per arm; requests of the warm-up are not measured.
 */
async function fixedRateCreates(
  send: Sender,
  next: (i: number) => { arm: Arm; namespace: string; body: string },
  rate: number,
  warmupS: number,
  durationS: number,
) {
  const outcomes: Partial<Record<Arm, Outcome>> = {};
  const { lags } = await openLoop({ rate, warmupS, durationS }, (index, measured, dispatched) => {
    const { arm, namespace, body } = next(index);
    const outcome = (outcomes[arm] ??= { latencies: [], sent: 0, errors: 0 });
    outcome.sent++;
    const fail = (what: string): void => {
      outcome.errors++;
      outcome.firstError ??= what.slice(0, 400);
    };
    return send.post(namespace, body).then(
      (answer) => {
        if (!measured) return;
        outcome.latencies.push(performance.now() - dispatched);
        if (answer.status !== 201) fail(`${answer.status} ${answer.text}`);
      },
      (error: unknown) => {
        if (measured) fail((error as Error).message);
      },
    );
  });
  const dispatchLagP99 = percentile(Float64Array.from(lags).sort(), 0.99);
  return Object.fromEntries(
    Object.entries(outcomes).map(([arm, o]) => [
      arm,
      { ...summarize(o.latencies), samples: o.latencies.length, sent: o.sent, errors: o.errors, firstError: o.firstError, dispatchLagP99 },
    ]),
  ) as Partial<Record<Arm, ReturnType<typeof summarize> & { samples: number; sent: number; errors: number; firstError?: string; dispatchLagP99: number }>>;
}

/** An annotated Pod naming a snapshot that does not exist, as the admin (whom the companion policy allows). */
async function probe(cp: ControlPlane): Promise<{ code: number; stderr: string }> {
  const object = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'probe', namespace: NAMESPACE, annotations: { [ANNOTATION]: 'no-such-snapshot' } },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
  };
  return kubectl(cp, ['create', '--dry-run=server', '-f', '-'], { input: object });
}

async function register(cp: ControlPlane, configurations: Manifest[]): Promise<void> {
  await run(cp, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: configurations });
  // kube-apiserver picks configurations up from an informer: wait until it calls restore-guard.
  await eventually('kube-apiserver to call restore-guard', async () =>
    /admission webhook "dynamo-snapshot\.(pin|restore)\.restore-guard\.dev" denied the request/.test((await probe(cp)).stderr) ? true : undefined,
  );
}

async function unregister(cp: ControlPlane): Promise<void> {
  await run(cp, ['delete', '--ignore-not-found', 'mutatingwebhookconfiguration/restore-guard', 'validatingwebhookconfiguration/restore-guard']);
  await eventually('kube-apiserver to stop calling restore-guard', async () => ((await probe(cp)).code === 0 ? true : undefined));
}

/** Busy CPU seconds of the whole machine so far (all but idle and iowait; steal counts: another tenant had it). */
function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** Counts the CPU each process of the benchmark and the rest of the machine use between start() and stop(). */
function cpuMeter(pids: { apiserver: number; etcd: number; restoreGuard: number; loadGenerator: number }) {
  const read = () => ({
    t: performance.now(),
    machine: machineBusySeconds(),
    ...Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid) ?? Number.NaN])),
  });
  const before = read() as Record<string, number>;
  return (): ArmResult['cores'] => {
    const after = read() as Record<string, number>;
    const seconds = ((after.t ?? 0) - (before.t ?? 0)) / 1000;
    const cores = (name: string): number => ((after[name] ?? Number.NaN) - (before[name] ?? Number.NaN)) / seconds;
    const own = { apiserver: cores('apiserver'), etcd: cores('etcd'), restoreGuard: cores('restoreGuard'), loadGenerator: cores('loadGenerator') };
    return { ...own, foreign: cores('machine') - own.apiserver - own.etcd - own.restoreGuard - own.loadGenerator };
  };
}

/** Waits (at most limitS) until kube-apiserver is nearly idle: after CRDs are installed it rebuilds its OpenAPI for a while. */
async function settle(pid: number, log: (line: string) => void, limitS = 90): Promise<void> {
  const started = performance.now();
  for (;;) {
    const before = cpuSeconds(pid) ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const cores = ((cpuSeconds(pid) ?? 0) - before) / 2;
    const waited = (performance.now() - started) / 1000;
    if (cores < 0.05 || waited > limitS) {
      log(`controlplane: kube-apiserver at ${cores.toFixed(2)} cores idle after ${waited.toFixed(0)} s`);
      return;
    }
  }
}

/** Waits, at most limitS, for a 3 s window in which other tenants of the machine use at most FOREIGN_CORES_LIMIT. */
async function waitForQuiet(pids: Parameters<typeof cpuMeter>[0], limitS: number, log: (line: string) => void): Promise<void> {
  const started = performance.now();
  for (let said = false; ;) {
    const meter = cpuMeter(pids);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const foreign = meter().foreign;
    const waited = (performance.now() - started) / 1000;
    if (foreign <= FOREIGN_CORES_LIMIT) return;
    if (waited >= limitS) {
      log(`controlplane: other tenants still at ${foreign.toFixed(2)} cores after ${waited.toFixed(0)} s: measuring anyway`);
      return;
    }
    if (!said) log(`controlplane: other tenants use ${foreign.toFixed(2)} cores: waiting up to ${limitS} s for a quiet machine`);
    said = true;
  }
}

/** The sum of a Prometheus metric's samples whose labels pass `where`. */
function sumMetric(text: string, name: string, where: (labels: string) => boolean = () => true): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!rest.startsWith(' ') && !rest.startsWith('{')) continue;
    const labels = rest.startsWith('{') ? rest.slice(1, rest.lastIndexOf('}')) : '';
    if (where(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Counters of restore-guard and kube-apiserver that say where the time of a webhook call goes. */
interface Counters {
  reviews: number;
  reviewSeconds: number;
  reviewsOver5ms: number;
  sars: number;
  webhookCalls: number;
  webhookSeconds: number;
}

async function counters(cp: ControlPlane, metricsPort: number): Promise<Counters> {
  const own = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const api = await new Promise<string>((resolve, reject) => {
    const req = request(`${cp.server}/metrics`, { ca: readFileSync(cp.caFile, 'utf8'), headers: { authorization: `Bearer ${cp.tokens.admin}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
  const restoreGuardHook = (labels: string): boolean => labels.includes('restore-guard.dev"') && labels.includes('operation="CREATE"');
  return {
    reviews: sumMetric(own, 'restore_guard_reviews_total'),
    reviewSeconds: sumMetric(own, 'restore_guard_review_duration_seconds_sum'),
    reviewsOver5ms:
      sumMetric(own, 'restore_guard_review_duration_seconds_count') -
      sumMetric(own, 'restore_guard_review_duration_seconds_bucket', (l) => l.includes('le="0.005"')),
    sars: sumMetric(own, 'restore_guard_subjectaccessreview_calls_total'),
    webhookCalls: sumMetric(api, 'apiserver_admission_webhook_admission_duration_seconds_count', restoreGuardHook),
    webhookSeconds: sumMetric(api, 'apiserver_admission_webhook_admission_duration_seconds_sum', restoreGuardHook),
  };
}

export async function runControlPlane(cfg: ControlPlaneBenchConfig): Promise<ControlPlaneResult> {
  const { log } = cfg;
  unpinSelf();
  log('controlplane: starting etcd and kube-apiserver (the e2e harness)');
  // No kube-controller-manager: nothing here needs a controller, and its loops would be one more tenant.
  const cp = await startControlPlane({ controllers: false, log: (line) => log(`controlplane: ${line}`) });
  let webhook: (ServerProcess & { metricsPort: number }) | undefined;
  try {
    log(`controlplane: kube-apiserver ${cp.build.kubernetes}, etcd ${cp.build.etcd}; state and logs in ${cp.dir}`);
    // The e2e tests' stand-in CRD (test/e2e/fixtures), installed the way they install it.
    await installSnapshotCrds(cp, [DYNAMO]);
    // What the harness installs, plus the dynamo-snapshot source Component (its webhook entries, RBAC and policy).
    const install = await shippedInstall(cp, ['source-dynamo-snapshot']);
    // RBAC for the snapshots' watch and the companion ValidatingAdmissionPolicy: in place in every arm.
    await run(cp, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: install.filter((o) => !WEBHOOK_KINDS.has(String(o.kind))) });
    await setPolicy(cp, { sources: [{ preset: 'kep-5823' }, { preset: 'dynamo-snapshot' }] });

    const serviceAccounts = ['default', (pod().spec as { serviceAccountName: string }).serviceAccountName];
    // Both namespaces alike (the second is arm a's when interleaved): ServiceAccounts, the snapshot, alice's grants.
    for (const namespace of [NAMESPACE, UNGUARDED_NAMESPACE]) {
      await run(cp, ['apply', '--server-side', '-f', '-'], {
        input: [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
          ...serviceAccounts.map((name) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } })),
          {
            apiVersion: 'nvidia.com/v1alpha1',
            kind: 'PodSnapshot',
            metadata: { name: SNAPSHOT, namespace },
            spec: { source: { podRef: { name: 'worker-0' } } },
          },
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'Role',
            metadata: { name: 'bench-restorer', namespace },
            rules: [
              { apiGroups: ['nvidia.com'], resources: ['podsnapshots'], verbs: ['restore'], resourceNames: [SNAPSHOT] },
              { apiGroups: [''], resources: ['pods'], verbs: ['create'] },
            ],
          },
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'RoleBinding',
            metadata: { name: 'bench-restorer', namespace },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'bench-restorer' },
            subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: USER }],
          },
        ],
      });
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const status = {
        status: {
          boundSnapshotContentName: `${SNAPSHOT}-content`,
          conditions: [{ type: 'Ready', status: 'True', reason: 'SnapshotReady', message: 'bench', lastTransitionTime: now }],
        },
      };
      await run(cp, ['patch', '-n', namespace, 'podsnapshots.nvidia.com', SNAPSHOT, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
    }

    const server = new URL(cp.server);
    // Its files in a directory of their own, as in a pod (Secret mounts): restore-guard follows the directories
    // of its certificate files, and any event there (kube-apiserver's audit log is written to cp.dir on every
    // request) makes it read them again.
    const tlsDir = await mkdtemp(join(cp.dir, 'bench-restore-guard-'));
    const pair = await servingPair(cp, 'restore-guard.restore-guard.svc');
    await writeFile(join(tlsDir, 'tls.crt'), pair.cert);
    await writeFile(join(tlsDir, 'tls.key'), pair.key, { mode: 0o600 });
    await copyFile(cp.caFile, join(tlsDir, 'client-ca.crt'));
    log(`controlplane: starting restore-guard (NODE_OPTIONS ${cfg.nodeOptions.join(' ') || 'none'}, log level ${cfg.logLevel})`);
    webhook = await startWebhookProcess({
      certFile: join(tlsDir, 'tls.crt'),
      keyFile: join(tlsDir, 'tls.key'),
      access: {
        args: [
          `--service-account-dir=${cp.restoreGuardServiceAccountDir}`,
          `--client-ca-file=${join(tlsDir, 'client-ca.crt')}`,
          `--client-allowed-names=${cp.webhookClient.name}`,
          '--policy-configmap',
          `${POLICY_CONFIGMAP.namespace}/${POLICY_CONFIGMAP.name}`,
        ],
        env: { KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port },
      },
      nodeFlags: cfg.nodeOptions,
      logLevel: cfg.logLevel,
      readyTimeoutMs: 60_000,
      ...(cfg.main ? { main: cfg.main } : {}),
    });

    await settle(cp.apiserver.pid, log);
    // restore-guard's own CPU while it answers nothing (its watches and timers), for comparison with arm b.
    const idleMeter = cpuMeter({ apiserver: cp.apiserver.pid, etcd: cp.etcd.pid, restoreGuard: webhook.pid, loadGenerator: process.pid });
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const idle = idleMeter();
    log(
      `controlplane: idle for 5 s: restore-guard ${idle.restoreGuard.toFixed(3)} cores, kube-apiserver ${idle.apiserver.toFixed(3)}, other tenants ${idle.foreign.toFixed(2)}`,
    );
    const namespaceOf: Record<Arm, string> = { a: cfg.interleave ? UNGUARDED_NAMESPACE : NAMESPACE, b: NAMESPACE, c: NAMESPACE };
    const bodies: Record<Arm, (name: string) => string> = {
      a: podTemplate(true, namespaceOf.a),
      b: podTemplate(true, NAMESPACE),
      c: podTemplate(false, NAMESPACE),
    };
    const configurations = webhookConfigurations(cp, install, webhook.port, cfg.interleave ? UNGUARDED_NAMESPACE : undefined, cfg.webhooks);
    const reviewsPerRestore = cfg.webhooks === 'both' ? 2 : 1;
    const metricsPort = webhook.metricsPort;
    const send = sender(cp);
    try {
      // What each arm must answer, before anything is timed: alice is allowed, bob (no grant) is denied; and
      // how many reviews one Pod of each arm sends restore-guard (2, 0, 0).
      await register(cp, configurations);
      for (const arm of ARMS) {
        const before = (await counters(cp, metricsPort)).reviews;
        const answer = await send.post(namespaceOf[arm], bodies[arm](`check-${arm}`));
        if (answer.status !== 201) throw new Error(`alice's Pod of arm ${arm} was not created: ${answer.status} ${answer.text.slice(0, 500)}`);
        const reviews = (await counters(cp, metricsPort)).reviews - before;
        // Sequential, arm a's Pod is b's: registered (as now) it reaches restore-guard; its arm runs unregistered.
        const expected = arm === 'b' || (arm === 'a' && !cfg.interleave) ? reviewsPerRestore : 0;
        if (reviews !== expected) throw new Error(`a Pod of arm ${arm} (${ARM_NAMES[arm]}) sent restore-guard ${reviews} reviews, not ${expected}`);
      }
      const denied = await kubectl(cp, ['create', '--dry-run=server', '-f', '-'], { as: 'bob', input: JSON.parse(bodies.b('check-bob')) });
      if (denied.code === 0 || !denied.stderr.includes('denied')) throw new Error(`bob's restore Pod was not denied: ${denied.stderr || denied.stdout}`);
      log(
        `controlplane: checked: alice's Pods created (dry run; a, b, c: ${cfg.interleave ? '0, N, 0' : 'N, N, 0 while registered'} reviews, N = ${reviewsPerRestore}), bob's restore Pod denied (${denied.stderr.trim().slice(0, 160)})`,
      );

      let registered = true;
      const repeats: ControlPlaneResult['repeats'] = [];
      const meterPids = { apiserver: cp.apiserver.pid, etcd: cp.etcd.pid, restoreGuard: webhook.pid, loadGenerator: process.pid };
      /** One phase at cfg.rate: `arms` take turns request by request; one ArmResult each. */
      const phase = async (r: number, arms: Arm[], durationS: number): Promise<Partial<Record<Arm, ArmResult>>> => {
        const before = await counters(cp, metricsPort);
        // The CPU meter covers the measured part only, not the warm-up.
        const meter = { stop: (): ArmResult['cores'] | undefined => undefined };
        const meterAt = setTimeout(() => (meter.stop = cpuMeter(meterPids)), cfg.warmupS * 1000);
        const measured = await fixedRateCreates(
          send,
          (i) => {
            const arm = arms[i % arms.length] as Arm;
            return { arm, namespace: namespaceOf[arm], body: bodies[arm](`bench-${arm}-${r}-${i}`) };
          },
          cfg.rate,
          cfg.warmupS,
          durationS,
        );
        clearTimeout(meterAt);
        const cores = meter.stop() ?? { apiserver: Number.NaN, etcd: Number.NaN, restoreGuard: Number.NaN, loadGenerator: Number.NaN, foreign: Number.NaN };
        const after = await counters(cp, metricsPort);
        const reviews = after.reviews - before.reviews;
        const calls = after.webhookCalls - before.webhookCalls;
        const timing = {
          restoreGuardMsPerReview: reviews > 0 ? ((after.reviewSeconds - before.reviewSeconds) * 1000) / reviews : Number.NaN,
          restoreGuardReviewsOver5ms: after.reviewsOver5ms - before.reviewsOver5ms,
          subjectAccessReviews: after.sars - before.sars,
          apiserverMsPerWebhookCall: calls > 0 ? ((after.webhookSeconds - before.webhookSeconds) * 1000) / calls : Number.NaN,
        };
        const results: Partial<Record<Arm, ArmResult>> = {};
        for (const arm of arms) {
          const result = measured[arm];
          if (!result) continue;
          // Interleaved, reviews cannot be told apart by arm: all of them per Pod of arm b.
          const reviewsPerPod = arms.length === 1 ? reviews / result.sent : arm === 'b' ? reviews / result.sent : Number.NaN;
          results[arm] = { ...result, reviewsPerPod, cores, timing };
          log(
            `controlplane: ${arm}: p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ${result.samples} samples, ${result.errors} errors` +
              (Number.isNaN(reviewsPerPod) ? '' : `, ${reviewsPerPod.toFixed(2)} restore-guard reviews per Pod`) +
              (result.firstError ? `; first error: ${result.firstError}` : ''),
          );
        }
        log(
          `controlplane: load generator lag p99 ${(measured[arms[0] as Arm]?.dispatchLagP99 ?? Number.NaN).toFixed(2)} ms; ` +
            `cores: kube-apiserver ${cores.apiserver.toFixed(2)}, etcd ${cores.etcd.toFixed(2)}, restore-guard ${cores.restoreGuard.toFixed(2)}, ` +
            `load generator ${cores.loadGenerator.toFixed(2)}, other tenants ${cores.foreign.toFixed(2)}` +
            (reviews > 0
              ? `; restore-guard ${timing.restoreGuardMsPerReview.toFixed(2)} ms per review (${timing.restoreGuardReviewsOver5ms} over 5 ms), ` +
                `${timing.subjectAccessReviews} SubjectAccessReviews, kube-apiserver ${timing.apiserverMsPerWebhookCall.toFixed(2)} ms per webhook call`
              : ''),
        );
        return results;
      };
      // A noisy repeat is made up for by another, up to twice the repeats asked for in all.
      const isClean = (arms: Partial<Record<Arm, ArmResult>>): boolean => Object.values(arms).every((x) => x.cores.foreign <= FOREIGN_CORES_LIMIT);
      for (let r = 0; repeats.filter((x) => isClean(x.arms)).length < cfg.repeats && r < 2 * cfg.repeats; r++) {
        await waitForQuiet(meterPids, cfg.quietWaitS, log);
        if (cfg.interleave) {
          log(
            `controlplane: arms a, b, c in turn, ${cfg.rate}/s in all, for ${cfg.warmupS} + ${3 * cfg.durationS} s, repeat ${r + 1} (${cfg.repeats} clean ones wanted)`,
          );
          const arms = await phase(r, [...ARMS], 3 * cfg.durationS);
          repeats.push({ order: [...ARMS], arms });
        } else {
          const order: Arm[] = r % 2 === 0 ? ['a', 'b', 'c'] : ['c', 'b', 'a'];
          const arms: Partial<Record<Arm, ArmResult>> = {};
          for (const arm of order) {
            const wanted = arm !== 'a';
            if (wanted && !registered) await register(cp, configurations);
            if (!wanted && registered) await unregister(cp);
            registered = wanted;
            log(`controlplane: ${ARM_NAMES[arm]} @${cfg.rate}/s for ${cfg.warmupS} + ${cfg.durationS} s, repeat ${r + 1} (${cfg.repeats} clean ones wanted)`);
            Object.assign(arms, await phase(r, [arm], cfg.durationS));
          }
          repeats.push({ order, arms });
        }
        const last = repeats[repeats.length - 1];
        if (last && !isClean(last.arms)) log(`controlplane: repeat ${r + 1} was noisy (other tenants above ${FOREIGN_CORES_LIMIT} cores)`);
      }
      if (registered) await unregister(cp);
      return {
        mode: cfg.interleave ? 'interleaved' : 'sequential',
        webhooks: cfg.webhooks,
        reviewsPerRestore,
        kubernetes: cp.build.kubernetes,
        etcd: cp.build.etcd,
        dryRun: 'All',
        rate: cfg.rate,
        warmupS: cfg.warmupS,
        durationS: cfg.durationS,
        podBytes: { a: Buffer.byteLength(bodies.a('x')), b: Buffer.byteLength(bodies.b('x')), c: Buffer.byteLength(bodies.c('x')) },
        idleCores: idle,
        repeats,
        summary: summarizeControlPlane(repeats),
      };
    } finally {
      send.close();
    }
  } finally {
    await webhook?.stop();
    await cp.stop();
  }
}

export function summarizeControlPlane(every: ControlPlaneResult['repeats']): ControlPlaneSummary {
  const cleanRepeats = every.filter((r) => Object.values(r.arms).every((x) => x.cores.foreign <= FOREIGN_CORES_LIMIT));
  const repeats = cleanRepeats.length > 0 ? cleanRepeats : every;
  const of = (arm: Arm): ArmResult[] => repeats.flatMap((r) => (r.arms[arm] ? [r.arms[arm]] : []));
  const arms = Object.fromEntries(
    ARMS.map((arm) => {
      const all = of(arm);
      return [
        arm,
        {
          p50: median(all.map((x) => x.p50)),
          p99: median(all.map((x) => x.p99)),
          p999: median(all.map((x) => x.p999)),
          // Errors over every repeat, clean or not.
          errors: every.reduce((sum, r) => sum + (r.arms[arm]?.errors ?? 0), 0),
          dispatchLagP99: median(all.map((x) => x.dispatchLagP99)),
          reviewsPerPod: median(all.map((x) => x.reviewsPerPod)),
          restoreGuardCores: median(all.map((x) => x.cores.restoreGuard)),
          foreignCores: median(all.map((x) => x.cores.foreign)),
          restoreGuardMsPerReview: median(all.map((x) => x.timing.restoreGuardMsPerReview)),
          apiserverMsPerWebhookCall: median(all.map((x) => x.timing.apiserverMsPerWebhookCall)),
        },
      ];
    }),
  ) as ControlPlaneSummary['arms'];
  const added = (arm: 'b' | 'c') => {
    const pairs = repeats.flatMap((r) => (r.arms.a && r.arms[arm] ? [{ base: r.arms.a, with: r.arms[arm] }] : []));
    const p99PerRepeat = pairs.map((p) => p.with.p99 - p.base.p99);
    return {
      p50: median(pairs.map((p) => p.with.p50 - p.base.p50)),
      p99: median(p99PerRepeat),
      p99Ratio: median(pairs.map((p) => p.with.p99 / p.base.p99)),
      p99PerRepeat,
    };
  };
  return { clean: cleanRepeats.length, repeats: every.length, arms, added: { b: added('b'), c: added('c') } };
}
