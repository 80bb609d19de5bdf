import jsonPatch, { type Operation as PatchOperation } from 'fast-json-patch';
import type { Policy } from '../policy/policy.js';
import { allow, deny, type Decision } from './decision.js';
import { isObject, objectAt, stringAt, type JsonObject } from './json.js';
import { checkpointTitle, unauthorizedMessage } from './messages.js';
import type { AuthorizationAnswer, PodCheckpoint, RestoreAccess, RestoreRef, RuntimeClassInfo, UserInfo } from './model.js';
import { isPinned, pinSpec } from './pin.js';
import { semanticDiff } from './spec-diff.js';

/** Everything known about a Pod CREATE that restores, gathered by the reviewer in a fixed order. */
export interface CreateFacts {
  pod: JsonObject;
  ref: RestoreRef;
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

// Fields the restore sets or the kubelet owns; they never have to match the captured template.
const IGNORED_SPEC_FIELDS = ['nodeName', 'restoreFrom', 'ephemeralContainers', 'schedulingGates'];
const MAX_LISTED_FIELDS = 20;

export function restoreAccess(policy: Policy, namespace: string, ref: RestoreRef): RestoreAccess {
  const { group, version, resource, verb } = policy.checkpointAPI;
  return { verb, group, version, resource, namespace, name: ref.name };
}

/** The RuntimeClass to read, when the Pod asks for restore options. */
export function runtimeClassToRead(pod: JsonObject, ref: RestoreRef): string | undefined {
  return Object.keys(ref.options).length > 0 ? stringAt(pod, 'spec', 'runtimeClassName') || undefined : undefined;
}

function nodeNameDenial(pod: JsonObject): Decision | undefined {
  if (!stringAt(pod, 'spec', 'nodeName')) return undefined;
  return deny(
    'Forbidden',
    'node-name-set',
    'spec.nodeName must not be set on a Pod that restores from a checkpoint: restore-guard places it on the ' +
      "checkpoint's node through required node affinity",
  );
}

/**
 * Checks that need no outbound call; the validating webhook runs them before authorization, as upstream.
 * With placement by nodeName the Pod carries the node restore-guard set, so it is checked after.
 */
export function precheckCreate(pod: JsonObject, policy: Policy): Decision | undefined {
  return policy.placement === 'nodeAffinity' ? nodeNameDenial(pod) : undefined;
}

/**
 * Authorization comes first and, when it fails, is the whole answer: nothing about the checkpoint
 * (existence, readiness, node) may shape what an unauthorized requester sees.
 */
function authorizationAndPlacement(facts: CreateFacts): Decision | { checkpoint: PodCheckpoint; node: string } {
  const { access, authorization, checkpoint, user, pod } = facts;
  const audit = { checkpoint: access.name };
  if (!authorization.allowed) {
    return deny('Forbidden', 'unauthorized', unauthorizedMessage(user, access, authorization.reason, pod), audit);
  }
  const title = checkpointTitle(access);
  if (!checkpoint) {
    return deny('Forbidden', 'checkpoint-not-found', `${title} not found in namespace ${JSON.stringify(access.namespace)}`, audit);
  }
  if (!checkpoint.nodeName) {
    return deny(
      'Forbidden',
      'checkpoint-not-placed',
      `${title} has no status.nodeName yet: a restore cannot be placed until checkpointing has started on a node`,
      audit,
    );
  }
  return { checkpoint, node: checkpoint.nodeName };
}

/** The Pod as placed on `node` by the policy's placement, for the patch and the equality check. */
function placedSpec(spec: JsonObject, node: string, placement: Policy['placement']): JsonObject {
  if (placement === 'nodeAffinity') return pinSpec(spec, node);
  if (placement === 'nodeName') return { ...spec, nodeName: node };
  return spec;
}

/**
 * The JSON Patch from the Pod's spec to the placed one. Placement shares every field it does not change,
 * so only changed fields are compared (comparing whole Pods cost ~100 µs per review).
 */
function specPatch(spec: JsonObject, placed: JsonObject): PatchOperation[] {
  const patch: PatchOperation[] = [];
  for (const key of new Set([...Object.keys(spec), ...Object.keys(placed)])) {
    if (spec[key] === placed[key]) continue;
    const from = Object.hasOwn(spec, key) ? { [key]: spec[key] } : {};
    const to = Object.hasOwn(placed, key) ? { [key]: placed[key] } : {};
    for (const operation of jsonPatch.compare(from, to)) patch.push({ ...operation, path: `/spec${operation.path}` });
  }
  return patch;
}

/** Mutating CREATE: authorize, resolve the checkpoint's node, place the Pod there. */
export function decideMutation(facts: CreateFacts): Decision {
  const resolved = authorizationAndPlacement(facts);
  if ('outcome' in resolved) return resolved;
  const audit = { checkpoint: facts.access.name, node: resolved.node };
  const { placement } = facts.policy;
  const nodeName = stringAt(facts.pod, 'spec', 'nodeName');
  // With nodeName placement our own earlier patch is expected on reinvocation; anything else is not.
  if (nodeName && !(placement === 'nodeName' && nodeName === resolved.node) && placement !== 'none') {
    const denial = nodeNameDenial(facts.pod) as Decision;
    return { ...denial, auditAnnotations: { ...audit, ...denial.auditAnnotations } };
  }
  const spec = objectAt(facts.pod, 'spec') ?? {};
  const placed = placedSpec(spec, resolved.node, placement);
  const patch = isObject(facts.pod.spec) ? specPatch(spec, placed) : jsonPatch.compare(facts.pod, { ...facts.pod, spec: placed });
  if (patch.length === 0) return allow('already-placed', { ...audit, decision: 'allowed' });
  return { ...allow('placed', { ...audit, decision: 'placed' }), patch };
}

function optionsDenial(facts: CreateFacts): Decision | undefined {
  const keys = Object.keys(facts.ref.options);
  if (keys.length === 0) return undefined;
  const runtimeClassName = stringAt(facts.pod, 'spec', 'runtimeClassName');
  if (!runtimeClassName) {
    return deny('Invalid', 'options-need-runtime-class', 'spec.runtimeClassName is required when spec.restoreFrom.options is set');
  }
  if (!facts.runtimeClass) {
    return deny(
      'Forbidden',
      'runtime-class-not-found',
      `RuntimeClass ${JSON.stringify(runtimeClassName)} not found: cannot check which restore options it allows`,
    );
  }
  const allowed = new Set(facts.runtimeClass.allowedRestoreOptions);
  const refused = keys.filter((k) => !allowed.has(k)).sort();
  if (refused.length === 0) return undefined;
  // Keys are named so the user can fix the Pod; values are never echoed (they may be sensitive).
  return deny(
    'Forbidden',
    'option-not-allowed',
    `restore option${refused.length > 1 ? 's' : ''} ${refused.map((k) => JSON.stringify(k)).join(', ')} not allowed by ` +
      `RuntimeClass ${JSON.stringify(runtimeClassName)} (podCheckpoint.allowedRestoreOptions: ` +
      `${[...allowed].sort().join(', ') || 'none'})`,
  );
}

/** The Pod spec minus what a restore may differ in, for the equality check. */
function comparableSpec(spec: JsonObject): JsonObject {
  const copy: JsonObject = { ...spec };
  for (const field of IGNORED_SPEC_FIELDS) delete copy[field];
  return copy;
}

/** Field paths where the Pod's spec differs from the captured template (as placed on the node). */
export function specDifferences(pod: JsonObject, template: JsonObject, node: string, placement: Policy['placement']): string[] {
  const expected = placedSpec(objectAt(template, 'spec') ?? {}, node, placement);
  return semanticDiff(comparableSpec(objectAt(pod, 'spec') ?? {}), comparableSpec(expected), 'spec');
}

function placementDenial(pod: JsonObject, node: string, title: string, placement: Policy['placement']): Decision | undefined {
  if (placement === 'nodeAffinity' && !isPinned(objectAt(pod, 'spec'), node)) {
    return deny(
      'Forbidden',
      'not-pinned',
      `the Pod must be pinned to node ${JSON.stringify(node)}, which holds ${title}: every required node affinity ` +
        'term needs matchFields metadata.name In [node] (did another mutating webhook remove the pin?)',
    );
  }
  if (placement === 'nodeName' && stringAt(pod, 'spec', 'nodeName') !== node) {
    return deny('Forbidden', 'not-placed', `spec.nodeName must be ${JSON.stringify(node)}, the node that holds ${title}`);
  }
  return undefined;
}

function ageDenial(checkpoint: PodCheckpoint, title: string, maxAgeMs: number | undefined, now: number): Decision | undefined {
  if (maxAgeMs === undefined) return undefined;
  const completed = checkpoint.completionTime ? Date.parse(checkpoint.completionTime) : Number.NaN;
  if (Number.isNaN(completed)) {
    return deny('Forbidden', 'checkpoint-age-unknown', `${title} has no status.completionTime, and the policy limits checkpoint age`);
  }
  if (now - completed <= maxAgeMs) return undefined;
  return deny(
    'Forbidden',
    'checkpoint-too-old',
    `${title} completed at ${checkpoint.completionTime}, longer ago than the policy's maxCheckpointAge (${Math.round(maxAgeMs / 1000)} s)`,
  );
}

const TOKEN_REASON = 'automountServiceAccountToken: false (the tokens in a checkpoint go stale)';

/** Validating CREATE: the final object, after every mutating webhook, checked against the checkpoint. */
export function decideValidation(facts: CreateFacts): Decision {
  const { policy } = facts;
  const precheck = precheckCreate(facts.pod, policy);
  if (precheck) return precheck;
  const resolved = authorizationAndPlacement(facts);
  if ('outcome' in resolved) return resolved;
  const { checkpoint, node } = resolved;
  const audit = { checkpoint: facts.access.name, node };
  const title = checkpointTitle(facts.access);
  const withAudit = (d: Decision): Decision => ({ ...d, auditAnnotations: { ...audit, ...d.auditAnnotations } });
  const warnings: string[] = [];

  if (policy.requireReady && !checkpoint.ready) {
    return withAudit(
      deny('Forbidden', 'checkpoint-not-ready', `${title} is not ready (${checkpoint.notReadyReason ?? 'unknown'}): ` +
        'a Pod can only restore from a checkpoint with condition Ready=True'),
    );
  }
  const tooOld = ageDenial(checkpoint, title, policy.maxCheckpointAgeMs, facts.now);
  if (tooOld) return withAudit(tooOld);
  if (!checkpoint.template) {
    return withAudit(
      deny('Forbidden', 'checkpoint-without-template', `${title} has no status.checkpointedPodTemplate to restore from`),
    );
  }
  const misplaced = placementDenial(facts.pod, node, title, policy.placement);
  if (misplaced) return withAudit(misplaced);
  const options = optionsDenial(facts);
  if (options) return withAudit(options);

  if (policy.serviceAccountToken !== 'ignore' && objectAt(facts.pod, 'spec')?.automountServiceAccountToken !== false) {
    if (policy.serviceAccountToken === 'require-disabled') {
      return withAudit(deny('Forbidden', 'service-account-token-mounted', `the restore-guard policy requires a restored Pod to set ${TOKEN_REASON}`));
    }
    warnings.push(`a restored Pod should set ${TOKEN_REASON}`);
  }

  if (policy.specEquality !== 'off') {
    const differences = specDifferences(facts.pod, checkpoint.template, node, policy.placement);
    if (differences.length > 0) {
      const listed = differences.slice(0, MAX_LISTED_FIELDS).join(', ');
      const more = differences.length > MAX_LISTED_FIELDS ? ` and ${differences.length - MAX_LISTED_FIELDS} more` : '';
      const message =
        `spec must match the template captured in ${title} (status.checkpointedPodTemplate.spec); ` +
        `differing fields: ${listed}${more}`;
      if (policy.specEquality === 'enforce') return withAudit(deny('Invalid', 'spec-mismatch', message));
      warnings.push(`spec differs from the checkpoint's template: ${listed}${more}`);
    }
  }
  return { ...allow('restore-allowed', { ...audit, decision: 'allowed' }), warnings };
}
