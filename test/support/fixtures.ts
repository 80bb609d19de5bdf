import type { JsonObject } from '../../src/common/json.js';
import { defaultPolicy } from '../../src/policy/policy.js';
import { kep5823Source } from '../../src/policy/sources.js';
import type { PodCheckpoint, RestoreAccess } from '../../src/restore/model.js';
import type { AdmissionRequest, UserInfo } from '../../src/admission/request.js';

export const NODE = 'node-a';

export function podSpec(overrides: JsonObject = {}): JsonObject {
  return {
    containers: [
      {
        name: 'app',
        image: 'registry.example/app@sha256:1111',
        resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } },
        env: [{ name: 'MODE', value: 'prod' }],
      },
    ],
    restartPolicy: 'Always',
    serviceAccountName: 'default',
    ...overrides,
  };
}

/** A Pod that restores from `checkpoint`, with the spec the checkpoint captured. */
export function restorePod(options: { checkpoint?: unknown; spec?: JsonObject; name?: string } = {}): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: options.name ?? 'restored', namespace: 'team-a' },
    spec: { ...podSpec(), ...options.spec, restoreFrom: (options.checkpoint ?? { name: 'ckpt' }) as JsonObject },
  };
}

export function pinnedAffinity(node = NODE): JsonObject {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }] }],
      },
    },
  };
}

export function readyCheckpoint(overrides: Partial<PodCheckpoint> = {}): PodCheckpoint {
  return {
    namespace: 'team-a',
    name: 'ckpt',
    nodeName: NODE,
    ready: true,
    template: { metadata: { labels: { app: 'x' } }, spec: podSpec() },
    ...overrides,
  };
}

export function rawCheckpoint(options: { name?: string; namespace?: string; node?: string; ready?: boolean } = {}): JsonObject {
  return {
    apiVersion: 'node.k8s.io/v1alpha1',
    kind: 'PodCheckpoint',
    metadata: { name: options.name ?? 'ckpt', namespace: options.namespace ?? 'team-a' },
    spec: { sourcePod: { name: 'source' } },
    status: {
      ...(options.node === '' ? {} : { nodeName: options.node ?? NODE }),
      conditions: [
        options.ready === false
          ? { type: 'Ready', status: 'False', reason: 'CheckpointInProgress' }
          : { type: 'Ready', status: 'True', reason: 'CheckpointCompleted' },
      ],
      checkpointedPodTemplate: { metadata: { labels: { app: 'x' } }, spec: podSpec() },
    },
  };
}

export const alice: UserInfo = {
  username: 'alice',
  uid: 'u-1',
  groups: ['devs', 'system:authenticated'],
  extra: { scopes: ['a', 'b'] },
};

export function createRequest(pod: JsonObject, overrides: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: 'req-1',
    group: '',
    version: 'v1',
    resource: 'pods',
    subResource: '',
    namespace: 'team-a',
    name: '',
    operation: 'CREATE',
    userInfo: alice,
    object: pod,
    dryRun: false,
    ...overrides,
  };
}

/** An AdmissionReview body as kube-apiserver sends it. */
export function reviewBody(request: Partial<AdmissionRequest> & { object?: JsonObject }, apiVersion = 'admission.k8s.io/v1'): JsonObject {
  const r = createRequest(request.object ?? restorePod(), request);
  return {
    apiVersion,
    kind: 'AdmissionReview',
    request: {
      uid: r.uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: r.group, version: r.version, resource: r.resource },
      subResource: r.subResource || undefined,
      namespace: r.namespace,
      name: r.name,
      operation: r.operation,
      userInfo: { ...r.userInfo },
      object: r.object ?? null,
      oldObject: r.oldObject ?? null,
      dryRun: r.dryRun,
    },
  };
}

/** The SubjectAccessReview attributes restore-guard asks for, with the default policy, in team-a. */
export function restoreAccessTo(name: string, namespace = 'team-a'): RestoreAccess {
  return { verb: 'restore', group: 'node.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints', namespace, name };
}

/** KEP-5823 as the default policy describes it: the source of every `spec.restoreFrom` test. */
export const KEP = kep5823Source(defaultPolicy());
