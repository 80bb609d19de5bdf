// Workloads that restore (issue #15), against the real control plane with the real controllers of
// kube-controller-manager (--use-service-account-credentials) and the Dynamo annotation source: restore-guard
// installed with the Component source-dynamo-snapshot (webhook entries, the workloads entries of base and
// Component included; RBAC for its watches; no companion policies), the stand-in PodSnapshot CRD, and a
// policy enabling kep-5823 and dynamo-snapshot with `workloads: {delegation: enabled}` (disabled in the last
// block). The writer of a Deployment whose Pod template carries nvidia.com/restore-from is checked; the
// ReplicaSet and Pods the controllers copy from it are admitted by delegation. No scheduler or kubelet runs:
// Pods stay Pending, which is all a restore decision needs.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FAST_CACHE, run, setPolicy, type ControlPlaneInfo, type Manifest } from '../../harness/controlplane/controlplane.js';
import { kubectl, type KubectlResult } from '../../harness/controlplane/kubectl.js';
import { eventually } from '../../harness/controlplane/net.js';
import { appSpec, asUser, createNamespace, type Json } from '../../harness/controlplane/scenario.js';
import {
  applySourceComponents,
  createSnapshot,
  deleteObjects,
  DYNAMO,
  grantSnapshotRestore,
  installSnapshotCrds,
  registerBaseWebhooks,
  registerSourceWebhooks,
  snapshotResource,
} from '../../harness/controlplane/sources.js';
import { startSuite, type Suite } from '../../harness/controlplane/suite.js';

const info: ControlPlaneInfo = inject('controlPlane');
const ns = 'e2e-workloads';
const SNAP = 'worker-snap';
const controller = (name: string) => `system:serviceaccount:kube-system:${name}`;
const workloadsEntry = `${DYNAMO.preset}.workloads.restore-guard.dev`;
let suite: Suite;
const installed: Manifest[] = [];

interface Meta {
  name: string;
  uid: string;
  ownerReferences?: Array<{ kind: string; name: string; uid: string; controller?: boolean }>;
}
interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Item {
  metadata: Meta;
  status?: { conditions?: Condition[] };
}

const setWorkloadsPolicy = (delegation: 'enabled' | 'disabled') =>
  setPolicy(info, { authorizationCache: FAST_CACHE, sources: [{ preset: 'kep-5823' }, { preset: DYNAMO.preset }], workloads: { delegation } });

/** A Pod template that restores from the Dynamo snapshot `snapshot` by annotation. */
const template = (app: string, snapshot = SNAP): Json => ({
  metadata: { labels: { app }, annotations: { [DYNAMO.annotation]: snapshot } },
  spec: appSpec(),
});
const deployment = (name: string, replicas = 1): Json => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: { replicas, selector: { matchLabels: { app: name } }, template: template(name) },
});
const replicaSet = (name: string): Json => ({
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: { name, namespace: ns },
  spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: template(name) },
});

const createAs = (user: 'alice' | 'bob', object: Json, dryRun = false) =>
  kubectl(info, ['create', ...(dryRun ? ['--dry-run=server'] : []), '-o', 'json', '-f', '-'], { ...asUser(user), input: object });
const denied = (result: KubectlResult): string | undefined => (result.code !== 0 ? result.stderr.trim() : undefined);

async function list(resource: string, selector: string): Promise<Item[]> {
  return (JSON.parse(await run(info, ['get', '-n', ns, resource, '-l', selector, '-o', 'json'])) as { items: Item[] }).items;
}
async function get(resource: string, name: string): Promise<Item> {
  return JSON.parse(await run(info, ['get', '-n', ns, resource, name, '-o', 'json'])) as Item;
}

interface AuditEvent {
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  responseStatus?: { code?: number };
  annotations?: Record<string, string>;
}
/** kube-apiserver's completed creates of `resource` in the namespace, by `user`. */
function creates(resource: string, user: string): AuditEvent[] {
  return readFileSync(info.auditLog, 'utf8')
    .split('\n')
    .filter((line) => line.includes(`"${ns}"`) && line.includes('"create"'))
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter(
      (e) =>
        e.stage === 'ResponseComplete' &&
        e.verb === 'create' &&
        e.user.username === user &&
        e.objectRef?.resource === resource &&
        e.objectRef.namespace === ns &&
        !e.objectRef.subresource,
    );
}
const delegatedBy = (event: AuditEvent) =>
  Object.entries(event.annotations ?? {})
    .filter(([key]) => key.endsWith('/delegated-by'))
    .map(([, value]) => value);

beforeAll(async () => {
  await installSnapshotCrds(info, [DYNAMO]);
  // RBAC first: restore-guard is ready only once every enabled source's watch has synced.
  installed.push(...(await applySourceComponents(info, [DYNAMO], { policies: false })));
  await setWorkloadsPolicy('enabled');
  suite = await startSuite(info);
  await registerSourceWebhooks(info, suite.restoreGuard, [DYNAMO]);
  await createNamespace(info, ns);
  await createSnapshot(info, DYNAMO, ns, SNAP);
  await grantSnapshotRestore(info, DYNAMO, ns, 'alice-restores', { kind: 'User', name: 'alice' }, [SNAP]);
  // alice and bob may write workloads here (and Pods everywhere, as e2e developers); carol may only scale.
  await run(info, ['apply', '--server-side', '-f', '-'], {
    input: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'workload-writer', namespace: ns },
        rules: [{ apiGroups: ['apps'], resources: ['deployments', 'replicasets'], verbs: ['create', 'get', 'list', 'update', 'patch', 'delete'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'workload-writer', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'workload-writer' },
        subjects: ['alice', 'bob'].map((name) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name })),
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'scaler', namespace: ns },
        rules: [
          { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] },
          { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['get', 'update', 'patch'] },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'scaler', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'scaler' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'carol' }],
      },
    ],
  });
});
afterAll(async () => {
  // Leave the cluster as the other files expect it: no source RBAC, the policy and webhooks of the base.
  await deleteObjects(info, installed);
  await setPolicy(info, { authorizationCache: FAST_CACHE });
  if (suite) await registerBaseWebhooks(info, suite.restoreGuard);
  await suite?.close();
});

describe.skipIf(info.controllerManagerLog === undefined)('workloads whose Pod template restores, with the real controllers', () => {
  it('alice, granted restore on the snapshot, creates a Deployment: its ReplicaSet and Pod, made by the controllers, are admitted by delegation', async () => {
    await eventually('the grant and the snapshot to reach restore-guard', async () => {
      const result = await createAs('alice', deployment('web'), true);
      return result.code === 0 ? true : undefined;
    });
    const created = await createAs('alice', deployment('web'));
    expect(created.stderr.trim()).toBe('');
    expect(created.code).toBe(0);
    const web = await get('deployment', 'web');

    const rs = await eventually('the ReplicaSet', async () => (await list('replicasets', 'app=web'))[0]);
    expect(rs.metadata.ownerReferences?.find((o) => o.controller)).toMatchObject({ kind: 'Deployment', name: 'web', uid: web.metadata.uid });
    const pods = await eventually('the Pod', async () => {
      const found = await list('pods', 'app=web');
      return found.length === 1 ? found : undefined;
    });
    expect(pods[0]?.metadata.ownerReferences?.find((o) => o.controller)).toMatchObject({ kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid });

    // kube-apiserver's audit log: who created them, and restore-guard's annotation naming the owner it trusted.
    const rsEvent = await eventually('the ReplicaSet create in the audit log', async () =>
      creates('replicasets', controller('deployment-controller')).find((e) => e.responseStatus?.code === 201 && e.objectRef?.name === rs.metadata.name),
    );
    expect(rsEvent.annotations?.[`${workloadsEntry}/delegated-by`]).toBe('Deployment/web');
    // Pods are created with generateName: the audit event names no object, so it is told by its annotation.
    const podEvent = await eventually('the Pod create in the audit log', async () =>
      creates('pods', controller('replicaset-controller')).find(
        (e) => e.responseStatus?.code === 201 && delegatedBy(e).includes(`ReplicaSet/${rs.metadata.name}`),
      ),
    );
    expect(new Set(delegatedBy(podEvent))).toEqual(new Set([`ReplicaSet/${rs.metadata.name}`]));
    expect(podEvent.annotations?.[`${DYNAMO.preset}.restore.restore-guard.dev/delegated-by`]).toBe(`ReplicaSet/${rs.metadata.name}`);
  });

  it('bob, who may create Deployments but not restore, is denied the identical Deployment (403)', async () => {
    const message = denied(await createAs('bob', deployment('web-bob')));
    expect(message).toMatch(
      /^Error from server \(Forbidden\): error when creating "STDIN": admission webhook "dynamo-snapshot\.workloads\.restore-guard\.dev" denied the request: /,
    );
    expect(message).toContain(`user "bob" cannot restore ${snapshotResource(DYNAMO)} "${SNAP}" in namespace "${ns}"`);
    expect(message).toContain('writing a Deployment whose Pod template has');
    expect((await kubectl(info, ['get', '-n', ns, 'deployment', 'web-bob'])).stderr).toContain('NotFound');
    // Nor may he change the template of alice's (an UPDATE that changes a restoring template is checked too).
    const patched = await kubectl(
      info,
      [
        'patch',
        '-n',
        ns,
        'deployment',
        'web',
        '--type=strategic',
        '-p',
        JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'cart', image: 'registry.example/other:1' }] } } } }),
      ],
      asUser('bob'),
    );
    expect(denied(patched)).toContain(`admission webhook "${workloadsEntry}" denied the request`);
    expect(denied(patched)).toContain('user "bob" cannot restore');
  });

  it("a Pod bob creates with a controller ownerReference to alice's ReplicaSet (right uid) is denied: a forged owner earns nothing", async () => {
    const rs = (await list('replicasets', 'app=web'))[0] as Item;
    const forged: Json = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'forged',
        namespace: ns,
        annotations: { [DYNAMO.annotation]: SNAP },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true }],
      },
      spec: appSpec(),
    };
    const message = denied(await createAs('bob', forged));
    expect(message).toMatch(
      /^Error from server \(Forbidden\): error when creating "STDIN": admission webhook "dynamo-snapshot\.(pin|restore)\.restore-guard\.dev" denied/,
    );
    expect(message).toContain(`user "bob" cannot restore ${snapshotResource(DYNAMO)} "${SNAP}" in namespace "${ns}"`);
    expect((await kubectl(info, ['get', '-n', ns, 'pod', 'forged'])).stderr).toContain('NotFound');
  });

  it('carol, who may only scale, scales alice’s Deployment without any restore grant; the new Pod is admitted by delegation', async () => {
    const scaled = await kubectl(info, ['scale', '-n', ns, 'deployment/web', '--replicas=2'], asUser('carol'));
    expect(scaled.stderr.trim()).toBe('');
    expect(scaled.code).toBe(0);
    // carol holds no grant on the snapshot.
    const can = await kubectl(info, ['auth', 'can-i', 'restore', `${snapshotResource(DYNAMO)}/${SNAP}`, '-n', ns], asUser('carol'));
    expect(can.stdout.trim()).toBe('no');
    await eventually('two Pods', async () => ((await list('pods', 'app=web')).length === 2 ? true : undefined));
  });

  describe('with delegation disabled', () => {
    beforeAll(async () => {
      await setWorkloadsPolicy('disabled');
    });
    afterAll(async () => {
      await setWorkloadsPolicy('enabled');
    });

    it("alice's Deployment is allowed with a warning naming the controller, and the controller's ReplicaSet is denied", async () => {
      let last = '';
      await eventually(
        'the policy to reach restore-guard',
        async () => {
          const result = await createAs('alice', deployment('web-off'), true);
          last = `${result.code}: ${result.stderr}`;
          return result.code === 0 && result.stderr.includes('workloads.delegation is disabled') ? true : undefined;
        },
        { diagnose: () => last },
      );
      const created = await createAs('alice', deployment('web-off'));
      expect(created.code).toBe(0);
      expect(created.stderr).toMatch(/^Warning: /m);
      // kube-apiserver cuts a webhook's warning to 120 characters: what will happen, and why, come first.
      expect(created.stderr).toContain("Warning: what the Deployment's controller makes from this template will be denied: workloads.delegation is disabled");

      const condition = await eventually('the Deployment to report the failed ReplicaSet create', async () =>
        (await get('deployment', 'web-off')).status?.conditions?.find((c) => c.reason === 'ReplicaSetCreateError'),
      );
      expect(condition).toMatchObject({ type: 'Progressing', status: 'False' });
      expect(condition.message).toContain(`admission webhook "${workloadsEntry}" denied the request`);
      expect(condition.message).toContain(`user "${controller('deployment-controller')}" cannot restore`);
      expect(await list('replicasets', 'app=web-off')).toEqual([]);
      expect(await list('pods', 'app=web-off')).toEqual([]);
    });

    it("a ReplicaSet alice writes herself is allowed with the warning, and the replicaset controller's Pods are denied (ReplicaFailure)", async () => {
      const created = await createAs('alice', replicaSet('rs-off'));
      expect(created.code).toBe(0);
      expect(created.stderr).toContain("Warning: what the ReplicaSet's controller makes from this template will be denied: workloads.delegation is disabled");
      const condition = await eventually('the ReplicaSet to report the failed Pod create', async () =>
        (await get('replicaset', 'rs-off')).status?.conditions?.find((c) => c.type === 'ReplicaFailure'),
      );
      expect(condition).toMatchObject({ status: 'True', reason: 'FailedCreate' });
      expect(condition.message).toContain(`user "${controller('replicaset-controller')}" cannot restore ${snapshotResource(DYNAMO)} "${SNAP}"`);
      expect(await list('pods', 'app=rs-off')).toEqual([]);
    });
  });
});
