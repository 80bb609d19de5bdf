import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeCheckpointSource } from '../../src/kube/checkpoint-source.js';
import { KubeRuntimeClassSource } from '../../src/kube/runtime-class-source.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { deadlineIn } from '../support/deadlines.js';
import { checkpointObject, FakeApi } from '../../harness/fake-api.js';
import { failureOf } from '../support/failures.js';

const waitFor = <T>(check: () => T | Promise<T>): Promise<T> => vi.waitFor(check, { timeout: 5_000, interval: 10 });
const fastWatch = { backoff: { initialMs: 10, maxMs: 50 } };

async function apiCalls(metrics: Metrics, resource: string, result: string): Promise<number> {
  const metric = await metrics.apiCalls.get();
  return metric.values.find((v) => v.labels.resource === resource && v.labels.result === result)?.value ?? 0;
}

describe('KubeCheckpointSource', () => {
  let api: FakeApi;
  let metrics: Metrics;
  let source: KubeCheckpointSource;

  beforeEach(async () => {
    api = await FakeApi.start();
    metrics = createMetrics({ defaultMetrics: false });
    source = new KubeCheckpointSource({ client: api.client(), metrics, watch: fastWatch });
  });

  afterEach(async () => {
    source.stop();
    await api.close();
  });

  it('answers from the cache once synced, without a GET', async () => {
    api.checkpoints.put(checkpointObject('team-a', 'cp', { nodeName: 'node-7' }));
    source.start();
    await source.waitForSync(AbortSignal.timeout(5_000));
    expect(source.hasSynced()).toBe(true);
    const checkpoint = await source.get('team-a', 'cp', deadlineIn(5_000));
    expect(checkpoint).toMatchObject({ namespace: 'team-a', name: 'cp', nodeName: 'node-7', ready: true });
    expect(api.calls('podcheckpoints.get')).toBe(0);
  });

  it('GETs directly before the cache has synced, and on a miss', async () => {
    api.checkpoints.put(checkpointObject('team-a', 'cp'));
    // Not started: the cache is not synced.
    expect(await source.get('team-a', 'cp', deadlineIn(5_000))).toMatchObject({ name: 'cp', ready: true });
    expect(api.calls('podcheckpoints.get')).toBe(1);

    source.start();
    await source.waitForSync(AbortSignal.timeout(5_000));
    expect(await source.get('team-a', 'absent', deadlineIn(5_000))).toBeUndefined();
    expect(api.calls('podcheckpoints.get')).toBe(2);
    expect(await apiCalls(metrics, 'podcheckpoints', 'found')).toBe(1);
    expect(await apiCalls(metrics, 'podcheckpoints', 'not-found')).toBe(1);
  });

  it('re-reads a cached checkpoint that is not ready, so a fresh Ready is not missed', async () => {
    api.checkpoints.put(checkpointObject('team-a', 'cp', { ready: false }));
    source.start();
    await source.waitForSync(AbortSignal.timeout(5_000));
    api.checkpoints.put(checkpointObject('team-a', 'cp', { ready: true }));
    expect((await source.get('team-a', 'cp', deadlineIn(5_000)))?.ready).toBe(true);
  });

  it('keeps the cached not-ready answer when the re-read fails', async () => {
    api.checkpoints.put(checkpointObject('team-a', 'cp', { ready: false, reason: 'CheckpointInProgress' }));
    source.start();
    await source.waitForSync(AbortSignal.timeout(5_000));
    await api.setFault('status500');
    expect(await source.get('team-a', 'cp', deadlineIn(5_000))).toMatchObject({
      ready: false,
      notReadyReason: 'CheckpointInProgress',
    });
  });

  it('maps GET failures to DependencyError', async () => {
    await api.setFault('status500');
    expect((await failureOf(source.get('team-a', 'cp', deadlineIn(5_000)))).failure).toBe('server-error');
    await api.setFault('hang');
    expect((await failureOf(source.get('team-a', 'cp', deadlineIn(100)))).failure).toBe('timeout');
    await api.setFault('down');
    expect((await failureOf(source.get('team-a', 'cp', deadlineIn(5_000)))).failure).toBe('unreachable');
    expect(await apiCalls(metrics, 'podcheckpoints', 'server-error')).toBe(1);
    expect(await apiCalls(metrics, 'podcheckpoints', 'timeout')).toBe(1);
    expect(await apiCalls(metrics, 'podcheckpoints', 'unreachable')).toBe(1);
  });

  it('serves a configured group and version', async () => {
    await api.close();
    api = await FakeApi.start({ checkpointGroup: 'checkpoint.k8s.io', checkpointVersion: 'v1alpha1' });
    source.stop();
    source = new KubeCheckpointSource({
      client: api.client(),
      group: 'checkpoint.k8s.io',
      version: 'v1alpha1',
      resource: 'podcheckpoints',
      metrics,
      watch: fastWatch,
    });
    api.checkpoints.put(checkpointObject('team-a', 'cp'));
    source.start();
    await source.waitForSync(AbortSignal.timeout(5_000));
    api.checkpoints.put(checkpointObject('team-a', 'later', { ready: false }));
    await waitFor(() => expect(source.cache.get('team-a', 'later')).toBeDefined());
    expect(await source.get('team-a', 'cp', deadlineIn(5_000))).toMatchObject({ ready: true });
  });
});

describe('KubeRuntimeClassSource', () => {
  let api: FakeApi;
  let source: KubeRuntimeClassSource;

  beforeEach(async () => {
    api = await FakeApi.start();
    source = new KubeRuntimeClassSource({ client: api.client(), watch: fastWatch });
  });

  afterEach(async () => {
    source.stop();
    await api.close();
  });

  it('reads podCheckpoint.allowedRestoreOptions from the cache', async () => {
    api.runtimeClasses.put({
      metadata: { name: 'criu' },
      handler: 'runc',
      podCheckpoint: { allowedCheckpointOptions: ['leave-running'], allowedRestoreOptions: ['tcp', 'file-locks'] },
    });
    source.start();
    await source.waitForSync(AbortSignal.timeout(5_000));
    expect(await source.get('criu', deadlineIn(5_000))).toEqual({
      name: 'criu',
      allowedRestoreOptions: ['tcp', 'file-locks'],
    });
    expect(api.calls('runtimeclasses.get')).toBe(0);
  });

  it('follows changes, and GETs (cluster-scoped path) on a miss', async () => {
    source.start();
    await source.waitForSync(AbortSignal.timeout(5_000));
    await waitFor(() => expect(api.openWatches).toBe(1));
    api.runtimeClasses.put({ metadata: { name: 'kata' }, podCheckpoint: { allowedRestoreOptions: ['tcp'] } });
    await waitFor(() => expect(source.cache.get('', 'kata')).toBeDefined());
    expect(await source.get('kata', deadlineIn(5_000))).toEqual({ name: 'kata', allowedRestoreOptions: ['tcp'] });

    expect(await source.get('absent', deadlineIn(5_000))).toBeUndefined();
    expect(api.calls('runtimeclasses.get')).toBe(1);
  });

  it('reads a RuntimeClass without podCheckpoint as allowing no options', async () => {
    api.runtimeClasses.put({ metadata: { name: 'plain' }, handler: 'runc' });
    expect(await source.get('plain', deadlineIn(5_000))).toEqual({ name: 'plain', allowedRestoreOptions: [] });
  });
});
