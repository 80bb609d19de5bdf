import { allow } from '../admission/decision.js';
import type { UserInfo } from '../admission/request.js';
import { arrayAt, isObject, objectAt, stringAt } from '../common/json.js';
import type { Policy } from '../policy/policy.js';
import { annotated, type CreateFacts } from './facts.js';
import { denials, warnings, type RestoreDecision } from './messages.js';
import type { PodCheckpoint } from './model.js';
import { isPinned } from './pin.js';
import { placedSpec, podPatch } from './placement.js';
import { semanticDiffExcept } from './spec-diff.js';

/** What a check reads besides the Pod and the policy. */
export type Reads = 'pod' | 'authorization' | 'checkpoint';

/** A check's verdict: a denial, a warning on an otherwise allowed restore, or nothing to say. */
export type Verdict = RestoreDecision | { warning: string } | undefined;

/** Facts of a check that runs before anything was gathered: the Pod, its source and the policy only. */
export type PodFacts = Pick<CreateFacts, 'pod' | 'policy' | 'source'>;

/**
 * A check of a restoring CREATE. `reads` says what it reads besides the Pod and the policy: checks that
 * read only the Pod may run before any outbound call; a check that reads the checkpoint may only run once
 * authorization has allowed (asserted over the lists below).
 */
export type CreateCheck =
  { name: string; reads: 'pod'; run(facts: PodFacts): Verdict } | { name: string; reads: 'authorization' | 'checkpoint'; run(facts: CreateFacts): Verdict };
type PodCheck = Extract<CreateCheck, { reads: 'pod' }>;

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';

/**
 * Whether the requester is a workload controller creating Pods from a template: the built-in
 * controllers run as `kube-system/*-controller`, and any controller sets a controller ownerReference.
 */
function isWorkloadController(user: UserInfo, pod: CreateFacts['pod']): boolean {
  if (!user.username.startsWith(SERVICE_ACCOUNT_PREFIX)) return false;
  const [namespace = '', name = ''] = user.username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
  if (namespace === 'kube-system' && name.endsWith('-controller')) return true;
  return (arrayAt(pod, 'metadata', 'ownerReferences') ?? []).some((o) => isObject(o) && o.controller === true);
}

// Fields the restore sets or the kubelet owns; they never have to match the captured template.
const IGNORED_SPEC_FIELDS: ReadonlySet<string> = new Set(['nodeName', 'restoreFrom', 'ephemeralContainers', 'schedulingGates']);

/** The checkpoint, once the checks before have established it (and its node, where the source places). */
function foundCheckpoint(facts: CreateFacts): PodCheckpoint {
  const { checkpoint } = facts;
  if (!checkpoint || (facts.source.placement.nodePath && !checkpoint.nodeName)) {
    throw new Error('a check that reads the checkpoint ran before the checkpoint was resolved');
  }
  return checkpoint;
}

/**
 * Field paths where the Pod's spec differs from the captured template (as placed on the node), leaving
 * out what a restore may differ in. The fields are skipped by the walk, not deleted from copies of both
 * specs: deleting made the copies slow dictionary-mode objects, and the copies alone were a tenth of what
 * a small restore review allocated.
 */
export function specDifferences(pod: CreateFacts['pod'], template: CreateFacts['pod'], node: string | undefined, placement: Policy['placement']): string[] {
  // Without a node the placement is none (a source that places names the node where the object keeps it).
  const expected = placedSpec(objectAt(template, 'spec') ?? {}, node ?? '', placement);
  return semanticDiffExcept(objectAt(pod, 'spec') ?? {}, expected, IGNORED_SPEC_FIELDS, 'spec');
}

/** With node-affinity placement a restoring Pod must not name a node: restore-guard places it. */
export const nodeNameUnset: CreateCheck = {
  name: 'node name',
  reads: 'pod',
  run: ({ pod, source }) => (source.placement.mode === 'nodeAffinity' && stringAt(pod, 'spec', 'nodeName') ? denials.nodeNameSet() : undefined),
};

/** Authorization is the whole answer when it fails: nothing about the checkpoint may shape it. */
export const authorized: CreateCheck = {
  name: 'authorization',
  reads: 'authorization',
  run: ({ authorization, user, access, pod, source }) =>
    authorization.allowed ? undefined : denials.unauthorized(user, access, authorization.reason, isWorkloadController(user, pod), source),
};

export const checkpointFound: CreateCheck = {
  name: 'checkpoint exists',
  reads: 'checkpoint',
  run: ({ checkpoint, access }) => (checkpoint ? undefined : denials.checkpointNotFound(access)),
};

export const checkpointPlaced: CreateCheck = {
  name: 'checkpoint has a node',
  reads: 'checkpoint',
  run: ({ checkpoint, access, source }) => {
    const { nodePath } = source.placement;
    return !nodePath || checkpoint?.nodeName ? undefined : denials.checkpointNotPlaced(access, nodePath);
  },
};

const ready: CreateCheck = {
  name: 'checkpoint ready',
  reads: 'checkpoint',
  run: (facts) => {
    const checkpoint = foundCheckpoint(facts);
    const { ready: readiness } = facts.source;
    return facts.policy.requireReady && readiness && !checkpoint.ready
      ? denials.checkpointNotReady(facts.access, checkpoint.notReadyReason, readiness)
      : undefined;
  },
};

const age: CreateCheck = {
  name: 'checkpoint age',
  reads: 'checkpoint',
  run: (facts) => {
    const maxAgeMs = facts.policy.maxCheckpointAgeMs;
    if (maxAgeMs === undefined) return undefined;
    const { completionTime } = foundCheckpoint(facts);
    const completed = completionTime ? Date.parse(completionTime) : Number.NaN;
    if (Number.isNaN(completed)) return denials.checkpointAgeUnknown(facts.access);
    return facts.now - completed <= maxAgeMs ? undefined : denials.checkpointTooOld(facts.access, completionTime ?? '', maxAgeMs);
  },
};

const template: CreateCheck = {
  name: 'captured template',
  reads: 'checkpoint',
  run: (facts) => {
    const path = facts.source.template?.path;
    return !path || foundCheckpoint(facts).template ? undefined : denials.checkpointWithoutTemplate(facts.access, path);
  },
};

/** The final object, after every mutating webhook, still carries the placement restore-guard made. */
const placement: CreateCheck = {
  name: 'placement',
  reads: 'checkpoint',
  run: (facts) => {
    const node = foundCheckpoint(facts).nodeName ?? '';
    const { mode } = facts.source.placement;
    if (mode === 'nodeAffinity' && !isPinned(objectAt(facts.pod, 'spec'), node)) return denials.notPinned(facts.access, node);
    if (mode === 'nodeName' && stringAt(facts.pod, 'spec', 'nodeName') !== node) return denials.notPlaced(facts.access, node);
    return undefined;
  },
};

const options: CreateCheck = {
  name: 'restore options',
  reads: 'checkpoint',
  run: (facts) => {
    const keys = Object.keys(facts.ref.options);
    if (keys.length === 0) return undefined;
    const runtimeClassName = stringAt(facts.pod, 'spec', 'runtimeClassName');
    if (!runtimeClassName) return denials.optionsNeedRuntimeClass();
    if (!facts.runtimeClass) return denials.runtimeClassNotFound(runtimeClassName);
    const allowed = new Set(facts.runtimeClass.allowedRestoreOptions);
    const refused = keys.filter((k) => !allowed.has(k)).sort();
    return refused.length === 0 ? undefined : denials.optionNotAllowed(refused, runtimeClassName, [...allowed].sort());
  },
};

const serviceAccountToken: CreateCheck = {
  name: 'service account token',
  reads: 'pod',
  run: ({ pod, policy }) => {
    if (policy.serviceAccountToken === 'ignore' || objectAt(pod, 'spec')?.automountServiceAccountToken === false) return undefined;
    return policy.serviceAccountToken === 'require-disabled' ? denials.serviceAccountTokenMounted() : { warning: warnings.serviceAccountToken() };
  },
};

const specEquality: CreateCheck = {
  name: 'spec equality',
  reads: 'checkpoint',
  run: (facts) => {
    const path = facts.source.template?.path;
    if (facts.policy.specEquality === 'off' || !path) return undefined;
    const checkpoint = foundCheckpoint(facts);
    const differences = specDifferences(facts.pod, checkpoint.template ?? {}, checkpoint.nodeName, facts.source.placement.mode);
    if (differences.length === 0) return undefined;
    return facts.policy.specEquality === 'enforce' ? denials.specMismatch(facts.access, differences, path) : { warning: warnings.specMismatch(differences) };
  },
};

/**
 * On reinvocation with nodeName placement the Pod carries the node restore-guard set; any other node name
 * is the requester's and is refused (with placement none, restore-guard does not place at all).
 */
const nodeNameIsOurs: CreateCheck = {
  name: 'node name (mutation)',
  reads: 'checkpoint',
  run: (facts) => {
    const nodeName = stringAt(facts.pod, 'spec', 'nodeName');
    const { mode } = facts.source.placement;
    if (!nodeName || mode === 'none' || (mode === 'nodeName' && nodeName === foundCheckpoint(facts).nodeName)) return undefined;
    return denials.nodeNameSet();
  },
};

/** The checks of the mutating webhook before it places the Pod, in order. */
export const MUTATION_CHECKS: readonly CreateCheck[] = [authorized, checkpointFound, checkpointPlaced, nodeNameIsOurs];

/**
 * The checks of the validating webhook on the final object, in order; the first denial is the answer.
 * The node name check needs nothing gathered and runs before authorization, as upstream's does.
 */
export const VALIDATION_CHECKS: readonly CreateCheck[] = [
  nodeNameUnset,
  authorized,
  checkpointFound,
  checkpointPlaced,
  ready,
  age,
  template,
  placement,
  options,
  serviceAccountToken,
  specEquality,
];

/** The validating checks before the captured template is needed: they run on the cached record alone. */
export const BEFORE_TEMPLATE: readonly CreateCheck[] = VALIDATION_CHECKS.slice(0, VALIDATION_CHECKS.indexOf(template));

/** The checks at the head of a list that read only the Pod: they run before any outbound call. */
export function podOnlyPrefix(checks: readonly CreateCheck[]): readonly PodCheck[] {
  const prefix: PodCheck[] = [];
  for (const check of checks) {
    if (check.reads !== 'pod') break;
    prefix.push(check);
  }
  return prefix;
}

/** Runs checks in order: the first denial, or the warnings of them all. */
export function runChecks(checks: readonly PodCheck[], facts: PodFacts): RestoreDecision | { warnings: string[] };
export function runChecks(checks: readonly CreateCheck[], facts: CreateFacts): RestoreDecision | { warnings: string[] };
export function runChecks(checks: readonly CreateCheck[], facts: PodFacts): RestoreDecision | { warnings: string[] } {
  // The overloads pair pod-only checks with pod facts and every other check with gathered facts.
  const gathered = facts as CreateFacts;
  const found: string[] = [];
  for (const check of checks) {
    const verdict = check.run(gathered);
    if (verdict === undefined) continue;
    if ('warning' in verdict) found.push(verdict.warning);
    else return verdict;
  }
  return { warnings: found };
}

/** The checkpoint, when the requester may know what it says (authorized): its node goes into the annotations. */
function revealed(facts: CreateFacts): PodCheckpoint | undefined {
  return facts.authorization.allowed ? facts.checkpoint : undefined;
}

/** The audit annotation of a restore a controller makes on its owner's behalf. */
function delegation(facts: CreateFacts): Record<string, string> {
  const by = facts.authorization.delegatedBy;
  return by === undefined ? {} : { 'delegated-by': by };
}

/** Mutating CREATE, pure: the checks, then the patch that places the Pod on the checkpoint's node. */
export function decideMutation(facts: CreateFacts): RestoreDecision {
  const verdict = runChecks(MUTATION_CHECKS, facts);
  if ('outcome' in verdict) return annotated(verdict, facts.access, revealed(facts));
  const node = foundCheckpoint(facts).nodeName;
  const patch = podPatch(facts.pod, node ?? '', facts.source.placement.mode);
  const audit = { checkpoint: facts.access.name, ...(node === undefined ? {} : { node }), ...delegation(facts) };
  if (patch.length === 0) return allow('already-placed', { ...audit, decision: 'allowed' });
  return { ...allow('placed', { ...audit, decision: 'placed' }), patch };
}

/** Validating CREATE, pure: the final object, after every mutating webhook, through every check in order. */
export function decideValidation(facts: CreateFacts): RestoreDecision {
  const verdict = runChecks(VALIDATION_CHECKS, facts);
  if ('outcome' in verdict) return annotated(verdict, facts.access, revealed(facts));
  const node = foundCheckpoint(facts).nodeName;
  const audit = { checkpoint: facts.access.name, ...(node === undefined ? {} : { node }), ...delegation(facts) };
  return { ...allow('restore-allowed', { ...audit, decision: 'allowed' }), warnings: verdict.warnings };
}
