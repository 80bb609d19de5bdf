import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { deny, type Decision } from '../restore/decision.js';
import { restoreFieldOf } from '../restore/reference.js';
import { stringAt } from '../restore/json.js';
import type { AdmissionRequest } from '../restore/model.js';
import type { Deadline } from '../restore/ports.js';
import type { Webhook } from '../restore/reviewer.js';
import { toAdmissionReview, type AdmissionReviewResponse } from './response.js';
import { parseReview } from './review.js';

/** Decides one checked request; the restore rules sit behind this. */
export interface Decider {
  review(webhook: Webhook, request: AdmissionRequest, deadline: Deadline): Promise<Decision>;
}

/** A JSON error for bodies that are not an AdmissionReview at all (shaped like a Kubernetes Status). */
export interface BadRequestBody {
  apiVersion: 'v1';
  kind: 'Status';
  status: 'Failure';
  code: 400;
  reason: 'BadRequest';
  message: string;
}

export type HandlerReply = { statusCode: 200; body: AdmissionReviewResponse } | { statusCode: 400; body: BadRequestBody };

export function badRequest(message: string): { statusCode: 400; body: BadRequestBody } {
  return { statusCode: 400, body: { apiVersion: 'v1', kind: 'Status', status: 'Failure', code: 400, reason: 'BadRequest', message } };
}

/**
 * The admission contract: a body in, a reply out, always. Every review with a uid is answered with a
 * well-formed AdmissionReview, including shape errors (code 400) and restore-guard's own faults (code 500).
 */
export class AdmissionHandler {
  constructor(
    private readonly deps: {
      decider: Decider;
      logger: Logger;
      metrics: Metrics;
      /** Extra audit annotations for every restore decision (e.g. the policy generation). */
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
      if (parsed.kind === 'rejected') return badRequest(parsed.message);
      const decision = deny('InternalError', 'internal-error', 'restore-guard hit an internal error; the review is denied');
      return { statusCode: 200, body: toAdmissionReview(parsed.apiVersion, parsed.kind === 'review' ? parsed.request.uid : parsed.uid, decision, false) };
    }
  }

  private async answer(webhook: Webhook, body: unknown, deadline: Deadline): Promise<HandlerReply> {
    const { metrics, logger } = this.deps;
    const parsed = parseReview(body);
    if (parsed.kind === 'rejected') {
      metrics.malformedReviews.inc({ webhook, kind: 'not-a-review' });
      return badRequest(parsed.message);
    }
    if (parsed.kind === 'invalid') {
      metrics.malformedReviews.inc({ webhook, kind: 'invalid-request' });
      const message = `malformed AdmissionReview request: ${parsed.problems.slice(0, 10).join('; ')}`;
      return { statusCode: 200, body: toAdmissionReview(parsed.apiVersion, parsed.uid, deny('BadRequest', 'malformed-review', message), false) };
    }
    const { request, apiVersion } = parsed;
    const started = performance.now();
    metrics.reviewsInFlight.inc({ webhook });
    let decision: Decision;
    try {
      decision = await this.deps.decider.review(webhook, request, deadline);
    } catch (error) {
      // A bug must never let a restore through, nor turn into a bare HTTP 500 that failurePolicy judges.
      logger.error({ err: error, uid: request.uid, webhook }, 'internal error while deciding a review');
      decision = deny('InternalError', 'internal-error', 'restore-guard hit an internal error while deciding this review; it is denied');
    } finally {
      metrics.reviewsInFlight.dec({ webhook });
    }
    const seconds = (performance.now() - started) / 1000;
    metrics.reviewDuration.observe({ webhook }, seconds);
    metrics.reviews.inc({ webhook, operation: request.operation, decision: decision.allowed ? 'allowed' : 'denied' });
    if (decision.outcome === 'fail-open') {
      metrics.failOpen.inc({ webhook });
      logger.error({ uid: request.uid, webhook, warnings: decision.warnings }, 'FAILED OPEN: a restore was allowed without a complete check (policy failureMode: open)');
    }
    if (decision.outcome !== 'not-a-restore') {
      if (this.deps.auditContext) decision.auditAnnotations = { ...this.deps.auditContext(), ...decision.auditAnnotations };
      this.logDecision(webhook, request, decision, seconds);
    }
    return { statusCode: 200, body: toAdmissionReview(apiVersion, request.uid, decision, webhook === 'mutate') };
  }

  // One line per restore review; only names and reasons, never anything from the Pod's spec or env.
  private logDecision(webhook: Webhook, request: AdmissionRequest, decision: Decision, seconds: number): void {
    const pod = request.object ?? request.oldObject;
    const field = restoreFieldOf(pod);
    this.deps.logger.info(
      {
        uid: request.uid,
        webhook,
        operation: request.operation,
        subResource: request.subResource || undefined,
        user: request.userInfo.username,
        namespace: request.namespace,
        pod: request.name || stringAt(pod, 'metadata', 'name') || stringAt(pod, 'metadata', 'generateName'),
        checkpoint: field.kind === 'ref' ? field.ref.name : undefined,
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
