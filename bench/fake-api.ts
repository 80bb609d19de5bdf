// The fake Kubernetes API the webhook under test talks to, seeded for the benchmark. The benchmark runs it
// in its own process (so its answers are not held up by the load generator's event loop) and drives it
// over IPC; tests use the same seeding in-process.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { FakeApi } from '../harness/fake-api.js';
import type { JsonObject } from '../src/common/json.js';
import { checkpointObject, generatedCheckpoints, GROUP, NAMESPACE, smallCheckpointObject } from './fixtures.js';

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
  /** Serves `count` generated PodCheckpoints of about 11 KB across 1,000 namespaces (see generatedCheckpoints). */
  generate(count: number): Promise<void>;
  /** Checkpoint events per second (created, Ready flipping, deleted, in turn); 0 stops. Returns events so far. */
  churn(rate: number): Promise<number>;
  /** Forgets the event history and ends every watch: watchers get 410 Gone and relist. */
  forceRelist(): Promise<void>;
  /** podcheckpoints list requests (pages) served so far. */
  listCalls(): Promise<number>;
  pid?: number;
  close(): Promise<void>;
}

/** Grants GROUP `restore` on podcheckpoints in NAMESPACE and stores the checkpoint the restore Pod matches. */
export function seed(api: FakeApi): void {
  api.grant({ group: GROUP, namespace: NAMESPACE });
  api.checkpoints.put(checkpointObject());
  api.checkpoints.put(smallCheckpointObject());
}

/** Churn on generated checkpoints: every tick, create one, flip the Ready of another, delete one created before. */
class Churn {
  private timer: NodeJS.Timeout | undefined;
  private created: string[] = [];
  private next = 0;
  events = 0;

  constructor(private readonly api: FakeApi) {}

  set(rate: number, count: number): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (rate <= 0 || count === 0) return;
    const generated = generatedCheckpoints(count);
    const perTick = rate / 100;
    let owed = 0;
    this.timer = setInterval(() => {
      for (owed += perTick; owed >= 1; owed--) this.step(generated);
    }, 10);
  }

  private step(generated: ReturnType<typeof generatedCheckpoints>): void {
    const n = this.next++;
    const kind = n % 3;
    if (kind === 0) {
      // A new checkpoint, as a kubelet completes one.
      const object = JSON.parse(generated.text(n % generated.count, '0')) as JsonObject;
      const metadata = object.metadata as JsonObject;
      metadata.name = `churn-${n}`;
      delete metadata.resourceVersion;
      this.api.checkpoints.put(object);
      this.created.push(`${typeof metadata.namespace === 'string' ? metadata.namespace : ''}/churn-${n}`);
    } else if (kind === 1) {
      // Ready flips on a generated one (never the checkpoint the reviews restore from).
      const index = (n * 7919) % generated.count;
      const object = this.api.checkpoints.get(generated.namespaceOf(index), `cp-${index}`);
      if (object) {
        const status = object.status as JsonObject;
        const [ready] = status.conditions as JsonObject[];
        if (ready) ready.status = ready.status === 'True' ? 'False' : 'True';
        this.api.checkpoints.put(object);
      }
    } else {
      const oldest = this.created.shift();
      if (oldest) {
        const [namespace = '', name = ''] = oldest.split('/');
        this.api.checkpoints.remove(namespace, name);
      }
    }
    this.events++;
  }
}

export async function startInProcess(dir: string, mode: ApiAccessMode = 'in-cluster'): Promise<FakeApiHandle & { api: FakeApi }> {
  const api = await FakeApi.start({ tls: mode === 'in-cluster' });
  seed(api);
  const churn = new Churn(api);
  let generatedCount = 0;
  const access: ApiAccess =
    mode === 'in-cluster'
      ? { args: ['--service-account-dir', join(dir, 'serviceaccount')], env: await api.writeServiceAccount(join(dir, 'serviceaccount')) }
      : { args: ['--kubeconfig', await api.writeKubeConfig(dir)], env: {} };
  return {
    api,
    access,
    sarCount: async () => api.sarCount,
    setDelay: async (ms) => api.setDelay(ms),
    generate: async (count) => {
      generatedCount = count;
      api.checkpoints.setGenerated(generatedCheckpoints(count));
    },
    churn: async (rate) => {
      churn.set(rate, generatedCount);
      return churn.events;
    },
    forceRelist: async () => {
      // A write no watcher has seen, then compaction: every watch's resourceVersion is now too old.
      api.nextResourceVersion();
      api.checkpoints.compact();
      api.checkpoints.dropWatches();
    },
    listCalls: async () => api.calls('podcheckpoints.list'),
    close: () => {
      churn.set(0, 0);
      return api.close();
    },
  };
}

type Ask =
  | { op: 'sarCount' }
  | { op: 'setDelay'; ms: number }
  | { op: 'generate'; count: number }
  | { op: 'churn'; rate: number }
  | { op: 'forceRelist' }
  | { op: 'listCalls' };
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
    generate: async (count) => void (await ask({ op: 'generate', count })),
    churn: async (rate) => (await ask({ op: 'churn', rate })) ?? 0,
    forceRelist: async () => void (await ask({ op: 'forceRelist' })),
    listCalls: async () => (await ask({ op: 'listCalls' })) ?? 0,
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
    const answer = async (): Promise<number | undefined> => {
      switch (request.op) {
        case 'sarCount':
          return handle.sarCount();
        case 'setDelay':
          return void (await handle.setDelay(request.ms));
        case 'generate':
          return void (await handle.generate(request.count));
        case 'churn':
          return handle.churn(request.rate);
        case 'forceRelist':
          return void (await handle.forceRelist());
        case 'listCalls':
          return handle.listCalls();
      }
    };
    void answer().then((value) => process.send?.({ id: request.id, ...(value !== undefined && { value }) }));
  });
  const stop = (): void => void handle.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
  process.send?.({ type: 'ready', access: handle.access });
}
