// The policy ConfigMap (restore-guard/restore-guard-policy, as the shipped Deployment reads it with
// --policy-configmap), edited through kube-apiserver, takes effect live; a broken edit is refused and the last
// good policy stays.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FAST_CACHE, setPolicy, type ControlPlaneInfo } from '../../harness/controlplane/controlplane.js';
import type { KubectlResult } from '../../harness/controlplane/kubectl.js';
import { eventually } from '../../harness/controlplane/net.js';
import { asUser, create, createCheckpoint, createNamespace, grantRestore, restoreObject } from '../../harness/controlplane/scenario.js';
import { startSuite, type Suite } from '../../harness/controlplane/suite.js';
import { run } from '../../harness/controlplane/controlplane.js';

const info: ControlPlaneInfo = inject('controlPlane');
let suite: Suite;
const ns = 'e2e-policy';

beforeAll(async () => {
  suite = await startSuite(info);
  await createNamespace(info, ns);
  await createCheckpoint(info, ns, 'cart-1');
  await createCheckpoint(info, ns, 'warming', { ready: 'False' });
  await grantRestore(info, ns, 'alice-restores', { kind: 'User', name: 'alice' });
});
afterAll(async () => {
  await setPolicy(info, { authorizationCache: FAST_CACHE });
  await suite?.close();
});

const policyApplied = () => suite.restoreGuard.logs.filter((l) => l.msg === 'policy applied');
const refused = () => suite.restoreGuard.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('invalid policy refused'));
const isAllowed = (result: KubectlResult) => (result.code === 0 ? result : undefined);
const isDenied = (result: KubectlResult) => (result.code !== 0 ? result : undefined);

describe('edits of the policy ConfigMap through the API take effect live', () => {
  it('mode: warn lets a denied restore through with a warning kubectl shows; back to enforce denies again', async () => {
    const bob = () => create(info, restoreObject(ns, 'r', 'cart-1'), asUser('bob'));
    expect((await bob()).code).not.toBe(0);

    await setPolicy(info, { authorizationCache: FAST_CACHE, mode: 'warn' });
    const warned = await eventually('mode: warn to take effect', async () => isAllowed(await bob()));
    expect(warned.stderr).toContain('Warning: restore-guard would deny (warn mode): user "bob" cannot restore');

    await setPolicy(info, { authorizationCache: FAST_CACHE });
    const denied = await eventually('mode: enforce to take effect', async () => isDenied(await bob()));
    // The policy may change while a request is between the two webhooks: the validating one may deny first.
    expect(denied.stderr).toMatch(/admission webhook "(pin|restore)\.restore-guard\.dev" denied the request: user "bob" cannot restore/);
  });

  it('requireReady: false admits a restore from a checkpoint that is not Ready yet', async () => {
    const alice = () => create(info, restoreObject(ns, 'r', 'warming'), asUser('alice'));
    await eventually('the not-ready checkpoint to be refused', async () => isDenied(await alice()));
    await setPolicy(info, { authorizationCache: FAST_CACHE, requireReady: false });
    await eventually('requireReady: false to take effect', async () => isAllowed(await alice()));
    await setPolicy(info, { authorizationCache: FAST_CACHE });
    await eventually('requireReady: true to take effect again', async () => isDenied(await alice()));
  });

  it('a policy with an unknown key is refused and the last good one stays in effect', async () => {
    const refusedBefore = refused().length;
    await run(info, [
      'patch',
      '-n',
      'restore-guard',
      'configmap',
      'restore-guard-policy',
      '--type=merge',
      '-p',
      JSON.stringify({ data: { 'policy.yaml': 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\nmode: warn\nmodee: enforce\n' } }),
    ]);
    const refusal = await eventually('the broken policy to be refused', async () => refused()[refusedBefore]);
    // The generation in effect when it was refused is the last one applied (log lines arrive in order).
    expect(refusal.generation).toBe(policyApplied().at(-1)?.generation);
    // Still enforcing, with the stand-in's group (a policy with defaults only would look for node.k8s.io).
    const bob = await create(info, restoreObject(ns, 'r', 'cart-1'), asUser('bob'));
    expect(bob.stderr).toContain('admission webhook "pin.restore-guard.dev" denied the request: user "bob" cannot restore podcheckpoints.checkpoint.k8s.io');
  });
});
