import { arrayAt, isObject, objectAt, stringAt, type JsonObject } from '../common/json.js';
import type { PodCheckpoint } from './model.js';

/**
 * Reads a raw PodCheckpoint object. Readiness comes from the `Ready` condition; the first upstream
 * revision's `status.phase` is still understood.
 */
export function toPodCheckpoint(raw: unknown): PodCheckpoint | undefined {
  const name = stringAt(raw, 'metadata', 'name');
  const namespace = stringAt(raw, 'metadata', 'namespace');
  if (!name || !namespace) return undefined;
  const status = objectAt(raw, 'status');
  const checkpoint: PodCheckpoint = { name, namespace, ...readiness(status) };
  const nodeName = stringAt(status, 'nodeName');
  if (nodeName) checkpoint.nodeName = nodeName;
  const template = objectAt(status, 'checkpointedPodTemplate');
  if (template) checkpoint.template = template;
  const completionTime = stringAt(status, 'completionTime');
  if (completionTime) checkpoint.completionTime = completionTime;
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
