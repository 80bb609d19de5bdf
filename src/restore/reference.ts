import { dictionary, isObject, objectAt } from '../common/json.js';
import type { MalformedReference } from './messages.js';
import type { RestoreRef } from './model.js';

/** What a Pod says about restoring: nothing, a usable reference, or a field of the wrong shape. */
export type RestoreField = { kind: 'absent' } | { kind: 'ref'; ref: RestoreRef } | { kind: 'malformed'; why: MalformedReference };

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
  if (!isObject(field)) return { kind: 'malformed', why: { problem: 'not-an-object' } };
  const { name, options } = field;
  if (name === undefined || name === null || name === '') {
    // Upstream acts only when restoreFrom.name is set; an object with no name restores nothing.
    return options === undefined || options === null || (isObject(options) && Object.keys(options).length === 0)
      ? { kind: 'absent' }
      : { kind: 'malformed', why: { problem: 'options-without-name' } };
  }
  if (typeof name !== 'string') return { kind: 'malformed', why: { problem: 'name-not-a-string' } };
  const parsed = dictionary<string>();
  if (options !== undefined && options !== null) {
    if (!isObject(options)) return { kind: 'malformed', why: { problem: 'options-not-a-map' } };
    for (const [key, value] of Object.entries(options)) {
      if (typeof value !== 'string') return { kind: 'malformed', why: { problem: 'option-not-a-string', key } };
      parsed[key] = value;
    }
  }
  return { kind: 'ref', ref: { name, options: parsed } };
}
