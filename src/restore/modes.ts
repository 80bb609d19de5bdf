import type { Mode } from '../policy/policy.js';
import type { Decision } from './decision.js';

/**
 * Delivers a denial according to the mode: enforce denies; warn allows and tells the requester what
 * would have been denied; audit allows and records it only in the audit annotations.
 */
export function applyMode(decision: Decision, mode: Mode): Decision {
  // Only an explicit, valid setting may turn a denial into an allow: anything else enforces.
  if (decision.allowed || (mode !== 'warn' && mode !== 'audit')) return decision;
  const auditAnnotations = { ...decision.auditAnnotations, decision: 'would-deny', mode };
  const warnings =
    mode === 'warn'
      ? [...decision.warnings, `restore-guard would deny (warn mode): ${decision.status?.message ?? decision.outcome}`]
      : decision.warnings;
  return { allowed: true, warnings, auditAnnotations, outcome: decision.outcome };
}
