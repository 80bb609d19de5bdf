import { arrayAt, isObject, objectAt, stringAt } from '../common/json.js';
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
  const checkpoint: PodCheckpoint = { name, namespace, ready: false };
  const nodeName = stringAt(status, 'nodeName');
  if (nodeName) checkpoint.nodeName = nodeName;
  const template = objectAt(status, 'checkpointedPodTemplate');
  if (template) checkpoint.template = template;
  const completionTime = stringAt(status, 'completionTime');
  if (completionTime) checkpoint.completionTime = completionTime;

  const ready = arrayAt(status, 'conditions')?.find((c) => isObject(c) && c.type === 'Ready');
  if (isObject(ready)) {
    checkpoint.ready = ready.status === 'True';
    if (!checkpoint.ready) checkpoint.notReadyReason = stringAt(ready, 'reason') ?? `Ready=${typeof ready.status === 'string' ? ready.status : JSON.stringify(ready.status)}`;
  } else {
    const phase = stringAt(status, 'phase');
    checkpoint.ready = phase === 'Ready';
    if (!checkpoint.ready) checkpoint.notReadyReason = phase ?? 'no Ready condition yet';
  }
  return checkpoint;
}
