import { allow } from '../admission/decision.js';
import type { Deadline } from '../admission/deadline.js';
import { dictionary, isObject, type JsonObject } from '../common/json.js';
import type { Policy } from '../policy/policy.js';
import type { WorkloadKind } from '../policy/workloads.js';
import { annotated, authorizeRestore, restoreAccess, settle, stepCaller, type RestorePorts } from './facts.js';
import { denials, warnings, type RestoreDecision } from './messages.js';
import type { RestoreAccess } from './model.js';
import { semanticDiff } from './spec-diff.js';
import { templateOf, type WorkloadReview } from './workloads.js';

/** How many Pods a workload runs at once from its template, when that is more than one. */
function replicasOf(object: JsonObject, kind: WorkloadKind): number | undefined {
  const spec = isObject(object.spec) ? object.spec : {};
  if (kind.kind === 'DaemonSet') return Number.POSITIVE_INFINITY;
  const count = kind.kind === 'Job' ? spec.parallelism : kind.kind === 'CronJob' ? undefined : spec.replicas;
  return typeof count === 'number' && count > 1 ? count : undefined;
}

/**
 * The warnings of an allowed template write: more than one Pod restoring one checkpoint (upstream calls it
 * unsupported), and a controller that will be denied because delegation is off and it holds no grant.
 */
async function templateWarnings(ports: RestorePorts, review: WorkloadReview, policy: Policy, access: RestoreAccess, deadline: Deadline): Promise<string[]> {
  const found: string[] = [];
  const object = review.request.object ?? {};
  const replicas = replicasOf(object, review.kind);
  if (replicas !== undefined) found.push(warnings.manyReplicas(review.kind.kind, replicas));
  const controller = review.kind.controller;
  if (policy.workloads.delegation !== 'enabled' && controller) {
    try {
      const groups = ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'];
      const answer = await ports.authorizer.authorize({ username: controller, groups, extra: dictionary() }, access, deadline);
      if (!answer.allowed) found.push(warnings.controllerCannotRestore(review.kind.kind, controller, access));
    } catch {
      // Only a warning: an authorizer that cannot answer now does not decide the write.
    }
  }
  return found;
}

/**
 * A write of a workload whose Pod template restores: its writer needs the source's verb on the named object,
 * exactly as a Pod's creator does, on CREATE and on any UPDATE that changes the template while it restores
 * (adding or changing the reference included); an UPDATE that leaves the template as it was (scaling, labels)
 * and one that drops the reference need nothing. Nothing about the named object is read.
 */
export async function decideWorkload(ports: RestorePorts, review: WorkloadReview, policy: Policy, deadline: Deadline): Promise<RestoreDecision> {
  const { request, kind, namespace } = review;
  const named = review.references.filter((r) => r.field.kind !== 'absent');
  const [only] = named;
  if (!only || !request.object) return allow('template-without-restore');
  if (named.length > 1) return denials.ambiguousReference(named.map((r) => r.source));
  if (only.field.kind === 'malformed') return denials.malformedReference(only.field.why, only.source);
  if (only.field.kind !== 'ref') return allow('template-without-restore');
  const reference = { ref: only.field.ref, source: only.source };
  const access = restoreAccess(only.source, namespace, reference.ref);
  if (request.operation === 'UPDATE' && semanticDiff(templateOf(request.oldObject, kind), templateOf(request.object, kind), 'template').length === 0) {
    return allow('template-unchanged', { checkpoint: access.name });
  }
  try {
    const call = stepCaller(deadline);
    const authorization = await authorizeRestore(
      ports,
      { userInfo: request.userInfo, object: request.object },
      namespace,
      reference,
      access,
      policy,
      deadline,
      call,
    );
    if ('outcome' in authorization) return authorization;
    if (!authorization.allowed) {
      return annotated(
        denials.unauthorized(request.userInfo, access, authorization.reason, false, only.source, `writing a ${kind.kind} whose Pod template has`),
        access,
      );
    }
    const delegated: Record<string, string> = authorization.delegatedBy === undefined ? {} : { 'delegated-by': authorization.delegatedBy };
    const decision = allow('template-allowed', { checkpoint: access.name, ...delegated, decision: 'allowed' });
    return { ...decision, warnings: await templateWarnings(ports, review, policy, access, deadline) };
  } catch (error) {
    return settle(error, access, policy);
  }
}
