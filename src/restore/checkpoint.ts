import { arrayAt, isObject, objectAt, stringAt, type JsonObject } from '../common/json.js';
import type { PodCheckpoint } from './model.js';

/**
 * Reads a raw PodCheckpoint object. Readiness comes from the `Ready` condition; the first upstream
 * revision's `status.phase` is still understood. With `template: false` the captured template is left
 * out: what is left is what a review reads before it needs the template (see compactCheckpoint).
 */
export function toPodCheckpoint(raw: unknown, options: { template?: boolean } = {}): PodCheckpoint | undefined {
  const name = stringAt(raw, 'metadata', 'name');
  const namespace = stringAt(raw, 'metadata', 'namespace');
  if (!name || !namespace) return undefined;
  const status = objectAt(raw, 'status');
  const checkpoint: PodCheckpoint = { name, namespace, ...readiness(status) };
  const nodeName = stringAt(status, 'nodeName');
  if (nodeName) checkpoint.nodeName = nodeName;
  if (options.template !== false) {
    const template = objectAt(status, 'checkpointedPodTemplate');
    if (template) checkpoint.template = template;
  }
  const completionTime = stringAt(status, 'completionTime');
  if (completionTime) checkpoint.completionTime = completionTime;
  const resourceVersion = stringAt(raw, 'metadata', 'resourceVersion');
  if (resourceVersion) checkpoint.resourceVersion = resourceVersion;
  return checkpoint;
}

function readiness(status: JsonObject | undefined): Pick<PodCheckpoint, 'ready' | 'notReadyReason'> {
  const ready = arrayAt(status, 'conditions')?.find((c) => isObject(c) && c.type === 'Ready');
  if (isObject(ready)) {
    if (ready.status === 'True') return { ready: true };
    return {
      ready: false,
      notReadyReason: stringAt(ready, 'reason') ?? `Ready=${typeof ready.status === 'string' ? ready.status : JSON.stringify(ready.status)}`,
    };
  }
  const phase = stringAt(status, 'phase');
  return phase === 'Ready' ? { ready: true } : { ready: false, notReadyReason: phase ?? 'no Ready condition yet' };
}

// Namespaces, nodes and reasons repeat across thousands of checkpoints: one copy of each is kept.
const MAX_INTERNED = 50_000;
const interned = new Map<string, string>();

function intern(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const known = interned.get(value);
  if (known !== undefined) return known;
  if (interned.size >= MAX_INTERNED) interned.clear();
  interned.set(value, value);
  return value;
}

/**
 * The cached form of a PodCheckpoint: namespace, name, node, Ready and its reason, completion time and
 * resourceVersion; never the template, which a validating review reads separately (and only when the
 * checks before it pass). About 200 bytes each, so 100,000 fit in about 20 MiB.
 */
export function compactCheckpoint(raw: unknown): PodCheckpoint | undefined {
  const full = toPodCheckpoint(raw, { template: false });
  if (!full) return undefined;
  // One fixed shape (fields in one order, absent ones undefined) keeps every record on one hidden class.
  return {
    namespace: intern(full.namespace) as string,
    name: full.name,
    nodeName: intern(full.nodeName),
    ready: full.ready,
    notReadyReason: intern(full.notReadyReason),
    completionTime: full.completionTime,
    resourceVersion: full.resourceVersion,
  };
}
