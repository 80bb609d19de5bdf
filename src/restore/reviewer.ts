import { modeFor, type Policy } from '../policy/policy.js';
import { decideMutation, decideValidation, precheckCreate, restoreAccess, runtimeClassToRead, type CreateFacts } from './create-rules.js';
import { allow, deny, type Decision } from './decision.js';
import { dependencyDenial, failOpen, type Step } from './failure.js';
import { stringAt } from './json.js';
import type { AdmissionRequest } from './model.js';
import { applyMode } from './modes.js';
import { namespaceDenial, needsNamespaceLabels } from './namespaces.js';
import {
  DependencyError,
  type Authorizer,
  type CheckpointSource,
  type Deadline,
  type NamespaceSource,
  type RuntimeClassSource,
} from './ports.js';
import { restoreFieldOf } from './reference.js';
import { concernsRestore } from './scope.js';
import { decideUpdate } from './update-rules.js';

export type Webhook = 'mutate' | 'validate';

export interface ReviewerPorts {
  authorizer: Authorizer;
  checkpoints: CheckpointSource;
  runtimeClasses: RuntimeClassSource;
  /** Read only when the policy restricts namespaces by label. */
  namespaces?: NamespaceSource;
  /** The policy in effect, read once per review so a live change never splits one review. */
  policy: () => Policy;
  /** Why the configured policy is not in effect yet (restores are then denied), or undefined. */
  policyUnavailable?: () => string | undefined;
  now?: () => number;
}

/**
 * Gathers the facts a decision needs, in the one order that leaks nothing: authorize first, read the
 * checkpoint only for an authorized requester, and read a RuntimeClass only when options ask for it.
 * Then delivers the decision in the namespace's mode.
 */
export class RestoreReviewer {
  constructor(private readonly ports: ReviewerPorts) {}

  async review(webhook: Webhook, request: AdmissionRequest, deadline: Deadline): Promise<Decision> {
    if (!concernsRestore(request)) return allow('not-a-restore');
    // Before any rule: neither the defaults nor a namespace mode may decide in place of the admin's policy.
    const unavailable = this.ports.policyUnavailable?.();
    if (unavailable) return deny('ServiceUnavailable', 'policy-not-loaded', `${unavailable}. Restores are denied until it is; retry shortly`);
    const policy = this.ports.policy();
    const namespace = request.namespace || stringAt(request.object ?? request.oldObject, 'metadata', 'namespace') || '';
    const decision = await this.decide(webhook, request, namespace, policy, deadline);
    return applyMode(decision, modeFor(policy, namespace));
  }

  private async decide(webhook: Webhook, request: AdmissionRequest, namespace: string, policy: Policy, deadline: Deadline): Promise<Decision> {
    if (request.operation === 'UPDATE') {
      return webhook === 'validate' ? decideUpdate(request.oldObject, request.object) : allow('update-not-mutated');
    }
    const pod = request.object;
    const field = restoreFieldOf(pod);
    if (!pod || field.kind === 'absent') return allow('not-a-restore');
    if (field.kind === 'malformed') return deny('Invalid', 'malformed-restore-from', field.problem);

    const access = restoreAccess(policy, namespace, field.ref);
    const withCheckpoint = (d: Decision): Decision => ({ ...d, auditAnnotations: { checkpoint: access.name, ...d.auditAnnotations } });
    if (webhook === 'validate') {
      const precheck = precheckCreate(pod, policy);
      if (precheck) return withCheckpoint(precheck);
    }
    const call = <T>(step: Step, fn: () => Promise<T>): Promise<T> => this.within(deadline, step, fn);
    try {
      const namespaces = this.ports.namespaces;
      const labels = needsNamespaceLabels(policy) && namespaces ? await call('namespace lookup', () => namespaces.labels(namespace, deadline)) : undefined;
      const notPermitted = namespaceDenial(policy, namespace, labels);
      if (notPermitted) return withCheckpoint(notPermitted);

      const authorization = await call('authorization', () => this.ports.authorizer.authorize(request.userInfo, access, deadline));
      const facts: CreateFacts = { pod, ref: field.ref, user: request.userInfo, access, authorization, policy, now: (this.ports.now ?? Date.now)() };
      if (authorization.allowed) {
        facts.checkpoint = await call('checkpoint lookup', () => this.ports.checkpoints.get(namespace, field.ref.name, deadline));
        const runtimeClass = webhook === 'validate' && facts.checkpoint ? runtimeClassToRead(pod, field.ref) : undefined;
        if (runtimeClass) {
          facts.runtimeClass = (await call('RuntimeClass lookup', () => this.ports.runtimeClasses.get(runtimeClass, deadline))) ?? null;
        }
      }
      return webhook === 'mutate' ? decideMutation(facts) : decideValidation(facts);
    } catch (error) {
      if (!(error instanceof StepFailure)) throw error;
      const denial = dependencyDenial(error.cause, error.step, access);
      return policy.failureMode === 'open' ? failOpen(denial) : denial;
    }
  }

  private async within<T>(deadline: Deadline, step: Step, fn: () => Promise<T>): Promise<T> {
    try {
      if (deadline.remainingMs() <= 0) {
        throw new DependencyError('timeout', 'the time kube-apiserver allows for this review ran out');
      }
      return await fn();
    } catch (error) {
      if (error instanceof DependencyError) throw new StepFailure(step, error);
      throw error;
    }
  }
}

class StepFailure extends Error {
  constructor(
    readonly step: Step,
    override readonly cause: DependencyError,
  ) {
    super(cause.message);
  }
}
