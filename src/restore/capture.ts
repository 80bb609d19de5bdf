import { stringAt, fieldAt, type JsonObject } from '../common/json.js';
import type { AdmissionRequest } from '../admission/request.js';
import type { RestoreSource } from '../policy/sources.js';
import { isObjectName } from './reference.js';

/** What a new checkpoint object says about the Pod it captures. */
export type SourcePodField = { kind: 'absent' } | { kind: 'name'; name: string } | { kind: 'malformed'; problem: 'name-not-a-string' | 'not-an-object-name' };

/** A source whose objects name the Pod they capture. */
export type CapturingSource = RestoreSource & { sourcePod: { path: string } };

/** A CREATE of a source's checkpoint object: taking a checkpoint of a Pod, when it names one. */
export interface CaptureReview {
  request: AdmissionRequest & { object: JsonObject };
  /** The request's namespace, or the object's when the request names none: the source Pod's namespace too. */
  namespace: string;
  source: CapturingSource;
  sourcePod: SourcePodField;
}

/**
 * Whether a review creates the object a source restores from (its resource, any version: kube-apiserver
 * may convert), for a source that says where the object names its source Pod. Status writes and updates
 * are not captures. Sources that share a resource agree on that path (the policy parser sees to it).
 */
export function captureReviewOf(request: AdmissionRequest, sources: readonly RestoreSource[]): CaptureReview | undefined {
  if (request.operation !== 'CREATE' || request.subResource !== '' || !request.object) return undefined;
  const source = capturingSource(sources, request);
  if (!source) return undefined;
  const object = request.object;
  const namespace = request.namespace || stringAt(object, 'metadata', 'namespace') || '';
  return { request: { ...request, object }, namespace, source, sourcePod: sourcePodOf(object, source.sourcePod.path) };
}

/** The source whose objects of this group and resource name the Pod they capture, if any. */
export function capturingSource(sources: readonly RestoreSource[], of: { group: string; resource: string }): CapturingSource | undefined {
  return sources.find((s): s is CapturingSource => s.sourcePod !== undefined && s.resource.group === of.group && s.resource.resource === of.resource);
}

/** A present field is a capture even when unusable: an empty or wrong value is denied, never skipped. */
function sourcePodOf(object: JsonObject, path: string): SourcePodField {
  const value = fieldAt(object, path);
  if (value === undefined || value === null) return { kind: 'absent' };
  if (typeof value !== 'string') return { kind: 'malformed', problem: 'name-not-a-string' };
  return isObjectName(value) ? { kind: 'name', name: value } : { kind: 'malformed', problem: 'not-an-object-name' };
}
