import { stringAt } from '../common/json.js';
import type { AdmissionRequest } from '../admission/request.js';
import { restoreFieldOf, type RestoreField } from './reference.js';

const UPDATE_SUBRESOURCES = new Set(['resize', 'ephemeralcontainers']);

/** A review that is restore-guard's business, with its restore references read once. */
export interface RestoreReview {
  request: AdmissionRequest;
  /** The request's namespace, or the object's when the request names none. */
  namespace: string;
  /** `spec.restoreFrom` of the object (CREATE, and the new object of an UPDATE). */
  field: RestoreField;
  /** `spec.restoreFrom` of the old object (UPDATE). */
  oldField: RestoreField;
}

/**
 * Whether a review is restore-guard's business: core `pods` (no subresource, or `resize` /
 * `ephemeralcontainers` on UPDATE) whose object or old object uses `spec.restoreFrom`.
 * Everything else is allowed at once, with no outbound call. The references are parsed here, once.
 */
export function restoreReviewOf(request: AdmissionRequest): RestoreReview | undefined {
  if (request.group !== '' || request.resource !== 'pods') return undefined;
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return undefined;
  if (request.subResource !== '') {
    if (request.operation !== 'UPDATE' || !UPDATE_SUBRESOURCES.has(request.subResource)) return undefined;
  }
  const field = restoreFieldOf(request.object);
  const oldField = request.operation === 'UPDATE' ? restoreFieldOf(request.oldObject) : { kind: 'absent' as const };
  if (field.kind === 'absent' && oldField.kind === 'absent') return undefined;
  const namespace = request.namespace || stringAt(request.object ?? request.oldObject, 'metadata', 'namespace') || '';
  return { request, namespace, field, oldField };
}
