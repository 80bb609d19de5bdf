// Building blocks of the e2e scenarios (and the demo): namespaces, checkpoints with the status a kubelet would
// write, restore objects, restore grants through RBAC.
import { CHECKPOINT_GROUP, run, TEST_POD_GROUP, type ControlPlaneInfo, type UserName } from './controlplane.js';
import { kubectl, type KubectlOptions, type KubectlResult } from './kubectl.js';

export const TEST_PODS = `pods.${TEST_POD_GROUP}`;
export const CHECKPOINTS = `podcheckpoints.${CHECKPOINT_GROUP}`;

export type Json = Record<string, unknown>;

/** What the checkpointed source Pod ran: the template a restore must match. */
export function appSpec(image = 'registry.example/shop/cart@sha256:4f1c9a7e0d3b2a6c8e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d'): Json {
  return {
    automountServiceAccountToken: false,
    containers: [{ name: 'cart', image, resources: { requests: { cpu: '250m', memory: '128Mi' } } }],
  };
}

/**
 * A namespace with a `default` ServiceAccount: the ServiceAccount controller makes one too, but a moment later (and
 * not at all with RESTORE_GUARD_E2E_CONTROLLERS=0); a Pod may follow at once.
 */
export async function createNamespace(info: ControlPlaneInfo, name: string): Promise<void> {
  await run(info, ['apply', '--server-side', '-f', '-'], {
    input: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: name } },
    ],
  });
}

export interface CheckpointStatus {
  node?: string;
  ready?: 'True' | 'False';
  reason?: string;
  template?: Json;
}

/** A PodCheckpoint, and its status as the node's kubelet would write it (through the status subresource). */
export async function createCheckpoint(info: ControlPlaneInfo, namespace: string, name: string, status: CheckpointStatus = {}): Promise<void> {
  await run(info, ['apply', '--server-side', '-f', '-'], {
    input: { apiVersion: `${CHECKPOINT_GROUP}/v1alpha1`, kind: 'PodCheckpoint', metadata: { name, namespace }, spec: { sourcePod: { name: `${name}-source` }, timeoutSeconds: 60 } },
  });
  await setCheckpointStatus(info, namespace, name, { node: 'node-a', ready: 'True', template: { spec: appSpec() }, ...status });
}

export async function setCheckpointStatus(info: ControlPlaneInfo, namespace: string, name: string, status: CheckpointStatus): Promise<void> {
  const ready = status.ready ?? 'True';
  const body: Json = {
    status: {
      ...(status.node ? { nodeName: status.node } : {}),
      ...(status.template ? { checkpointedPodTemplate: status.template } : {}),
      checkpointedContainers: [{ name: 'cart', image: 'registry.example/shop/cart' }],
      conditions: [
        {
          type: 'Ready',
          status: ready,
          reason: status.reason ?? (ready === 'True' ? 'CheckpointCompleted' : 'CheckpointInProgress'),
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        },
      ],
    },
  };
  await run(info, ['patch', '-n', namespace, CHECKPOINTS, name, '--subresource=status', '--type=merge', '-p', JSON.stringify(body)]);
}

/** A Pod-shaped object of the e2e CRD that restores from `checkpoint`. */
export function restoreObject(namespace: string, name: string, checkpoint: string, spec: Json = appSpec()): Json {
  return { apiVersion: `${TEST_POD_GROUP}/v1`, kind: 'Pod', metadata: { name, namespace }, spec: { ...spec, restoreFrom: { name: checkpoint } } };
}

/** `kubectl create` as a user; dry-run on the server by default (webhooks run, nothing is stored). */
export async function create(info: ControlPlaneInfo, object: Json, options: KubectlOptions & { dryRun?: boolean } = {}): Promise<KubectlResult> {
  const dry = options.dryRun ?? true;
  return kubectl(info, ['create', ...(dry ? ['--dry-run=server'] : []), '-o', 'json', '-f', '-'], { ...options, input: object });
}

export type Subject = { kind: 'User' | 'Group'; name: string } | { kind: 'ServiceAccount'; name: string; namespace: string };

/** A Role with the restore verb on the named checkpoints (all when none are named), bound to one subject. */
export async function grantRestore(info: ControlPlaneInfo, namespace: string, binding: string, subject: Subject, checkpoints: string[] = []): Promise<void> {
  await run(info, ['apply', '--server-side', '-f', '-'], {
    input: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: binding, namespace },
        rules: [{ apiGroups: [CHECKPOINT_GROUP], resources: ['podcheckpoints'], verbs: ['restore'], ...(checkpoints.length > 0 ? { resourceNames: checkpoints } : {}) }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: binding, namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: binding },
        subjects: [subject.kind === 'ServiceAccount' ? subject : { apiGroup: 'rbac.authorization.k8s.io', ...subject }],
      },
    ],
  });
}

export async function revokeRestore(info: ControlPlaneInfo, namespace: string, binding: string): Promise<void> {
  await run(info, ['delete', '-n', namespace, 'rolebinding', binding]);
}

/** A ServiceAccount token from the TokenRequest API, as a workload controller would hold. */
export async function serviceAccountToken(info: ControlPlaneInfo, namespace: string, name: string): Promise<string> {
  await run(info, ['apply', '--server-side', '-f', '-'], {
    input: [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } },
      // A workload controller may create Pods (here: the e2e Pod-shaped objects too), like the built-in ones.
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: `${name}-creates-pods`, namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'e2e-developer' },
        subjects: [{ kind: 'ServiceAccount', name, namespace }],
      },
    ],
  });
  return (await run(info, ['create', 'token', name, '-n', namespace, '--duration=2h'])).trim();
}

export function asUser(user: UserName): KubectlOptions {
  return { as: user };
}

/** The node the stored or dry-run object is pinned to by the mutating webhook. */
export function pinnedNode(object: Json): string | undefined {
  const spec = object.spec as { affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: Array<{ matchFields?: Array<{ key: string; values?: string[] }> }> } } } };
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const term of terms) for (const field of term.matchFields ?? []) if (field.key === 'metadata.name') return field.values?.[0];
  return undefined;
}
