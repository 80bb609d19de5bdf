import type { Decision } from '../restore/decision.js';
import type { AdmissionVersion } from './review.js';

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
export function toAdmissionReview(
  apiVersion: AdmissionVersion,
  uid: string,
  decision: Decision,
  mayPatch: boolean,
): AdmissionReviewResponse {
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
