/**
 * The restore source presets the manifests ship a Component for (manifests/components/source-<preset>), with
 * the facts each one's manifests must agree on (shared docs: restore-systems.md). One table for the deploy
 * tests, so a preset's annotation, group or condition cannot drift between the webhook entries, the RBAC, the
 * companion policy, the example grants and the e2e stand-in CRDs.
 */
export interface SourcePreset {
  /** The `preset:` name in the policy's `sources`, and the Component's directory: source-<preset>. */
  preset: string;
  /** The Pod annotation that names the snapshot. */
  annotation: string;
  group: string;
  /** The version the preset reads by default (the stand-in CRD stores it). */
  version: string;
  resource: string;
  kind: string;
  /** The Pod condition that ends the restore (the spec freeze lasts until it is True). */
  restored: string;
  /** manifests/examples/<example>.yaml: the example `restore` grants. */
  example: string;
  /** Fields the stand-in CRD's status must declare besides conditions. */
  statusFields: string[];
}

export const SOURCE_PRESETS: SourcePreset[] = [
  {
    preset: 'dynamo-snapshot',
    annotation: 'nvidia.com/restore-from',
    group: 'nvidia.com',
    version: 'v1alpha1',
    resource: 'podsnapshots',
    kind: 'PodSnapshot',
    restored: 'nvidia.com/Restored',
    example: 'podsnapshot-restorer-dynamo',
    statusFields: ['boundSnapshotContentName'],
  },
  {
    preset: 'gke-pod-snapshot',
    annotation: 'podsnapshot.gke.io/ps-name',
    group: 'podsnapshot.gke.io',
    version: 'v1',
    resource: 'podsnapshots',
    kind: 'PodSnapshot',
    restored: 'PodRestored',
    example: 'podsnapshot-restorer-gke',
    statusFields: [],
  },
];

/** The names of what a source Component adds. */
export const sourceNames = (preset: string) => ({
  component: `source-${preset}`,
  mutatingWebhook: `${preset}.pin.restore-guard.dev`,
  validatingWebhook: `${preset}.restore.restore-guard.dev`,
  /** The validating entry for workloads whose Pod template carries the annotation. */
  workloadsWebhook: `${preset}.workloads.restore-guard.dev`,
  clusterRole: `restore-guard:source-${preset}`,
  policy: `${preset}.restore-guard.dev`,
});
