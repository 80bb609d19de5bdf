import { allow } from '../admission/decision.js';
import { arrayAt, isObject, objectAt, type Json, type JsonObject } from '../common/json.js';
import { defaultPolicy } from '../policy/policy.js';
import { kep5823Source, type RestoreSource } from '../policy/sources.js';
import { denials, type RestoreDecision } from './messages.js';
import { semanticDiff } from './spec-diff.js';

function gateNames(spec: JsonObject | undefined): string[] {
  return (arrayAt(spec, 'schedulingGates') ?? []).map((g) => (isObject(g) && typeof g.name === 'string' ? g.name : ''));
}

// Removing scheduling gates is how a restore is released to the scheduler; adding or renaming is not.
function onlyRemovesGates(oldSpec: JsonObject | undefined, newSpec: JsonObject | undefined): boolean {
  const remaining = gateNames(oldSpec);
  let cursor = 0;
  for (const gate of gateNames(newSpec)) {
    cursor = remaining.indexOf(gate, cursor);
    if (cursor < 0) return false;
    cursor++;
  }
  return true;
}

function withoutGates(spec: JsonObject | undefined): JsonObject {
  const copy: JsonObject = { ...spec };
  delete copy.schedulingGates;
  return copy;
}

/** The raw reference of a source in a Pod: compared as written, so any edit (even to an invalid value) counts. */
function rawReference(pod: JsonObject | undefined, source: RestoreSource): Json | undefined {
  if ('field' in source.reference) return objectAt(pod, 'spec')?.restoreFrom;
  const annotations = objectAt(pod, 'metadata', 'annotations');
  return annotations && Object.hasOwn(annotations, source.reference.annotation) ? annotations[source.reference.annotation] : undefined;
}

function isRestored(pod: JsonObject | undefined, source: RestoreSource): boolean {
  const condition = source.restored.condition;
  return (arrayAt(pod, 'status', 'conditions') ?? []).some((c) => isObject(c) && c.type === condition && c.status === 'True');
}

function referencedName(value: Json | undefined): string | undefined {
  return typeof value === 'string' ? value : isObject(value) && typeof value.name === 'string' ? value.name : undefined;
}

const KEP_5823 = [kep5823Source(defaultPolicy())];

/**
 * UPDATE of a Pod that restores (through the main resource, `resize` or `ephemeralcontainers`): no
 * source's reference is added, changed or removed, and the spec is frozen until the source the Pod
 * restores from reports its restored condition (KEP-5823: the kubelet's PodRestored=True).
 */
export function decideUpdate(oldPod: JsonObject | undefined, newPod: JsonObject | undefined, sources: readonly RestoreSource[] = KEP_5823): RestoreDecision {
  const oldSpec = objectAt(oldPod, 'spec');
  const newSpec = objectAt(newPod, 'spec');
  const referencing = sources.filter((source) => rawReference(oldPod, source) !== undefined || rawReference(newPod, source) !== undefined);
  const first = referencing[0];
  const name = first && referencedName(rawReference(oldPod, first) ?? rawReference(newPod, first));
  const checkpoint: Record<string, string> = name === undefined ? {} : { checkpoint: name };
  const withCheckpoint = (d: RestoreDecision): RestoreDecision => ({ ...d, auditAnnotations: { ...checkpoint, ...d.auditAnnotations } });

  for (const source of referencing) {
    if (semanticDiff(rawReference(oldPod, source), rawReference(newPod, source), 'reference').length > 0) {
      return withCheckpoint(denials.restoreFromChanged(source));
    }
  }
  // From here on the old and the new Pod reference the same sources: every one must report its restore.
  if (referencing.length > 0 && referencing.every((source) => isRestored(oldPod, source))) return allow('restored-pod-update', checkpoint);

  const changed = semanticDiff(withoutGates(oldSpec), withoutGates(newSpec), 'spec');
  if (!onlyRemovesGates(oldSpec, newSpec)) changed.unshift('spec.schedulingGates');
  if (changed.length > 0) return withCheckpoint(denials.specFrozen(changed, referencing));
  return allow('update-allowed', checkpoint);
}
