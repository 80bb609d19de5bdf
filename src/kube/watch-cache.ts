import type { Metrics } from '../observability/metrics.js';
import { arrayAt, isObject, stringAt, type JsonObject } from '../common/json.js';
import { httpStatusOf, networkCode } from './api-call.js';
import { IdleTimeoutError, type ApiClient } from './api-client.js';
import { silentLogger, type KubeLogger } from './logger.js';

export interface WatchCacheOptions {
  client: ApiClient;
  /** API group; must not be empty (the core group is not served under /apis). */
  group: string;
  version: string;
  /** Plural resource name, e.g. podcheckpoints. */
  plural: string;
  metrics?: Metrics;
  logger?: KubeLogger;
  /** Reconnect delays: exponential from initialMs, capped at maxMs, with jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Objects per list page. */
  pageSize?: number;
  /** Upper bound for one list page. */
  listTimeoutMs?: number;
  /** Server-side watch duration; defaults to a random 5..10 minutes, as client-go does, to spread reconnects. */
  watchTimeoutSeconds?: () => number;
  /** A watch without any data for this long (bookmarks count) is ended and resumed. */
  watchIdleTimeoutMs?: number;
  /**
   * Another source than the cluster-wide list: e.g. one object read with GET and watched with a
   * fieldSelector, which needs only the get and watch verbs. `path` is then the watch path.
   */
  source?: {
    path: string;
    watchParams: Record<string, string>;
    list: (signal: AbortSignal) => Promise<{ items: JsonObject[]; resourceVersion: string }>;
  };
  /** Called whenever the cached objects change (after a list, and after each event that changes one). */
  onChange?: () => void;
}

/** How one watch ended: cleanly (error undefined), by the idle timeout, by a failure, or expired. */
interface WatchOutcome {
  /** Set when the server said the resourceVersion is gone (410, or any ERROR event). */
  expired: string | undefined;
  error: unknown;
  connected: boolean;
  events: number;
  lastedMs: number;
}

/**
 * A list-then-watch cache of the raw JSON objects of one resource, across all namespaces. Objects stay
 * untyped so fields that typed models do not know (RuntimeClass.podCheckpoint) survive.
 * While the API server is away the last known objects stay served; readers decide what stale means.
 */
export class WatchCache {
  private objects = new Map<string, JsonObject>();
  private resourceVersion = '';
  private synced = false;
  private started = false;
  private stopped = false;
  private readonly path: string;
  private readonly logger: KubeLogger;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly pageSize: number;
  private readonly listTimeoutMs: number;
  private readonly watchTimeoutSeconds: () => number;
  private readonly watchIdleTimeoutMs: number;
  private readonly stopController = new AbortController();
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private readonly syncWaiters = new Set<{ resolve: () => void; reject: (err: unknown) => void }>();

  constructor(private readonly options: WatchCacheOptions) {
    if (!options.group && !options.source) throw new Error('WatchCache needs an API group or its own source (the core group is not under /apis)');
    this.path = options.source?.path ?? `/apis/${options.group}/${options.version}/${options.plural}`;
    this.logger = options.logger ?? silentLogger;
    this.initialBackoffMs = options.backoff?.initialMs ?? 200;
    this.maxBackoffMs = options.backoff?.maxMs ?? 10_000;
    this.pageSize = options.pageSize ?? 500;
    this.listTimeoutMs = options.listTimeoutMs ?? 60_000;
    this.watchTimeoutSeconds = options.watchTimeoutSeconds ?? (() => 300 + Math.floor(Math.random() * 300));
    this.watchIdleTimeoutMs = options.watchIdleTimeoutMs ?? 120_000;
  }

  get resource(): string {
    return `${this.options.plural}.${this.options.group}`;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.run().catch((err: unknown) => {
      this.logger.error({ resource: this.resource, err: messageOf(err) }, 'watch cache loop failed');
    });
  }

  /** Ends the loop, its timers and its requests. A cache cannot be restarted. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopController.abort();
    if (this.sleepTimer !== undefined) clearTimeout(this.sleepTimer);
    this.wake?.();
    for (const waiter of this.syncWaiters) waiter.reject(new Error(`the ${this.resource} cache was stopped`));
    this.syncWaiters.clear();
  }

  /** True once the first list has succeeded; stays true while reconnecting. */
  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    if (this.stopped) return Promise.reject(new Error(`the ${this.resource} cache was stopped`));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.syncWaiters.delete(waiter);
        reject(signal?.reason);
      };
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      this.syncWaiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The object, or undefined; `namespace` is '' for cluster-scoped resources. */
  get(namespace: string, name: string): JsonObject | undefined {
    return this.objects.get(keyOf(namespace, name));
  }

  get size(): number {
    return this.objects.size;
  }

  /** The resourceVersion the cache is at (for diagnostics). */
  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  private async run(): Promise<void> {
    let failures = 0;
    let relist = true;
    while (!this.stopped) {
      if (relist) {
        try {
          // failures is not reset here: only a watch that works proves the server is healthy again.
          await this.relist();
          relist = false;
        } catch (err) {
          if (this.stopped) return;
          failures++;
          const delay = this.backoff(failures);
          this.logger.warn({ resource: this.resource, err: describe(err), attempt: failures, retryInMs: delay }, 'list failed; retrying');
          await this.sleep(delay);
          continue;
        }
      }

      const outcome = await this.watchOnce();
      if (this.stopped) return;
      this.options.metrics?.watchRestarts.inc({ resource: this.options.plural });
      const worked = outcome.connected && (outcome.events > 1 || outcome.lastedMs >= HEALTHY_WATCH_MS);
      if (worked) failures = 0;
      else failures++;

      const gone = outcome.expired ?? (httpStatusOf(outcome.error) === 410 ? 'HTTP 410' : undefined);
      if (gone !== undefined) {
        // The resourceVersion is gone from the server's history: only a fresh list can catch up.
        this.logger.info({ resource: this.resource, detail: gone }, 'watch expired; relisting');
        relist = true;
        // A server that expires every watch at once must not make this a tight list loop.
        if (failures > 1) await this.sleep(this.backoff(failures - 1));
        continue;
      }
      if (worked) {
        // A watch that worked for a while and then ended (server timeout, idle timeout, dropped
        // connection): resume from the last resourceVersion at once.
        this.logger.debug({ resource: this.resource, resourceVersion: this.resourceVersion, err: describe(outcome.error) }, 'watch ended; resuming');
        continue;
      }
      const delay = this.backoff(failures);
      this.logger.warn({ resource: this.resource, err: describe(outcome.error), attempt: failures, retryInMs: delay }, 'watch failed; reconnecting');
      await this.sleep(delay);
    }
  }

  private async relist(): Promise<void> {
    const objects = new Map<string, JsonObject>();
    let resourceVersion: string;
    let continueToken: string | undefined;
    if (this.options.source) {
      const signal = AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.listTimeoutMs)]);
      const listed = await this.options.source.list(signal);
      for (const item of listed.items) {
        const key = keyOfObject(item);
        if (key) objects.set(key, item);
      }
      resourceVersion = listed.resourceVersion;
    } else
      do {
        const signal = AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.listTimeoutMs)]);
        const page = await this.options.client.request('GET', this.path, {
          query: { limit: this.pageSize, continue: continueToken },
          signal,
        });
        for (const item of arrayAt(page, 'items') ?? []) {
          const key = keyOfObject(item);
          if (key && isObject(item)) objects.set(key, item);
        }
        resourceVersion = stringAt(page, 'metadata', 'resourceVersion') ?? '';
        continueToken = stringAt(page, 'metadata', 'continue') || undefined;
      } while (continueToken && !this.stopped);
    if (this.stopped) return;

    // Swap at once: readers see the old state or the new one, never half a list.
    this.objects = objects;
    this.resourceVersion = resourceVersion;
    this.logger.info({ resource: this.resource, count: objects.size, resourceVersion }, 'listed');
    this.options.onChange?.();
    if (!this.synced) {
      this.synced = true;
      for (const waiter of this.syncWaiters) waiter.resolve();
      this.syncWaiters.clear();
    }
  }

  private async watchOnce(): Promise<WatchOutcome> {
    const startedAt = performance.now();
    // Aborted by stop(), or to end the watch when an event says it expired.
    const controller = new AbortController();
    let connected = false;
    let events = 0;
    let expired: string | undefined;
    let error: unknown;
    try {
      await this.options.client.watch(this.path, {
        query: {
          ...this.options.source?.watchParams,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: this.watchTimeoutSeconds(),
        },
        signal: AbortSignal.any([this.stopController.signal, controller.signal]),
        // Quiet resources send a bookmark about every minute; this still catches dead connections.
        idleTimeoutMs: this.watchIdleTimeoutMs,
        onConnected: () => {
          connected = true;
        },
        onEvent: (type, object) => {
          if (expired !== undefined || this.stopped) return;
          events++;
          this.options.metrics?.watchEvents.inc({ resource: this.options.plural, type });
          expired = this.apply(type, object);
          if (expired !== undefined) controller.abort();
        },
      });
    } catch (err) {
      if (expired === undefined) error = err;
    }
    return { expired, error, connected, events, lastedMs: performance.now() - startedAt };
  }

  /** Applies one watch event; returns why the watch must be relisted, if it must. */
  private apply(type: string, object: unknown): string | undefined {
    const resourceVersion = stringAt(object, 'metadata', 'resourceVersion');
    switch (type) {
      case 'ADDED':
      case 'MODIFIED': {
        const key = keyOfObject(object);
        if (key && isObject(object)) this.objects.set(key, object);
        this.options.onChange?.();
        break;
      }
      case 'DELETED': {
        const key = keyOfObject(object);
        if (key) this.objects.delete(key);
        this.options.onChange?.();
        break;
      }
      case 'BOOKMARK':
        break;
      case 'ERROR': {
        const code = isObject(object) && typeof object.code === 'number' ? object.code : undefined;
        return `ERROR event${code !== undefined ? ` ${code}` : ''}: ${stringAt(object, 'message') ?? 'no message'}`;
      }
      default:
        this.logger.debug({ resource: this.resource, type }, 'ignored watch event of unknown type');
        return undefined;
    }
    if (resourceVersion) this.resourceVersion = resourceVersion;
    return undefined;
  }

  private backoff(failures: number): number {
    const exponential = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(failures - 1, 30));
    // Jitter in [50%, 100%] so replicas do not reconnect in step.
    return Math.round(exponential / 2 + (Math.random() * exponential) / 2);
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        if (this.sleepTimer !== undefined) clearTimeout(this.sleepTimer);
        this.sleepTimer = undefined;
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      this.sleepTimer = setTimeout(done, ms);
    });
  }
}

// A watch that lasted this long counts as having worked, even without events.
const HEALTHY_WATCH_MS = 1000;

function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function keyOfObject(object: unknown): string | undefined {
  const name = stringAt(object, 'metadata', 'name');
  if (!name) return undefined;
  return keyOf(stringAt(object, 'metadata', 'namespace') ?? '', name);
}

function describe(err: unknown): string {
  if (err === undefined || err === null) return 'closed by the server';
  const status = httpStatusOf(err);
  if (status !== undefined) return `HTTP ${status}`;
  if (err instanceof IdleTimeoutError) return `idle: ${err.message}`;
  const code = networkCode(err);
  return code ?? messageOf(err);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
