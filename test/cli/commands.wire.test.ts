// check and test as a user runs them: the built binary, its help, and exit 2 with a message (never a stack
// trace) for input it cannot work with.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/webhook-process.js';

function exitOf(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = runCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += String(c)));
  child.stderr?.on('data', (c: Buffer) => (stderr += String(c)));
  const stop = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(stop);
      resolve({ code, stdout, stderr });
    }),
  );
}

const dir = mkdtempSync(join(tmpdir(), 'rg-commands-'));
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const pod = write(
  'pod.yaml',
  'apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec: {restoreFrom: {name: c}, containers: [{name: a, image: i}]}\n',
);
// Nothing listens on port 1: connections are refused at once.
const unreachable = write(
  'kubeconfig',
  'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:1", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n',
);
const NO_STACK = /\n\s+at /;

describe('restore-guard check and test, as commands', () => {
  it('have --help, and the top-level usage lists them', async () => {
    const check = await exitOf(['check', '--help']);
    expect(check.code).toBe(0);
    for (const flag of ['-f, --filename', '-n, --namespace', '--as USER', '--as-group', '--policy-file', '--kubeconfig', '-o, --output'])
      expect(check.stdout).toContain(flag);
    const test = await exitOf(['test', '-h']);
    expect(test.code).toBe(0);
    expect(test.stdout).toContain('restore-guard test PATH...');
    expect((await exitOf(['--help'])).stdout).toMatch(/restore-guard check -f POD\.yaml[\s\S]*restore-guard test DIR/);
  });

  it('usage errors: exit 2 with the command usage', async () => {
    const noFile = await exitOf(['check']);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('check needs the Pod: -f FILE');
    expect(noFile.stderr).toContain('Usage:\n  restore-guard check');
    expect((await exitOf(['check', '-f', pod, '-o', 'yaml'])).stderr).toContain('-o must be text or json');
    expect((await exitOf(['check', '-f', pod, '--as-group', 'g'])).stderr).toContain('--as-group needs --as');
    expect((await exitOf(['test'])).code).toBe(2);
  });

  it('a file that is not a Pod, a missing file: exit 2 and the reason', async () => {
    const configMap = write('cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
    const notPod = await exitOf(['check', '-f', configMap, '--kubeconfig', unreachable]);
    expect(notPod.code).toBe(2);
    expect(notPod.stderr).toBe(
      `restore-guard: ${configMap} holds a ConfigMap (v1), not an object restore-guard checks: Pod (v1), Deployment (apps/v1), ReplicaSet (apps/v1), StatefulSet (apps/v1), DaemonSet (apps/v1), Job (batch/v1), CronJob (batch/v1)\n`,
    );
    const missing = await exitOf(['check', '-f', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^restore-guard: cannot read .*nope\.yaml: ENOENT/);
  });

  it('an unreachable API server, or none configured: exit 2 and the reason', async () => {
    const down = await exitOf(['check', '-f', pod, '--kubeconfig', unreachable]);
    expect(down.code).toBe(2);
    expect(down.stderr).toContain(
      'restore-guard: cannot read the policy: reading the policy ConfigMap restore-guard/restore-guard-policy: the Kubernetes API server could not be reached (ECONNREFUSED)',
    );
    expect(down.stderr).not.toMatch(NO_STACK);
    const asBob = await exitOf([
      'check',
      '-f',
      pod,
      '--kubeconfig',
      unreachable,
      '--as',
      'bob',
      '--policy-file',
      write('p.yaml', 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n'),
    ]);
    expect(asBob.code).toBe(2);
    expect(asBob.stdout).toContain('COULD NOT DECIDE (exit 2): restore-guard could not complete the authorization');
    const none = await exitOf(['check', '-f', pod]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('restore-guard: no Kubernetes API server to ask: no Kubernetes API configuration');
  });

  it('test runs the shipped examples (exit 0) and refuses a path that does not exist (exit 2)', async () => {
    const examples = await exitOf(['test', join(import.meta.dirname, '..', '..', 'examples', 'tests')]);
    expect(examples.code).toBe(0);
    expect(examples.stdout).toMatch(/cases in 5 files: \d+ passed, 0 failed/);
    const nowhere = await exitOf(['test', join(dir, 'nowhere')]);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toMatch(/^restore-guard: cannot read .*nowhere: ENOENT/);
  });
});
