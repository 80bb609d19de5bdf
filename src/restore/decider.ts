import { ignore } from '../admission/decision.js';
import type { Decider } from '../admission/handler.js';
import type { AdmissionRequest } from '../admission/request.js';
import type { Deadline } from '../admission/deadline.js';
import type { JsonObject } from '../common/json.js';
import { modeFor, sourcesOf, type Policy } from '../policy/policy.js';
import { dynamoSnapshotSource, gkePodSnapshotSource, referenceKey, type RestoreSource } from '../policy/sources.js';
import { captureReviewOf, type CaptureReview } from './capture.js';
import type { RestorePorts } from './facts.js';
import { applyMode, denials, type Outcome, type RestoreDecision } from './messages.js';
import type { RestoreRef } from './model.js';
import { restoreReviewOf, type RestoreReview } from './scope.js';
import { workloadKinds, workloadReviewOf, type WorkloadReview } from './workloads.js';

/** A restoring CREATE, its one reference read and checked for shape. */
export type RestoreCreate = RestoreReview & { request: AdmissionRequest & { object: JsonObject }; ref: RestoreRef; source: RestoreSource };

const PRESET_SOURCES = [dynamoSnapshotSource(), gkePodSnapshotSource()];

/**
 * The sources a review is matched against. Until the configured policy is loaded, nobody knows which are
 * enabled: a Pod that references any preset is then denied with the reason, not let through.
 */
function sourcesToMatch(policy: Policy, unavailable: boolean): RestoreSource[] {
  const configured = sourcesOf(policy);
  if (!unavailable) return configured;
  const known = new Set(configured.map(referenceKey));
  return [...configured, ...PRESET_SOURCES.filter((source) => !known.has(referenceKey(source)))];
}

/** Audit annotations name the source (or sources) a review concerns. */
function withSource(decision: RestoreDecision, sources: readonly Pick<RestoreSource, 'name'>[]): RestoreDecision {
  const source = sources.map((s) => s.name).join(',');
  return { ...decision, auditAnnotations: { source, ...decision.auditAnnotations } };
}

/**
 * What both webhooks share: is the review restore-guard's business (a restore, a workload template that
 * restores, or a new checkpoint object), is the configured policy loaded, is the reference well formed;
 * then the webhook's own rules, and the namespace's mode over the result.
 */
export abstract class RestoreDecider implements Decider<Outcome> {
  constructor(protected readonly ports: RestorePorts) {}

  async decide(request: AdmissionRequest, deadline: Deadline): Promise<RestoreDecision> {
    const unavailable = this.ports.policyUnavailable?.();
    // Read once per review, so a live change never splits one.
    const policy = this.ports.policy();
    const sources = sourcesToMatch(policy, unavailable !== undefined);
    const capture = captureReviewOf(request, sources);
    if (capture) {
      const decision = unavailable ? denials.policyNotLoaded(unavailable) : await this.capture(capture, policy, deadline);
      return decision.ignored ? decision : withSource(decision, [capture.source]);
    }
    const pod = restoreReviewOf(request, sources);
    const workload = pod ? undefined : workloadReviewOf(request, sources, workloadKinds(policy));
    const review = pod ?? workload;
    if (!review) return ignore('not-a-restore');
    const reviewed = review.references.map((r) => r.source);
    // Before any rule: neither the defaults nor a namespace mode may decide in place of the admin's policy.
    if (unavailable) return withSource(denials.policyNotLoaded(unavailable), reviewed);
    const decision = pod ? await this.decideRestore(pod, policy, deadline) : await this.workload(review as WorkloadReview, policy, deadline);
    return withSource(applyMode(decision, modeFor(policy, review.namespace)), reviewed);
  }

  private async decideRestore(review: RestoreReview, policy: Policy, deadline: Deadline): Promise<RestoreDecision> {
    if (review.request.operation === 'UPDATE') return this.update(review);
    // On CREATE the scope lists only references the object carries.
    const { references } = review;
    const [only] = references;
    if (references.length > 1) return denials.ambiguousReference(references.map((r) => r.source));
    if (only.field.kind === 'malformed') return denials.malformedReference(only.field.why, only.source);
    const object = review.request.object;
    if (only.field.kind !== 'ref' || !object) return ignore('not-a-restore');
    return this.create({ ...review, request: { ...review.request, object }, ref: only.field.ref, source: only.source }, policy, deadline);
  }

  /** A Pod UPDATE whose old or new object restores. */
  protected abstract update(review: RestoreReview): RestoreDecision;

  /** A Pod CREATE that restores. */
  protected abstract create(review: RestoreCreate, policy: Policy, deadline: Deadline): Promise<RestoreDecision>;

  /** A write of a workload whose Pod template restores. */
  protected abstract workload(review: WorkloadReview, policy: Policy, deadline: Deadline): Promise<RestoreDecision>;

  /** A new checkpoint object: a capture of the Pod it names (its mode is the capture guard's own). */
  protected abstract capture(review: CaptureReview, policy: Policy, deadline: Deadline): Promise<RestoreDecision>;
}
