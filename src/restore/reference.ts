import { dictionary, isObject, objectAt } from '../common/json.js';
import type { RestoreSource } from '../policy/sources.js';
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

const MAX_NAME_LENGTH = 253;
// A DNS-1123 subdomain: what every namespaced object's name is.
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Whether a reference can name an object at all: a name that cannot is denied before any call. */
export function isObjectName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && OBJECT_NAME.test(name);
}

/**
 * What a Pod says about restoring from one source: its field or its annotation. A present annotation is
 * a reference even when empty or not a valid name: those are denied, never ignored.
 */
export function referenceOf(pod: unknown, source: Pick<RestoreSource, 'reference'>): RestoreField {
  const field = 'field' in source.reference ? restoreFieldOf(pod) : annotationOf(pod, source.reference.annotation);
  if (field.kind !== 'ref' || isObjectName(field.ref.name)) return field;
  return { kind: 'malformed', why: { problem: 'not-an-object-name' } };
}

function annotationOf(pod: unknown, key: string): RestoreField {
  const annotations = objectAt(pod, 'metadata', 'annotations');
  if (!annotations || !Object.hasOwn(annotations, key)) return { kind: 'absent' };
  const value = annotations[key];
  if (typeof value !== 'string') return { kind: 'malformed', why: { problem: 'name-not-a-string' } };
  return { kind: 'ref', ref: { name: value, options: dictionary<string>() } };
}
