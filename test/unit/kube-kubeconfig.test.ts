import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadKubeConfig, UnavailableApi } from '../../src/kube/kubeconfig.js';
import { DependencyError } from '../../src/restore/ports.js';
import { manualDeadline } from '../support/deadlines.js';

function kubeconfigText(server: string, context = 'ctx'): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: c-${context}`,
    '  cluster:',
    `    server: ${server}`,
    'users:',
    `- name: u-${context}`,
    '  user:',
    '    token: t',
    'contexts:',
    `- name: ${context}`,
    '  context:',
    `    cluster: c-${context}`,
    `    user: u-${context}`,
    `current-context: ${context}`,
    '',
  ].join('\n');
}

describe('loadKubeConfig', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restore-guard-kubeconfig-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const nothing = { env: {}, homeDir: undefined, rootPrefix: '/nonexistent-root' };

  it('uses an explicit path first', async () => {
    const file = join(dir, 'explicit');
    await writeFile(file, kubeconfigText('https://explicit.example:6443'));
    const loaded = loadKubeConfig(file, { ...nothing, env: { KUBECONFIG: '/elsewhere' } });
    expect(loaded.kubeConfig?.getCurrentCluster()?.server).toBe('https://explicit.example:6443');
    expect(loaded).toMatchObject({ source: `kubeconfig ${file}` });
  });

  it('reports a missing explicit path instead of falling back or throwing', () => {
    const loaded = loadKubeConfig(join(dir, 'missing'), nothing);
    expect(loaded.kubeConfig).toBeUndefined();
    expect('reason' in loaded && loaded.reason).toContain('missing');
  });

  it('uses the in-cluster service account when the pod has one', async () => {
    const saDir = join(dir, 'var/run/secrets/kubernetes.io/serviceaccount');
    await mkdir(saDir, { recursive: true });
    await writeFile(join(saDir, 'token'), 'sa-token');
    await writeFile(join(saDir, 'namespace'), 'restore-guard');
    const loaded = loadKubeConfig(undefined, {
      env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: '/elsewhere' },
      homeDir: undefined,
      rootPrefix: dir,
    });
    expect(loaded.kubeConfig?.getCurrentCluster()?.server).toBe('https://10.0.0.1:443');
    expect(loaded).toMatchObject({ source: expect.stringContaining('in-cluster') });
  });

  it('skips in-cluster without a token file', async () => {
    const file = join(dir, 'config');
    await writeFile(file, kubeconfigText('https://from-env.example'));
    const loaded = loadKubeConfig(undefined, {
      env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: file },
      homeDir: undefined,
      rootPrefix: dir,
    });
    expect(loaded.kubeConfig?.getCurrentCluster()?.server).toBe('https://from-env.example');
  });

  it('reads and merges $KUBECONFIG, skipping missing files', async () => {
    const first = join(dir, 'first');
    const second = join(dir, 'second');
    await writeFile(first, kubeconfigText('https://first.example', 'one'));
    await writeFile(second, kubeconfigText('https://second.example', 'two'));
    const loaded = loadKubeConfig(undefined, {
      ...nothing,
      env: { KUBECONFIG: [join(dir, 'absent'), first, second].join(delimiter) },
    });
    expect(loaded.kubeConfig?.getCurrentCluster()?.server).toBe('https://first.example');
    expect(loaded.kubeConfig?.getContexts().map((c) => c.name)).toEqual(['one', 'two']);
  });

  it('falls back to ~/.kube/config', async () => {
    await mkdir(join(dir, '.kube'));
    await writeFile(join(dir, '.kube', 'config'), kubeconfigText('https://home.example'));
    const loaded = loadKubeConfig(undefined, { ...nothing, homeDir: dir });
    expect(loaded.kubeConfig?.getCurrentCluster()?.server).toBe('https://home.example');
  });

  it('returns a reason when there is nothing, or the file is broken', async () => {
    const none = loadKubeConfig(undefined, nothing);
    expect(none.kubeConfig).toBeUndefined();
    expect('reason' in none && none.reason).toMatch(/no Kubernetes API configuration/);

    const broken = join(dir, 'broken');
    await writeFile(broken, 'clusters: [: not yaml');
    const loaded = loadKubeConfig(broken, nothing);
    expect('reason' in loaded && loaded.reason).toMatch(/cannot load/);

    const noContext = join(dir, 'no-context');
    await writeFile(noContext, 'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n');
    const empty = loadKubeConfig(noContext, nothing);
    expect('reason' in empty && empty.reason).toMatch(/no cluster/);
  });
});

describe('UnavailableApi', () => {
  it('fails every port as unreachable with the reason', async () => {
    const api = new UnavailableApi('no kubeconfig');
    const { deadline } = manualDeadline();
    const user = { username: 'u', groups: [], extra: {} };
    const access = { verb: 'restore', group: 'g', version: 'v', resource: 'r', namespace: 'n', name: 'c' };
    for (const call of [
      api.authorize(user, access, deadline),
      api.get('ns', 'cp', deadline),
      api.get('runtime-class', deadline),
    ]) {
      const err: unknown = await call.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DependencyError);
      expect(err).toMatchObject({
        failure: 'unreachable',
        message: 'the Kubernetes API server could not be reached: no kubeconfig',
      });
    }
  });
});
