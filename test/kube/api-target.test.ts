import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadApiTarget } from '../../src/kube/api-target.js';
import { UnavailableApi } from '../../src/kube/unavailable-api.js';
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

describe('loadApiTarget', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'restore-guard-kubeconfig-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const nothing = { env: {}, homeDir: undefined, serviceAccountDir: '/nonexistent-root' };

  it('uses an explicit path first', async () => {
    const file = join(dir, 'explicit');
    await writeFile(file, kubeconfigText('https://explicit.example:6443'));
    const loaded = await loadApiTarget(file, { ...nothing, env: { KUBECONFIG: '/elsewhere' } });
    expect(loaded.target?.server.origin).toBe('https://explicit.example:6443');
    expect(loaded).toMatchObject({ source: `kubeconfig ${file}` });
  });

  it('reports a missing explicit path instead of falling back or throwing', async () => {
    const loaded = await loadApiTarget(join(dir, 'missing'), nothing);
    expect(loaded.target).toBeUndefined();
    expect('reason' in loaded && loaded.reason).toContain('missing');
  });

  it('uses the in-cluster service account when the pod has one', async () => {
    await writeFile(join(dir, 'token'), 'sa-token\n');
    await writeFile(join(dir, 'ca.crt'), 'ca-pem');
    const loaded = await loadApiTarget(undefined, {
      env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '6443', KUBECONFIG: '/elsewhere' },
      homeDir: undefined,
      serviceAccountDir: dir,
    });
    expect(loaded.target?.server.origin).toBe('https://10.0.0.1:6443');
    expect(loaded).toMatchObject({ source: expect.stringContaining('in-cluster') });
    expect((await loaded.target?.transport())?.headers).toEqual({ authorization: 'Bearer sa-token' });
    loaded.target?.close();
  });

  it('brackets an IPv6 service host, and reports an unreadable CA', async () => {
    await writeFile(join(dir, 'token'), 'sa-token');
    const env = { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' };
    const noCa = await loadApiTarget(undefined, { env, homeDir: undefined, serviceAccountDir: dir });
    expect('reason' in noCa && noCa.reason).toMatch(/in-cluster service account: .*ca\.crt/);
    await writeFile(join(dir, 'ca.crt'), 'ca-pem');
    const loaded = await loadApiTarget(undefined, { env, homeDir: undefined, serviceAccountDir: dir });
    expect(loaded.target?.server.host).toBe('[fd00::1]');
    loaded.target?.close();
  });

  it('skips in-cluster without a token file', async () => {
    const file = join(dir, 'config');
    await writeFile(file, kubeconfigText('https://from-env.example'));
    const loaded = await loadApiTarget(undefined, {
      env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: file },
      homeDir: undefined,
      serviceAccountDir: dir,
    });
    expect(loaded.target?.server.origin).toBe('https://from-env.example');
  });

  it('reads and merges $KUBECONFIG, skipping missing files', async () => {
    const first = join(dir, 'first');
    const second = join(dir, 'second');
    await writeFile(first, kubeconfigText('https://first.example', 'one'));
    await writeFile(second, kubeconfigText('https://second.example', 'two'));
    const loaded = await loadApiTarget(undefined, {
      ...nothing,
      env: { KUBECONFIG: [join(dir, 'absent'), first, second].join(delimiter) },
    });
    expect(loaded.target?.server.origin).toBe('https://first.example');
    expect(loaded).toMatchObject({ source: `$KUBECONFIG (${[first, second].join(delimiter)})` });
  });

  it('sends the kubeconfig user as a header, and refuses plain http unless TLS is waived', async () => {
    const file = join(dir, 'config');
    await writeFile(file, kubeconfigText('https://api.example:6443'));
    const loaded = await loadApiTarget(file, nothing);
    expect((await loaded.target?.transport())?.headers).toMatchObject({ authorization: 'Bearer t' });
    loaded.target?.close();

    await writeFile(file, kubeconfigText('http://api.example:8080'));
    const plain = await loadApiTarget(file, nothing);
    expect('reason' in plain && plain.reason).toMatch(/plain http .* needs insecure-skip-tls-verify/);
  });

  it('falls back to ~/.kube/config', async () => {
    await mkdir(join(dir, '.kube'));
    await writeFile(join(dir, '.kube', 'config'), kubeconfigText('https://home.example'));
    const loaded = await loadApiTarget(undefined, { ...nothing, homeDir: dir });
    expect(loaded.target?.server.origin).toBe('https://home.example');
  });

  it('returns a reason when there is nothing, or the file is broken', async () => {
    const none = await loadApiTarget(undefined, nothing);
    expect(none.target).toBeUndefined();
    expect('reason' in none && none.reason).toMatch(/no Kubernetes API configuration/);

    const broken = join(dir, 'broken');
    await writeFile(broken, 'clusters: [: not yaml');
    const loaded = await loadApiTarget(broken, nothing);
    expect('reason' in loaded && loaded.reason).toMatch(/cannot load/);

    const noContext = join(dir, 'no-context');
    await writeFile(noContext, 'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n');
    const empty = await loadApiTarget(noContext, nothing);
    expect('reason' in empty && empty.reason).toMatch(/no cluster/);
  });
});

describe('UnavailableApi', () => {
  it('fails every port as unreachable with the reason', async () => {
    const api = new UnavailableApi('no kubeconfig');
    const { deadline } = manualDeadline();
    const user = { username: 'u', groups: [], extra: {} };
    const access = { verb: 'restore', group: 'g', version: 'v', resource: 'r', namespace: 'n', name: 'c' };
    for (const call of [api.authorize(user, access, deadline), api.get('ns', 'cp', deadline), api.get('runtime-class', deadline)]) {
      const err: unknown = await call.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DependencyError);
      expect(err).toMatchObject({
        failure: 'unreachable',
        message: 'the Kubernetes API server could not be reached: no kubeconfig',
      });
    }
  });
});
