import { stringAt } from '../common/json.js';
import type { AdmissionRequest } from '../admission/request.js';
import type { RestoreSource } from '../policy/sources.js';
import { referenceOf, type RestoreField } from './reference.js';

const UPDATE_SUBRESOURCES = new Set(['resize', 'ephemeralcontainers']);

/** One source's reference in the object and the old object of a review. */
export interface SourceReference {
  source: RestoreSource;
  /** In the object (CREATE, and the new object of an UPDATE). */
  field: RestoreField;
  /** In the old object (UPDATE). */
  oldField: RestoreField;
}

/** A review that is restore-guard's business, with its restore references read once. */
export interface RestoreReview {
  request: AdmissionRequest;
  /** The request's namespace, or the object's when the request names none. */
  namespace: string;
  /** Every source the object or the old object references, in the policy's order (at least one). */
  references: [SourceReference, ...SourceReference[]];
}

/**
 * Whether a review is restore-guard's business: core `pods` (no subresource, or `resize` /
 * `ephemeralcontainers` on UPDATE) whose object or old object references one of the sources.
 * Everything else is allowed at once, with no outbound call. The references are parsed here, once.
 */
export function restoreReviewOf(request: AdmissionRequest, sources: readonly RestoreSource[]): RestoreReview | undefined {
  if (request.group !== '' || request.resource !== 'pods') return undefined;
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return undefined;
  if (request.subResource !== '') {
    if (request.operation !== 'UPDATE' || !UPDATE_SUBRESOURCES.has(request.subResource)) return undefined;
  }
  const references: SourceReference[] = [];
  for (const source of sources) {
    const field = referenceOf(request.object, source);
    const oldField = request.operation === 'UPDATE' ? referenceOf(request.oldObject, source) : ({ kind: 'absent' } as const);
    if (field.kind !== 'absent' || oldField.kind !== 'absent') references.push({ source, field, oldField });
  }
  const [first, ...rest] = references;
  if (!first) return undefined;
  const namespace = request.namespace || stringAt(request.object ?? request.oldObject, 'metadata', 'namespace') || '';
  return { request, namespace, references: [first, ...rest] };
}
