// The companion ValidatingAdmissionPolicy (manifests/base/validatingadmissionpolicy.yaml, with the stand-in
// Component's group) evaluated by kube-apiserver itself, with restore-guard's webhooks out of the way: the
// defense in depth that holds when the webhook is bypassed. Its test-only twin differs from the installed
// policy only in the API group its rules match (the e2e Pod-shaped objects, which keep spec.restoreFrom).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { run, shippedInstall, TEST_POD_GROUP, type ControlPlaneInfo, type Manifest } from '../../harness/controlplane/controlplane.js';
import type { KubectlResult } from '../../harness/controlplane/kubectl.js';
import { eventually } from '../../harness/controlplane/net.js';
import { asUser, create, createCheckpoint, createNamespace, grantRestore, restoreObject, TEST_PODS } from '../../harness/controlplane/scenario.js';

const info: ControlPlaneInfo = inject('controlPlane');
const ns = 'e2e-companion';
const SHIPPED = 'restore-guard.dev';
const TWIN = `${SHIPPED}-e2e-test-pods`;

async function twins(): Promise<Manifest[]> {
  const installed = await shippedInstall(info);
  // By name: the base also ships the capture policy (capture.restore-guard.dev), which kustomize lists first.
  const named = (kind: string) => structuredClone(installed.find((o) => o.kind === kind && o.metadata?.name === SHIPPED));
  const [policy, binding] = [named('ValidatingAdmissionPolicy'), named('ValidatingAdmissionPolicyBinding')];
  if (!policy || !binding) throw new Error(`manifests/base ships no ValidatingAdmissionPolicy and binding ${SHIPPED}`);
  policy.metadata = { name: TWIN };
  const constraints = (policy.spec as { matchConstraints: { resourceRules: Array<{ apiGroups: string[] }> } }).matchConstraints;
  for (const rule of constraints.resourceRules) rule.apiGroups = [TEST_POD_GROUP];
  binding.metadata = { name: TWIN };
  (binding.spec as { policyName: string }).policyName = TWIN;
  return [policy, binding];
}

beforeAll(async () => {
  // No restore-guard here: only kube-apiserver's own policy decides.
  await run(info, ['delete', '--ignore-not-found', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', 'restore-guard-e2e-test-pods']);
  await createNamespace(info, ns);
  await createCheckpoint(info, ns, 'cart-1');
  await grantRestore(info, ns, 'alice-restores', { kind: 'User', name: 'alice' }, ['cart-1']);
  await run(info, ['apply', '--server-side', '-f', '-'], { input: await twins() });
});
afterAll(async () => {
  await run(info, ['delete', '--ignore-not-found', 'validatingadmissionpolicybinding,validatingadmissionpolicy', TWIN]);
});

const denied = (result: KubectlResult) => (result.code !== 0 ? result.stderr.trim() : undefined);

describe('the companion ValidatingAdmissionPolicy, in kube-apiserver', () => {
  it('denies a restore without the restore verb, through the CEL authorizer, and admits one with it', async () => {
    const message = await eventually('the policy to be in force', async () => denied(await create(info, restoreObject(ns, 'r', 'cart-1'), asUser('bob'))));
    expect(message).toContain(`ValidatingAdmissionPolicy '${TWIN}' with binding '${TWIN}' denied request`);
    expect(message).toContain(
      `restoring a Pod from a checkpoint needs the restore verb: bob may not restore podcheckpoints.checkpoint.k8s.io "cart-1" in namespace "${ns}"`,
    );
    const alice = await create(info, restoreObject(ns, 'r', 'cart-1'), asUser('alice'));
    expect(alice.stderr).toBe('');
    const other = await create(info, restoreObject(ns, 'r', 'cart-2'), asUser('alice'));
    expect(other.stderr).toContain('may not restore podcheckpoints.checkpoint.k8s.io "cart-2"');
  });

  it('keeps restoreFrom immutable and the spec frozen until PodRestored=True', async () => {
    await run(info, ['create', '-f', '-'], { ...asUser('alice'), input: restoreObject(ns, 'stored', 'cart-1') });
    const patch = async (body: object) =>
      await run(info, ['patch', '-n', ns, TEST_PODS, 'stored', '--type=merge', '-p', JSON.stringify(body)], asUser('alice')).then(
        () => 'ok',
        (e: Error) => e.message,
      );
    expect(await patch({ spec: { restoreFrom: { name: 'cart-2' } } })).toContain('spec.restoreFrom is immutable; to restore again, create a new Pod');
    expect(await patch({ spec: { activeDeadlineSeconds: 60 } })).toContain(
      'the spec of a Pod being restored is frozen until it has condition PodRestored=True',
    );
    expect(await patch({ metadata: { labels: { tier: 'web' } } })).toBe('ok');
    await run(info, [
      'patch',
      '-n',
      ns,
      TEST_PODS,
      'stored',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { conditions: [{ type: 'PodRestored', status: 'True' }] } }),
    ]);
    expect(await patch({ spec: { activeDeadlineSeconds: 60 } })).toBe('ok');
  });
});
