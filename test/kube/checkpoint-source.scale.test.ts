import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JsonObject } from '../../src/common/json.js';
import { KubeCheckpointSource } from '../../src/kube/checkpoint-source.js';
import { TemplateCache } from '../../src/kube/template-cache.js';
import { keyOf } from '../../src/kube/watch-cache.js';
import type { PodCheckpoint } from '../../src/restore/model.js';
import { deadlineIn } from '../support/deadlines.js';
import { checkpointObject, FakeApi } from '../../harness/fake-api.js';
import { pinnedAffinity, rawCheckpoint, restorePod, reviewBody } from '../support/fixtures.js';
import { post } from '../support/https-client.js';
import { startAgainst } from '../support/in-process-webhook.js';

const waitFor = <T>(check: () => T | Promise<T>): Promise<T> => vi.waitFor(check, { timeout: 5_000, interval: 10 });
const fastWatch = { backoff: { initialMs: 10, maxMs: 50 } };
// What a cached record may hold: what a review reads before it needs the template.
const COMPACT_KEYS = ['namespace', 'name', 'nodeName', 'ready', 'notReadyReason', 'completionTime', 'resourceVersion'];

/** A checkpoint whose captured template is about `bytes` long (one long env value). */
function bigCheckpoint(namespace: string, name: string, bytes: number, options: { ready?: boolean } = {}): JsonObject {
  const object = checkpointObject(namespace, name, options);
  const status = object.status as JsonObject;
  status.checkpointedPodTemplate = { spec: { containers: [{ name: 'app', image: 'registry.example/app', env: [{ name: 'PAD', value: 'x'.repeat(bytes) }] }] } };
  return object;
}

describe('PodCheckpoint cache at scale: compact, paged, bounded', () => {
  let api: FakeApi;
  let source: KubeCheckpointSource | undefined;

  beforeEach(async () => {
    api = await FakeApi.start();
  });
  afterEach(async () => {
    source?.stop();
    await api.close();
  });

  const start = async (watch: Record<string, unknown> = {}, templateCacheBytes?: number): Promise<KubeCheckpointSource> => {
    source = new KubeCheckpointSource({
      client: api.client(),
      watch: { ...fastWatch, ...watch },
      ...(templateCacheBytes !== undefined && { templateCacheBytes }),
    });
    source.start();
    await source.waitForSync(AbortSignal.timeout(5_000));
    return source;
  };
  const records = (s: KubeCheckpointSource, namespace: string, names: string[]): PodCheckpoint[] =>
    names.map((name) => s.cache.get(namespace, name)).filter((r): r is PodCheckpoint => r !== undefined);

  it('keeps no template in the cache: each record holds only the compact fields, a few hundred bytes', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `cp-${i}`);
    for (const name of names) api.checkpoints.put(bigCheckpoint('team-a', name, 8_000));
    const s = await start();
    const cached = records(s, 'team-a', names);
    expect(cached).toHaveLength(20);
    for (const record of cached) {
      expect(Object.keys(record).every((k) => COMPACT_KEYS.includes(k))).toBe(true);
      expect(record.template).toBeUndefined();
      expect(JSON.stringify(record).length).toBeLessThan(300);
    }
    // And a watch event does not bring one in either.
    api.checkpoints.put(bigCheckpoint('team-a', 'late', 8_000));
    const late = await waitFor(() => {
      const record = s.cache.get('team-a', 'late');
      if (!record) throw new Error('not yet');
      return record;
    });
    expect(Object.keys(late).every((k) => COMPACT_KEYS.includes(k))).toBe(true);
  });

  it('lists in pages of the configured limit, following continue', async () => {
    for (let i = 0; i < 50; i++) api.checkpoints.put(checkpointObject(`ns-${i % 5}`, `cp-${i}`));
    const s = await start({ pageSize: 7 });
    expect(s.cache.size).toBe(50);
    expect(api.checkpoints.listLimits).toEqual(Array.from({ length: 8 }, () => 7));
    expect(api.calls('podcheckpoints.list')).toBe(8);
  });

  it('skips a listed object over the bound without losing the rest, and a review still reads it with GET', async () => {
    api.checkpoints.put(checkpointObject('team-a', 'small-1'));
    api.checkpoints.put(bigCheckpoint('team-a', 'huge', 200_000));
    api.checkpoints.put(checkpointObject('team-a', 'small-2'));
    const s = await start({ maxObjectBytes: 64 * 1024, pageSize: 2 });
    expect(s.cache.get('team-a', 'small-1')).toBeDefined();
    expect(s.cache.get('team-a', 'small-2')).toBeDefined();
    expect(s.cache.get('team-a', 'huge')).toBeUndefined();
    const gets = api.calls('podcheckpoints.get');
    const huge = await s.get('team-a', 'huge', deadlineIn(5_000));
    expect(huge).toMatchObject({ name: 'huge', ready: true, nodeName: 'node-1' });
    expect(huge?.template).toBeDefined();
    expect(api.calls('podcheckpoints.get')).toBe(gets + 1);
  });

  it('drops a cached object whose watch event is over the bound, and the same watch goes on', async () => {
    api.checkpoints.put(checkpointObject('team-a', 'grows'));
    const s = await start({ maxObjectBytes: 64 * 1024 });
    expect(s.cache.get('team-a', 'grows')?.ready).toBe(true);
    await waitFor(() => expect(api.openWatches).toBe(1));
    const watches = api.calls('podcheckpoints.watch');
    // It turns not ready in an event too large to keep: the old, ready record must not stay.
    api.checkpoints.put(bigCheckpoint('team-a', 'grows', 200_000, { ready: false }));
    await waitFor(() => expect(s.cache.get('team-a', 'grows')).toBeUndefined());
    api.checkpoints.put(checkpointObject('team-a', 'after'));
    await waitFor(() => expect(s.cache.get('team-a', 'after')).toBeDefined());
    expect(api.calls('podcheckpoints.watch')).toBe(watches);
    expect(s.isFresh()).toBe(true);
    // A review reads it from the API server, and sees it not ready.
    expect(await s.get('team-a', 'grows', deadlineIn(5_000))).toMatchObject({ ready: false });
  });

  it('turns unready when the watch cannot resume (malformed lines), and answers with GETs meanwhile', async () => {
    api.checkpoints.put(checkpointObject('team-a', 'cp'));
    const s = await start({ staleAfterMs: 0 });
    expect(s.isFresh()).toBe(true);
    let gets = api.calls('podcheckpoints.get');
    await s.get('team-a', 'cp', deadlineIn(5_000));
    expect(api.calls('podcheckpoints.get')).toBe(gets);

    api.checkpoints.watchPrelude = '{"type":"MODIFIED","object":{not json\n';
    api.dropWatches();
    await waitFor(() => expect(s.isFresh()).toBe(false));
    // Still served, but from the API server: the cache cannot be trusted.
    gets = api.calls('podcheckpoints.get');
    expect(await s.get('team-a', 'cp', deadlineIn(5_000))).toMatchObject({ ready: true });
    expect(api.calls('podcheckpoints.get')).toBe(gets + 1);
    // A malformed line is not resumed past: the cache relists (and still cannot watch).
    const lists = api.calls('podcheckpoints.list');
    await waitFor(() => expect(api.calls('podcheckpoints.list')).toBeGreaterThan(lists));
    expect(s.isFresh()).toBe(false);

    api.checkpoints.watchPrelude = undefined;
    api.checkpoints.put(checkpointObject('team-a', 'cp', { ready: false }));
    await waitFor(() => expect(s.isFresh()).toBe(true));
    await waitFor(() => expect(s.cache.get('team-a', 'cp')?.ready).toBe(false));
  });

  it('keeps recently used templates, and a watch event for that checkpoint drops its template', async () => {
    api.checkpoints.put(checkpointObject('team-a', 'cp', { nodeName: 'node-1' }));
    const s = await start();
    const record = s.cache.get('team-a', 'cp') as PodCheckpoint;
    const gets = api.calls('podcheckpoints.get');
    expect((await s.withTemplate(record, deadlineIn(5_000)))?.template).toBeDefined();
    expect((await s.withTemplate(record, deadlineIn(5_000)))?.template).toBeDefined();
    expect(api.calls('podcheckpoints.get')).toBe(gets + 1);
    expect(s.templateCache.size).toBe(1);

    const changed = checkpointObject('team-a', 'cp', { nodeName: 'node-1' });
    (changed.status as JsonObject).checkpointedPodTemplate = { spec: { containers: [{ name: 'changed', image: 'x' }] } };
    api.checkpoints.put(changed);
    await waitFor(() => expect(s.templateCache.size).toBe(0));
    const next = s.cache.get('team-a', 'cp') as PodCheckpoint;
    expect(next.resourceVersion).not.toBe(record.resourceVersion);
    expect((await s.withTemplate(next, deadlineIn(5_000)))?.template).toEqual({ spec: { containers: [{ name: 'changed', image: 'x' }] } });
    expect(api.calls('podcheckpoints.get')).toBe(gets + 2);

    api.checkpoints.remove('team-a', 'cp');
    await waitFor(() => expect(s.templateCache.size).toBe(0));
  });

  it('bounds the template cache in bytes, dropping the least recently used', () => {
    const cache = new TemplateCache(10_000);
    const checkpoint = (name: string): PodCheckpoint => ({ namespace: 'ns', name, ready: true, resourceVersion: '1', template: {} });
    for (let i = 0; i < 10; i++) cache.set(keyOf('ns', `cp-${i}`), checkpoint(`cp-${i}`), 2_000);
    expect(cache.bytes).toBeLessThanOrEqual(10_000);
    expect(cache.size).toBe(5);
    expect(cache.get(keyOf('ns', 'cp-0'), '1')).toBeUndefined();
    expect(cache.get(keyOf('ns', 'cp-9'), '1')).toBeDefined();
    // An entry answers only for its resourceVersion; one over a quarter of the bound is never kept.
    expect(cache.get(keyOf('ns', 'cp-9'), '2')).toBeUndefined();
    cache.set(keyOf('ns', 'big'), checkpoint('big'), 3_000);
    expect(cache.get(keyOf('ns', 'big'), '1')).toBeUndefined();
  });
});

describe('captured template read for a review', () => {
  it('is read only for an authorized requester, after authorization, and only by the validating webhook', async () => {
    const api = await FakeApi.start();
    api.checkpoints.put(rawCheckpoint());
    const { webhook, ca } = await startAgainst(api);
    try {
      await waitFor(async () => expect((await fetch(`http://127.0.0.1:${webhook.metricsPort}/readyz`)).status).toBe(200));
      api.grant({ user: 'granted', namespace: 'team-a', name: 'ckpt' });
      const review = async (path: string, username: string, object: JsonObject): Promise<boolean> => {
        const body = reviewBody({ object, userInfo: { username, groups: ['system:authenticated'], extra: {} } });
        const reply = await post(webhook.webhookPort, `${path}?timeout=5s`, JSON.stringify(body), { ca });
        return (reply.body as { response: { allowed: boolean } }).response.allowed;
      };
      const pinned = restorePod({ checkpoint: { name: 'ckpt' }, spec: { affinity: pinnedAffinity() } });
      const gets = api.calls('podcheckpoints.get');
      expect(await review('/validate', 'stranger', pinned)).toBe(false);
      expect(await review('/mutate', 'granted', restorePod())).toBe(true);
      expect(api.calls('podcheckpoints.get')).toBe(gets);
      expect(await review('/validate', 'granted', pinned)).toBe(true);
      expect(api.calls('podcheckpoints.get')).toBe(gets + 1);
    } finally {
      await webhook.close();
      await api.close();
    }
  });
});
