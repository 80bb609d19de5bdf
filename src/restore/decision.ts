import type { Operation as PatchOperation } from 'fast-json-patch';

/** Kubernetes status reasons restore-guard answers with. */
export type StatusReason = 'Forbidden' | 'Invalid' | 'BadRequest' | 'InternalError' | 'ServiceUnavailable' | 'Timeout';

const CODES: Record<StatusReason, number> = {
  Forbidden: 403,
  Invalid: 422,
  BadRequest: 400,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
};

/** What the rules decide for one review; the admission layer turns it into an AdmissionResponse. */
export interface Decision {
  allowed: boolean;
  status?: { code: number; reason: StatusReason; message: string };
  patch?: PatchOperation[];
  warnings: string[];
  /** Keys are plain names; kube-apiserver prefixes them with the webhook's name. */
  auditAnnotations: Record<string, string>;
  /** A short, stable word for logs and metrics (`allowed`, `unauthorized`, `not-ready`, ...). */
  outcome: string;
}

export function allow(outcome: string, auditAnnotations: Record<string, string> = {}): Decision {
  return { allowed: true, warnings: [], auditAnnotations, outcome };
}

export function deny(
  reason: StatusReason,
  outcome: string,
  message: string,
  auditAnnotations: Record<string, string> = {},
): Decision {
  return {
    allowed: false,
    status: { code: CODES[reason], reason, message },
    warnings: [],
    auditAnnotations: { ...auditAnnotations, decision: 'denied', reason: outcome },
    outcome,
  };
}
