import { arrayAt, isObject, type Json, type JsonObject } from '../common/json.js';

/** The requirement upstream adds: the Pod may only run on the node that holds the checkpoint. */
export function pinRequirement(node: string): JsonObject {
  return { key: 'metadata.name', operator: 'In', values: [node] };
}

function holdsPin(term: JsonObject, node: string): boolean {
  return (arrayAt(term, 'matchFields') ?? []).some(
    (r) => isObject(r) && r.key === 'metadata.name' && r.operator === 'In' && Array.isArray(r.values) && r.values.length === 1 && r.values[0] === node,
  );
}

// An empty term matches nothing; upstream leaves it alone rather than turning it into "this node".
function isEmptyTerm(term: Json | undefined): boolean {
  // A term that is not an object has no requirement lists: empty as well.
  return (arrayAt(term, 'matchExpressions') ?? []).length === 0 && (arrayAt(term, 'matchFields') ?? []).length === 0;
}

function requiredTerms(spec: JsonObject | undefined): Json[] | undefined {
  return arrayAt(spec, 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms');
}

/**
 * Returns the Pod spec pinned to `node` exactly as upstream does: the pin is ANDed into every non-empty
 * required term (terms are ORed, so a new term would weaken placement); a required selector is created
 * when there is none; terms that already hold the pin are left as they are. The input is not changed:
 * only the objects on the way to what changes are copied, the rest is shared (treat the result as
 * read-only). A deep copy of an 8 KB spec cost more than every rule together.
 */
export function pinSpec(spec: JsonObject, node: string): JsonObject {
  const affinity: JsonObject = isObject(spec.affinity) ? spec.affinity : {};
  const nodeAffinity: JsonObject = isObject(affinity.nodeAffinity) ? affinity.nodeAffinity : {};
  const required = nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution;
  const withRequired = (value: JsonObject): JsonObject => ({
    ...spec,
    affinity: { ...affinity, nodeAffinity: { ...nodeAffinity, requiredDuringSchedulingIgnoredDuringExecution: value } },
  });
  if (!isObject(required)) return withRequired({ nodeSelectorTerms: [{ matchFields: [pinRequirement(node)] }] });
  const terms = arrayAt(required, 'nodeSelectorTerms');
  if (!terms) return withRequired({ ...required });
  return withRequired({
    ...required,
    nodeSelectorTerms: terms.map((term) =>
      !isObject(term) || isEmptyTerm(term) || holdsPin(term, node)
        ? term
        : { ...term, matchFields: [...(arrayAt(term, 'matchFields') ?? []), pinRequirement(node)] },
    ),
  });
}

/** Whether the final object is pinned: at least one non-empty required term, and every one holds the pin. */
export function isPinned(spec: JsonObject | undefined, node: string): boolean {
  const terms = (requiredTerms(spec) ?? []).filter((t) => !isEmptyTerm(t));
  return terms.length > 0 && terms.every((t) => isObject(t) && holdsPin(t, node));
}
