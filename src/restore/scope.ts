import type { AdmissionRequest } from './model.js';
import { restoreFieldOf } from './reference.js';

const UPDATE_SUBRESOURCES = new Set(['resize', 'ephemeralcontainers']);

/**
 * Whether a review is restore-guard's business: core `pods` (no subresource, or `resize` /
 * `ephemeralcontainers` on UPDATE) whose object or old object uses `spec.restoreFrom`.
 * Everything else is allowed at once, with no outbound call.
 */
export function concernsRestore(request: AdmissionRequest): boolean {
  if (request.group !== '' || request.resource !== 'pods') return false;
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return false;
  if (request.subResource !== '') {
    if (request.operation !== 'UPDATE' || !UPDATE_SUBRESOURCES.has(request.subResource)) return false;
  }
  return restoreFieldOf(request.object).kind !== 'absent' || restoreFieldOf(request.oldObject).kind !== 'absent';
}
