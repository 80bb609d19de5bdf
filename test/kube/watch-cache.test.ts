import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JsonObject } from '../../src/common/json.js';
import { WatchCache, type WatchCacheOptions } from '../../src/kube/watch-cache.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { toPodCheckpoint } from '../../src/restore/checkpoint.js';
import { checkpointObject, FakeApi } from '../../harness/fake-api.js';

const waitFor = <T>(check: () => T | Promise<T>): Promise<T> => vi.waitFor(check, { timeout: 5_000, interval: 10 });

async function counterValue(metrics: Metrics, name: 'watchEvents' | 'watchRestarts', labels: Record<string, string>) {
  const metric = await metrics[name].get();
  return metric.values
    .filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k as keyof typeof v.labels] === value))
    .reduce((sum, v) => sum + v.value, 0);
}

describe('WatchCache against the fake API', () => {
  let api: FakeApi;
  let metrics: Metrics;
  const caches: WatchCache[] = [];

  const newCache = (options: Partial<WatchCacheOptions> = {}): WatchCache => {
    const cache = new WatchCache({
      client: api.client(),
      group: 'node.k8s.io',
      version: 'v1alpha1',
      plural: 'podcheckpoints',
      metrics,
      // pino's logger fits the adapters' logger interface.
      logger: pino({ level: 'silent' }),
      backoff: { initialMs: 10, maxMs: 50 },
      ...options,
    });
    caches.push(cache);
    return cache;
  };

  beforeEach(async () => {
    api = await FakeApi.start();
    metrics = createMetrics({ defaultMetrics: false });
  });

  afterEach(async () => {
    for (const cache of caches.splice(0)) cache.stop();
    await api.close();
  });

  it('lists across namespaces, then syncs', async () => {
    api.checkpoints.put(checkpointObject('team-a', 'one'));
    api.checkpoints.put(checkpointObject('team-b', 'two'));
    const cache = newCache({ pageSize: 1 });
    expect(cache.hasSynced()).toBe(false);
    cache.start();
    await cache.waitForSync(AbortSignal.timeout(5_000));
    expect(cache.hasSynced()).toBe(true);
    expect(cache.size).toBe(2);
    expect(cache.get('team-a', 'one')).toBeDefined();
    expect(cache.get('team-b', 'two')).toBeDefined();
    expect(cache.get('team-a', 'two')).toBeUndefined();
    // pageSize 1: the list was paged.
    expect(api.calls('podcheckpoints.list')).toBe(2);
  });

  it('applies ADDED, MODIFIED (Ready flip) and DELETED from the watch', async () => {
    const cache = newCache();
    cache.start();
    await cache.waitForSync(AbortSignal.timeout(5_000));
    await waitFor(() => expect(api.openWatches).toBe(1));

    api.checkpoints.put(checkpointObject('team-a', 'cp', { ready: false }));
    await waitFor(() => expect(toPodCheckpoint(cache.get('team-a', 'cp'))?.ready).toBe(false));

    api.checkpoints.put(checkpointObject('team-a', 'cp', { ready: true }));
    await waitFor(() => expect(toPodCheckpoint(cache.get('team-a', 'cp'))?.ready).toBe(true));

    api.checkpoints.remove('team-a', 'cp');
    await waitFor(() => expect(cache.get('team-a', 'cp')).toBeUndefined());

    expect(await counterValue(metrics, 'watchEvents', { resource: 'podcheckpoints', type: 'ADDED' })).toBe(1);
    expect(await counterValue(metrics, 'watchEvents', { resource: 'podcheckpoints', type: 'MODIFIED' })).toBe(1);
    expect(await counterValue(metrics, 'watchEvents', { resource: 'podcheckpoints', type: 'DELETED' })).toBe(1);
  });

  it('keeps fields the typed models do not know', async () => {
    api.checkpoints.put({ ...checkpointObject('team-a', 'cp'), futureField: { kept: true } });
    const cache = newCache();
    cache.start();
    await cache.waitForSync(AbortSignal.timeout(5_000));
    expect(cache.get('team-a', 'cp')?.futureField).toEqual({ kept: true });
  });

  it('follows bookmarks', async () => {
    const cache = newCache();
    cache.start();
    await cache.waitForSync(AbortSignal.timeout(5_000));
    await waitFor(() => expect(api.openWatches).toBe(1));
    api.runtimeClasses.put({ metadata: { name: 'elsewhere' } }); // moves the global resourceVersion
    api.checkpoints.bookmark();
    await waitFor(() => expect(cache.lastResourceVersion).toBe(String(api.currentResourceVersion())));
  });

  it('resumes from the last resourceVersion when the watch is dropped, without relisting', async () => {
    const cache = newCache();
    cache.start();
    await cache.waitForSync(AbortSignal.timeout(5_000));
    await waitFor(() => expect(api.openWatches).toBe(1));
    api.checkpoints.put(checkpointObject('team-a', 'before'));
    await waitFor(() => expect(cache.get('team-a', 'before')).toBeDefined());

    api.dropWatches();
    // Changes made while no watch is open arrive through the resumed watch.
    api.checkpoints.put(checkpointObject('team-a', 'while-dropped'));
    await waitFor(() => expect(cache.get('team-a', 'while-dropped')).toBeDefined());
    await waitFor(() => expect(api.openWatches).toBe(1));

    expect(api.calls('podcheckpoints.list')).toBe(1);
    expect(api.calls('podcheckpoints.watch')).toBe(2);
    expect(await counterValue(metrics, 'watchRestarts', { resource: 'podcheckpoints' })).toBe(1);
  });

  it('relists when its resourceVersion is too old (410 Gone)', async () => {
    const cache = newCache();
    cache.start();
    await cache.waitForSync(AbortSignal.timeout(5_000));
    await waitFor(() => expect(api.openWatches).toBe(1));

    await api.setFault('down');
    api.checkpoints.put(checkpointObject('team-a', 'missed'));
    api.checkpoints.compact();
    await api.setFault('none');

    await waitFor(() => expect(cache.get('team-a', 'missed')).toBeDefined());
    expect(api.calls('podcheckpoints.list')).toBe(2);
  });

  it('keeps objects in the store newStore gives, a fresh one for each list, and reads and writes them there', async () => {
    api.checkpoints.put(checkpointObject('team-a', 'listed'));
    const stores: Map<string, JsonObject>[] = [];
    const cache = newCache({
      newStore: () => {
        const store = new Map<string, JsonObject>();
        stores.push(store);
        return store;
      },
    });
    cache.start();
    await cache.waitForSync(AbortSignal.timeout(5_000));
    await waitFor(() => expect(api.openWatches).toBe(1));
    // One store made empty at construction, one filled by the list and swapped in.
    expect(stores).toHaveLength(2);
    expect([...(stores[1]?.keys() ?? [])]).toEqual(['team-a/listed']);
    api.checkpoints.put(checkpointObject('team-a', 'watched'));
    await waitFor(() => expect(stores[1]?.has('team-a/watched')).toBe(true));
    expect(cache.get('team-a', 'watched')).toBe(stores[1]?.get('team-a/watched'));

    // A relist (410 Gone) fills a new store.
    await api.setFault('down');
    api.checkpoints.put(checkpointObject('team-a', 'missed'));
    api.checkpoints.compact();
    await api.setFault('none');
    // Wait for the swap, not for the new store: while the list fills it, both stores lack 'missed'.
    await waitFor(() => expect(cache.get('team-a', 'missed')).toBeDefined());
    expect(stores).toHaveLength(3);
    expect(cache.get('team-a', 'missed')).toBe(stores[2]?.get('team-a/missed'));
    expect(stores[2]?.size).toBe(3);
  });

  it('retries with backoff while the API server is down, then recovers and resyncs', async () => {
    api.checkpoints.put(checkpointObject('team-a', 'old'));
    const cache = newCache();
    cache.start();
    await cache.waitForSync(AbortSignal.timeout(5_000));
    await waitFor(() => expect(api.openWatches).toBe(1));

    await api.setFault('down');
    api.checkpoints.remove('team-a', 'old');
    api.checkpoints.put(checkpointObject('team-a', 'new'));
    // It keeps serving what it knew while the API server is away.
    expect(cache.hasSynced()).toBe(true);
    expect(cache.get('team-a', 'old')).toBeDefined();
    await waitFor(async () => expect(await counterValue(metrics, 'watchRestarts', { resource: 'podcheckpoints' })).toBeGreaterThanOrEqual(3));

    await api.setFault('none');
    await waitFor(() => {
      expect(cache.get('team-a', 'new')).toBeDefined();
      expect(cache.get('team-a', 'old')).toBeUndefined();
    });
    await waitFor(() => expect(api.openWatches).toBe(1));
  });

  it('keeps retrying the first list until the API server answers', async () => {
    await api.setFault('status500');
    api.checkpoints.put(checkpointObject('team-a', 'cp'));
    const cache = newCache();
    cache.start();
    await waitFor(() => expect(api.calls('podcheckpoints.list')).toBeGreaterThanOrEqual(2));
    expect(cache.hasSynced()).toBe(false);
    await api.setFault('none');
    await cache.waitForSync(AbortSignal.timeout(5_000));
    expect(cache.get('team-a', 'cp')).toBeDefined();
  });

  it('stops its requests and timers, and rejects sync waiters', async () => {
    await api.setFault('down');
    const cache = newCache();
    cache.start();
    const waiting = cache.waitForSync();
    cache.stop();
    await expect(waiting).rejects.toThrow(/stopped/);

    await api.setFault('none');
    const synced = newCache();
    synced.start();
    await synced.waitForSync(AbortSignal.timeout(5_000));
    await waitFor(() => expect(api.openWatches).toBe(1));
    synced.stop();
    await waitFor(() => expect(api.openWatches).toBe(0));
  });

  it('waitForSync honours its signal', async () => {
    await api.setFault('down');
    const cache = newCache();
    cache.start();
    const controller = new AbortController();
    const waiting = cache.waitForSync(controller.signal);
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
  });

  it('reads cluster-scoped resources', async () => {
    api.runtimeClasses.put({ metadata: { name: 'gvisor' }, handler: 'runsc' });
    const cache = newCache({ version: 'v1', plural: 'runtimeclasses' });
    cache.start();
    await cache.waitForSync(AbortSignal.timeout(5_000));
    expect(cache.get('', 'gvisor')?.handler).toBe('runsc');
  });
});
