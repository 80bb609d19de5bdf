import { ignore } from '../admission/decision.js';
import type { Decider } from '../admission/handler.js';
import type { AdmissionRequest } from '../admission/request.js';
import type { Deadline } from '../admission/deadline.js';
import type { JsonObject } from '../common/json.js';
import { modeFor, type Policy } from '../policy/policy.js';
import type { RestorePorts } from './facts.js';
import { applyMode, denials, type Outcome, type RestoreDecision } from './messages.js';
import type { RestoreRef } from './model.js';
import { restoreReviewOf, type RestoreReview } from './scope.js';

/** A restoring CREATE, its reference read and checked for shape. */
export type RestoreCreate = RestoreReview & { request: AdmissionRequest & { object: JsonObject }; ref: RestoreRef };

/**
 * What both webhooks share: is the review restore-guard's business, is the configured policy loaded, is
 * the reference well formed; then the webhook's own rules, and the namespace's mode over the result.
 */
export abstract class RestoreDecider implements Decider<Outcome> {
  constructor(protected readonly ports: RestorePorts) {}

  async decide(request: AdmissionRequest, deadline: Deadline): Promise<RestoreDecision> {
    const review = restoreReviewOf(request);
    if (!review) return ignore('not-a-restore');
    // Before any rule: neither the defaults nor a namespace mode may decide in place of the admin's policy.
    const unavailable = this.ports.policyUnavailable?.();
    if (unavailable) return denials.policyNotLoaded(unavailable);
    const policy = this.ports.policy();
    return applyMode(await this.decideRestore(review, policy, deadline), modeFor(policy, review.namespace));
  }

  private async decideRestore(review: RestoreReview, policy: Policy, deadline: Deadline): Promise<RestoreDecision> {
    if (review.request.operation === 'UPDATE') return this.update(review);
    const { field } = review;
    const object = review.request.object;
    if (!object || field.kind === 'absent') return ignore('not-a-restore');
    if (field.kind === 'malformed') return denials.malformedReference(field.why);
    return this.create({ ...review, request: { ...review.request, object }, ref: field.ref }, policy, deadline);
  }

  /** A Pod UPDATE whose old or new object restores. */
  protected abstract update(review: RestoreReview): RestoreDecision;

  /** A Pod CREATE that restores. */
  protected abstract create(review: RestoreCreate, policy: Policy, deadline: Deadline): Promise<RestoreDecision>;
}
