import { arrayAt, stringAt } from '../common/json.js';
import type { RuntimeClassInfo } from './model.js';

/** Reads a raw RuntimeClass (`node.k8s.io/v1`) with the KEP's `podCheckpoint` extension. */
export function toRuntimeClassInfo(raw: unknown): RuntimeClassInfo | undefined {
  const name = stringAt(raw, 'metadata', 'name');
  if (!name) return undefined;
  const allowed = arrayAt(raw, 'podCheckpoint', 'allowedRestoreOptions') ?? [];
  return { name, allowedRestoreOptions: allowed.filter((o): o is string => typeof o === 'string') };
}
