import { isObject, type Json } from './json.js';
import { sameQuantity } from './quantity.js';

// Maps whose string values are resource quantities ("1" and "1000m" are the same CPU).
const QUANTITY_MAPS = new Set(['requests', 'limits', 'overhead', 'capacity']);
const QUANTITY_FIELDS = new Set(['sizeLimit']);

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

function walk(a: Json | undefined, b: Json | undefined, path: Path | undefined, root: string, quantity: boolean, out: string[]): void {
  if (typeof a === 'string' && typeof b === 'string') {
    if (a !== b && !(quantity && sameQuantity(a, b))) out.push(path ? render(path, root) : root);
    return;
  }
  if (a === b) return;
  // Two arrays or two objects are walked, not first checked for emptiness: the walk treats empty leaves
  // alike too, and most specs are not empty, so the check would only cost a second pass.
  if (Array.isArray(a) && Array.isArray(b)) {
    const length = Math.max(a.length, b.length);
    for (let i = 0; i < length; i++) {
      // Equal leaves are most of a spec: skip them before building a path.
      if (a[i] !== b[i]) walk(a[i], b[i], { parent: path, key: i }, root, quantity, out);
    }
    return;
  }
  if (isObject(a) && isObject(b)) {
    for (const key of Object.keys(a)) {
      if (a[key] !== b[key]) walk(a[key], b[key], { parent: path, key }, root, quantity || QUANTITY_MAPS.has(key) || QUANTITY_FIELDS.has(key), out);
    }
    for (const key of Object.keys(b)) {
      if (!Object.hasOwn(a, key) && b[key] !== undefined) {
        walk(undefined, b[key], { parent: path, key }, root, quantity || QUANTITY_MAPS.has(key) || QUANTITY_FIELDS.has(key), out);
      }
    }
    return;
  }
  if (isEmpty(a) && isEmpty(b)) return;
  out.push(path ? render(path, root) : root);
}

/**
 * Field paths where two JSON values differ semantically: absent, null and empty are alike, and
 * quantities compare by value. Paths read like Kubernetes field paths (`spec.containers[0].image`).
 */
export function semanticDiff(a: Json | undefined, b: Json | undefined, path: string, quantity = false): string[] {
  const out: string[] = [];
  walk(a, b, undefined, path, quantity, out);
  return out;
}
