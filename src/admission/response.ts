import type { Decision } from './decision.js';
import type { AdmissionVersion } from './review.js';

/** Kubernetes status reasons restore-guard answers with, in denials and in HTTP errors. */
export type StatusReason =
  | 'Forbidden'
  | 'Invalid'
  | 'BadRequest'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'RequestTimeout'
  | 'RequestHeaderFieldsTooLarge'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

// The HTTP code of each reason: kube-apiserver's pairs (k8s.io/apimachinery metav1.StatusReason), plus HTTP's own
// for 408 and 431, which Kubernetes has no reason for.
const STATUS_CODES: Record<StatusReason, number> = {
  Forbidden: 403,
  Invalid: 422,
  BadRequest: 400,
  NotFound: 404,
  MethodNotAllowed: 405,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  RequestTimeout: 408,
  RequestHeaderFieldsTooLarge: 431,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
};

/** The HTTP status code that goes with a status reason. */
export function statusCode(reason: StatusReason): number {
  return STATUS_CODES[reason];
}

/** The reason that goes with an HTTP error code (for errors raised by the HTTP layer itself). */
export function reasonFor(code: number): StatusReason {
  const found = (Object.keys(STATUS_CODES) as StatusReason[]).find((reason) => STATUS_CODES[reason] === code);
  return found ?? (code >= 500 ? 'InternalError' : 'BadRequest');
}

/** A Kubernetes Status body, for requests that get an HTTP error instead of an AdmissionReview. */
export interface StatusBody {
  apiVersion: 'v1';
  kind: 'Status';
  status: 'Failure';
  code: number;
  reason: StatusReason;
  message: string;
  details?: { retryAfterSeconds: number };
}

/** The one writer of Status bodies for HTTP errors: the code follows from the reason. */
export function statusBody(reason: StatusReason, message: string, details?: { retryAfterSeconds: number }): StatusBody {
  return { apiVersion: 'v1', kind: 'Status', status: 'Failure', code: statusCode(reason), reason, message, ...(details ? { details } : {}) };
}

const MAX_WARNING_LENGTH = 120;

export interface AdmissionReviewResponse {
  apiVersion: AdmissionVersion;
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    status?: { metadata: Record<string, never>; status: 'Failure'; code: number; reason: string; message: string };
    patchType?: 'JSONPatch';
    patch?: string;
    warnings?: string[];
    auditAnnotations?: Record<string, string>;
  };
}

function shorten(warning: string): string {
  return warning.length <= MAX_WARNING_LENGTH ? warning : `${warning.slice(0, MAX_WARNING_LENGTH - 1)}…`;
}

/**
 * The AdmissionReview kube-apiserver expects back: same version, same uid. Only the mutating webhook
 * may carry a patch (a validating webhook that patches is a failed call).
 */
export function toAdmissionReview(apiVersion: AdmissionVersion, uid: string, decision: Decision, mayPatch: boolean): AdmissionReviewResponse {
  const response: AdmissionReviewResponse['response'] = { uid, allowed: decision.allowed };
  if (!decision.allowed && decision.status) {
    response.status = { metadata: {}, status: 'Failure', ...decision.status };
  }
  if (mayPatch && decision.allowed && decision.patch && decision.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
  }
  if (decision.warnings.length > 0) response.warnings = decision.warnings.map(shorten);
  if (Object.keys(decision.auditAnnotations).length > 0) response.auditAnnotations = decision.auditAnnotations;
  return { apiVersion, kind: 'AdmissionReview', response };
}
