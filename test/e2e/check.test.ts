// restore-guard check against a real kube-apiserver, as alice (granted restore through RBAC) and bob (never
// granted): the live policy ConfigMap, the caller's SelfSubjectAccessReview (or --as through a
// SubjectAccessReview), the PodCheckpoint stand-in read through the caller's own kubeconfig, both webhooks'
// decisions, the exit status, and the oracle rule. `check` reads the Pod from a file, so no API server
// decoding is involved (a real core Pod would lose spec.restoreFrom).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { FAST_CACHE, kubeconfigYaml, POLICY_CONFIGMAP, run, setPolicy, type ControlPlaneInfo, type UserName } from '../../harness/controlplane/controlplane.js';
import { eventually } from '../../harness/controlplane/net.js';
import { appSpec, createCheckpoint, createNamespace, grantRestore, type Json } from '../../harness/controlplane/scenario.js';
import { runCli } from '../support/webhook-process.js';

const info: ControlPlaneInfo = inject('controlPlane');
const ns = 'e2e-check';
let dir: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The user's own kubeconfig: one user, one context, as they would have it. */
function kubeconfigOf(user: UserName): string {
  const file = join(dir, `${user}.kubeconfig`);
  writeFileSync(file, kubeconfigYaml(info.server, info.caFile, { [user]: info.tokens[user] }), { mode: 0o600 });
  return file;
}

function podFile(name: string, checkpoint: string, spec: Json = appSpec()): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: { ...spec, restoreFrom: { name: checkpoint } } }));
  return file;
}

function check(user: UserName, args: string[]): Promise<Run> {
  const child = runCli(['check', '--kubeconfig', kubeconfigOf(user), ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += String(c)));
  child.stderr?.on('data', (c: Buffer) => (stderr += String(c)));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

const json = (result: Run): Json => JSON.parse(result.stdout) as Json;

beforeAll(async () => {
  dir = mkdtempSync(join(info.dir, 'check-'));
  await setPolicy(info, { authorizationCache: FAST_CACHE });
  await createNamespace(info, ns);
  await createCheckpoint(info, ns, 'cart-1');
  await createCheckpoint(info, ns, 'warming', { ready: 'False', node: 'node-b' });
  await grantRestore(info, ns, 'alice-restores', { kind: 'User', name: 'alice' });
  // What an admin grants so that users can check against the live policy: get on that one ConfigMap.
  await run(info, ['apply', '--server-side', '-f', '-'], {
    input: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'restore-guard-policy-reader', namespace: POLICY_CONFIGMAP.namespace },
        rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [POLICY_CONFIGMAP.name], verbs: ['get'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'restore-guard-policy-reader', namespace: POLICY_CONFIGMAP.namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'restore-guard-policy-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'e2e:developers' }],
      },
    ],
  });
});

describe('restore-guard check against a real kube-apiserver', () => {
  it('alice, granted: both webhooks allow, the patch pins to the checkpoint node, exit 0', async () => {
    const result = await eventually('the grants to take effect', async () => {
      const attempt = await check('alice', ['-f', podFile('restored', 'cart-1'), '-o', 'json']);
      return attempt.code === 0 ? attempt : undefined;
    });
    const report = json(result);
    expect(report.user).toEqual({ username: 'alice', groups: ['e2e:developers', 'system:authenticated'], via: 'SelfSubjectAccessReview' });
    expect(report.policy).toBe('ConfigMap restore-guard/restore-guard-policy');
    expect(report.mutate).toMatchObject({ allowed: true, outcome: 'placed' });
    expect(JSON.stringify(report.mutate)).toContain('"values":["node-a"]');
    expect(report.validate).toMatchObject({ allowed: true, outcome: 'restore-allowed' });
    expect(report.verdict).toBe('allowed');
    const text = await check('alice', ['-f', podFile('restored', 'cart-1')]);
    expect(text.stdout).toMatch(/mutating\s+allowed\s+placed/);
    expect(text.stdout).toContain('result: ALLOWED (exit 0)');
  });

  it('alice: a spec that differs is denied by the validating webhook, naming the field: exit 1', async () => {
    const result = await check('alice', ['-f', podFile('changed', 'cart-1', appSpec('registry.example/shop/cart@sha256:0000')), '-o', 'json']);
    expect(result.code).toBe(1);
    const report = json(result);
    expect(report.validate).toMatchObject({ allowed: false, outcome: 'spec-mismatch', code: 422 });
    expect(report.differingFields).toEqual(['spec.containers[0].image']);
  });

  it('alice: a checkpoint that is not ready is denied (exit 1); one that does not exist cannot be restored from (exit 2)', async () => {
    const warming = await check('alice', ['-f', podFile('early', 'warming')]);
    expect(warming.code).toBe(1);
    expect(warming.stdout).toContain('podcheckpoints.checkpoint.k8s.io "warming" is not ready (CheckpointInProgress)');
    const missing = await check('alice', ['-f', podFile('missing', 'no-such-checkpoint')]);
    expect(missing.code).toBe(2);
    expect(missing.stdout).toContain('COULD NOT DECIDE (exit 2): podcheckpoints.checkpoint.k8s.io "no-such-checkpoint" not found');
  });

  it('bob, never granted: denied by the mutating webhook, and learns nothing about the checkpoint (exit 1)', async () => {
    const answers = await Promise.all(
      ['cart-1', 'warming', 'no-such-checkpoint'].map(async (name) => {
        const result = await check('bob', ['-f', podFile(`probe-${name}`, name), '-o', 'json']);
        expect(result.code).toBe(1);
        return result.stdout.replaceAll(name, 'NAME');
      }),
    );
    expect(answers[1]).toBe(answers[0]);
    expect(answers[2]).toBe(answers[0]);
    const report = JSON.parse(answers[0] ?? '') as Json;
    expect(report.mutate).toMatchObject({ allowed: false, outcome: 'unauthorized', code: 403 });
    expect((report.mutate as Json).message).toContain(`user "bob" cannot restore podcheckpoints.checkpoint.k8s.io "NAME" in namespace "${ns}"`);
    expect(report.validate).toBeNull();
    expect(answers[0]).not.toContain('node-');
  });

  it('the admin checks for alice and bob with --as (SubjectAccessReview): the same answers', async () => {
    const alice = await check('admin', ['-f', podFile('as-alice', 'cart-1'), '--as', 'alice', '--as-group', 'e2e:developers', '-o', 'json']);
    expect(alice.code).toBe(0);
    expect(json(alice).user).toMatchObject({ username: 'alice', via: 'SubjectAccessReview' });
    const bob = await check('admin', ['-f', podFile('as-bob', 'cart-1'), '--as', 'bob', '-o', 'json']);
    expect(bob.code).toBe(1);
    expect(json(bob).mutate).toMatchObject({ outcome: 'unauthorized' });
  });

  it('bob may not ask about others: a SubjectAccessReview for --as is refused, and check cannot decide (exit 2)', async () => {
    const result = await check('bob', ['-f', podFile('bob-as-alice', 'cart-1'), '--as', 'alice']);
    expect(result.code).toBe(2);
    expect(result.stdout).toContain('COULD NOT DECIDE (exit 2): restore-guard could not complete the authorization');
    expect(result.stdout).toContain('HTTP 403');
  });
});
