import { dictionary, isObject, objectAt } from './json.js';
import type { RestoreRef } from './model.js';

/** What a Pod says about restoring: nothing, a usable reference, or a field of the wrong shape. */
export type RestoreField =
  | { kind: 'absent' }
  | { kind: 'ref'; ref: RestoreRef }
  | { kind: 'malformed'; problem: string };

/**
 * Reads `spec.restoreFrom` in both upstream shapes: `{name, options}` and the early plain string.
 * A present but unusable field is reported, never ignored: ignoring it would skip authorization.
 */
export function restoreFieldOf(pod: unknown): RestoreField {
  const spec = objectAt(pod, 'spec');
  const field = spec?.restoreFrom;
  if (field === undefined || field === null) return { kind: 'absent' };
  if (typeof field === 'string') {
    return field === '' ? { kind: 'absent' } : { kind: 'ref', ref: { name: field, options: {} } };
  }
  if (!isObject(field)) return { kind: 'malformed', problem: 'spec.restoreFrom must be an object with a name' };
  const { name, options } = field;
  if (name === undefined || name === null || name === '') {
    // Upstream acts only when restoreFrom.name is set; an object with no name restores nothing.
    return options === undefined || options === null || (isObject(options) && Object.keys(options).length === 0)
      ? { kind: 'absent' }
      : { kind: 'malformed', problem: 'spec.restoreFrom.options is set but spec.restoreFrom.name is empty' };
  }
  if (typeof name !== 'string') return { kind: 'malformed', problem: 'spec.restoreFrom.name must be a string' };
  const parsed = dictionary<string>();
  if (options !== undefined && options !== null) {
    if (!isObject(options)) return { kind: 'malformed', problem: 'spec.restoreFrom.options must be a map of strings' };
    for (const [key, value] of Object.entries(options)) {
      if (typeof value !== 'string') {
        return { kind: 'malformed', problem: `spec.restoreFrom.options[${JSON.stringify(key)}] must be a string` };
      }
      parsed[key] = value;
    }
  }
  return { kind: 'ref', ref: { name, options: parsed } };
}
