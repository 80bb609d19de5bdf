import type { Metrics } from '../observability/metrics.js';
import { isObject, type JsonObject } from '../common/json.js';
import { DependencyError } from '../restore/ports.js';
import type { Deadline } from '../admission/deadline.js';
import { callWithDeadline, httpStatusOf } from './api-call.js';
import type { ApiClient } from './api-client.js';
import type { KubeLogger } from './logger.js';
import { WatchCache, type WatchCacheOptions } from './watch-cache.js';

/** Knobs of the underlying watch, for tests and tuning. */
export type WatchTuning = Pick<
  WatchCacheOptions,
  'backoff' | 'pageSize' | 'listTimeoutMs' | 'watchTimeoutSeconds' | 'watchIdleTimeoutMs' | 'maxObjectBytes' | 'maxPageBytes' | 'staleAfterMs'
>;

export interface ObjectReaderOptions<T = JsonObject> {
  client: ApiClient;
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
  metrics?: Metrics;
  logger?: KubeLogger;
  watch?: WatchTuning;
  /** What the cache keeps of each object (default: all of it). */
  compact?: (object: JsonObject) => T | undefined;
  onKeyEvent?: (key: string) => void;
  newStore?: WatchCacheOptions<T>['newStore'];
  /** The bound of an object read with GET (default MAX_BODY_BYTES). */
  maxGetBytes?: number;
}

/** Reads one resource from its watch cache, falling back to a direct GET bounded by the deadline. */
export class CachedObjectReader<T = JsonObject> {
  readonly cache: WatchCache<T>;

  constructor(private readonly options: ObjectReaderOptions<T>) {
    const { client, group, version, plural, metrics, logger, compact, onKeyEvent, newStore } = options;
    this.cache = new WatchCache<T>({ client, group, version, plural, metrics, logger, compact, onKeyEvent, newStore, ...options.watch });
  }

  /**
   * From the cache when it is fresh and has the object, else from the API server (undefined when it
   * does not exist): a cache whose watch cannot resume is not trusted past its staleness bound.
   */
  async get(namespace: string, name: string, deadline: Deadline): Promise<T | JsonObject | undefined> {
    if (this.cache.isFresh()) {
      const cached = this.cache.get(namespace, name);
      if (cached !== undefined) return cached;
    }
    // A miss may be an object created a moment ago whose watch event has not arrived yet, or one over
    // the size bound that the cache does not hold.
    return this.read(namespace, name, deadline);
  }

  /** A direct GET; undefined on 404. Throws DependencyError. */
  async read(namespace: string, name: string, deadline: Deadline): Promise<JsonObject | undefined> {
    const { group, version, plural, namespaced, client } = this.options;
    const what = `reading ${plural}.${group} ${namespaced ? `${namespace}/` : ''}${name}`;
    const scope = namespaced ? `namespaces/${encodeURIComponent(namespace)}/` : '';
    const path = `/apis/${group}/${version}/${scope}${plural}/${encodeURIComponent(name)}`;
    try {
      const maxBytes = this.options.maxGetBytes;
      const object = await callWithDeadline(deadline, what, (signal) => client.request('GET', path, { signal, ...(maxBytes !== undefined && { maxBytes }) }));
      if (!isObject(object)) {
        throw new DependencyError('server-error', `${what}: the API server answered with something not an object`);
      }
      this.count('found');
      return object;
    } catch (err) {
      if (err instanceof DependencyError && httpStatusOf(err.cause) === 404) {
        this.count('not-found');
        return undefined;
      }
      const failure = err instanceof DependencyError ? err.failure : 'unreachable';
      this.count(failure);
      throw err;
    }
  }

  start(): void {
    this.cache.start();
  }

  stop(): void {
    this.cache.stop();
  }

  private count(result: string): void {
    this.options.metrics?.apiCalls.inc({ resource: this.options.plural, result });
  }
}

/** The lifecycle every cache-backed source shares: start, stop and sync of its reader's watch. */
export abstract class WatchedSource<T = JsonObject> {
  protected constructor(protected readonly reader: CachedObjectReader<T>) {}

  start(): void {
    this.reader.start();
  }

  stop(): void {
    this.reader.stop();
  }

  hasSynced(): boolean {
    return this.reader.cache.hasSynced();
  }

  /** Synced, and its watch works or has not been failing for longer than the staleness bound. */
  isFresh(): boolean {
    return this.reader.cache.isFresh();
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    return this.reader.cache.waitForSync(signal);
  }

  /** The underlying cache (diagnostics, tests). */
  get cache(): WatchCache<T> {
    return this.reader.cache;
  }
}
