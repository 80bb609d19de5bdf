// A restore source of the admin's own, every field spelled out in the policy (README "Writing a custom
// source"), through a real kube-apiserver: its own webhook entries (the Dynamo component's, with the
// annotation and the names changed, as README tells an admin to do), restore-guard's RBAC to watch the resource,
// and real core Pods carrying the annotation. The resource is the Dynamo stand-in CRD, read with the custom
// source's own layout (its readiness condition, its restored condition).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FAST_CACHE, run, setPolicy, shippedInstall, type ControlPlaneInfo, type Manifest } from '../../harness/controlplane/controlplane.js';
import type { KubectlResult } from '../../harness/controlplane/kubectl.js';
import { eventually } from '../../harness/controlplane/net.js';
import { shippedWebhooks } from '../../harness/controlplane/restoreguard.js';
import { asUser, create, createNamespace, type Json } from '../../harness/controlplane/scenario.js';
import {
  annotatedPod,
  applySourceComponents,
  createSnapshot,
  deleteObjects,
  DYNAMO,
  grantSnapshotRestore,
  installSnapshotCrds,
  registerBaseWebhooks,
  setPodCondition,
  setSourcesPolicy,
  type SnapshotSystem,
} from '../../harness/controlplane/sources.js';
import { startSuite, type Suite } from '../../harness/controlplane/suite.js';

const info: ControlPlaneInfo = inject('controlPlane');
const ns = 'e2e-custom-source';
const ANNOTATION = 'example.com/restore-from';
const EXAMPLE: SnapshotSystem = { ...DYNAMO, annotation: ANNOTATION, restored: 'example.com/Restored' };
let suite: Suite;
const installed: Manifest[] = [];

const allowed = (result: KubectlResult) => result.code === 0;
const denied = (result: KubectlResult): string | undefined => (result.code !== 0 ? result.stderr.trim() : undefined);

beforeAll(async () => {
  await installSnapshotCrds(info, [DYNAMO]);
  // The component's RBAC lets restore-guard watch podsnapshots.nvidia.com; its webhook entries are not applied.
  installed.push(...(await applySourceComponents(info, [DYNAMO], { policies: false })));
  await setSourcesPolicy(info, [
    { preset: 'kep-5823' },
    {
      name: 'example',
      reference: { annotation: ANNOTATION },
      resource: { group: 'nvidia.com', version: 'v1alpha1', resource: 'podsnapshots' },
      verb: 'restore',
      ready: { condition: 'Ready', status: 'True' },
      placement: { mode: 'none' },
      restored: { condition: 'example.com/Restored' },
    },
  ]);
  suite = await startSuite(info);
  // The Dynamo component's entries, renamed and pointed at the custom annotation.
  const install = (await shippedInstall(info, ['source-dynamo-snapshot'])).map(
    (o) => JSON.parse(JSON.stringify(o).replaceAll('nvidia.com/restore-from', ANNOTATION).replaceAll('dynamo-snapshot.', 'example.')) as Manifest,
  );
  await run(info, ['apply', '--server-side', '--force-conflicts', '-f', '-'], {
    input: await shippedWebhooks(info, `https://127.0.0.1:${suite.restoreGuard.port}`, install),
  });
  await createNamespace(info, ns);
  await createSnapshot(info, DYNAMO, ns, 'snap');
  await grantSnapshotRestore(info, DYNAMO, ns, 'alice-example', { kind: 'User', name: 'alice' }, ['snap']);
});
afterAll(async () => {
  await deleteObjects(info, installed);
  await setPolicy(info, { authorizationCache: FAST_CACHE });
  if (suite) await registerBaseWebhooks(info, suite.restoreGuard);
  await suite?.close();
});

describe('a custom source (annotation example.com/restore-from)', () => {
  it('admits alice, granted restore on the named object, and denies bob, naming the custom annotation', async () => {
    await eventually('the custom source to be enforced', async () =>
      denied(await create(info, annotatedPod(EXAMPLE, ns, 'probe', 'snap'), asUser('bob')))?.includes(`annotation "${ANNOTATION}"`) ? true : undefined,
    );
    expect(allowed(await create(info, annotatedPod(EXAMPLE, ns, 'restored', 'snap'), { ...asUser('alice'), dryRun: false }))).toBe(true);
    const bob = denied(await create(info, annotatedPod(EXAMPLE, ns, 'bob-restore', 'snap'), asUser('bob')));
    expect(bob).toContain('admission webhook "example.pin.restore-guard.dev" denied the request');
    expect(bob).toContain(`user "bob" cannot restore podsnapshots.nvidia.com "snap" in namespace "${ns}": creating a Pod with annotation "${ANNOTATION}"`);
  });

  it("keeps the spec frozen until the source's own restored condition, and the annotation immutable", async () => {
    const patch = (body: Json) =>
      run(info, ['patch', '-n', ns, 'pod', 'restored', '--type=strategic', '-p', JSON.stringify(body)], asUser('alice')).then(
        () => 'ok',
        (error: Error) => error.message,
      );
    expect(await patch({ spec: { activeDeadlineSeconds: 600 } })).toContain('(condition example.com/Restored=True)');
    await setPodCondition(info, ns, 'restored', 'example.com/Restored', 'True');
    expect(await patch({ spec: { activeDeadlineSeconds: 600 } })).toBe('ok');
    expect(await patch({ metadata: { annotations: { [ANNOTATION]: 'other' } } })).toContain(`annotation "${ANNOTATION}" is immutable`);
  });
});
