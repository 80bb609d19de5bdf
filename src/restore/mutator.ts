import { allow } from '../admission/decision.js';
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

  protected async create(review: RestoreCreate, policy: Policy, deadline: Deadline): Promise<RestoreDecision> {
    const facts = await gatherCreateFacts(this.ports, review.request, review.namespace, review, policy, deadline, false);
    return 'outcome' in facts ? facts : decideMutation(facts);
  }
}
