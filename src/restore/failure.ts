import { deny, type Decision, type StatusReason } from './decision.js';
import { checkpointTitle } from './messages.js';
import type { RestoreAccess } from './model.js';
import type { DependencyError, DependencyFailure } from './ports.js';

export type Step = 'namespace lookup' | 'authorization' | 'checkpoint lookup' | 'RuntimeClass lookup';

const REASONS: Record<DependencyFailure, StatusReason> = {
  unreachable: 'ServiceUnavailable',
  timeout: 'Timeout',
  'server-error': 'ServiceUnavailable',
  'evaluation-error': 'InternalError',
};

/** A port could not answer: the restore is denied (fail closed) and the message says what failed. */
export function dependencyDenial(error: DependencyError, step: Step, access: RestoreAccess): Decision {
  return deny(
    REASONS[error.failure],
    `${error.failure}`,
    `restore-guard could not complete the ${step} for ${checkpointTitle(access)} in namespace ` +
      `${JSON.stringify(access.namespace)}: ${error.message}. The restore is denied until this succeeds; retry shortly`,
    { checkpoint: access.name, step },
  );
}

/**
 * failureMode: open. The restore goes through unchecked, so it must never be quiet: a warning to the
 * requester, `fail-open` in the audit annotations, and (in the admission layer) an error log and a metric.
 */
export function failOpen(denial: Decision): Decision {
  return {
    allowed: true,
    warnings: [`restore-guard FAILED OPEN (policy failureMode: open): ${denial.status?.message ?? denial.outcome}`],
    auditAnnotations: { ...denial.auditAnnotations, decision: 'fail-open' },
    outcome: 'fail-open',
  };
}
