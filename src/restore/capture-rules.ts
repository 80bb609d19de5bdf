import { allow, ignore } from '../admission/decision.js';
import type { Deadline } from '../admission/deadline.js';
import { stringAt } from '../common/json.js';
import { modeFor, type Mode, type Policy } from '../policy/policy.js';
import type { CaptureReview } from './capture.js';
import { settle, stepCaller, type RestorePorts } from './facts.js';
import { applyMode, denials, type RestoreDecision } from './messages.js';
import type { RestoreAccess } from './model.js';

const STRICTNESS: Record<Mode, number> = { audit: 0, warn: 1, enforce: 2 };

/** The guard's own mode, never stricter than the namespace's mode (rolling restore-guard out covers captures too). */
function captureMode(guard: 'enforce' | 'warn', namespaceMode: Mode): Mode {
  return STRICTNESS[guard] < STRICTNESS[namespaceMode] ? guard : namespaceMode;
}

/** The SubjectAccessReview attributes of a capture: the policy's access on the source Pod. */
export function captureAccess(policy: Policy, namespace: string, pod: string): RestoreAccess {
  const { verb, group, resource, subresource } = policy.checkpoints.access;
  // Core resources are v1; a group's version does not matter to RBAC, and '' (any) is what a SAR then asks.
  return { verb, group, version: group ? '' : 'v1', resource, ...(subresource ? { subresource } : {}), namespace, name: pod };
}

/**
 * Taking a checkpoint dumps the source Pod's memory, so it needs the access that reaching into the Pod's
 * processes needs (exec, by default): a SubjectAccessReview for the requester on the source Pod, before
 * anything else. Nothing about the Pod is read, so nothing leaks; an authorizer that cannot answer denies
 * (or allows with a warning when the policy fails open). A new object that names no source Pod captures
 * nothing and passes.
 */
export async function decideCapture(ports: RestorePorts, review: CaptureReview, policy: Policy, deadline: Deadline): Promise<RestoreDecision> {
  const { guard } = policy.checkpoints;
  const { sourcePod, source, namespace, request } = review;
  if (guard === 'off' || sourcePod.kind === 'absent') return ignore('not-a-capture');
  const mode = captureMode(guard, modeFor(policy, namespace));
  if (sourcePod.kind === 'malformed') return applyMode(denials.malformedSourcePod(source.sourcePod.path, sourcePod.problem), mode);
  const access = captureAccess(policy, namespace, sourcePod.name);
  const checkpoint = request.name || stringAt(request.object, 'metadata', 'name') || stringAt(request.object, 'metadata', 'generateName') || '';
  const annotations = { checkpoint, 'source-pod': sourcePod.name };
  let decision: RestoreDecision;
  try {
    const answer = await stepCaller(deadline)('authorization', () => ports.authorizer.authorize(request.userInfo, access, deadline));
    decision = answer.allowed
      ? allow('capture-allowed', { decision: 'allowed' })
      : denials.captureUnauthorized(request.userInfo, access, source, answer.reason);
  } catch (error) {
    decision = settle(error, access, policy, 'checkpoint');
  }
  return applyMode({ ...decision, auditAnnotations: { ...annotations, ...decision.auditAnnotations } }, mode);
}
