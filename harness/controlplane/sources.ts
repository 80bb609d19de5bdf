// Restore sources other than KEP-5823 on the real control plane: the stand-in CRDs of the snapshot systems
// (test/e2e/fixtures), restore-guard installed with their Components (manifests/components/source-<preset>),
// snapshots with the status their systems would write, restore grants on them, and real core Pods that name
// them by annotation (an annotation survives decoding, so no relay is needed).
import { join } from 'node:path';
import { FAST_CACHE, run, setPolicy, shippedInstall, WEBHOOK_KINDS, type ControlPlaneInfo, type Manifest } from './controlplane.js';
import { kubectl } from './kubectl.js';
import { eventually } from './net.js';
import { REPO } from './paths.js';
import { shippedWebhooks, type RestoreGuard } from './restoreguard.js';
import { appSpec, createNamespace, type Json, type Subject } from './scenario.js';

const PROBE_NAMESPACE = 'e2e-source-probe';

/** A snapshot system as its preset reads it (../shared/docs/restore-systems.md). */
export interface SnapshotSystem {
  preset: 'dynamo-snapshot' | 'gke-pod-snapshot';
  /** The Pod annotation that names the snapshot. */
  annotation: string;
  group: string;
  version: string;
  resource: 'podsnapshots';
  kind: 'PodSnapshot';
  /** The Pod condition that ends the restore (and the spec freeze) once True. */
  restored: string;
  /** The stand-in CRD, in test/e2e/fixtures. */
  crd: string;
  /** Where a new snapshot names the Pod it captures; undefined: the preset checks no capture. */
  sourcePod?: string;
}

export const DYNAMO: SnapshotSystem = {
  preset: 'dynamo-snapshot',
  annotation: 'nvidia.com/restore-from',
  group: 'nvidia.com',
  version: 'v1alpha1',
  resource: 'podsnapshots',
  kind: 'PodSnapshot',
  restored: 'nvidia.com/Restored',
  crd: 'podsnapshots.nvidia.com.yaml',
  sourcePod: 'spec.source.podRef.name',
};

export const GKE: SnapshotSystem = {
  preset: 'gke-pod-snapshot',
  annotation: 'podsnapshot.gke.io/ps-name',
  group: 'podsnapshot.gke.io',
  version: 'v1',
  resource: 'podsnapshots',
  kind: 'PodSnapshot',
  restored: 'PodRestored',
  crd: 'podsnapshots.podsnapshot.gke.io.yaml',
};

export const SNAPSHOT_SYSTEMS = [DYNAMO, GKE];

/** `podsnapshots.nvidia.com`, as kubectl and restore-guard's messages name the resource. */
export const snapshotResource = (system: SnapshotSystem): string => `${system.resource}.${system.group}`;

const FIXTURES = join(REPO, 'test', 'e2e', 'fixtures');
const components = (systems: SnapshotSystem[]) => systems.map((system) => `source-${system.preset}`);
const key = (o: Manifest) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/** The stand-in CRDs of the snapshot systems, established. */
export async function installSnapshotCrds(info: ControlPlaneInfo, systems: SnapshotSystem[] = SNAPSHOT_SYSTEMS): Promise<void> {
  for (const system of systems) await run(info, ['apply', '--server-side', '-f', join(FIXTURES, system.crd)]);
  await run(info, ['wait', '--for=condition=Established', '--timeout=60s', ...systems.map((s) => `crd/${snapshotResource(s)}`)]);
}

/** What the source Components add to the harness's install: every object but the webhook configurations they patch. */
export async function sourceComponentObjects(info: ControlPlaneInfo, systems: SnapshotSystem[]): Promise<Manifest[]> {
  const installed = new Set((await shippedInstall(info)).map(key));
  return (await shippedInstall(info, components(systems))).filter((o) => !installed.has(key(o)) && !WEBHOOK_KINDS.has(String(o.kind)));
}

export const isAdmissionPolicy = (o: Manifest): boolean => o.kind === 'ValidatingAdmissionPolicy' || o.kind === 'ValidatingAdmissionPolicyBinding';

/** Applies the Components' objects (RBAC for restore-guard's watches; their admission policies when `policies`). */
export async function applySourceComponents(info: ControlPlaneInfo, systems: SnapshotSystem[], options: { policies: boolean }): Promise<Manifest[]> {
  const objects = (await sourceComponentObjects(info, systems)).filter((o) => options.policies || !isAdmissionPolicy(o));
  await run(info, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: objects });
  return objects;
}

export async function deleteObjects(info: ControlPlaneInfo, objects: Manifest[]): Promise<void> {
  if (objects.length > 0) await run(info, ['delete', '--ignore-not-found', '--wait=false', '-f', '-'], { input: objects });
}

/** The installed policy with `sources` (the stand-in's checkpointAPI and the short cache TTLs kept). */
export async function setSourcesPolicy(info: ControlPlaneInfo, sources: Json[]): Promise<void> {
  await setPolicy(info, { authorizationCache: FAST_CACHE, sources });
}

/**
 * The webhook configurations rendered with the source Components, pointed at restore-guard; then waits until
 * kube-apiserver calls each source's entry (a dry-run Pod as the admin, naming a missing snapshot, is denied).
 */
export async function registerSourceWebhooks(info: ControlPlaneInfo, restoreGuard: RestoreGuard, systems: SnapshotSystem[]): Promise<void> {
  const install = await shippedInstall(info, components(systems));
  await run(info, ['apply', '--server-side', '--force-conflicts', '-f', '-'], {
    input: await shippedWebhooks(info, `https://127.0.0.1:${restoreGuard.port}`, install),
  });
  // A namespace with its default ServiceAccount: without it, the ServiceAccount admission plugin refuses the
  // probe before any webhook is called.
  await createNamespace(info, PROBE_NAMESPACE);
  for (const system of systems) {
    let last = '';
    await eventually(
      `the ${system.preset} webhook entry to be called by kube-apiserver`,
      async () => {
        const result = await kubectl(info, ['create', '--dry-run=server', '-f', '-'], {
          input: annotatedPod(system, PROBE_NAMESPACE, 'e2e-probe', 'e2e-probe-missing'),
        });
        last = result.stderr.trim() || result.stdout.trim();
        return last.includes(`admission webhook "${system.preset}.pin.restore-guard.dev" denied the request`) ? true : undefined;
      },
      { diagnose: () => `last answer: ${last}` },
    );
  }
}

/** Back to the configurations of manifests/base alone: the source entries removed (server-side apply drops them). */
export async function registerBaseWebhooks(info: ControlPlaneInfo, restoreGuard: RestoreGuard): Promise<void> {
  const configurations = await shippedWebhooks(info, `https://127.0.0.1:${restoreGuard.port}`);
  await run(info, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: configurations });
  for (const configuration of configurations) {
    const names = (o: Manifest) => ((o.webhooks ?? []) as Array<{ name: string }>).map((w) => w.name).sort();
    const kind = String(configuration.kind).toLowerCase();
    const live = JSON.parse(await run(info, ['get', kind, configuration.metadata?.name ?? '', '-o', 'json'])) as Manifest;
    if (names(live).join() !== names(configuration).join()) {
      throw new Error(`${kind} ${configuration.metadata?.name}: webhooks ${names(live).join(', ')} left, expected ${names(configuration).join(', ')}`);
    }
  }
}

export interface SnapshotStatus {
  ready?: 'True' | 'False';
  reason?: string;
}

/** A PodSnapshot, and its status as the system's own controller would write it (through the status subresource). */
export async function createSnapshot(info: ControlPlaneInfo, system: SnapshotSystem, namespace: string, name: string, status: SnapshotStatus = {}): Promise<void> {
  const spec = system === DYNAMO ? { source: { podRef: { name: `${name}-source` } } } : { podName: `${name}-source` };
  await run(info, ['apply', '--server-side', '-f', '-'], {
    input: { apiVersion: `${system.group}/${system.version}`, kind: system.kind, metadata: { name, namespace }, spec },
  });
  await setSnapshotStatus(info, system, namespace, name, status);
}

export async function setSnapshotStatus(info: ControlPlaneInfo, system: SnapshotSystem, namespace: string, name: string, status: SnapshotStatus): Promise<void> {
  const ready = status.ready ?? 'True';
  const body = {
    status: {
      ...(system === DYNAMO ? { boundSnapshotContentName: `snapcontent-${name}` } : {}),
      conditions: [
        {
          type: 'Ready',
          status: ready,
          reason: status.reason ?? (ready === 'True' ? 'SnapshotReady' : 'SnapshotInProgress'),
          message: '',
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        },
      ],
    },
  };
  await run(info, ['patch', '-n', namespace, snapshotResource(system), name, '--subresource=status', '--type=merge', '-p', JSON.stringify(body)]);
}

/** A Role with the restore verb on the named snapshots of one system, bound to one subject. */
export async function grantSnapshotRestore(
  info: ControlPlaneInfo,
  system: SnapshotSystem,
  namespace: string,
  binding: string,
  subject: Subject,
  snapshots: string[],
): Promise<void> {
  await run(info, ['apply', '--server-side', '-f', '-'], {
    input: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: binding, namespace },
        rules: [{ apiGroups: [system.group], resources: [system.resource], verbs: ['restore'], resourceNames: snapshots }],
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

/** A real core Pod; with `snapshot`, one that asks to be restored from it by the system's annotation. */
export function annotatedPod(system: SnapshotSystem | undefined, namespace: string, name: string, snapshot?: string, spec: Json = appSpec()): Json {
  const annotations = system && snapshot !== undefined ? { [system.annotation]: snapshot } : undefined;
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, ...(annotations ? { annotations } : {}) }, spec };
}

/** What the restoring node agent reports: a Pod condition, written through pods/status (as the admin). */
export async function setPodCondition(info: ControlPlaneInfo, namespace: string, pod: string, type: string, status: 'True' | 'False'): Promise<void> {
  const body = { status: { conditions: [{ type, status, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] } };
  await run(info, ['patch', '-n', namespace, 'pod', pod, '--subresource=status', '--type=strategic', '-p', JSON.stringify(body)]);
}
