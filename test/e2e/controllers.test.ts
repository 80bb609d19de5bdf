// The real workload controllers of kube-controller-manager (harness/controlplane/controllers.ts), built from the
// same k8s.io/kubernetes as kube-apiserver: they create ReplicaSets and Pods under their own ServiceAccounts
// (--use-service-account-credentials), as on a cluster, which is the identity restore-guard sees for a workload's
// Pods. kube-apiserver's audit log names the requester; ownerReferences name the owner. No scheduler or kubelet
// runs: the Pods stay Pending.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { run, type ControlPlaneInfo } from '../../harness/controlplane/controlplane.js';
import { kubectl } from '../../harness/controlplane/kubectl.js';
import { eventually } from '../../harness/controlplane/net.js';
import type { Json } from '../../harness/controlplane/scenario.js';

const info: ControlPlaneInfo = inject('controlPlane');
const ns = 'e2e-controllers';

interface Meta {
  name: string;
  uid: string;
  labels?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
}
interface Item {
  metadata: Meta;
}

const controller = (name: string) => `system:serviceaccount:kube-system:${name}`;

const podTemplate = (labels: Record<string, string>, restartPolicy = 'Always'): Json => ({
  metadata: { labels },
  spec: { automountServiceAccountToken: false, restartPolicy, containers: [{ name: 'app', image: 'registry.example/app:1' }] },
});

async function list(resource: string, selector?: string): Promise<Item[]> {
  const out = await run(info, ['get', '-n', ns, resource, ...(selector ? ['-l', selector] : []), '-o', 'json']);
  return (JSON.parse(out) as { items: Item[] }).items;
}

async function get(resource: string, name: string): Promise<Item> {
  return JSON.parse(await run(info, ['get', '-n', ns, resource, name, '-o', 'json'])) as Item;
}

/** The single controller reference of `item`. */
function owner(item: Item) {
  const owners = (item.metadata.ownerReferences ?? []).filter((ref) => ref.controller === true);
  expect(owners).toHaveLength(1);
  return owners[0];
}

/** Who created `resource` objects in the namespace, by kube-apiserver's audit log (successful creates only). */
function creators(resource: string): Set<string> {
  const events = readFileSync(info.auditLog, 'utf8')
    .split('\n')
    .filter((line) => line.includes(`"${ns}"`) && line.includes('"create"'))
    .map(
      (line) =>
        JSON.parse(line) as {
          stage: string;
          verb: string;
          user: { username: string };
          objectRef?: { resource?: string; namespace?: string; subresource?: string };
          responseStatus?: { code?: number };
        },
    )
    .filter(
      (e) =>
        e.stage === 'ResponseComplete' && e.verb === 'create' && e.objectRef?.resource === resource && e.objectRef.namespace === ns && !e.objectRef.subresource,
    );
  return new Set(events.filter((e) => e.responseStatus?.code === 201).map((e) => e.user.username));
}

describe.skipIf(info.controllerManagerLog === undefined)('kube-controller-manager (RESTORE_GUARD_E2E_CONTROLLERS=0 turns it off)', () => {
  beforeAll(async () => {
    // A bare namespace: the `default` ServiceAccount every Pod needs comes from the ServiceAccount controller.
    await run(info, ['create', 'namespace', ns]);
  });

  it('the ServiceAccount controller creates `default` in a new namespace', async () => {
    await eventually('default ServiceAccount', async () =>
      (await kubectl(info, ['get', '-n', ns, 'serviceaccount', 'default'])).code === 0 ? true : undefined,
    );
  });

  it('a Deployment gets a ReplicaSet from the deployment controller, and Pods from the replicaset controller', async () => {
    await run(info, ['apply', '-f', '-'], {
      input: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: ns },
        spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: podTemplate({ app: 'web' }) },
      },
    });
    const deployment = await get('deployment', 'web');
    const replicaSet = await eventually('the ReplicaSet', async () => (await list('replicasets', 'app=web'))[0]);
    expect(owner(replicaSet)).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: deployment.metadata.uid });
    const pods = await eventually('two Pods', async () => {
      const found = await list('pods', 'app=web');
      return found.length === 2 ? found : undefined;
    });
    for (const pod of pods)
      expect(owner(pod)).toMatchObject({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: replicaSet.metadata.name, uid: replicaSet.metadata.uid });

    const seen = await eventually('the audit events', async () => {
      const [replicaSets, createdPods] = [creators('replicasets'), creators('pods')];
      return replicaSets.size > 0 && createdPods.size > 0 ? { replicaSets, createdPods } : undefined;
    });
    expect([...seen.replicaSets]).toEqual([controller('deployment-controller')]);
    expect([...seen.createdPods]).toEqual([controller('replicaset-controller')]);
  });

  it('a Job gets a Pod from the job controller', async () => {
    await run(info, ['apply', '-f', '-'], {
      input: {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: { name: 'once', namespace: ns },
        spec: { backoffLimit: 0, template: podTemplate({ app: 'once' }, 'Never') },
      },
    });
    const job = await get('job', 'once');
    const pod = await eventually('the Job Pod', async () => (await list('pods', 'batch.kubernetes.io/job-name=once'))[0]);
    expect(owner(pod)).toMatchObject({ apiVersion: 'batch/v1', kind: 'Job', name: 'once', uid: job.metadata.uid });
    const seen = await eventually('the audit event', async () => {
      const users = creators('pods');
      return users.has(controller('job-controller')) ? users : undefined;
    });
    expect([...seen].sort()).toEqual([controller('job-controller'), controller('replicaset-controller')]);
  });

  it('a StatefulSet gets its ordinal Pods from the statefulset controller', async () => {
    await run(info, ['apply', '-f', '-'], {
      input: {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'db', namespace: ns },
        spec: { serviceName: 'db', replicas: 1, selector: { matchLabels: { app: 'db' } }, template: podTemplate({ app: 'db' }) },
      },
    });
    const statefulSet = await get('statefulset', 'db');
    // Ordered: db-0 is created first, and db-1 would wait for it to be Ready (it never is without a kubelet).
    const pod = await eventually('db-0', async () => (await list('pods', 'app=db')).find((p) => p.metadata.name === 'db-0'));
    expect(owner(pod)).toMatchObject({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: statefulSet.metadata.uid });
    await eventually('the audit event', async () => (creators('pods').has(controller('statefulset-controller')) ? true : undefined));
  });

  it('the garbage collector deletes a deleted Deployment’s ReplicaSet and Pods', async () => {
    await run(info, ['delete', '-n', ns, 'deployment', 'web', '--cascade=background', '--wait=false']);
    await eventually('the ReplicaSet and its Pods to be collected', async () =>
      (await list('replicasets', 'app=web')).length === 0 && (await list('pods', 'app=web')).length === 0 ? true : undefined,
    );
  });
});
