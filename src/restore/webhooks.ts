import type { Webhook } from '../admission/request.js';
import type { RestoreDecider } from './decider.js';
import type { RestorePorts } from './facts.js';
import { RestoreMutator } from './mutator.js';
import { RestoreValidator } from './validator.js';

/** restore-guard's decider for each webhook, over the same ports. */
export function restoreDeciders(ports: RestorePorts): Record<Webhook, RestoreDecider> {
  return { mutate: new RestoreMutator(ports), validate: new RestoreValidator(ports) };
}
