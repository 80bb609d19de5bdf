import { allow, deny, type Decision } from './decision.js';
import { arrayAt, isObject, objectAt, type Json, type JsonObject } from './json.js';
import { semanticDiff } from './spec-diff.js';

function isRestored(pod: JsonObject | undefined): boolean {
  return (arrayAt(pod, 'status', 'conditions') ?? []).some(
    (c) => isObject(c) && c.type === 'PodRestored' && c.status === 'True',
  );
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
export function decideUpdate(oldPod: JsonObject | undefined, newPod: JsonObject | undefined): Decision {
  const oldSpec = objectAt(oldPod, 'spec');
  const newSpec = objectAt(newPod, 'spec');
  const audit = (name: Json | undefined): Record<string, string> =>
    typeof name === 'string' ? { checkpoint: name } : isObject(name) && typeof name.name === 'string' ? { checkpoint: name.name } : {};
  const checkpoint = audit(oldSpec?.restoreFrom ?? newSpec?.restoreFrom);

  if (semanticDiff(oldSpec?.restoreFrom, newSpec?.restoreFrom, 'spec.restoreFrom').length > 0) {
    return deny(
      'Invalid',
      'restore-from-changed',
      'spec.restoreFrom is immutable: it cannot be added, changed or removed on an existing Pod; restore again by creating a new Pod',
      checkpoint,
    );
  }
  if (isRestored(oldPod)) return allow('restored-pod-update', checkpoint);

  const changed = semanticDiff(withoutGates(oldSpec), withoutGates(newSpec), 'spec');
  if (!onlyRemovesGates(oldSpec, newSpec)) changed.unshift('spec.schedulingGates');
  if (changed.length > 0) {
    return deny(
      'Forbidden',
      'spec-frozen',
      'the spec of a Pod that restores from a checkpoint cannot change until the restore has succeeded ' +
        `(condition PodRestored=True); only removing scheduling gates is allowed. Changed: ${changed.slice(0, 20).join(', ')}`,
      checkpoint,
    );
  }
  return allow('update-allowed', checkpoint);
}
