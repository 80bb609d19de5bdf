import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { stringAt } from '../common/json.js';
import { deny, type Decision } from './decision.js';
import type { AdmissionRequest, Webhook } from './request.js';
import type { Deadline } from './deadline.js';
import { statusBody, toAdmissionReview, type AdmissionReviewResponse, type StatusBody } from './response.js';
import { parseReview } from './review.js';

/** Decides one request that passed the shape check: the rules of one webhook sit behind this. */
export interface Decider<Outcome extends string = string> {
  decide(request: AdmissionRequest, deadline: Deadline): Promise<Decision<Outcome>>;
}

/**
 * The `source` label of a review: the decider's `source` audit annotation, which names sources of the policy
 * (RestoreDecider's withSource), so the label's values are bounded by what the admin configured; `none` for
 * a review that references no source (not a restore, a malformed request, an internal error).
 */
function sourceLabel(decision: Decision): string {
  return decision.auditAnnotations.source || 'none';
}

export type HandlerReply = { statusCode: 200; body: AdmissionReviewResponse } | { statusCode: 400; body: StatusBody };

// How many shape problems a malformed request's denial lists.
const MAX_LISTED_PROBLEMS = 10;

/**
 * The admission contract: a body in, a reply out, always. Every review with a uid is answered with a
 * well-formed AdmissionReview, including shape errors (code 400) and a decider's own faults (code 500).
 * It knows nothing of what the deciders decide: only whether a decision was theirs to make and whether
 * it was allowed without a complete check.
 */
export class AdmissionHandler {
  constructor(
    private readonly deps: {
      deciders: Record<Webhook, Decider>;
      logger: Logger;
      metrics: Metrics;
      /** Extra audit annotations for every decision that is not ignored (e.g. the policy generation). */
      auditContext?: () => Record<string, string>;
    },
  ) {}

  async handle(webhook: Webhook, body: unknown, deadline: Deadline): Promise<HandlerReply> {
    try {
      return await this.answer(webhook, body, deadline);
    } catch (error) {
      // Last line of defence: still a well-formed denial whenever the body named a uid.
      this.deps.logger.error({ err: error, webhook }, 'internal error while answering a review');
      const parsed = parseReview(body);
      if (parsed.kind === 'rejected') return { statusCode: 400, body: statusBody('BadRequest', parsed.message) };
      const decision = deny('InternalError', 'internal-error', 'restore-guard hit an internal error; the review is denied');
      return { statusCode: 200, body: toAdmissionReview(parsed.apiVersion, parsed.kind === 'review' ? parsed.request.uid : parsed.uid, decision, false) };
    }
  }

  private async answer(webhook: Webhook, body: unknown, deadline: Deadline): Promise<HandlerReply> {
    const { metrics, logger } = this.deps;
    const parsed = parseReview(body);
    if (parsed.kind === 'rejected') {
      metrics.malformedReviews.inc({ webhook, kind: 'not-a-review' });
      return { statusCode: 400, body: statusBody('BadRequest', parsed.message) };
    }
    if (parsed.kind === 'invalid') {
      metrics.malformedReviews.inc({ webhook, kind: 'invalid-request' });
      const message = `malformed AdmissionReview request: ${parsed.problems.slice(0, MAX_LISTED_PROBLEMS).join('; ')}`;
      return { statusCode: 200, body: toAdmissionReview(parsed.apiVersion, parsed.uid, deny('BadRequest', 'malformed-review', message), false) };
    }
    const { request, apiVersion } = parsed;
    const started = performance.now();
    metrics.reviewsInFlight.inc({ webhook });
    let decision: Decision;
    try {
      decision = await this.deps.deciders[webhook].decide(request, deadline);
    } catch (error) {
      // A bug must never let a request through, nor turn into a bare HTTP 500 that failurePolicy judges.
      logger.error({ err: error, uid: request.uid, webhook }, 'internal error while deciding a review');
      decision = deny('InternalError', 'internal-error', 'restore-guard hit an internal error while deciding this review; it is denied');
    } finally {
      metrics.reviewsInFlight.dec({ webhook });
    }
    const seconds = (performance.now() - started) / 1000;
    metrics.reviewDuration.observe({ webhook }, seconds);
    metrics.reviews.inc({ webhook, operation: request.operation, decision: decision.allowed ? 'allowed' : 'denied', source: sourceLabel(decision) });
    if (decision.failedOpen) {
      metrics.failOpen.inc({ webhook });
      logger.error(
        { uid: request.uid, webhook, warnings: decision.warnings },
        'FAILED OPEN: a restore was allowed without a complete check (policy failureMode: open)',
      );
    }
    if (!decision.ignored) {
      if (this.deps.auditContext) decision.auditAnnotations = { ...this.deps.auditContext(), ...decision.auditAnnotations };
      this.logDecision(webhook, request, decision, seconds);
    }
    return { statusCode: 200, body: toAdmissionReview(apiVersion, request.uid, decision, webhook === 'mutate') };
  }

  // One line per decision; only names and reasons, never anything from the object's spec or env.
  private logDecision(webhook: Webhook, request: AdmissionRequest, decision: Decision, seconds: number): void {
    const object = request.object ?? request.oldObject;
    this.deps.logger.info(
      {
        uid: request.uid,
        webhook,
        operation: request.operation,
        subResource: request.subResource || undefined,
        user: request.userInfo.username,
        namespace: request.namespace,
        pod: request.name || stringAt(object, 'metadata', 'name') || stringAt(object, 'metadata', 'generateName'),
        source: decision.auditAnnotations.source,
        checkpoint: decision.auditAnnotations.checkpoint,
        sourcePod: decision.auditAnnotations['source-pod'],
        decision: decision.allowed ? 'allowed' : 'denied',
        reason: decision.outcome,
        message: decision.status?.message,
        dryRun: request.dryRun || undefined,
        durationMs: Math.round(seconds * 1e6) / 1e3,
      },
      'restore review decided',
    );
  }
}
