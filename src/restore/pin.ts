import { arrayAt, clone, isObject, type Json, type JsonObject } from './json.js';

/** The requirement upstream adds: the Pod may only run on the node that holds the checkpoint. */
export function pinRequirement(node: string): JsonObject {
  return { key: 'metadata.name', operator: 'In', values: [node] };
}

function holdsPin(term: JsonObject, node: string): boolean {
  return (arrayAt(term, 'matchFields') ?? []).some(
    (r) =>
      isObject(r) &&
      r.key === 'metadata.name' &&
      r.operator === 'In' &&
      Array.isArray(r.values) &&
      r.values.length === 1 &&
      r.values[0] === node,
  );
}

// An empty term matches nothing; upstream leaves it alone rather than turning it into "this node".
function isEmptyTerm(term: Json | undefined): boolean {
  if (!isObject(term)) return true;
  return (arrayAt(term, 'matchExpressions') ?? []).length === 0 && (arrayAt(term, 'matchFields') ?? []).length === 0;
}

function requiredTerms(spec: JsonObject | undefined): Json[] | undefined {
  return arrayAt(spec, 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms');
}

function hasRequiredSelector(spec: JsonObject): boolean {
  const nodeAffinity = spec.affinity;
  return (
    isObject(nodeAffinity) &&
    isObject(nodeAffinity.nodeAffinity) &&
    isObject(nodeAffinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution)
  );
}

/**
 * Returns a copy of the Pod spec pinned to `node` exactly as upstream does: the pin is ANDed into every
 * non-empty required term (terms are ORed, so a new term would weaken placement); a required selector is
 * created when there is none; terms that already hold the pin are left as they are.
 */
export function pinSpec(spec: JsonObject, node: string): JsonObject {
  const pinned = clone(spec);
  if (!hasRequiredSelector(pinned)) {
    const affinity: JsonObject = isObject(pinned.affinity) ? pinned.affinity : {};
    const nodeAffinity: JsonObject = isObject(affinity.nodeAffinity) ? affinity.nodeAffinity : {};
    nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = {
      nodeSelectorTerms: [{ matchFields: [pinRequirement(node)] }],
    };
    affinity.nodeAffinity = nodeAffinity;
    pinned.affinity = affinity;
    return pinned;
  }
  for (const term of requiredTerms(pinned) ?? []) {
    if (!isObject(term) || isEmptyTerm(term) || holdsPin(term, node)) continue;
    const matchFields = arrayAt(term, 'matchFields');
    if (matchFields) matchFields.push(pinRequirement(node));
    else term.matchFields = [pinRequirement(node)];
  }
  return pinned;
}

/** Whether the final object is pinned: at least one non-empty required term, and every one holds the pin. */
export function isPinned(spec: JsonObject | undefined, node: string): boolean {
  const terms = (requiredTerms(spec) ?? []).filter((t) => !isEmptyTerm(t));
  return terms.length > 0 && terms.every((t) => isObject(t) && holdsPin(t, node));
}
