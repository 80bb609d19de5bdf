import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../src/policy/policy.js';
import { dynamoSnapshotSource, gkePodSnapshotSource, kep5823Source, referenceKey, referenceText } from '../../src/policy/sources.js';

// The presets are a public contract: README ("Restore sources") lists every field; these are those tables.
describe('presets', () => {
  it('kep-5823 is spec.restoreFrom as the policy describes it, capturing spec.sourcePod.name', () => {
    expect(kep5823Source(defaultPolicy())).toStrictEqual({
      name: 'kep-5823',
      preset: 'kep-5823',
      reference: { field: 'spec.restoreFrom' },
      resource: { group: 'node.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints' },
      verb: 'restore',
      ready: { condition: 'Ready', status: 'True' },
      placement: { mode: 'nodeAffinity', nodePath: 'status.nodeName' },
      template: { path: 'status.checkpointedPodTemplate' },
      restored: { condition: 'PodRestored' },
      sourcePod: { path: 'spec.sourcePod.name' },
    });
  });

  it('dynamo-snapshot names a PodSnapshot by annotation, places nothing, compares no template, captures spec.source.podRef.name', () => {
    expect(dynamoSnapshotSource()).toStrictEqual({
      name: 'dynamo-snapshot',
      preset: 'dynamo-snapshot',
      reference: { annotation: 'nvidia.com/restore-from' },
      resource: { group: 'nvidia.com', version: 'v1alpha1', resource: 'podsnapshots' },
      verb: 'restore',
      ready: { condition: 'Ready', status: 'True' },
      placement: { mode: 'none' },
      restored: { condition: 'nvidia.com/Restored' },
      sourcePod: { path: 'spec.source.podRef.name' },
    });
    expect(dynamoSnapshotSource('v1beta1').resource.version).toBe('v1beta1');
  });

  it('gke-pod-snapshot names a PodSnapshot by annotation, v1 unless told otherwise, no source Pod', () => {
    expect(gkePodSnapshotSource()).toStrictEqual({
      name: 'gke-pod-snapshot',
      preset: 'gke-pod-snapshot',
      reference: { annotation: 'podsnapshot.gke.io/ps-name' },
      resource: { group: 'podsnapshot.gke.io', version: 'v1', resource: 'podsnapshots' },
      verb: 'restore',
      ready: { condition: 'Ready', status: 'True' },
      placement: { mode: 'none' },
      restored: { condition: 'PodRestored' },
    });
    expect(gkePodSnapshotSource('v1alpha1').resource.version).toBe('v1alpha1');
  });
});

describe('referenceText and referenceKey', () => {
  it('name a field and an annotation apart', () => {
    expect(referenceText({ reference: { field: 'spec.restoreFrom' } })).toBe('spec.restoreFrom');
    expect(referenceText(dynamoSnapshotSource())).toBe('annotation "nvidia.com/restore-from"');
    expect(referenceKey({ reference: { field: 'spec.restoreFrom' } })).toBe('field:spec.restoreFrom');
    expect(referenceKey(dynamoSnapshotSource())).toBe('annotation:nvidia.com/restore-from');
  });
});
