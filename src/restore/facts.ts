import type { AdmissionRequest, UserInfo } from '../admission/request.js';
import type { Deadline } from '../admission/deadline.js';
import { stringAt, type JsonObject } from '../common/json.js';
import type { Policy } from '../policy/policy.js';
import type { RestoreSource } from '../policy/sources.js';
import { denials, failOpen, type RestoreDecision, type Step } from './messages.js';
import type { AuthorizationAnswer, PodCheckpoint, RestoreAccess, RestoreRef, RuntimeClassInfo } from './model.js';
import { namespaceDenial, needsNamespaceLabels } from './namespaces.js';
import { delegatedAuthorization } from './delegation.js';
import { DependencyError, type Authorizer, type CheckpointSource, type NamespaceSource, type OwnerSource, type RuntimeClassSource } from './ports.js';

/** What the rules may ask the outside world, and the policy in effect. */
export interface RestorePorts {
  authorizer: Authorizer;
  checkpoints: CheckpointSource;
  runtimeClasses: RuntimeClassSource;
  /** Read only when the policy restricts namespaces by label. */
  namespaces: NamespaceSource;
  /** Read only for delegation: the workload a trusted controller's object names as its owner. */
  owners: OwnerSource;
  /** The policy in effect, read once per review so a live change never splits one review. */
  policy: () => Policy;
  /** Why the configured policy is not in effect yet (restores are then denied), or undefined. */
  policyUnavailable?: () => string | undefined;
  now?: () => number;
}

/** Everything known about a Pod CREATE that restores, gathered in a fixed order. */
export interface CreateFacts {
  pod: JsonObject;
  ref: RestoreRef;
  /** The source the Pod restores from: where its reference sits and how the named object reads. */
  source: RestoreSource;
  user: UserInfo;
  access: RestoreAccess;
  authorization: AuthorizationAnswer;
  /** undefined: not found, or never read because the requester is not authorized. */
  checkpoint?: PodCheckpoint;
  /** null: not found; undefined: not needed (no restore options) or not read. */
  runtimeClass?: RuntimeClassInfo | null;
  policy: Policy;
  /** Milliseconds since the epoch, for the checkpoint age. */
  now: number;
}

/** The SubjectAccessReview attributes of a restore: the source's resource and verb, on the named object. */
export function restoreAccess(source: RestoreSource, namespace: string, ref: RestoreRef): RestoreAccess {
  const { group, version, resource } = source.resource;
  return { verb: source.verb, group, version, resource, namespace, name: ref.name };
}

/** The RuntimeClass to read, when the Pod asks for restore options. */
export function runtimeClassToRead(pod: JsonObject, ref: RestoreRef): string | undefined {
  const name = stringAt(pod, 'spec', 'runtimeClassName');
  return Object.keys(ref.options).length > 0 && name ? name : undefined;
}

/** The checkpoint's name first in the audit annotations, and its node once the requester may know it. */
export function annotated(decision: RestoreDecision, access: RestoreAccess, checkpoint?: PodCheckpoint): RestoreDecision {
  const node: Record<string, string> = checkpoint?.nodeName ? { node: checkpoint.nodeName } : {};
  return { ...decision, auditAnnotations: { checkpoint: access.name, ...node, ...decision.auditAnnotations } };
}

class StepFailure extends Error {
  constructor(
    readonly step: Step,
    override readonly cause: DependencyError,
  ) {
    super(cause.message);
  }
}

/** Runs one outbound step of a review within its deadline; a port that cannot answer throws for `settle`. */
export type StepCall = <T>(step: Step, fn: () => Promise<T>) => Promise<T>;

export function stepCaller(deadline: Deadline): StepCall {
  return async (step, fn) => {
    try {
      if (deadline.remainingMs() <= 0) throw new DependencyError('timeout', 'the time kube-apiserver allows for this review ran out');
      return await fn();
    } catch (error) {
      if (error instanceof DependencyError) throw new StepFailure(step, error);
      throw error;
    }
  };
}

/** The decision for a step that could not complete: denied (fail closed), or allowed when the policy fails open. */
export function settle(error: unknown, access: RestoreAccess, policy: Policy, denied: 'restore' | 'checkpoint' = 'restore'): RestoreDecision {
  if (!(error instanceof StepFailure)) throw error;
  const denial = denials.dependency(error.cause.failure, error.cause.message, error.step, access, denied);
  return policy.failureMode === 'open' ? failOpen(denial) : denial;
}

/**
 * The first steps of every restore, whether a Pod or a workload's template asks for it: the namespace's
 * labels (only with a selector) and the policy's namespace rules, then delegation (a trusted controller
 * copying its owner's checked template), else a SubjectAccessReview for the requester. Nothing about the
 * restored object is read here.
 */
export async function authorizeRestore(
  ports: RestorePorts,
  request: Pick<AdmissionRequest, 'userInfo'> & { object: JsonObject },
  namespace: string,
  reference: { ref: RestoreRef; source: RestoreSource },
  access: RestoreAccess,
  policy: Policy,
  deadline: Deadline,
  call: StepCall,
): Promise<AuthorizationAnswer | RestoreDecision> {
  const labels = needsNamespaceLabels(policy) ? await call('namespace lookup', () => ports.namespaces.labels(namespace, deadline)) : undefined;
  const notPermitted = namespaceDenial(policy, namespace, labels);
  if (notPermitted) return annotated(notPermitted, access);
  const user = request.userInfo;
  const delegated = await call('owner lookup', () => delegatedAuthorization(ports.owners, policy, user, request.object, namespace, reference, deadline));
  return delegated ?? (await call('authorization', () => ports.authorizer.authorize(user, access, deadline)));
}

/**
 * Gathers the facts of a restoring CREATE in the one order that leaks nothing: authorization (see
 * authorizeRestore), then the checkpoint only for an authorized requester, then a RuntimeClass only when
 * options ask for it. A namespace the policy closes, or a port that cannot answer, ends the review with a
 * decision (fail closed, or open when the policy says so).
 */
export async function gatherCreateFacts(
  ports: RestorePorts,
  request: AdmissionRequest & { object: JsonObject },
  namespace: string,
  reference: { ref: RestoreRef; source: RestoreSource },
  policy: Policy,
  deadline: Deadline,
  readRuntimeClass: boolean,
): Promise<CreateFacts | RestoreDecision> {
  const { ref, source } = reference;
  const access = restoreAccess(source, namespace, ref);
  const call = stepCaller(deadline);
  try {
    const authorization = await authorizeRestore(ports, request, namespace, reference, access, policy, deadline, call);
    if ('outcome' in authorization) return authorization;
    const pod = request.object;
    const facts: CreateFacts = { pod, ref, source, user: request.userInfo, access, authorization, policy, now: (ports.now ?? Date.now)() };
    if (!authorization.allowed) return facts;
    facts.checkpoint = await call('checkpoint lookup', () => ports.checkpoints.get(namespace, ref.name, deadline, source));
    const runtimeClass = readRuntimeClass && facts.checkpoint ? runtimeClassToRead(pod, ref) : undefined;
    if (runtimeClass) facts.runtimeClass = (await call('RuntimeClass lookup', () => ports.runtimeClasses.get(runtimeClass, deadline))) ?? null;
    return facts;
  } catch (error) {
    return settle(error, access, policy);
  }
}

/**
 * The facts with the checkpoint's captured template, read only now: after authorization and after
 * every check that needs no template has passed. The read may return a newer checkpoint than the
 * gathered one (its fields then win, and the caller re-runs every check) or none (deleted meanwhile).
 */
export async function withCheckpointTemplate(ports: RestorePorts, facts: CreateFacts, deadline: Deadline): Promise<CreateFacts | RestoreDecision> {
  const { checkpoint } = facts;
  if (!checkpoint || !facts.source.template || checkpoint.template || !ports.checkpoints.withTemplate) return facts;
  try {
    if (deadline.remainingMs() <= 0) throw new DependencyError('timeout', 'the time kube-apiserver allows for this review ran out');
    const complete = await ports.checkpoints.withTemplate(checkpoint, deadline, facts.source);
    const next: CreateFacts = { ...facts };
    if (complete) next.checkpoint = complete;
    else delete next.checkpoint;
    return next;
  } catch (error) {
    if (!(error instanceof DependencyError)) throw error;
    const denial = denials.dependency(error.failure, error.message, 'checkpoint lookup', facts.access);
    return facts.policy.failureMode === 'open' ? failOpen(denial) : denial;
  }
}
