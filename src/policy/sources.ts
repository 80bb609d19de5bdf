import type { Placement, Policy } from './policy.js';

/** Where a Pod names what it restores from: KEP-5823's field, or an annotation (the systems that run today). */
export type ReferenceLocation = { field: 'spec.restoreFrom' } | { annotation: string };

/**
 * A system Pods are restored by, as the rules read it: every field spelled out (presets are expanded when
 * the policy is parsed). The policy's public shape is in README ("Restore sources").
 */
export interface RestoreSource {
  /** The preset's name, or the admin's; in audit annotations, logs and metrics. */
  name: string;
  /** Set for a preset: kep-5823 also understands the first upstream revision's `status.phase`. */
  preset?: PresetName;
  reference: ReferenceLocation;
  /** The resource the reference names, in the Pod's namespace. */
  resource: { group: string; version: string; resource: string };
  /** The verb a requester needs on the named object. */
  verb: string;
  /** The object's condition that says it can be restored from; undefined: no readiness check. */
  ready?: { condition: string; status: string };
  /** Where the restored Pod is placed; nodePath: the object's field naming the node that holds the data. */
  placement: { mode: Placement; nodePath?: string };
  /** Where the object keeps the captured Pod template; undefined: no spec equality check. */
  template?: { path: string };
  /** The Pod condition that ends the restore (and the spec freeze) once True. */
  restored: { condition: string };
  /** Where a new object names the Pod it captures; undefined: creating one is no capture restore-guard can check. */
  sourcePod?: { path: string };
}

export const PRESETS = ['kep-5823', 'dynamo-snapshot', 'gke-pod-snapshot'] as const;
export type PresetName = (typeof PRESETS)[number];

/**
 * KEP-5823 as today's top-level fields describe it: the checkpoint API and verb, placement and readiness
 * come from the policy itself, so a policy without `sources` behaves exactly as before they existed.
 */
export function kep5823Source(policy: Pick<Policy, 'checkpointAPI' | 'placement'>): RestoreSource {
  const { group, version, resource, verb } = policy.checkpointAPI;
  return {
    name: 'kep-5823',
    preset: 'kep-5823',
    reference: { field: 'spec.restoreFrom' },
    resource: { group, version, resource },
    verb,
    ready: { condition: 'Ready', status: 'True' },
    placement: { mode: policy.placement, nodePath: 'status.nodeName' },
    template: { path: 'status.checkpointedPodTemplate' },
    restored: { condition: 'PodRestored' },
    sourcePod: { path: 'spec.sourcePod.name' },
  };
}

/** A snapshot system that names its object by annotation, keeps it on shared storage and stores no template. */
function annotationPreset(preset: PresetName, annotation: string, group: string, version: string, restored: string): RestoreSource {
  return {
    name: preset,
    preset,
    reference: { annotation },
    resource: { group, version, resource: 'podsnapshots' },
    verb: 'restore',
    ready: { condition: 'Ready', status: 'True' },
    placement: { mode: 'none' },
    restored: { condition: restored },
  };
}

/**
 * NVIDIA Dynamo snapshots (ai-dynamo/snapshot): the annotation names a PodSnapshot in the Pod's namespace.
 * Snapshot data sits on shared storage, so there is no node to pin to, and no template is stored. A new
 * PodSnapshot captures the Pod in spec.source.podRef.
 */
export function dynamoSnapshotSource(version = 'v1alpha1'): RestoreSource {
  return {
    ...annotationPreset('dynamo-snapshot', 'nvidia.com/restore-from', 'nvidia.com', version, 'nvidia.com/Restored'),
    sourcePod: { path: 'spec.source.podRef.name' },
  };
}

/**
 * GKE Pod snapshots, explicit form: the annotation names a PodSnapshot in the Pod's namespace (storage
 * is in Cloud Storage: no node; GKE checks the spec itself and stores no template). Clusters from before
 * GA serve v1alpha1: `version` overrides. No source Pod field of GKE's PodSnapshot is known: its creates are not checked.
 */
export function gkePodSnapshotSource(version = 'v1'): RestoreSource {
  return annotationPreset('gke-pod-snapshot', 'podsnapshot.gke.io/ps-name', 'podsnapshot.gke.io', version, 'PodRestored');
}

/** How messages name where the reference sits: `spec.restoreFrom` or `annotation "nvidia.com/restore-from"`. */
export function referenceText(source: Pick<RestoreSource, 'reference'>): string {
  return 'field' in source.reference ? source.reference.field : `annotation ${JSON.stringify(source.reference.annotation)}`;
}

/** A key that tells two sources' references apart (two sources may not share one). */
export function referenceKey(source: Pick<RestoreSource, 'reference'>): string {
  return 'field' in source.reference ? `field:${source.reference.field}` : `annotation:${source.reference.annotation}`;
}
