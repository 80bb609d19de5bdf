import type { Operation as PatchOperation } from 'fast-json-patch';
import type { RestoreDecision } from '../restore/messages.js';
import { undecidedWhy, verdictOf, type ChainResult, type Verdict } from './webhook-chain.js';

/** One webhook's answer, as `check` shows it: only what the decision itself says. */
export interface DecisionReport {
  allowed: boolean;
  outcome: string;
  code?: number;
  reason?: string;
  message?: string;
  patch?: PatchOperation[];
  warnings: string[];
}

export interface CheckReport {
  /** The object checked: a Pod, or a workload whose template restores. */
  pod: { kind: string; namespace: string; name: string };
  user: { username: string; groups: string[]; via: 'SelfSubjectAccessReview' | 'SubjectAccessReview' };
  policy: string;
  mutate: DecisionReport;
  /** null: not reached (the mutating webhook denied, so the API server stops there). */
  validate: DecisionReport | null;
  /** The spec's differing field paths, when a decision named them (an authorized requester's spec mismatch). */
  differingFields: string[];
  verdict: Verdict;
  /** Why there is no decision (verdict undecided). */
  why?: string;
  exitCode: 0 | 1 | 2;
}

export function decisionReport(decision: RestoreDecision): DecisionReport {
  const report: DecisionReport = { allowed: decision.allowed, outcome: decision.outcome, warnings: decision.warnings };
  if (decision.status) {
    report.code = decision.status.code;
    report.reason = decision.status.reason;
    report.message = decision.status.message;
  }
  if (decision.patch && decision.patch.length > 0) report.patch = decision.patch;
  return report;
}

/**
 * The verdict and exit status: 0 allowed, 1 denied, 2 no decision (a dependency failed, the policy is not
 * loaded, it failed open) or nothing to restore from (the object the Pod names does not exist: a decision
 * only an authorized requester reaches, so the exit status tells nobody else anything).
 */
export function verdictAndExit(chain: Pick<ChainResult, 'mutate' | 'validate'>): Pick<CheckReport, 'verdict' | 'why' | 'exitCode'> {
  const decisions = [chain.mutate, ...(chain.validate ? [chain.validate] : [])];
  for (const decision of decisions) {
    const why = undecidedWhy(decision);
    if (why) return { verdict: 'undecided', why, exitCode: 2 };
    if (decision.outcome === 'checkpoint-not-found') return { verdict: 'undecided', why: decision.status?.message ?? decision.outcome, exitCode: 2 };
  }
  const verdict = verdictOf(chain);
  return { verdict, exitCode: verdict === 'allowed' ? 0 : 1 };
}
