// Plain JSON values: Pods and checkpoints stay JSON so unknown (newer) fields survive every rule.
export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json | undefined;
}

/**
 * A record for keys that come from a request (namespaces, users, extra keys, option and label keys): it
 * has no prototype, so "constructor" or "__proto__" are ordinary keys, never inherited members.
 */
export function dictionary<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** `record[key]` when it is the record's own property; never an inherited member of Object.prototype. */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function objectAt(value: unknown, ...path: string[]): JsonObject | undefined {
  let current: unknown = value;
  for (const key of path) {
    if (!isObject(current)) return undefined;
    current = current[key];
  }
  return isObject(current) ? current : undefined;
}

export function stringAt(value: unknown, ...path: string[]): string | undefined {
  const parent = path.length > 1 ? objectAt(value, ...path.slice(0, -1)) : isObject(value) ? value : undefined;
  const leaf = parent?.[path[path.length - 1] as string];
  return typeof leaf === 'string' ? leaf : undefined;
}

export function arrayAt(value: unknown, ...path: string[]): Json[] | undefined {
  const parent = path.length > 1 ? objectAt(value, ...path.slice(0, -1)) : isObject(value) ? value : undefined;
  const leaf = parent?.[path[path.length - 1] as string];
  return Array.isArray(leaf) ? leaf : undefined;
}

/** The field at a dotted path (`status.nodeName`), read as own keys only: an inherited key is no field. */
export function fieldAt(value: unknown, path: string): unknown {
  let current: unknown = value;
  for (const key of path.split('.')) {
    if (!isObject(current) || !Object.hasOwn(current, key)) return undefined;
    current = current[key];
  }
  return current;
}
