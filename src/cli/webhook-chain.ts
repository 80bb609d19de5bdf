import jsonPatch from 'fast-json-patch';
import type { AdmissionRequest, Operation, UserInfo, Webhook } from '../admission/request.js';
import type { Deadline } from '../admission/deadline.js';
import type { JsonObject } from '../common/json.js';
import { stringAt } from '../common/json.js';
import type { RestoreDecision } from '../restore/messages.js';
import type { RestoreDecider } from '../restore/decider.js';
import type { DependencyFailure } from '../restore/ports.js';

/** What the API server would get from restore-guard's two webhooks, in the order it calls them. */
export interface ChainResult {
  mutate: RestoreDecision;
  /** Absent when the mutating webhook denied: the API server then never calls the validating one. */
  validate?: RestoreDecision;
  /** The object the validating webhook saw: the input with the mutating webhook's patch applied. */
  object: JsonObject;
}

/** The review of `pod` as kube-apiserver would send it: core pods (or `resource`), CREATE (or UPDATE with the old Pod). */
export function podReview(options: {
  pod: JsonObject;
  oldPod?: JsonObject;
  namespace: string;
  user: UserInfo;
  uid?: string;
  resource?: { group: string; version: string; resource: string };
}): AdmissionRequest {
  const operation: Operation = options.oldPod ? 'UPDATE' : 'CREATE';
  const { group, version, resource } = options.resource ?? { group: '', version: 'v1', resource: 'pods' };
  const request: AdmissionRequest = {
    uid: options.uid ?? 'restore-guard-check',
    group,
    version,
    resource,
    subResource: '',
    namespace: options.namespace,
    name: stringAt(options.pod, 'metadata', 'name') ?? '',
    operation,
    userInfo: options.user,
    object: options.pod,
    dryRun: true,
  };
  if (options.oldPod) request.oldObject = options.oldPod;
  return request;
}

/**
 * Runs the mutating webhook, applies its JSON patch as the API server would, then the validating webhook on
 * the patched object. The deciders are the webhooks' own (restore/webhooks.ts): nothing is decided here.
 */
export async function runWebhooks(deciders: Record<Webhook, RestoreDecider>, request: AdmissionRequest, deadline: Deadline): Promise<ChainResult> {
  const original = request.object ?? {};
  const mutate = await deciders.mutate.decide(request, deadline);
  if (!mutate.allowed) return { mutate, object: original };
  const object = mutate.patch && mutate.patch.length > 0 ? jsonPatch.applyPatch(structuredClone(original), mutate.patch, true, true).newDocument : original;
  const validate = await deciders.validate.decide({ ...request, object }, deadline);
  return { mutate, validate, object };
}

const DEPENDENCY_FAILURES: ReadonlySet<string> = new Set<DependencyFailure>(['unreachable', 'timeout', 'server-error', 'evaluation-error']);

/** allowed (exit 0), denied (1), or undecided (2): a dependency failed, the policy is not loaded, it failed open. */
export type Verdict = 'allowed' | 'denied' | 'undecided';

/** Why a decision is no decision: the restore was denied or allowed without every check having run. */
export function undecidedWhy(decision: RestoreDecision): string | undefined {
  if (decision.failedOpen) return 'the policy failed open: the restore would be let through unchecked';
  if (DEPENDENCY_FAILURES.has(decision.outcome)) return decision.status?.message ?? decision.outcome;
  if (decision.outcome === 'policy-not-loaded') return decision.status?.message ?? decision.outcome;
  return undefined;
}

export function verdictOf(chain: Pick<ChainResult, 'mutate' | 'validate'>): Verdict {
  const decisions = [chain.mutate, ...(chain.validate ? [chain.validate] : [])];
  if (decisions.some((d) => undecidedWhy(d) !== undefined)) return 'undecided';
  return decisions.every((d) => d.allowed) ? 'allowed' : 'denied';
}
