import { DYNAMO, GKE, type SnapshotSystem } from '../../harness/controlplane/sources.js';

/**
 * The restore source presets the manifests ship a Component for (manifests/components/source-<preset>), with
 * the facts each one's manifests must agree on (shared docs: restore-systems.md). One table for the deploy
 * tests, so a preset's annotation, group or condition cannot drift between the webhook entries, the RBAC, the
 * companion policy, the example grants and the e2e stand-in CRDs.
 */
export interface SourcePreset extends SnapshotSystem {
  /** manifests/examples/<example>.yaml: the example `restore` grants. */
  example: string;
  /** Fields the stand-in CRD's status must declare besides conditions. */
  statusFields: string[];
}

// The facts themselves are the e2e harness's table (harness/controlplane/sources.ts), so the two cannot drift.
export const SOURCE_PRESETS: SourcePreset[] = [
  { ...DYNAMO, example: 'podsnapshot-restorer-dynamo', statusFields: ['boundSnapshotContentName'] },
  { ...GKE, example: 'podsnapshot-restorer-gke', statusFields: [] },
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
  /** The validating entry and the companion policy for captures share this name (a preset with a sourcePod only). */
  capture: `${preset}.capture.restore-guard.dev`,
});
