// A real control plane on loopback: etcd, kube-apiserver and kube-controller-manager with the workload controllers
// (built by `npm run controlplane:build`; see controllers.ts), fresh certificates and ServiceAccount keys, RBAC
// authorization, static users from a token file, the PodCheckpoint stand-in CRD and the e2e test CRD installed,
// and restore-guard's own ServiceAccount bound only to what manifests/base ships. kube-apiserver presents a client
// certificate to admission webhooks (mTLS), through an --admission-control-config-file written by the same code
// as `npm run certs` writes it.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, type Dirent } from 'node:fs';
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { admissionConfigurationYaml, admissionKubeconfigYaml, DEFAULTS } from '../../src/certs/authority.js';
import { startControllerManager, type ControllerManager } from './controllers.js';
import { kubectlOk, type KubectlOptions, type KubectlTarget } from './kubectl.js';
import { eventually, freePort, httpsRequest } from './net.js';
import { findBinaries, MANIFESTS, REPO, type Binaries } from './paths.js';
import { createPki, serviceAccountKeys } from './pki.js';
import { Supervisor, type Managed } from './processes.js';

/** The static users (token file). Every one is in e2e:developers, which may create Pods and read checkpoints. */
export const USERS = {
  /** Cluster admin: sets things up, writes checkpoint status (the kubelet's part). */
  admin: { name: 'e2e-admin', uid: 'uid-admin', groups: ['system:masters'] },
  /** Gets a restore grant through a RoleBinding in the tests (and loses it again). */
  alice: { name: 'alice', uid: 'uid-alice', groups: ['e2e:developers'] },
  /** May create Pods but is never granted restore. */
  bob: { name: 'bob', uid: 'uid-bob', groups: ['e2e:developers'] },
  /** In the group e2e:restorers, which the tests grant restore to. */
  carol: { name: 'carol', uid: 'uid-carol', groups: ['e2e:developers', 'e2e:restorers'] },
} as const;
export type UserName = keyof typeof USERS;

/** The test-only CRD of Pod-shaped objects that keep unknown fields, so `spec.restoreFrom` survives decoding. */
export const TEST_POD_GROUP = 'e2e.restore-guard.dev';

/** Everything a test needs to reach the control plane; plain data, so vitest can hand it to test files. */
export interface ControlPlaneInfo extends KubectlTarget {
  dir: string;
  server: string;
  caFile: string;
  caKeyFile: string;
  tokens: Record<UserName, string>;
  /** A kubeconfig with only restore-guard's own ServiceAccount token. */
  restoreGuardKubeconfig: string;
  /** The same token and the cluster CA laid out as the kubelet mounts them in a pod (token, ca.crt). */
  restoreGuardServiceAccountDir: string;
  auditLog: string;
  /** kube-controller-manager's log, when it runs (see controllers.ts for which controllers). */
  controllerManagerLog: string | undefined;
  build: Binaries['build'];
  /**
   * The client certificate kube-apiserver presents when it calls admission webhooks (signed by the cluster
   * CA, which also signs every other client certificate: hence the pinned name), and its subject CN.
   */
  webhookClient: { name: string; certFile: string; keyFile: string };
}

export interface ControlPlane extends ControlPlaneInfo {
  supervisor: Supervisor;
  etcd: Managed;
  apiserver: Managed;
  controllerManager: Managed | undefined;
  stop(): Promise<void>;
}

export function target(info: ControlPlaneInfo): KubectlTarget {
  return { kubectl: info.kubectl, kubeconfig: info.kubeconfig };
}

export async function run(info: ControlPlaneInfo, args: string[], options?: KubectlOptions): Promise<string> {
  return kubectlOk(target(info), args, options);
}

export interface ControlPlaneOptions {
  dir?: string;
  log?: (line: string) => void;
  /**
   * Runs kube-controller-manager with the workload controllers (default: true, unless the environment sets
   * RESTORE_GUARD_E2E_CONTROLLERS=0). Without it no Deployment, Job, ... ever makes a Pod, and no `default`
   * ServiceAccount appears by itself.
   */
  controllers?: boolean;
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? (() => undefined);
  const binaries = findBinaries();
  const base = join(REPO, '.cache', 'e2e');
  mkdirSync(base, { recursive: true });
  pruneRuns(base);
  const dir = options.dir ?? (await mkdtemp(join(base, 'run-')));
  const supervisor = new Supervisor(dir);
  let etcd: Managed | undefined;
  let apiserver: Managed | undefined;
  let controllerManager: ControllerManager | undefined;
  const controllers = options.controllers ?? process.env.RESTORE_GUARD_E2E_CONTROLLERS !== '0';
  try {
    const pki = await createPki(dir);
    const caKeyFile = join(dir, 'ca.key');
    await writeFile(caKeyFile, pki.ca.key, { mode: 0o600 });
    const apiserverPair = await pki.write(await pki.serving('kube-apiserver', ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'], ['127.0.0.1']), 'apiserver');
    // kube-apiserver's client certificate for webhooks. The kubeconfig names its user after the Service host
    // (what the shipped configurations use) and `*`: the harness registers webhooks by url on ports chosen
    // later (https://127.0.0.1:PORT), and kube-apiserver falls back to `*` for a host:port it has no user for.
    const webhookClientName = DEFAULTS.clientName;
    const webhookClient = { name: webhookClientName, ...(await pki.write(await pki.client(webhookClientName), 'admission-client')) };
    const admissionKubeconfig = join(dir, 'admission-kubeconfig.yaml');
    await writeFile(
      admissionKubeconfig,
      admissionKubeconfigYaml(['restore-guard.restore-guard.svc:443', '*'], { cert: readFileSync(webhookClient.certFile, 'utf8'), key: readFileSync(webhookClient.keyFile, 'utf8') }),
      { mode: 0o600 },
    );
    const admissionConfig = join(dir, 'admission-config.yaml');
    await writeFile(admissionConfig, admissionConfigurationYaml(admissionKubeconfig));
    const sa = serviceAccountKeys();
    await writeFile(join(dir, 'sa.key'), sa.privateKey, { mode: 0o600 });
    await writeFile(join(dir, 'sa.pub'), sa.publicKey);

    const tokens = Object.fromEntries(Object.keys(USERS).map((user) => [user, randomBytes(24).toString('hex')])) as Record<UserName, string>;
    await writeFile(
      join(dir, 'tokens.csv'),
      Object.entries(USERS)
        .map(([key, user]) => `${tokens[key as UserName]},${user.name},${user.uid},"${user.groups.join(',')}"`)
        .join('\n') + '\n',
      { mode: 0o600 },
    );
    const auditLog = join(dir, 'audit.log');
    await writeFile(
      join(dir, 'audit-policy.yaml'),
      stringify({
        apiVersion: 'audit.k8s.io/v1',
        kind: 'Policy',
        omitStages: ['RequestReceived'],
        rules: [
          {
            level: 'Metadata',
            resources: [
              { group: '', resources: ['pods'] },
              { group: TEST_POD_GROUP, resources: ['pods'] },
              // Who creates them: the Deployment controller its ReplicaSets, the CronJob controller its Jobs.
              { group: 'apps', resources: ['replicasets'] },
              { group: 'batch', resources: ['jobs'] },
              // Checkpoint creates (the capture check's audit annotations): the stand-in's and Dynamo's.
              { group: CHECKPOINT_GROUP, resources: ['podcheckpoints'] },
              { group: 'nvidia.com', resources: ['podsnapshots'] },
            ],
          },
          { level: 'None' },
        ],
      }),
    );

    const [clientPort, peerPort, securePort] = [await freePort(), await freePort(), await freePort()];
    log(`etcd on 127.0.0.1:${clientPort}`);
    etcd = supervisor.spawn('etcd', binaries.etcd, [
      '--name=e2e',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${clientPort}`,
      `--advertise-client-urls=http://127.0.0.1:${clientPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=e2e=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    const etcdProcess = etcd;
    await eventually(
      'etcd to be healthy',
      async () => {
        if (!etcdProcess.running()) throw new Error(`etcd exited: ${tail(etcdProcess.logFile)}`);
        const res = await fetch(`http://127.0.0.1:${clientPort}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true' ? true : undefined;
      },
      { diagnose: () => tail(etcdProcess.logFile) },
    );

    const server = `https://127.0.0.1:${securePort}`;
    log(`kube-apiserver ${binaries.build.kubernetes} on ${server}`);
    apiserver = supervisor.spawn('kube-apiserver', binaries.kubeApiserver, [
      `--etcd-servers=http://127.0.0.1:${clientPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${securePort}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${apiserverPair.certFile}`,
      `--tls-private-key-file=${apiserverPair.keyFile}`,
      `--client-ca-file=${pki.caFile}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--anonymous-auth=false',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      // 127.0.0.1 is not a valid endpoint of the `kubernetes` Service, and no endpoints controller runs.
      '--endpoint-reconciler-type=none',
      `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
      `--audit-log-path=${auditLog}`,
      `--admission-control-config-file=${admissionConfig}`,
      '--audit-log-mode=blocking',
      '--v=1',
    ]);
    const apiserverProcess = apiserver;
    await eventually(
      'kube-apiserver to be ready',
      async () => {
        if (!apiserverProcess.running()) throw new Error(`kube-apiserver exited: ${tail(apiserverProcess.logFile)}`);
        const res = await httpsRequest(`${server}/readyz`, { ca: pki.ca.cert, token: tokens.admin });
        return res.status === 200 ? true : undefined;
      },
      { limitMs: 120_000, diagnose: () => tail(apiserverProcess.logFile) },
    );

    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, kubeconfigYaml(server, pki.caFile, Object.fromEntries(Object.keys(USERS).map((user) => [user, tokens[user as UserName]]))), { mode: 0o600 });
    // Started before the installation, which runs meanwhile; ready (awaited below) once its controllers work.
    if (controllers) {
      controllerManager = await startControllerManager({
        supervisor,
        binary: binaries.kubeControllerManager,
        dir,
        server,
        pki,
        serviceAccountKeyFile: join(dir, 'sa.key'),
        admin: { kubectl: binaries.kubectl, kubeconfig },
        log,
      });
    }
    const info: ControlPlaneInfo = {
      dir,
      server,
      caFile: pki.caFile,
      caKeyFile,
      tokens,
      kubectl: binaries.kubectl,
      kubeconfig,
      restoreGuardKubeconfig: join(dir, 'restore-guard.kubeconfig'),
      restoreGuardServiceAccountDir: join(dir, 'restore-guard-serviceaccount'),
      auditLog,
      controllerManagerLog: controllerManager?.managed.logFile,
      build: binaries.build,
      webhookClient,
    };
    await install(info, log);
    await controllerManager?.ready;

    const etcdRunning = etcd;
    const apiserverRunning = apiserver;
    const controllerManagerRunning = controllerManager?.managed;
    return {
      ...info,
      supervisor,
      etcd: etcdRunning,
      apiserver: apiserverRunning,
      controllerManager: controllerManagerRunning,
      stop: async () => {
        if (controllerManagerRunning) await supervisor.stop(controllerManagerRunning);
        await supervisor.stop(apiserverRunning);
        await supervisor.stop(etcdRunning);
        await supervisor.stopAll();
        // etcd preallocates ~120 MB; the logs, audit log and certificates stay for diagnosis.
        rmSync(join(dir, 'etcd'), { recursive: true, force: true });
      },
    };
  } catch (error) {
    await supervisor.stopAll();
    throw error;
  }
}

/** The stand-in and e2e CRDs, RuntimeClasses, the shipped base (but its webhooks), and restore-guard's kubeconfig. */
async function install(info: ControlPlaneInfo, log: (line: string) => void): Promise<void> {
  log('installing the e2e test CRD (Pod-shaped objects that keep spec.restoreFrom)');
  await run(info, ['apply', '-f', '-'], { input: [testPodCrd(), ...developerRole()] });

  const runtimeClasses = runtimeClassManifests();
  if (runtimeClasses.length > 0) {
    // No released kube-apiserver knows RuntimeClass.podCheckpoint (KEP-5823): strict field validation refuses
    // it, so they are installed with validation off, and the server drops the field (see manifests.test.ts).
    log(`installing ${runtimeClasses.length} RuntimeClass(es) from manifests/ (their podCheckpoint field is dropped by this API server)`);
    await run(info, ['apply', '--validate=false', '-f', '-'], { input: runtimeClasses });
  }

  // restore-guard as an admin installs it on a cluster without the upstream API: manifests/base with the
  // PodCheckpoint stand-in Component. The webhook configurations come later, pointed at this run.
  log('applying manifests/base with components/podcheckpoint-standin (all but the webhook configurations)');
  const objects = (await shippedInstall(info)).filter((o) => !WEBHOOK_KINDS.has(String(o.kind)));
  const [crds, rest] = [objects.filter((o) => o.kind === 'CustomResourceDefinition'), objects.filter((o) => o.kind !== 'CustomResourceDefinition')];
  await run(info, ['apply', '--server-side', '-f', '-'], { input: crds });
  await run(info, ['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((o) => `crd/${o.metadata?.name ?? ''}`), `crd/pods.${TEST_POD_GROUP}`]);
  await run(info, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: rest });
  await setPolicy(info, { authorizationCache: FAST_CACHE });
  const token = (await run(info, ['create', 'token', 'restore-guard', '-n', 'restore-guard', '--duration=24h'])).trim();
  await writeFile(info.restoreGuardKubeconfig, kubeconfigYaml(info.server, info.caFile, { 'restore-guard': token }), { mode: 0o600 });
  await mkdir(info.restoreGuardServiceAccountDir, { recursive: true });
  await writeFile(join(info.restoreGuardServiceAccountDir, 'token'), token, { mode: 0o600 });
  await copyFile(info.caFile, join(info.restoreGuardServiceAccountDir, 'ca.crt'));
}

export const WEBHOOK_KINDS = new Set(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);

export type Manifest = Record<string, unknown> & { kind?: string; metadata?: { name?: string; namespace?: string } };

/** manifests/base as kustomize renders it. */
export async function shippedBase(info: ControlPlaneInfo): Promise<Manifest[]> {
  return parseStream(await run(info, ['kustomize', join(MANIFESTS, 'base')]));
}

/**
 * What the harness installs: an overlay of manifests/base with the PodCheckpoint stand-in Component, and
 * `components` (other manifests/components, e.g. source-dynamo-snapshot) after it.
 */
export async function shippedInstall(info: ControlPlaneInfo, components: string[] = []): Promise<Manifest[]> {
  const overlay = join(info.dir, ['install', ...components].join('+'));
  mkdirSync(overlay, { recursive: true });
  await writeFile(
    join(overlay, 'kustomization.yaml'),
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: [relative(overlay, join(MANIFESTS, 'base'))],
      components: ['podcheckpoint-standin', ...components].map((component) => relative(overlay, join(MANIFESTS, 'components', component))),
    }),
  );
  return parseStream(await run(info, ['kustomize', overlay]));
}

/** The stand-in's group (see manifests/components/podcheckpoint-standin/kustomization.yaml). */
export const CHECKPOINT_GROUP = 'checkpoint.k8s.io';
/** Short cache TTLs, so grant and revoke tests wait a second or two, not ten. */
export const FAST_CACHE = { allowedTTL: '2s', deniedTTL: '1s', maxEntries: 1000 };
export const POLICY_CONFIGMAP = { namespace: 'restore-guard', name: 'restore-guard-policy', key: 'policy.yaml' };

/** Writes the RestorePolicy of the installed ConfigMap: the stand-in's group plus `fields`. */
export async function setPolicy(info: ControlPlaneInfo, fields: Record<string, unknown>): Promise<void> {
  const policy = stringify({
    apiVersion: 'restore-guard.dev/v1alpha1',
    kind: 'RestorePolicy',
    checkpointAPI: { group: CHECKPOINT_GROUP, version: 'v1alpha1', resource: 'podcheckpoints', verb: 'restore' },
    ...fields,
  });
  await run(info, ['patch', '-n', POLICY_CONFIGMAP.namespace, 'configmap', POLICY_CONFIGMAP.name, '--type=merge', '-p', JSON.stringify({ data: { [POLICY_CONFIGMAP.key]: policy } })]);
}

export function parseStream(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as Manifest | null)
    .filter((o): o is Manifest => o !== null && typeof o === 'object');
}

/** RuntimeClass objects shipped anywhere in manifests/ outside base and overlays (examples, components). */
function runtimeClassManifests(): Manifest[] {
  const found: Manifest[] = [];
  for (const file of listYaml(MANIFESTS)) {
    if (file.includes('/overlays/') || file.includes('/base/')) continue;
    for (const object of parseStream(readFileSync(file, 'utf8'))) if (object.kind === 'RuntimeClass') found.push(object);
  }
  return found;
}

export function listYaml(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSafe(at)) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.ya?ml$/.test(entry.name)) out.push(path);
    }
  };
  walk(dir);
  return out.sort();
}

/** Removes the state of earlier runs but the newest few; never one whose processes may still run. */
function pruneRuns(base: string, keep = 4): void {
  const runs = readdirSafe(base)
    .filter((entry) => entry.isDirectory() && entry.name.startsWith('run-'))
    .map((entry) => join(base, entry.name))
    .filter((dir) => !existsSync(join(dir, 'process-groups')))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  for (const dir of runs.slice(keep)) rmSync(dir, { recursive: true, force: true });
}

function readdirSafe(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

export function kubeconfigYaml(server: string, caFile: string, users: Record<string, string>): string {
  const names = Object.keys(users);
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { server, 'certificate-authority': caFile } }],
    users: names.map((name) => ({ name, user: { token: users[name] } })),
    contexts: names.map((name) => ({ name, context: { cluster: 'e2e', user: name, namespace: 'default' } })),
    'current-context': names[0],
  });
}

function testPodCrd(): object {
  const open = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `pods.${TEST_POD_GROUP}`,
      annotations: { 'restore-guard.dev/test-only': 'Pod-shaped objects that keep spec.restoreFrom, for the e2e tests and the demo' },
    },
    spec: {
      group: TEST_POD_GROUP,
      scope: 'Namespaced',
      names: { kind: 'Pod', listKind: 'PodList', plural: 'pods', singular: 'pod' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: open, status: open } } },
          additionalPrinterColumns: [
            { name: 'Restore-From', type: 'string', jsonPath: '.spec.restoreFrom.name' },
            { name: 'Pinned-To', type: 'string', jsonPath: '.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]' },
          ],
        },
      ],
    },
  };
}

function developerRole(): object[] {
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'e2e-developer' },
      rules: [
        { apiGroups: ['', TEST_POD_GROUP], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'update', 'patch', 'delete'] },
        { apiGroups: [CHECKPOINT_GROUP], resources: ['podcheckpoints'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'e2e-developer' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'e2e-developer' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'e2e:developers' }],
    },
  ];
}

export function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}
