import { readFile } from 'node:fs/promises';
import type { Deadline } from '../admission/deadline.js';
import { objectAt } from '../common/json.js';
import { callWithDeadline, httpStatusOf } from '../kube/api-call.js';
import type { ApiClient } from '../kube/api-client.js';
import { POLICY_KEY } from '../kube/policy-configmap-source.js';
import { parsePolicy } from '../policy/parse.js';
import { defaultPolicy, type Policy } from '../policy/policy.js';
import { DependencyError } from '../restore/ports.js';
import { InputError } from './input-error.js';

export interface LoadedPolicy {
  policy: Policy;
  /** Where it came from, for the report. */
  origin: string;
}

/** Parses a RestorePolicy text; one that does not validate is an input error (the webhook would refuse it too). */
export function policyFromText(text: string, origin: string): LoadedPolicy {
  const parsed = parsePolicy(text);
  if (!parsed.ok) throw new InputError(`the policy in ${origin} does not validate: ${parsed.errors.join('; ')}`);
  return { policy: parsed.policy, origin };
}

export async function policyFromFile(file: string): Promise<LoadedPolicy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read --policy-file ${file}: ${(error as Error).message}`);
  }
  return policyFromText(text, `--policy-file ${file}`);
}

/**
 * The policy as the Deployment reads it: key policy.yaml of the ConfigMap; no ConfigMap or no key means the
 * defaults. A ConfigMap that cannot be read (forbidden, API down) leaves nothing to decide with.
 */
export async function policyFromConfigMap(client: ApiClient, where: { namespace: string; name: string }, deadline: Deadline): Promise<LoadedPolicy> {
  const origin = `ConfigMap ${where.namespace}/${where.name}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(where.namespace)}/configmaps/${encodeURIComponent(where.name)}`;
  let configMap: unknown;
  try {
    configMap = await callWithDeadline(deadline, `reading the policy ${origin}`, (signal) => client.request('GET', path, { signal }));
  } catch (error) {
    if (error instanceof DependencyError && httpStatusOf(error.cause) === 404) return { policy: defaultPolicy(), origin: `the defaults (no ${origin})` };
    const hint = error instanceof DependencyError && httpStatusOf(error.cause) === 403 ? '; ask for get on it, or pass --policy-file' : '';
    throw new InputError(`cannot read the policy: ${(error as Error).message}${hint}`);
  }
  const text = objectAt(configMap, 'data')?.[POLICY_KEY];
  if (typeof text !== 'string') return { policy: defaultPolicy(), origin: `the defaults (${origin} has no ${POLICY_KEY})` };
  return policyFromText(text, origin);
}
