import { allow, ignore } from '../admission/decision.js';
import type { Deadline } from '../admission/deadline.js';
import type { Policy } from '../policy/policy.js';
import { decideMutation } from './create-checks.js';
import { RestoreDecider, type RestoreCreate } from './decider.js';
import { gatherCreateFacts } from './facts.js';
import type { RestoreDecision } from './messages.js';

/** The mutating webhook: authorize, resolve the checkpoint's node, place the Pod there. */
export class RestoreMutator extends RestoreDecider {
  protected update(): RestoreDecision {
    return allow('update-not-mutated');
  }

  // Workload templates are only validated: the Pods made from them are placed when they are created.
  protected workload(): Promise<RestoreDecision> {
    return Promise.resolve(ignore('not-a-restore'));
  }

  // Taking a checkpoint is only validated: there is nothing to place.
  protected capture(): Promise<RestoreDecision> {
    return Promise.resolve(ignore('not-a-capture'));
  }

  protected async create(review: RestoreCreate, policy: Policy, deadline: Deadline): Promise<RestoreDecision> {
    const facts = await gatherCreateFacts(this.ports, review.request, review.namespace, review, policy, deadline, false);
    return 'outcome' in facts ? facts : decideMutation(facts);
  }
}
