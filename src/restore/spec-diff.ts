import { isObject, type Json, type JsonObject } from '../common/json.js';
import { sameQuantity } from './quantity.js';

/**
 * Where a JSON value holds resource quantities: the value itself, or the fields of an object, or every
 * element of a list or value of a map. Shapes are built once; the walk only follows them, allocating nothing.
 */
export interface Shape {
  /** The value is a resource.Quantity: "1" and "1000m" are the same CPU. */
  readonly quantity?: true;
  /** Named fields of an object (a Map, so a key such as "constructor" is never an inherited member). */
  readonly fields?: ReadonlyMap<string, Shape>;
  /** Every element of a list, or every value of a map (a ResourceList: any resource name). */
  readonly each?: Shape;
}

const QUANTITY: Shape = { quantity: true };
const RESOURCE_LIST: Shape = { each: QUANTITY };
const object = (fields: Record<string, Shape>): Shape => ({ fields: new Map(Object.entries(fields)) });
const listOf = (each: Shape): Shape => ({ each });

// Every resource.Quantity a core/v1 PodSpec holds (k8s.io/api core/v1 types.go, walked from PodSpec):
// ResourceRequirements and VolumeResourceRequirements (limits, requests), PodSpec.overhead,
// EmptyDirVolumeSource.sizeLimit and ResourceFieldSelector.divisor. Nowhere else is a value a quantity:
// a "limits" key in csi.volumeAttributes, an annotation or an env value is an ordinary string.
const REQUIREMENTS = object({ limits: RESOURCE_LIST, requests: RESOURCE_LIST });
const RESOURCE_FIELD_REF = object({ resourceFieldRef: object({ divisor: QUANTITY }) });
const CONTAINER = object({
  resources: REQUIREMENTS,
  env: listOf(object({ valueFrom: RESOURCE_FIELD_REF })),
});
const DOWNWARD_API = object({ items: listOf(RESOURCE_FIELD_REF) });
const VOLUME = object({
  emptyDir: object({ sizeLimit: QUANTITY }),
  ephemeral: object({ volumeClaimTemplate: object({ spec: object({ resources: REQUIREMENTS }) }) }),
  downwardAPI: DOWNWARD_API,
  projected: object({ sources: listOf(object({ downwardAPI: DOWNWARD_API })) }),
});
/** The quantities of a Pod's spec. */
export const POD_SPEC_SHAPE: Shape = object({
  containers: listOf(CONTAINER),
  initContainers: listOf(CONTAINER),
  ephemeralContainers: listOf(CONTAINER),
  resources: REQUIREMENTS,
  overhead: RESOURCE_LIST,
  volumes: listOf(VOLUME),
});
const POD_SHAPE: Shape = object({ spec: POD_SPEC_SHAPE });

// The few paths the rules ask for (`spec`, `template`, `reference`), each looked up once: every review asks.
const shapesByPath = new Map<string, Shape | undefined>();

/** The shape at a field path of a Pod (`spec`, `spec.restoreFrom`, `spec.containers[0]`); undefined: no quantities. */
export function podShapeAt(path: string): Shape | undefined {
  if (shapesByPath.has(path)) return shapesByPath.get(path);
  const shape = shapeAt(path);
  // Bounded: callers pass fixed paths, but a cache must not grow with whatever it is given.
  if (shapesByPath.size < 64) shapesByPath.set(path, shape);
  return shape;
}

function shapeAt(path: string): Shape | undefined {
  let shape: Shape | undefined = POD_SHAPE;
  for (const part of path.split(/\.|(?=\[)/)) {
    if (shape === undefined) return undefined;
    // An index (`[0]`) names no field: it takes the shape of the items.
    shape = shape.fields?.get(part) ?? shape.each;
  }
  return shape;
}

/** Where the child `key` of a value of `shape` holds quantities. */
function childShape(shape: Shape | undefined, key: string): Shape | undefined {
  return shape === undefined ? undefined : (shape.fields?.get(key) ?? shape.each);
}

function isEmpty(value: Json | undefined): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  return isObject(value) && Object.keys(value).every((k) => isEmpty(value[k]));
}

/** A field path built only when a difference is found: most of a spec is equal, and its paths never printed. */
interface Path {
  parent: Path | undefined;
  key: string | number;
}

function render(path: Path, root: string): string {
  const parts: string[] = [];
  for (let p: Path | undefined = path; p; p = p.parent) parts.push(typeof p.key === 'number' ? `[${p.key}]` : `.${p.key}`);
  return root + parts.reverse().join('');
}

/**
 * The fields of two objects: a's own fields in order, then those only b has. `for...in` with an own-property
 * check visits the same keys in the same order as Object.keys without allocating a key array per object
 * (two per pair of objects were most of what comparing a spec allocated). Keys come from the request: b's
 * value is its own property, never an inherited member such as `constructor` (looked up only for keys
 * that differ, so equal leaves cost nothing more).
 */
function walkFields(
  a: JsonObject,
  b: JsonObject,
  path: Path | undefined,
  root: string,
  shape: Shape | undefined,
  out: string[],
  ignored: ReadonlySet<string> | undefined,
): void {
  for (const key in a) {
    if (!Object.hasOwn(a, key) || ignored?.has(key)) continue;
    if (a[key] !== b[key]) {
      const other = Object.hasOwn(b, key) ? b[key] : undefined;
      if (a[key] !== other) walk(a[key], other, { parent: path, key }, root, childShape(shape, key), out);
    }
  }
  for (const key in b) {
    if (!Object.hasOwn(b, key) || ignored?.has(key)) continue;
    if (!Object.hasOwn(a, key) && b[key] !== undefined) {
      walk(undefined, b[key], { parent: path, key }, root, childShape(shape, key), out);
    }
  }
}

function walk(a: Json | undefined, b: Json | undefined, path: Path | undefined, root: string, shape: Shape | undefined, out: string[]): void {
  if (typeof a === 'string' && typeof b === 'string') {
    if (a !== b && !(shape?.quantity === true && sameQuantity(a, b))) out.push(path ? render(path, root) : root);
    return;
  }
  if (a === b) return;
  // Two arrays or two objects are walked, not first checked for emptiness: the walk treats empty leaves
  // alike too, and most specs are not empty, so the check would only cost a second pass.
  if (Array.isArray(a) && Array.isArray(b)) {
    const length = Math.max(a.length, b.length);
    const each = shape?.each;
    for (let i = 0; i < length; i++) {
      // Equal leaves are most of a spec: skip them before building a path.
      if (a[i] !== b[i]) walk(a[i], b[i], { parent: path, key: i }, root, each, out);
    }
    return;
  }
  if (isObject(a) && isObject(b)) {
    walkFields(a, b, path, root, shape, out, undefined);
    return;
  }
  if (isEmpty(a) && isEmpty(b)) return;
  out.push(path ? render(path, root) : root);
}

/**
 * Field paths where two JSON values differ semantically: absent, null and empty are alike, and
 * quantities compare by value where `shape` says the value is one. Paths read like Kubernetes field paths
 * (`spec.containers[0].image`). `path` is where a and b sit in a Pod, and the shape defaults to that
 * place's: `spec` holds the Pod spec's quantities (containers' resources, overhead, sizeLimit, …);
 * `spec.restoreFrom` holds none.
 */
export function semanticDiff(a: Json | undefined, b: Json | undefined, path: string, shape: Shape | undefined = podShapeAt(path)): string[] {
  const out: string[] = [];
  walk(a, b, undefined, path, shape, out);
  return out;
}

/**
 * semanticDiff of two objects as if neither had the fields named in `ignored` (at the top level only):
 * the same paths, in the same order, as comparing copies without those fields, without the copies.
 */
export function semanticDiffExcept(
  a: JsonObject,
  b: JsonObject,
  ignored: ReadonlySet<string>,
  path: string,
  shape: Shape | undefined = podShapeAt(path),
): string[] {
  const out: string[] = [];
  walkFields(a, b, undefined, path, shape, out, ignored);
  return out;
}
