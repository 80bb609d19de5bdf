import { allow } from '../admission/decision.js';
import { arrayAt, isObject, objectAt, type Json, type JsonObject } from '../common/json.js';
import { denials, type RestoreDecision } from './messages.js';
import { semanticDiff } from './spec-diff.js';

function isRestored(pod: JsonObject | undefined): boolean {
  return (arrayAt(pod, 'status', 'conditions') ?? []).some((c) => isObject(c) && c.type === 'PodRestored' && c.status === 'True');
}

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

/**
 * UPDATE of a Pod that restores (through the main resource, `resize` or `ephemeralcontainers`):
 * restoreFrom never changes, and the spec is frozen until the kubelet reports PodRestored=True.
 */
export function decideUpdate(oldPod: JsonObject | undefined, newPod: JsonObject | undefined): RestoreDecision {
  const oldSpec = objectAt(oldPod, 'spec');
  const newSpec = objectAt(newPod, 'spec');
  const audit = (name: Json | undefined): Record<string, string> =>
    typeof name === 'string' ? { checkpoint: name } : isObject(name) && typeof name.name === 'string' ? { checkpoint: name.name } : {};
  const checkpoint = audit(oldSpec?.restoreFrom ?? newSpec?.restoreFrom);
  const withCheckpoint = (d: RestoreDecision): RestoreDecision => ({ ...d, auditAnnotations: { ...checkpoint, ...d.auditAnnotations } });

  if (semanticDiff(oldSpec?.restoreFrom, newSpec?.restoreFrom, 'spec.restoreFrom').length > 0) {
    return withCheckpoint(denials.restoreFromChanged());
  }
  if (isRestored(oldPod)) return allow('restored-pod-update', checkpoint);

  const changed = semanticDiff(withoutGates(oldSpec), withoutGates(newSpec), 'spec');
  if (!onlyRemovesGates(oldSpec, newSpec)) changed.unshift('spec.schedulingGates');
  if (changed.length > 0) return withCheckpoint(denials.specFrozen(changed));
  return allow('update-allowed', checkpoint);
}
