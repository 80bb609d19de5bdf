import jsonPatch from 'fast-json-patch';
import type { Policy } from '../policy/policy.js';
import { allow, deny, type Decision } from './decision.js';
import { objectAt, stringAt, type JsonObject } from './json.js';
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

/** Checks that need no outbound call; the validating webhook runs them before authorization, as upstream. */
export function precheckCreate(pod: JsonObject): Decision | undefined {
  return nodeNameDenial(pod);
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

/** Mutating CREATE: authorize, resolve the checkpoint's node, pin the Pod to it. */
export function decideMutation(facts: CreateFacts): Decision {
  const resolved = authorizationAndPlacement(facts);
  if ('outcome' in resolved) return resolved;
  const audit = { checkpoint: facts.access.name, node: resolved.node };
  const nodeNameSet = nodeNameDenial(facts.pod);
  if (nodeNameSet) return { ...nodeNameSet, auditAnnotations: { ...audit, ...nodeNameSet.auditAnnotations } };

  const spec = objectAt(facts.pod, 'spec') ?? {};
  const patch = jsonPatch.compare(facts.pod, { ...facts.pod, spec: pinSpec(spec, resolved.node) });
  if (patch.length === 0) return allow('already-pinned', { ...audit, decision: 'allowed' });
  return { ...allow('pinned', { ...audit, decision: 'pinned' }), patch };
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

/** Field paths where the Pod's spec differs from the captured template (plus the pin). */
export function specDifferences(pod: JsonObject, template: JsonObject, node: string): string[] {
  const expected = pinSpec(objectAt(template, 'spec') ?? {}, node);
  return semanticDiff(comparableSpec(objectAt(pod, 'spec') ?? {}), comparableSpec(expected), 'spec');
}

/** Validating CREATE: the final object, after every mutating webhook, checked against the checkpoint. */
export function decideValidation(facts: CreateFacts): Decision {
  const precheck = precheckCreate(facts.pod);
  if (precheck) return precheck;
  const resolved = authorizationAndPlacement(facts);
  if ('outcome' in resolved) return resolved;
  const { checkpoint, node } = resolved;
  const audit = { checkpoint: facts.access.name, node };
  const title = checkpointTitle(facts.access);
  const withAudit = (d: Decision): Decision => ({ ...d, auditAnnotations: { ...audit, ...d.auditAnnotations } });

  if (!checkpoint.ready) {
    return withAudit(
      deny('Forbidden', 'checkpoint-not-ready', `${title} is not ready (${checkpoint.notReadyReason ?? 'unknown'}): ` +
        'a Pod can only restore from a checkpoint with condition Ready=True'),
    );
  }
  if (!checkpoint.template) {
    return withAudit(
      deny('Forbidden', 'checkpoint-without-template', `${title} has no status.checkpointedPodTemplate to restore from`),
    );
  }
  const spec = objectAt(facts.pod, 'spec');
  if (!isPinned(spec, node)) {
    return withAudit(
      deny(
        'Forbidden',
        'not-pinned',
        `the Pod must be pinned to node ${JSON.stringify(node)}, which holds ${title}: every required node affinity ` +
          'term needs matchFields metadata.name In [node] (did another mutating webhook remove the pin?)',
      ),
    );
  }
  const options = optionsDenial(facts);
  if (options) return withAudit(options);

  const differences = specDifferences(facts.pod, checkpoint.template, node);
  if (differences.length > 0) {
    const listed = differences.slice(0, MAX_LISTED_FIELDS).join(', ');
    const more = differences.length > MAX_LISTED_FIELDS ? ` and ${differences.length - MAX_LISTED_FIELDS} more` : '';
    return withAudit(
      deny(
        'Invalid',
        'spec-mismatch',
        `spec must match the template captured in ${title} (status.checkpointedPodTemplate.spec); ` +
          `differing fields: ${listed}${more}`,
      ),
    );
  }
  return allow('restore-allowed', { ...audit, decision: 'allowed' });
}
