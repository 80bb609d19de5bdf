// The one catalogue of what restore-guard tells a requester: every outcome, every denial message with its
// status reason, every warning, and how a denial is delivered (mode, fail-open). Rules decide; this file words.
import { allow, deny, type Decision } from '../admission/decision.js';
import type { UserInfo } from '../admission/request.js';
import type { StatusReason } from '../admission/response.js';
import type { Mode } from '../policy/policy.js';
import { referenceText, type RestoreSource } from '../policy/sources.js';
import type { RestoreAccess } from './model.js';
import type { DependencyFailure } from './ports.js';

/** Every outcome of a restore review: a short, stable word for logs, metrics and audit annotations. */
export type Outcome =
  // allowed
  | 'not-a-restore'
  | 'placed'
  | 'already-placed'
  | 'restore-allowed'
  | 'update-allowed'
  | 'update-not-mutated'
  | 'restored-pod-update'
  | 'template-allowed'
  | 'template-unchanged'
  | 'template-without-restore'
  | 'fail-open'
  // denied before any outbound call
  | 'policy-not-loaded'
  | 'malformed-restore-from'
  | 'ambiguous-reference'
  | 'node-name-set'
  | 'namespace-not-permitted'
  // denied by authorization, and only then by what the checkpoint says
  | 'unauthorized'
  | 'checkpoint-not-found'
  | 'checkpoint-not-placed'
  | 'checkpoint-not-ready'
  | 'checkpoint-age-unknown'
  | 'checkpoint-too-old'
  | 'checkpoint-without-template'
  | 'not-pinned'
  | 'not-placed'
  | 'options-need-runtime-class'
  | 'runtime-class-not-found'
  | 'option-not-allowed'
  | 'service-account-token-mounted'
  | 'spec-mismatch'
  // UPDATE
  | 'restore-from-changed'
  | 'spec-frozen'
  // a new checkpoint object (a capture of its source Pod)
  | 'not-a-capture'
  | 'capture-allowed'
  | 'malformed-source-pod'
  | 'capture-unauthorized'
  // a dependency could not answer (fail closed)
  | DependencyFailure;

export type RestoreDecision = Decision<Outcome>;

/** How many differing field paths a message lists before "and N more". */
export const MAX_LISTED_FIELDS = 20;

/** `podcheckpoints.node.k8s.io "name"`, the way kube names an object in its errors. */
export function checkpointTitle(access: Pick<RestoreAccess, 'resource' | 'group' | 'name'>): string {
  const resource = access.group ? `${access.resource}.${access.group}` : access.resource;
  return `${resource} ${JSON.stringify(access.name)}`;
}

function listed(paths: string[]): string {
  const more = paths.length > MAX_LISTED_FIELDS ? ` and ${paths.length - MAX_LISTED_FIELDS} more` : '';
  return `${paths.slice(0, MAX_LISTED_FIELDS).join(', ')}${more}`;
}

/** Why a reference cannot be used; see restore/reference.ts. */
export type MalformedReference =
  | { problem: 'not-an-object' }
  | { problem: 'not-an-object-name' }
  | { problem: 'options-without-name' }
  | { problem: 'name-not-a-string' }
  | { problem: 'options-not-a-map' }
  | { problem: 'option-not-a-string'; key: string };

function malformedText(why: MalformedReference, where: string): string {
  switch (why.problem) {
    case 'not-an-object-name':
      return `${where} must name an object: a DNS-1123 subdomain of at most 253 characters (lower-case letters, digits, '-' and '.')`;
    case 'not-an-object':
      return 'spec.restoreFrom must be an object with a name';
    case 'options-without-name':
      return 'spec.restoreFrom.options is set but spec.restoreFrom.name is empty';
    case 'name-not-a-string':
      return where === 'spec.restoreFrom' ? 'spec.restoreFrom.name must be a string' : `${where} must be a string`;
    case 'options-not-a-map':
      return 'spec.restoreFrom.options must be a map of strings';
    case 'option-not-a-string':
      return `spec.restoreFrom.options[${JSON.stringify(why.key)}] must be a string`;
  }
}

const TOKEN_REASON = 'automountServiceAccountToken: false (the tokens in a checkpoint go stale)';

/** Where a review could not complete; named in the denial so an operator knows what to fix. */
export type Step = 'namespace lookup' | 'owner lookup' | 'authorization' | 'checkpoint lookup' | 'RuntimeClass lookup';

const DEPENDENCY_REASONS: Record<DependencyFailure, StatusReason> = {
  unreachable: 'ServiceUnavailable',
  timeout: 'Timeout',
  'server-error': 'ServiceUnavailable',
  'evaluation-error': 'InternalError',
};

/** Every denial restore-guard gives, by outcome: its status reason and its words. */
export const denials = {
  policyNotLoaded: (why: string) => deny('ServiceUnavailable', 'policy-not-loaded', `${why}. Restores and checkpoints are denied until it is; retry shortly`),

  malformedReference: (why: MalformedReference, source: Pick<RestoreSource, 'reference'>) =>
    deny('Invalid', 'malformed-restore-from', malformedText(why, referenceText(source))),

  ambiguousReference: (sources: Pick<RestoreSource, 'reference' | 'name'>[]) =>
    deny(
      'Invalid',
      'ambiguous-reference',
      `a Pod may restore from one source only; this one references ${sources.map((s) => `${referenceText(s)} (${s.name})`).join(' and ')}`,
    ),

  nodeNameSet: () =>
    deny(
      'Forbidden',
      'node-name-set',
      'spec.nodeName must not be set on a Pod that restores from a checkpoint: restore-guard places it on the ' +
        "checkpoint's node through required node affinity",
    ),

  namespaceNotPermitted: (namespace: string, why: 'excluded' | 'not-included' | 'selector') =>
    deny(
      'Forbidden',
      'namespace-not-permitted',
      `restoring Pods from checkpoints is not permitted in namespace ${JSON.stringify(namespace)} by the restore-guard policy: ` +
        {
          excluded: 'it is excluded',
          'not-included': 'it is not in the included namespaces',
          selector: "its labels do not match the policy's namespace selector",
        }[why],
    ),

  unauthorized: (
    user: UserInfo,
    access: RestoreAccess,
    authorizerReason: string,
    byController: boolean,
    source: Pick<RestoreSource, 'reference'>,
    writing = 'creating a Pod with',
  ) => {
    let message =
      `user ${JSON.stringify(user.username)} cannot ${access.verb} ${checkpointTitle(access)} ` +
      `in namespace ${JSON.stringify(access.namespace)}: ${writing} ${referenceText(source)} requires the ` +
      `"${access.verb}" verb on the checkpoint (resource ${access.resource}, group ${access.group || 'core'})`;
    if (authorizerReason) message += `; authorizer: ${authorizerReason}`;
    if (byController) {
      message +=
        `. This Pod is created by a workload controller, so its ServiceAccount ${JSON.stringify(user.username)} ` +
        `must be granted "${access.verb}" on the checkpoint`;
    }
    return deny('Forbidden', 'unauthorized', message);
  },

  checkpointNotFound: (access: RestoreAccess) =>
    deny('Forbidden', 'checkpoint-not-found', `${checkpointTitle(access)} not found in namespace ${JSON.stringify(access.namespace)}`),

  checkpointNotPlaced: (access: RestoreAccess, nodePath: string) =>
    deny(
      'Forbidden',
      'checkpoint-not-placed',
      `${checkpointTitle(access)} has no ${nodePath} yet: a restore cannot be placed until checkpointing has started on a node`,
    ),

  checkpointNotReady: (access: RestoreAccess, reason: string | undefined, ready: { condition: string; status: string }) =>
    deny(
      'Forbidden',
      'checkpoint-not-ready',
      `${checkpointTitle(access)} is not ready (${reason ?? 'unknown'}): a Pod can only restore from a checkpoint with condition ${ready.condition}=${ready.status}`,
    ),

  checkpointAgeUnknown: (access: RestoreAccess) =>
    deny('Forbidden', 'checkpoint-age-unknown', `${checkpointTitle(access)} has no status.completionTime, and the policy limits checkpoint age`),

  checkpointTooOld: (access: RestoreAccess, completionTime: string, maxAgeMs: number) =>
    deny(
      'Forbidden',
      'checkpoint-too-old',
      `${checkpointTitle(access)} completed at ${completionTime}, longer ago than the policy's maxCheckpointAge (${Math.round(maxAgeMs / 1000)} s)`,
    ),

  checkpointWithoutTemplate: (access: RestoreAccess, templatePath: string) =>
    deny('Forbidden', 'checkpoint-without-template', `${checkpointTitle(access)} has no ${templatePath} to restore from`),

  notPinned: (access: RestoreAccess, node: string) =>
    deny(
      'Forbidden',
      'not-pinned',
      `the Pod must be pinned to node ${JSON.stringify(node)}, which holds ${checkpointTitle(access)}: every required node affinity ` +
        'term needs matchFields metadata.name In [node] (did another mutating webhook remove the pin?)',
    ),

  notPlaced: (access: RestoreAccess, node: string) =>
    deny('Forbidden', 'not-placed', `spec.nodeName must be ${JSON.stringify(node)}, the node that holds ${checkpointTitle(access)}`),

  optionsNeedRuntimeClass: () => deny('Invalid', 'options-need-runtime-class', 'spec.runtimeClassName is required when spec.restoreFrom.options is set'),

  runtimeClassNotFound: (runtimeClassName: string) =>
    deny('Forbidden', 'runtime-class-not-found', `RuntimeClass ${JSON.stringify(runtimeClassName)} not found: cannot check which restore options it allows`),

  // Keys are named so the user can fix the Pod; values are never echoed (they may be sensitive).
  optionNotAllowed: (refused: string[], runtimeClassName: string, allowed: string[]) =>
    deny(
      'Forbidden',
      'option-not-allowed',
      `restore option${refused.length > 1 ? 's' : ''} ${refused.map((k) => JSON.stringify(k)).join(', ')} not allowed by ` +
        `RuntimeClass ${JSON.stringify(runtimeClassName)} (podCheckpoint.allowedRestoreOptions: ${allowed.join(', ') || 'none'})`,
    ),

  serviceAccountTokenMounted: () =>
    deny('Forbidden', 'service-account-token-mounted', `the restore-guard policy requires a restored Pod to set ${TOKEN_REASON}`),

  specMismatch: (access: RestoreAccess, differences: string[], templatePath: string) =>
    deny(
      'Invalid',
      'spec-mismatch',
      `spec must match the template captured in ${checkpointTitle(access)} (${templatePath}.spec); ` + `differing fields: ${listed(differences)}`,
    ),

  restoreFromChanged: (source: Pick<RestoreSource, 'reference'>) =>
    deny(
      'Invalid',
      'restore-from-changed',
      `${referenceText(source)} is immutable: it cannot be added, changed or removed on an existing Pod; restore again by creating a new Pod`,
    ),

  specFrozen: (changed: string[], sources: Pick<RestoreSource, 'restored'>[]) =>
    deny(
      'Forbidden',
      'spec-frozen',
      'the spec of a Pod that restores from a checkpoint cannot change until the restore has succeeded ' +
        `(condition ${[...new Set(sources.map((s) => s.restored.condition))].map((c) => `${c}=True`).join(', ') || 'PodRestored=True'}); ` +
        `only removing scheduling gates is allowed. Changed: ${listed(changed)}`,
    ),

  malformedSourcePod: (path: string, problem: 'name-not-a-string' | 'not-an-object-name') =>
    deny(
      'Invalid',
      'malformed-source-pod',
      problem === 'name-not-a-string' ? `${path} must be a string` : `${path} must name a Pod: a DNS-1123 subdomain of at most 253 characters`,
    ),

  /** Taking a checkpoint without the access its memory dump amounts to; nothing about the Pod was read. */
  captureUnauthorized: (user: UserInfo, access: RestoreAccess, checkpoint: Pick<RestoreSource, 'resource'>, authorizerReason: string) => {
    const { resource, group } = checkpoint.resource;
    const granted = access.subresource ? `${access.resource}/${access.subresource}` : access.resource;
    let message =
      `user ${JSON.stringify(user.username)} cannot ${access.verb} ${granted} on Pod ${JSON.stringify(access.name)} in namespace ` +
      `${JSON.stringify(access.namespace)}: creating ${group ? `${resource}.${group}` : resource} of that Pod requires "${access.verb}" on ` +
      `${granted} (group ${access.group || 'core'}), because a checkpoint holds the Pod's memory, secrets included`;
    if (authorizerReason) message += `; authorizer: ${authorizerReason}`;
    return deny('Forbidden', 'capture-unauthorized', message);
  },

  /** A port could not answer: the restore or checkpoint is denied (fail closed) and the message says what failed. */
  dependency: (failure: DependencyFailure, detail: string, step: Step, access: RestoreAccess, denied: 'restore' | 'checkpoint' = 'restore') =>
    deny(
      DEPENDENCY_REASONS[failure],
      failure,
      `restore-guard could not complete the ${step} for ${checkpointTitle(access)} in namespace ` +
        `${JSON.stringify(access.namespace)}: ${detail}. The ${denied} is denied until this succeeds; retry shortly`,
      { [denied === 'restore' ? 'checkpoint' : 'source-pod']: access.name, step },
    ),
} satisfies Record<string, (...args: never[]) => RestoreDecision>;

/** Warnings on allowed restores. */
export const warnings = {
  serviceAccountToken: () => `a restored Pod should set ${TOKEN_REASON}`,
  manyReplicas: (kind: string, replicas: number) =>
    `this ${kind} runs ${Number.isFinite(replicas) ? `${replicas} Pods` : 'a Pod on every matching node'} from one checkpoint: ` +
    'restoring several Pods from one checkpoint is not supported upstream',
  // kube-apiserver shows the first ~120 characters of a warning: what happens and why come first.
  controllerCannotRestore: (kind: string, controller: string, access: RestoreAccess) =>
    `what the ${kind}'s controller makes from this template will be denied: workloads.delegation is disabled and ` +
    `${JSON.stringify(controller)} may not ${access.verb} ${checkpointTitle(access)}; grant it "${access.verb}" on that object, or enable delegation`,
  specMismatch: (differences: string[]) => `spec differs from the checkpoint's template: ${listed(differences)}`,
};

/**
 * Delivers a denial according to the mode: enforce denies; warn allows and tells the requester what
 * would have been denied; audit allows and records it only in the audit annotations. Only an explicit,
 * valid warn or audit may turn a denial into an allow: anything else enforces.
 */
export function applyMode(decision: RestoreDecision, mode: Mode): RestoreDecision {
  if (decision.allowed || (mode !== 'warn' && mode !== 'audit')) return decision;
  const auditAnnotations = { ...decision.auditAnnotations, decision: 'would-deny', mode };
  const warned =
    mode === 'warn' ? [...decision.warnings, `restore-guard would deny (warn mode): ${decision.status?.message ?? decision.outcome}`] : decision.warnings;
  return { allowed: true, warnings: warned, auditAnnotations, outcome: decision.outcome };
}

/**
 * failureMode: open. The restore goes through unchecked, so it must never be quiet: a warning to the
 * requester, `fail-open` in the audit annotations, and (in the admission layer) an error log and a metric.
 */
export function failOpen(denial: RestoreDecision): RestoreDecision {
  return {
    ...allow('fail-open', { ...denial.auditAnnotations, decision: 'fail-open' }),
    warnings: [`restore-guard FAILED OPEN (policy failureMode: open): ${denial.status?.message ?? denial.outcome}`],
    failedOpen: true,
  };
}
