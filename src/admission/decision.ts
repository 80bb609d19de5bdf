import type { Operation as PatchOperation } from 'fast-json-patch';
import { statusCode, type StatusReason } from './response.js';

/**
 * What a decider answers for one review; the handler turns it into an AdmissionReview. `Outcome` is the
 * decider's own union of short, stable words for logs and metrics (restore/messages.ts has restore-guard's).
 */
export interface Decision<Outcome extends string = string> {
  allowed: boolean;
  status?: { code: number; reason: StatusReason; message: string };
  patch?: PatchOperation[];
  warnings: string[];
  /** Keys are plain names; kube-apiserver prefixes them with the webhook's name. */
  auditAnnotations: Record<string, string>;
  outcome: Outcome;
  /** Not this decider's business (answered at once): no log line, no audit context. */
  ignored?: true;
  /** Allowed without a complete check (the policy said so): logged as an error and counted. */
  failedOpen?: true;
}

export function allow<Outcome extends string>(outcome: Outcome, auditAnnotations: Record<string, string> = {}): Decision<Outcome> {
  return { allowed: true, warnings: [], auditAnnotations, outcome };
}

/** A review that is none of the decider's business. */
export function ignore<Outcome extends string>(outcome: Outcome): Decision<Outcome> {
  return { ...allow(outcome), ignored: true };
}

export function deny<Outcome extends string>(
  reason: StatusReason,
  outcome: Outcome,
  message: string,
  auditAnnotations: Record<string, string> = {},
): Decision<Outcome> {
  return {
    allowed: false,
    status: { code: statusCode(reason), reason, message },
    warnings: [],
    auditAnnotations: { ...auditAnnotations, decision: 'denied', reason: outcome },
    outcome,
  };
}
