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

/**
 * Field paths where two JSON values differ semantically: absent, null and empty are alike, and
 * quantities compare by value. Paths read like Kubernetes field paths (`spec.containers[0].image`).
 */
export function semanticDiff(a: Json | undefined, b: Json | undefined, path: string, quantity = false): string[] {
  if (isEmpty(a) && isEmpty(b)) return [];
  if (typeof a === 'string' && typeof b === 'string') {
    return a === b || (quantity && sameQuantity(a, b)) ? [] : [path];
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const diffs: string[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      diffs.push(...semanticDiff(a[i], b[i], `${path}[${i}]`, quantity));
    }
    return diffs;
  }
  if (isObject(a) && isObject(b)) {
    const diffs: string[] = [];
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const childIsQuantity = quantity || QUANTITY_MAPS.has(key) || QUANTITY_FIELDS.has(key);
      diffs.push(...semanticDiff(a[key], b[key], `${path}.${key}`, childIsQuantity));
    }
    return diffs;
  }
  return a === b ? [] : [path];
}
