import { arrayAt, fieldAt, isObject, objectAt, stringAt, type JsonObject } from '../common/json.js';
import { defaultPolicy } from '../policy/policy.js';
import { kep5823Source, type RestoreSource } from '../policy/sources.js';
import type { PodCheckpoint } from './model.js';

/** What reading an object needs to know of its source: where readiness, the node and the template are. */
export type ObjectLayout = Pick<RestoreSource, 'ready' | 'placement' | 'template' | 'preset'>;

const KEP_5823: ObjectLayout = kep5823Source(defaultPolicy());

/**
 * Reads a raw object a restore names (a PodCheckpoint by default) as its source lays it out: readiness
 * from its condition (KEP-5823 also understands the first revision's `status.phase`), the node and the
 * captured template from their paths. With `template: false` the template is left out: what is left is
 * what a review reads before it needs the template (see compactCheckpoint).
 */
export function toPodCheckpoint(raw: unknown, options: { template?: boolean; layout?: ObjectLayout } = {}): PodCheckpoint | undefined {
  const layout = options.layout ?? KEP_5823;
  const name = stringAt(raw, 'metadata', 'name');
  const namespace = stringAt(raw, 'metadata', 'namespace');
  if (!name || !namespace) return undefined;
  const status = objectAt(raw, 'status');
  const checkpoint: PodCheckpoint = { name, namespace, ...readiness(status, layout) };
  const nodeName = layout.placement.nodePath === undefined ? undefined : fieldAt(raw, layout.placement.nodePath);
  if (typeof nodeName === 'string' && nodeName) checkpoint.nodeName = nodeName;
  if (options.template !== false && layout.template) {
    const template = fieldAt(raw, layout.template.path);
    if (isObject(template)) checkpoint.template = template;
  }
  // Sources other than KEP-5823 record no completion time: the moment they became ready stands in for it.
  const readySince = checkpoint.ready && layout.preset !== 'kep-5823' ? readyCondition(status, layout)?.lastTransitionTime : undefined;
  const completionTime = stringAt(status, 'completionTime') ?? readySince;
  if (typeof completionTime === 'string' && completionTime) checkpoint.completionTime = completionTime;
  const resourceVersion = stringAt(raw, 'metadata', 'resourceVersion');
  if (resourceVersion) checkpoint.resourceVersion = resourceVersion;
  return checkpoint;
}

function readyCondition(status: JsonObject | undefined, layout: ObjectLayout): JsonObject | undefined {
  const type = layout.ready?.condition;
  const found = type === undefined ? undefined : arrayAt(status, 'conditions')?.find((c) => isObject(c) && c.type === type);
  return isObject(found) ? found : undefined;
}

function readiness(status: JsonObject | undefined, layout: ObjectLayout): Pick<PodCheckpoint, 'ready' | 'notReadyReason'> {
  const wanted = layout.ready;
  // A source without a readiness condition: every object it names is usable.
  if (!wanted) return { ready: true };
  const condition = readyCondition(status, layout);
  if (condition) {
    if (condition.status === wanted.status) return { ready: true };
    return {
      ready: false,
      notReadyReason:
        stringAt(condition, 'reason') ?? `${wanted.condition}=${typeof condition.status === 'string' ? condition.status : JSON.stringify(condition.status)}`,
    };
  }
  if (layout.preset !== 'kep-5823') return { ready: false, notReadyReason: `no ${wanted.condition} condition yet` };
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
 * checks before it pass). The checkpoint source keeps these in a CheckpointTable (src/kube/checkpoint-table.ts),
 * about 110 bytes of heap each.
 */
export function compactCheckpoint(raw: unknown, layout?: ObjectLayout): PodCheckpoint | undefined {
  const full = toPodCheckpoint(raw, { template: false, layout });
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
