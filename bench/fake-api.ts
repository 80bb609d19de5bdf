// The fake Kubernetes API the webhook under test talks to, seeded for the benchmark. The benchmark runs it
// in its own process (so its answers are not held up by the load generator's event loop) and drives it
// over IPC; tests use the same seeding in-process.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { FakeApi } from '../harness/fake-api.js';
import { checkpointObject, GROUP, NAMESPACE } from './fixtures.js';

/**
 * How the webhook reaches the fake API: as a pod does (service account files and the KUBERNETES_SERVICE_*
 * environment, over TLS) or through a kubeconfig file (the out-of-cluster path, which loads
 * @kubernetes/client-node to read it).
 */
export type ApiAccessMode = 'in-cluster' | 'kubeconfig';
export const API_ACCESS_MODES: ApiAccessMode[] = ['in-cluster', 'kubeconfig'];

/** Flags and environment for `restore-guard serve`. */
export interface ApiAccess {
  args: string[];
  env: Record<string, string>;
}

/** What the benchmark needs of the fake API, wherever it runs. */
export interface FakeApiHandle {
  access: ApiAccess;
  /** SubjectAccessReviews answered so far. */
  sarCount(): Promise<number>;
  /** Round-trip delay added to every answer, e.g. to model a SubjectAccessReview that misses the cache. */
  setDelay(ms: number): Promise<void>;
  pid?: number;
  close(): Promise<void>;
}

/** Grants GROUP `restore` on podcheckpoints in NAMESPACE and stores the checkpoint the restore Pod matches. */
export function seed(api: FakeApi): void {
  api.grant({ group: GROUP, namespace: NAMESPACE });
  api.checkpoints.put(checkpointObject());
}

export async function startInProcess(dir: string, mode: ApiAccessMode = 'in-cluster'): Promise<FakeApiHandle & { api: FakeApi }> {
  const api = await FakeApi.start({ tls: mode === 'in-cluster' });
  seed(api);
  const access: ApiAccess =
    mode === 'in-cluster'
      ? { args: ['--service-account-dir', join(dir, 'serviceaccount')], env: await api.writeServiceAccount(join(dir, 'serviceaccount')) }
      : { args: ['--kubeconfig', await api.writeKubeConfig(dir)], env: {} };
  return {
    api,
    access,
    sarCount: async () => api.sarCount,
    setDelay: async (ms) => api.setDelay(ms),
    close: () => api.close(),
  };
}

type Ask = { op: 'sarCount' } | { op: 'setDelay'; ms: number };
type Request = Ask & { id: number };
type Reply = { id: number; value?: number } | { type: 'ready'; access: ApiAccess };

/** Runs this file as a child process (optionally pinned with `prefix`, e.g. ['taskset', '-c', '1']). */
export async function startChild(dir: string, mode: ApiAccessMode, prefix: string[] = []): Promise<FakeApiHandle> {
  const args = [...prefix.slice(1), process.execPath, import.meta.filename, dir, mode];
  const command = prefix[0] ?? process.execPath;
  const child: ChildProcess = spawn(command, prefix.length > 0 ? args : args.slice(1), {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const pending = new Map<number, (value: number | undefined) => void>();
  const ready = new Promise<ApiAccess>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`fake API exited with ${code}`)));
    child.on('message', (message: Reply) => {
      if ('type' in message) resolve(message.access);
      else pending.get(message.id)?.(message.value);
    });
  });
  const access = await ready;
  const ask = (request: Ask): Promise<number | undefined> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, (value) => {
        pending.delete(id);
        resolve(value);
      });
      child.send({ ...request, id });
    });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const handle: FakeApiHandle = {
    access,
    sarCount: async () => (await ask({ op: 'sarCount' })) ?? 0,
    setDelay: async (ms) => void (await ask({ op: 'setDelay', ms })),
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  if (child.pid !== undefined) handle.pid = child.pid;
  return handle;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const [dir, mode] = process.argv.slice(2);
  if (!dir || !API_ACCESS_MODES.includes(mode as ApiAccessMode)) throw new Error(`usage: fake-api DIR ${API_ACCESS_MODES.join('|')}`);
  const handle = await startInProcess(dir, mode as ApiAccessMode);
  process.on('message', (request: Request) => {
    if (request.op === 'sarCount') process.send?.({ id: request.id, value: handle.api.sarCount });
    else {
      handle.api.setDelay(request.ms);
      process.send?.({ id: request.id });
    }
  });
  const stop = (): void => void handle.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
  process.send?.({ type: 'ready', access: handle.access });
}
