import type { AdmissionRequest } from '../admission/request.js';
import { fieldAt, isObject, stringAt, type JsonObject } from '../common/json.js';
import { memoizedPer } from '../common/memo.js';
import type { Policy } from '../policy/policy.js';
import type { RestoreSource } from '../policy/sources.js';
import { BUILT_IN_WORKLOADS, type WorkloadKind } from '../policy/workloads.js';
import { referenceOf } from './reference.js';
import type { SourceReference } from './scope.js';

// Asked by every review; a policy is never changed once built.
const kindsOf = memoizedPer((workloads: Policy['workloads']): WorkloadKind[] => [...BUILT_IN_WORKLOADS, ...workloads.kinds]);

/** The built-in workload kinds and the policy's own. */
export function workloadKinds(policy: Pick<Policy, 'workloads'>): WorkloadKind[] {
  return kindsOf(policy.workloads);
}

/** A workload's Pod template (metadata and spec), or undefined when it has none. */
export function templateOf(object: unknown, kind: Pick<WorkloadKind, 'templatePath'>): JsonObject | undefined {
  const template = fieldAt(object, kind.templatePath);
  return isObject(template) ? template : undefined;
}

/** A write of a workload whose Pod template restores, with the references read once. */
export interface WorkloadReview {
  request: AdmissionRequest;
  namespace: string;
  kind: WorkloadKind;
  /** Every source the template of the object or of the old object references (at least one). */
  references: [SourceReference, ...SourceReference[]];
}

/**
 * Whether a review writes a workload whose Pod template references a source: CREATE or UPDATE of the main
 * resource of a workload kind (any version: kube-apiserver converts to the one registered). Scaling
 * goes through the `scale` subresource or leaves the template as it is, and needs nothing.
 */
export function workloadReviewOf(request: AdmissionRequest, sources: readonly RestoreSource[], kinds: readonly WorkloadKind[]): WorkloadReview | undefined {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return undefined;
  if (request.subResource !== '') return undefined;
  const kind = kinds.find((k) => k.group === request.group && k.resource === request.resource);
  if (!kind) return undefined;
  const template = templateOf(request.object, kind);
  const oldTemplate = request.operation === 'UPDATE' ? templateOf(request.oldObject, kind) : undefined;
  const references: SourceReference[] = [];
  for (const source of sources) {
    const field = referenceOf(template, source);
    const oldField = referenceOf(oldTemplate, source);
    if (field.kind !== 'absent' || oldField.kind !== 'absent') references.push({ source, field, oldField });
  }
  const [first, ...rest] = references;
  if (!first) return undefined;
  const namespace = request.namespace || stringAt(request.object ?? request.oldObject, 'metadata', 'namespace') || '';
  return { request, namespace, kind, references: [first, ...rest] };
}
