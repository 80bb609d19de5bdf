import type { Metrics } from '../observability/metrics.js';
import { isObject, stringAt, type JsonObject } from '../common/json.js';
import { httpStatusOf, networkCode } from './api-call.js';
import { IdleTimeoutError, MalformedLineError, MAX_WATCH_LINE_BYTES, type ApiClient } from './api-client.js';
import { ListScanner, peekStrings } from './json-stream.js';
import { silentLogger, type KubeLogger } from './logger.js';

/** Where a cache keeps what `compact` returned, by keyOf(namespace, name); a Map is one. */
export interface CacheStore<T> {
  get(key: string): T | undefined;
  set(key: string, value: T): void;
  delete(key: string): void;
  readonly size: number;
}

export interface WatchCacheOptions<T = JsonObject> {
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
  /**
   * What is kept of each object (default: all of it). Called as each list item or watch event is
   * parsed, so what is not kept is garbage at once; undefined keeps nothing of that object.
   */
  compact?: (object: JsonObject) => T | undefined;
  /** A new, empty store for the kept objects, at start and for each relist (default: a Map). */
  newStore?: () => CacheStore<T>;
  /** Called with the key of every object a watch event touched (changed, deleted, or too large to keep). */
  onKeyEvent?: (key: string) => void;
  /** The bound of one object in a list page and of one watch line; over it the object is not cached. */
  maxObjectBytes?: number;
  /** The bound of one list page, which is read item by item and never held whole. */
  maxPageBytes?: number;
  /** After failing to list or watch for this long, the cache no longer counts as fresh (see isFresh). */
  staleAfterMs?: number;
  now?: () => number;
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
export class WatchCache<T = JsonObject> {
  private objects: CacheStore<T>;
  private readonly newStore: () => CacheStore<T>;
  // Since when listing or watching has been failing (undefined: it works).
  private failingSince: number | undefined;
  // When the current watch was accepted by the server, while it runs.
  private watchConnectedAt: number | undefined;
  private readonly maxObjectBytes: number;
  private readonly maxPageBytes: number;
  private readonly staleAfterMs: number;
  private readonly now: () => number;
  private readonly compact: (object: JsonObject) => T | undefined;
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

  constructor(private readonly options: WatchCacheOptions<T>) {
    this.maxObjectBytes = options.maxObjectBytes ?? MAX_WATCH_LINE_BYTES;
    this.maxPageBytes = options.maxPageBytes ?? 256 * 1024 * 1024;
    this.staleAfterMs = options.staleAfterMs ?? 30_000;
    this.now = options.now ?? Date.now;
    // Without a compaction every object is kept whole (T is then JsonObject).
    this.compact = options.compact ?? ((object) => object as T);
    this.newStore = options.newStore ?? (() => new Map<string, T>());
    this.objects = this.newStore();
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

  /**
   * Whether the cache shows what the API server holds, as of moments ago: it has listed, and its watch
   * works or has failed for less than staleAfterMs. While a relist runs after a 410 the previous state
   * stays fresh (it is what the watch delivered); a watch that cannot resume (refused, malformed lines,
   * the server away) makes it stale after the bound, and readers then read from the API server.
   */
  isFresh(): boolean {
    if (!this.synced) return false;
    if (this.failingSince === undefined) return true;
    const now = this.now();
    // A watch that has stayed connected for a while has proven the way back.
    if (this.watchConnectedAt !== undefined && now - this.watchConnectedAt >= HEALTHY_WATCH_MS) {
      this.failingSince = undefined;
      return true;
    }
    return now - this.failingSince < this.staleAfterMs;
  }

  /** The object, or undefined; `namespace` is '' for cluster-scoped resources. */
  get(namespace: string, name: string): T | undefined {
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
          this.failingSince ??= this.now();
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
      if (worked) {
        failures = 0;
        this.failingSince = undefined;
      } else failures++;
      if (!worked && (outcome.error !== undefined || outcome.expired === undefined)) this.failingSince ??= this.now();
      if (outcome.error instanceof MalformedLineError) {
        // The line could not be read, so which object it changed is unknown: resuming from the same
        // resourceVersion would meet it again. Only a fresh list catches up past it.
        this.logger.warn({ resource: this.resource, err: messageOf(outcome.error), attempt: failures }, 'malformed watch line; relisting');
        relist = true;
        await this.sleep(this.backoff(failures));
        continue;
      }

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
    // The new store is built beside the old one, which keeps serving reviews until the swap; it holds only
    // what `compact` keeps, so the two together stay small.
    const objects = this.newStore();
    let resourceVersion: string;
    let skipped = 0;
    if (this.options.source) {
      const signal = AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.listTimeoutMs)]);
      const listed = await this.options.source.list(signal);
      for (const item of listed.items) this.keep(objects, item);
      resourceVersion = listed.resourceVersion;
    } else {
      let continueToken: string | undefined;
      do {
        const signal = AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.listTimeoutMs)]);
        const scanner = new ListScanner(
          this.maxObjectBytes,
          (item) => this.keep(objects, JSON.parse(item.toString('utf8'))),
          (head, bytes) => {
            skipped++;
            this.oversized(head, bytes, 'listed');
          },
          this.maxPageBytes,
        );
        await this.options.client.stream(this.path, {
          query: { limit: this.pageSize, continue: continueToken },
          signal,
          onChunk: (chunk) => scanner.push(chunk),
        });
        const page = scanner.end();
        this.options.metrics?.listPages.inc({ resource: this.options.plural });
        resourceVersion = page.resourceVersion;
        continueToken = page.continue;
      } while (continueToken && !this.stopped);
    }
    if (this.stopped) return;

    // Swap at once: readers see the old state or the new one, never half a list.
    this.objects = objects;
    this.resourceVersion = resourceVersion;
    this.logger.info({ resource: this.resource, count: objects.size, skipped, resourceVersion }, 'listed');
    this.options.onChange?.();
    if (!this.synced) {
      this.synced = true;
      for (const waiter of this.syncWaiters) waiter.resolve();
      this.syncWaiters.clear();
    }
  }

  private keep(objects: CacheStore<T>, item: unknown): void {
    const key = keyOfObject(item);
    if (!key || !isObject(item)) return;
    const kept = this.compact(item);
    if (kept !== undefined) objects.set(key, kept);
  }

  /**
   * An object over the bound: logged, never cached, and dropped from the cache if an older version was
   * there, so readers GET it when they need it. Returns false when not even its name can be read.
   */
  private oversized(head: Buffer, bytes: number, where: 'listed' | 'watched'): boolean {
    const prefix = where === 'watched' ? 'object.' : '';
    const found = peekStrings(head, [`${prefix}metadata.name`, `${prefix}metadata.namespace`, `${prefix}metadata.resourceVersion`, 'type']);
    const name = found.get(`${prefix}metadata.name`);
    const namespace = found.get(`${prefix}metadata.namespace`) ?? '';
    this.options.metrics?.oversizedObjects.inc({ resource: this.options.plural });
    this.logger.warn(
      { resource: this.resource, object: name ? keyOf(namespace, name) : 'unknown', bytes, bound: this.maxObjectBytes, where },
      'object over the size bound is not cached; it is read from the API server when needed',
    );
    if (where === 'listed' || !name) return name !== undefined;
    const key = keyOf(namespace, name);
    this.objects.delete(key);
    this.options.onKeyEvent?.(key);
    this.options.onChange?.();
    const resourceVersion = found.get(`${prefix}metadata.resourceVersion`);
    if (resourceVersion) this.resourceVersion = resourceVersion;
    return true;
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
        maxLineBytes: this.maxObjectBytes,
        onOversized: (head, bytes) => {
          if (expired !== undefined || this.stopped) return;
          events++;
          // Unnamed, it cannot be dropped from the cache: end this watch as if the line were malformed.
          if (!this.oversized(head, bytes, 'watched')) {
            error = new MalformedLineError(new Error(`an unnamed watch line of ${bytes} bytes`));
            controller.abort();
          }
        },
        onConnected: () => {
          connected = true;
          this.watchConnectedAt = this.now();
        },
        onEvent: (type, object) => {
          if (expired !== undefined || this.stopped) return;
          events++;
          this.options.metrics?.watchEvents.inc({ resource: this.options.plural, type });
          expired = this.apply(type, object);
          if (expired !== undefined) controller.abort();
          else this.failingSince = undefined;
        },
      });
    } catch (err) {
      if (expired === undefined) error ??= err;
    } finally {
      this.watchConnectedAt = undefined;
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
        if (key && isObject(object)) {
          const kept = this.compact(object);
          if (kept !== undefined) this.objects.set(key, kept);
          else this.objects.delete(key);
          this.options.onKeyEvent?.(key);
        }
        this.options.onChange?.();
        break;
      }
      case 'DELETED': {
        const key = keyOfObject(object);
        if (key) {
          this.objects.delete(key);
          this.options.onKeyEvent?.(key);
        }
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

export function keyOf(namespace: string, name: string): string {
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
