import type { Deadline } from '../admission/deadline.js';
import type { Policy } from '../policy/policy.js';
import type { CaptureReview } from './capture.js';
import { decideCapture } from './capture-rules.js';
import { BEFORE_TEMPLATE, decideValidation, podOnlyPrefix, runChecks, VALIDATION_CHECKS } from './create-checks.js';
import { RestoreDecider, type RestoreCreate } from './decider.js';
import { annotated, gatherCreateFacts, restoreAccess, withCheckpointTemplate } from './facts.js';
import type { RestoreDecision } from './messages.js';
import type { RestoreReview } from './scope.js';
import { decideUpdate } from './update-rules.js';
import { decideWorkload } from './workload-rules.js';
import type { WorkloadReview } from './workloads.js';

// Checks that read only the Pod run before any outbound call (as upstream's node name check does).
const BEFORE_ANY_CALL = podOnlyPrefix(VALIDATION_CHECKS);

/**
 * The validating webhook: the final object, after every mutating webhook, checked against the checkpoint
 * (CREATE), and restoreFrom immutable with the spec frozen until the restore has succeeded (UPDATE); and
 * the access a new checkpoint needs on the Pod it captures.
 */
export class RestoreValidator extends RestoreDecider {
  protected update(review: RestoreReview): RestoreDecision {
    return decideUpdate(
      review.request.oldObject,
      review.request.object,
      review.references.map((r) => r.source),
    );
  }

  protected workload(review: WorkloadReview, policy: Policy, deadline: Deadline): Promise<RestoreDecision> {
    return decideWorkload(this.ports, review, policy, deadline);
  }

  protected capture(review: CaptureReview, policy: Policy, deadline: Deadline): Promise<RestoreDecision> {
    return decideCapture(this.ports, review, policy, deadline);
  }

  protected async create(review: RestoreCreate, policy: Policy, deadline: Deadline): Promise<RestoreDecision> {
    const { request, namespace, ref, source } = review;
    const early = runChecks(BEFORE_ANY_CALL, { pod: request.object, policy, source });
    if ('outcome' in early) return annotated(early, restoreAccess(source, namespace, ref));
    const gathered = await gatherCreateFacts(this.ports, request, namespace, review, policy, deadline, true);
    if ('outcome' in gathered) return gathered;
    // The template is read only when a review gets that far: a denial before it costs no read.
    const before = runChecks(BEFORE_TEMPLATE, gathered);
    if ('outcome' in before) return decideValidation(gathered);
    const facts = await withCheckpointTemplate(this.ports, gathered, deadline);
    return 'outcome' in facts ? facts : decideValidation(facts);
  }
}
