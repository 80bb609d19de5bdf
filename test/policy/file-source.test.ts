import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { PolicyFileSource } from '../../src/policy/file-source.js';
import { PolicyStore } from '../../src/policy/store.js';

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
