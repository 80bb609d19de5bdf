// Restore decisions for real users, through kube-apiserver: RBAC grants and revocations, resourceNames,
// groups, a controller ServiceAccount, the oracle rule, the update guard and the spec check. kube-apiserver
// authenticates each user, sends the review (e2e CRD objects through the relay, see harness/restoreguard.ts),
// applies restore-guard's patch and shows its denial the way kubectl prints it.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { run, type ControlPlaneInfo } from '../../harness/controlplane/controlplane.js';
import type { KubectlResult } from '../../harness/controlplane/kubectl.js';
import { eventually } from '../../harness/controlplane/net.js';
import {
  appSpec,
  asUser,
  create,
  createCheckpoint,
  createNamespace,
  grantRestore,
  pinnedNode,
  restoreObject,
  revokeRestore,
  serviceAccountToken,
  setCheckpointStatus,
  TEST_PODS,
  type Json,
} from '../../harness/controlplane/scenario.js';
import { startSuite, type Suite } from '../../harness/controlplane/suite.js';

const info: ControlPlaneInfo = inject('controlPlane');
let suite: Suite;

beforeAll(async () => {
  suite = await startSuite(info);
});
afterAll(async () => {
  await suite?.close();
});

const allowed = (result: KubectlResult): Json | undefined => (result.code === 0 ? (JSON.parse(result.stdout) as Json) : undefined);
const denied = (result: KubectlResult): string | undefined => (result.code !== 0 ? result.stderr.trim() : undefined);
const DENIED_PIN = /^Error from server \(Forbidden\): error when creating "STDIN": admission webhook "pin\.restore-guard\.dev" denied the request: /;
// When the facts change while a request is between the two webhooks (a cached answer expires, a watch event
// lands), the validating one may be the first to deny it.
const DENIED_BY_EITHER =
  /^Error from server \(Forbidden\): error when creating "STDIN": admission webhook "(pin|restore)\.restore-guard\.dev" denied the request: /;

describe('restore grants through RBAC', () => {
  const ns = 'e2e-grants';
  beforeAll(async () => {
    await createNamespace(info, ns);
    await createCheckpoint(info, ns, 'cart-1');
    await createCheckpoint(info, ns, 'cart-2');
  });

  it('a RoleBinding allows the restore and the Pod is pinned to the checkpoint node; revoking it denies again', async () => {
    const attempt = () => create(info, restoreObject(ns, 'restored', 'cart-1'), asUser('alice'));
    const before = await attempt();
    expect(before.code).not.toBe(0);
    expect(before.stderr).toMatch(DENIED_PIN);
    expect(before.stderr).toContain(`user "alice" cannot restore podcheckpoints.checkpoint.k8s.io "cart-1" in namespace "${ns}"`);

    await grantRestore(info, ns, 'alice-restores', { kind: 'User', name: 'alice' });
    const object = await eventually('the grant to take effect', async () => allowed(await attempt()));
    expect(pinnedNode(object)).toBe('node-a');

    await revokeRestore(info, ns, 'alice-restores');
    const message = await eventually('the revocation to take effect (after the allowed TTL)', async () => denied(await attempt()));
    expect(message).toMatch(DENIED_BY_EITHER);
    expect(message).toContain(`user "alice" cannot restore podcheckpoints.checkpoint.k8s.io "cart-1" in namespace "${ns}"`);
  });

  it('a grant scoped by resourceNames allows that checkpoint only', async () => {
    await grantRestore(info, ns, 'alice-cart-1', { kind: 'User', name: 'alice' }, ['cart-1']);
    await eventually('the grant to take effect', async () => allowed(await create(info, restoreObject(ns, 'r1', 'cart-1'), asUser('alice'))));
    const other = await create(info, restoreObject(ns, 'r2', 'cart-2'), asUser('alice'));
    expect(other.stderr).toContain(`user "alice" cannot restore podcheckpoints.checkpoint.k8s.io "cart-2"`);
    await revokeRestore(info, ns, 'alice-cart-1');
  });

  it('a grant to a group allows its members only', async () => {
    await grantRestore(info, ns, 'restorers', { kind: 'Group', name: 'e2e:restorers' }, ['cart-2']);
    await eventually('the group grant to take effect', async () => allowed(await create(info, restoreObject(ns, 'r3', 'cart-2'), asUser('carol'))));
    const bob = await create(info, restoreObject(ns, 'r4', 'cart-2'), asUser('bob'));
    expect(bob.stderr).toMatch(DENIED_PIN);
    expect(bob.stderr).toContain('user "bob" cannot restore');
  });

  it('a workload controller ServiceAccount is told it needs the grant, and is allowed once granted', async () => {
    const token = await serviceAccountToken(info, ns, 'cart-controller');
    const owned = restoreObject(ns, 'cart-7f9c-abcde', 'cart-1');
    (owned.metadata as Json).ownerReferences = [
      { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'cart-7f9c', uid: '6b1f1f5e-0000-4000-8000-000000000001', controller: true },
    ];
    const before = await create(info, owned, { token });
    expect(before.stderr).toMatch(DENIED_PIN);
    expect(before.stderr).toContain(`user "system:serviceaccount:${ns}:cart-controller" cannot restore`);
    expect(before.stderr).toContain('This Pod is created by a workload controller, so its ServiceAccount');

    await grantRestore(info, ns, 'controller-restores', { kind: 'ServiceAccount', name: 'cart-controller', namespace: ns }, ['cart-1']);
    const object = await eventually('the ServiceAccount grant to take effect', async () => allowed(await create(info, owned, { token })));
    expect(pinnedNode(object)).toBe('node-a');
  });
});

describe('nothing leaks to a requester who may not restore', () => {
  const ns = 'e2e-oracle';
  beforeAll(async () => {
    await createNamespace(info, ns);
    await createCheckpoint(info, ns, 'ready-on-a');
    await createCheckpoint(info, ns, 'warming', { ready: 'False', node: 'node-b' });
  });

  it('denies identically for a ready checkpoint, a not-ready one and a missing one', async () => {
    const answers = await Promise.all(
      ['ready-on-a', 'warming', 'missing'].map(async (name) =>
        (await create(info, restoreObject(ns, 'probe', name), asUser('bob'))).stderr.replaceAll(name, 'NAME'),
      ),
    );
    expect(answers[0]).toMatch(DENIED_PIN);
    expect(answers[1]).toBe(answers[0]);
    expect(answers[2]).toBe(answers[0]);
    expect(answers[0]).not.toContain('node-');
  });
});

describe('a restored Pod, stored', () => {
  const ns = 'e2e-stored';
  beforeAll(async () => {
    await createNamespace(info, ns);
    await createCheckpoint(info, ns, 'cart-1');
    await grantRestore(info, ns, 'alice-restores', { kind: 'User', name: 'alice' });
  });

  it('is stored pinned; its spec is frozen until PodRestored=True, metadata is not; restoreFrom never changes', async () => {
    const stored = await eventually('the restore to be admitted', async () =>
      allowed(await create(info, restoreObject(ns, 'cart', 'cart-1'), { ...asUser('alice'), dryRun: false })),
    );
    expect(pinnedNode(stored)).toBe('node-a');
    expect((stored.spec as Json).restoreFrom).toEqual({ name: 'cart-1' });

    const patch = (body: Json, user: 'alice' | 'admin' = 'alice') =>
      run(info, ['patch', '-n', ns, TEST_PODS, 'cart', '--type=merge', '-p', JSON.stringify(body)], asUser(user)).then(
        () => 'ok',
        (error: Error) => error.message,
      );
    expect(await patch({ metadata: { labels: { tier: 'web' } } })).toBe('ok');
    const specChange = await patch({ spec: { containers: [{ name: 'cart', image: 'registry.example/shop/cart:latest' }] } });
    expect(specChange).toContain('Error from server (Forbidden): admission webhook "restore.restore-guard.dev" denied the request');
    const moved = await patch({ spec: { restoreFrom: { name: 'cart-2' } } });
    expect(moved).toContain('The request is invalid: admission webhook "restore.restore-guard.dev" denied the request: spec.restoreFrom is immutable');

    await run(info, [
      'patch',
      '-n',
      ns,
      TEST_PODS,
      'cart',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { conditions: [{ type: 'PodRestored', status: 'True' }] } }),
    ]);
    expect(await patch({ spec: { activeDeadlineSeconds: 3600 } })).toBe('ok');
    expect(await patch({ spec: { restoreFrom: null } })).toContain(
      'The request is invalid: admission webhook "restore.restore-guard.dev" denied the request: spec.restoreFrom is immutable',
    );
  });

  it('a spec that differs from the captured template is denied, naming every differing field', async () => {
    const spec = appSpec('registry.example/shop/cart:tampered');
    (spec.containers as Json[])[0]!.env = [{ name: 'DEBUG', value: '1' }];
    const result = await create(info, restoreObject(ns, 'tampered', 'cart-1', spec), asUser('alice'));
    expect(result.stderr).toMatch(/^The request is invalid: error when creating "STDIN": admission webhook "restore\.restore-guard\.dev" denied the request: /);
    expect(result.stderr).toContain('spec.containers[0].image');
    expect(result.stderr).toContain('spec.containers[0].env');
  });
});

describe('restore options and RuntimeClasses', () => {
  const ns = 'e2e-options';
  beforeAll(async () => {
    await createNamespace(info, ns);
    await createCheckpoint(info, ns, 'cart-1');
    await grantRestore(info, ns, 'alice-restores', { kind: 'User', name: 'alice' });
  });

  it('needs spec.runtimeClassName, and a RuntimeClass that allows the option, which no v1.37 API server can store', async () => {
    const withOptions = (spec: Json) => {
      const object = restoreObject(ns, 'r', 'cart-1', spec);
      (object.spec as Json).restoreFrom = { name: 'cart-1', options: { tcp: 'close' } };
      return object;
    };
    const noClass = await eventually('the grant to take effect', async () => {
      const result = await create(info, withOptions(appSpec()), asUser('alice'));
      return result.stderr.includes('restore.restore-guard.dev') ? result : undefined;
    });
    expect(noClass.stderr).toMatch(/^The request is invalid: .*spec\.runtimeClassName/);
    expect(noClass.stderr).not.toContain('close');

    // manifests/examples/runtimeclass.yaml allows `tcp`, but kube-apiserver v1.37 dropped its podCheckpoint field.
    const stored = JSON.parse(await run(info, ['get', 'runtimeclass', 'runc-checkpoint', '-o', 'json'])) as Json;
    expect(stored.podCheckpoint).toBeUndefined();
    const withClass = await create(info, withOptions({ ...appSpec(), runtimeClassName: 'runc-checkpoint' }), asUser('alice'));
    expect(withClass.stderr).toMatch(
      /^Error from server \(Forbidden\): .*admission webhook "restore\.restore-guard\.dev" denied the request: .*runc-checkpoint/,
    );
    expect(withClass.stderr).toContain('tcp');
    expect(withClass.stderr).not.toContain('close');
  });
});

describe('PodCheckpoints written through the API reach the watch cache', () => {
  const ns = 'e2e-watch';
  beforeAll(async () => {
    await createNamespace(info, ns);
    await grantRestore(info, ns, 'alice-restores', { kind: 'User', name: 'alice' });
  });

  it('a checkpoint that becomes Ready becomes usable; a node change moves the pin', async () => {
    await createCheckpoint(info, ns, 'late', { ready: 'False', node: 'node-a' });
    const attempt = () => create(info, restoreObject(ns, 'r', 'late'), asUser('alice'));
    const notReady = await eventually('the not-ready checkpoint to be seen', async () => denied(await attempt()));
    expect(notReady).toContain('Ready');

    await setCheckpointStatus(info, ns, 'late', { ready: 'True', node: 'node-a', template: { spec: appSpec() } });
    const object = await eventually('Ready=True to reach the cache', async () => allowed(await attempt()));
    expect(pinnedNode(object)).toBe('node-a');

    await setCheckpointStatus(info, ns, 'late', { ready: 'True', node: 'node-b' });
    await eventually('the node change to reach the cache', async () => {
      const moved = allowed(await attempt());
      return moved && pinnedNode(moved) === 'node-b' ? moved : undefined;
    });
  });

  it('a deleted checkpoint is gone for restore-guard too', async () => {
    await createCheckpoint(info, ns, 'short-lived');
    await eventually('the checkpoint to be usable', async () => allowed(await create(info, restoreObject(ns, 'r', 'short-lived'), asUser('alice'))));
    await run(info, ['delete', '-n', ns, 'podcheckpoints.checkpoint.k8s.io', 'short-lived']);
    const message = await eventually('the deletion to reach the cache', async () =>
      denied(await create(info, restoreObject(ns, 'r', 'short-lived'), asUser('alice'))),
    );
    expect(message).toMatch(DENIED_BY_EITHER);
  });
});
