import type { JsonObject } from '../common/json.js';

/** The resource an object is of, by Kubernetes' convention: apiVersion's group and version, and the kind lower-cased plus "s". */
export function apiResourceOf(object: JsonObject): { group: string; version: string; resource: string } {
  const apiVersion = typeof object.apiVersion === 'string' ? object.apiVersion : '';
  const slash = apiVersion.indexOf('/');
  const kind = typeof object.kind === 'string' ? object.kind : '';
  return { group: slash < 0 ? '' : apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1), resource: `${kind.toLowerCase()}s` };
}
