import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { PolicyFileSource } from '../../src/policy/file-source.js';
import { PolicyStore } from '../../src/policy/store.js';
import { watchDirectory, type WatchDirectory } from '../../src/common/follow-directory.js';

const HEADER = 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n';

describe('PolicyFileSource', () => {
  let source: PolicyFileSource | undefined;
  afterEach(() => source?.stop());

  const start = async (path: string) => {
    const store = new PolicyStore({ logger: createLogger('silent'), metrics: createMetrics({ defaultMetrics: false }) });
    source = new PolicyFileSource(path, store, createLogger('silent'), 50);
    await source.start();
    return store;
  };

  it('reads the file at start, follows edits, and refuses a bad edit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-policy-'));
    const path = join(dir, 'policy.yaml');
    writeFileSync(path, `${HEADER}mode: warn`);
    const store = await start(path);
    expect(store.current().mode).toBe('warn');
    writeFileSync(path, `${HEADER}mode: audit`);
    await vi.waitFor(() => expect(store.current().mode).toBe('audit'));
    writeFileSync(path, `${HEADER}mode: [broken`);
    writeFileSync(join(dir, 'marker'), 'x'); // another event in the directory
    await source?.check();
    expect(store.current().mode).toBe('audit');
    rmSync(path);
    await vi.waitFor(() => expect(store.current().mode).toBe('enforce'));
  });

  it('follows the kubelet swapping the symlinked directory of a mounted ConfigMap', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-mount-'));
    const version = (name: string, mode: string) => {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'policy.yaml'), `${HEADER}mode: ${mode}`);
    };
    version('..2026_11_27_1', 'warn');
    symlinkSync('..2026_11_27_1', join(dir, '..data'));
    symlinkSync(join('..data', 'policy.yaml'), join(dir, 'policy.yaml'));
    const store = await start(join(dir, 'policy.yaml'));
    expect(store.current().mode).toBe('warn');
    // What the kubelet does: a new directory, a new symlink, an atomic rename over ..data.
    version('..2026_11_27_2', 'audit');
    symlinkSync('..2026_11_27_2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2026_11_27_1'), { recursive: true });
    await vi.waitFor(() => expect(store.current().mode).toBe('audit'));
  });

  it('uses the defaults when the file does not exist', async () => {
    const store = await start(join(mkdtempSync(join(tmpdir(), 'rg-none-')), 'policy.yaml'));
    expect(store.current().mode).toBe('enforce');
    expect(store.generation).toBe(1);
  });
});

describe('PolicyFileSource on the follower', () => {
  const POLL_MS = 60_000;
  const followers: Array<{ stop(): void }> = [];
  afterEach(() => {
    for (const follower of followers.splice(0)) follower.stop();
    vi.useRealTimers();
  });
  const HEADER = 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n';
  const start = async (path: string, watch?: WatchDirectory) => {
    const store = new PolicyStore({ logger: createLogger('silent'), metrics: createMetrics({ defaultMetrics: false }) });
    const source = new PolicyFileSource(path, store, createLogger('silent'), POLL_MS, watch);
    followers.push(source);
    await source.start();
    return store;
  };

  it('watches its directory again on the next poll after the watch failed, and sees an edit through the new watch', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const dir = mkdtempSync(join(tmpdir(), 'rg-policy-follow-'));
    const path = join(dir, 'policy.yaml');
    writeFileSync(path, `${HEADER}mode: warn`);
    const watchers: FSWatcher[] = [];
    const store = await start(path, (watched, onEvent) => {
      const watcher = watchDirectory(watched, onEvent);
      watchers.push(watcher);
      return watcher;
    });
    expect(store.current().mode).toBe('warn');
    watchers[0]?.emit('error', new Error('watch failed'));
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(watchers).toHaveLength(2);
    // No poll from here on: only the new watch can see this.
    writeFileSync(path, `${HEADER}mode: audit`);
    await vi.waitFor(() => expect(store.current().mode).toBe('audit'));
  });

  it('watches a directory that did not exist at start once a poll finds it, and then sees the file appear', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const dir = join(mkdtempSync(join(tmpdir(), 'rg-policy-follow-')), 'mount');
    const store = await start(join(dir, 'policy.yaml'));
    expect(store.current().mode).toBe('enforce');
    mkdirSync(dir);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    // No poll from here on: only a watch of the new directory can see this.
    writeFileSync(join(dir, 'policy.yaml'), `${HEADER}mode: warn`);
    await vi.waitFor(() => expect(store.current().mode).toBe('warn'));
  });
});
