// kube-controller-manager against the e2e kube-apiserver: the real workload controllers, so Pods of a Deployment,
// a Job, ... are created as on a cluster, by the controllers' own ServiceAccounts
// (--use-service-account-credentials: system:serviceaccount:kube-system:replicaset-controller, job-controller, ...).
//
// It authenticates with a client certificate for system:kube-controller-manager, the user kube-apiserver's RBAC
// bootstrap binds the role system:kube-controller-manager to (which may request tokens for the controllers'
// ServiceAccounts). No scheduler and no kubelet run: Pods stay Pending, DaemonSets find no node.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { kubectl } from './kubectl.js';
import { eventually, freePort, httpsRequest } from './net.js';
import type { Pki } from './pki.js';
import type { Managed, Supervisor } from './processes.js';

/**
 * What runs: the workload controllers, the ServiceAccount controllers and the garbage collector. Left out: those
 * that need a cloud provider, nodes or kubelets (node-*, persistentvolume-*, attach-detach, taint-eviction,
 * ttl), the namespace controller (tests never wait for a namespace to be deleted; without it they stay
 * Terminating, as before), endpoints/endpointslice (the `kubernetes` Service has no valid endpoint on
 * 127.0.0.1), certificate signing, quotas, and the rest no test needs.
 */
export const CONTROLLERS = [
  'deployment-controller',
  'replicaset-controller',
  'job-controller',
  'cronjob-controller',
  'statefulset-controller',
  'daemonset-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'garbage-collector-controller',
] as const;

/** The user kube-apiserver's RBAC bootstrap binds the ClusterRole system:kube-controller-manager to. */
export const CONTROLLER_MANAGER_USER = 'system:kube-controller-manager';

export interface ControllerManagerOptions {
  supervisor: Supervisor;
  binary: string;
  dir: string;
  server: string;
  pki: Pki;
  /** kube-apiserver's --service-account-signing-key-file: signs the legacy token Secrets. */
  serviceAccountKeyFile: string;
  /** A kubectl target with admin rights, to see that the controllers work. */
  admin: { kubectl: string; kubeconfig: string };
  log: (line: string) => void;
}

export interface ControllerManager {
  managed: Managed;
  /** Resolves once /healthz answers ok and the ServiceAccount controller has made `default` in `default`. */
  ready: Promise<void>;
}

/** Starts kube-controller-manager; `ready` tells when it works (await it, or stop `managed` on failure). */
export async function startControllerManager(options: ControllerManagerOptions): Promise<ControllerManager> {
  const { dir, pki } = options;
  const client = await pki.write(await pki.client(CONTROLLER_MANAGER_USER), 'kube-controller-manager-client');
  const serving = await pki.write(await pki.serving('kube-controller-manager', ['localhost'], ['127.0.0.1']), 'kube-controller-manager');
  const kubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
  await writeFile(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { server: options.server, 'certificate-authority': pki.caFile } }],
      users: [{ name: CONTROLLER_MANAGER_USER, user: { 'client-certificate': client.certFile, 'client-key': client.keyFile } }],
      contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: CONTROLLER_MANAGER_USER } }],
      'current-context': 'e2e',
    }),
    { mode: 0o600 },
  );
  const port = await freePort();
  options.log(`kube-controller-manager (${CONTROLLERS.length} controllers, one ServiceAccount each) on 127.0.0.1:${port}`);
  const managed = options.supervisor.spawn('kube-controller-manager', options.binary, [
    `--kubeconfig=${kubeconfig}`,
    // Delegated authentication and authorization of its own endpoint (/healthz is always allowed).
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    // kube-apiserver has no front proxy: nothing to look up (and no errors about its missing CA bundle).
    '--authentication-skip-lookup=true',
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--tls-cert-file=${serving.certFile}`,
    `--tls-private-key-file=${serving.keyFile}`,
    '--leader-elect=false',
    '--use-service-account-credentials=true',
    `--controllers=${CONTROLLERS.join(',')}`,
    `--service-account-private-key-file=${options.serviceAccountKeyFile}`,
    `--root-ca-file=${pki.caFile}`,
    '--v=1',
  ]);
  const diagnose = (): string => {
    try {
      return readFileSync(managed.logFile, 'utf8').split('\n').slice(-40).join('\n');
    } catch {
      return `(no ${managed.logFile})`;
    }
  };
  const spawned = Date.now();
  const ready = (async () => {
    await eventually(
      'kube-controller-manager to be healthy',
      async () => {
        if (!managed.running()) throw new Error('kube-controller-manager exited');
        const res = await httpsRequest(`https://127.0.0.1:${port}/healthz`, { ca: pki.ca.cert });
        return res.status === 200 && res.body === 'ok' ? true : undefined;
      },
      { limitMs: 120_000, diagnose },
    );
    // The ServiceAccount controller, under its own ServiceAccount's token: the credentials work.
    await eventually(
      'the ServiceAccount controller to create default/default',
      async () => ((await kubectl(options.admin, ['get', '-n', 'default', 'serviceaccount', 'default', '-o', 'name'])).code === 0 ? true : undefined),
      { limitMs: 120_000, diagnose },
    );
    options.log(`kube-controller-manager working ${((Date.now() - spawned) / 1000).toFixed(1)} s after its start`);
  })();
  // Awaited by the caller; this keeps an early rejection from being reported as unhandled meanwhile.
  ready.catch(() => undefined);
  return { managed, ready };
}
