import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../src/admission/request.js';
import type { JsonObject } from '../../src/common/json.js';
import { dynamoSnapshotSource, gkePodSnapshotSource, type RestoreSource } from '../../src/policy/sources.js';
import { captureReviewOf } from '../../src/restore/capture.js';
import { createRequest, KEP } from '../support/fixtures.js';

const SOURCES: RestoreSource[] = [KEP, dynamoSnapshotSource(), gkePodSnapshotSource()];
const checkpoint = (spec: JsonObject): JsonObject => ({ metadata: { name: 'ckpt', namespace: 'team-a' }, spec });
const create = (object: JsonObject, overrides: Partial<AdmissionRequest> = {}) =>
  createRequest(object, { group: 'node.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints', ...overrides });

describe('captureReviewOf', () => {
  it("reads a new PodCheckpoint's spec.sourcePod.name as the Pod it captures", () => {
    const review = captureReviewOf(create(checkpoint({ sourcePod: { name: 'web-0' } })), SOURCES);
    expect(review).toMatchObject({ namespace: 'team-a', source: { name: 'kep-5823' }, sourcePod: { kind: 'name', name: 'web-0' } });
  });

  it("reads a Dynamo PodSnapshot's spec.source.podRef.name", () => {
    const snapshot = checkpoint({ source: { podRef: { name: 'llm-0', containers: ['main'] } } });
    const review = captureReviewOf(create(snapshot, { group: 'nvidia.com', resource: 'podsnapshots' }), SOURCES);
    expect(review).toMatchObject({ source: { name: 'dynamo-snapshot' }, sourcePod: { kind: 'name', name: 'llm-0' } });
  });

  it('matches the resource in any version: kube-apiserver may have converted the request', () => {
    expect(captureReviewOf(create(checkpoint({ sourcePod: { name: 'web-0' } }), { version: 'v1beta1' }), SOURCES)).toBeDefined();
  });

  it('is not a capture: an update, a status write, another resource, a source that names no source Pod, or no object', () => {
    const object = checkpoint({ sourcePod: { name: 'web-0' } });
    expect(captureReviewOf(create(object, { operation: 'UPDATE', oldObject: object }), SOURCES)).toBeUndefined();
    expect(captureReviewOf(create(object, { subResource: 'status' }), SOURCES)).toBeUndefined();
    expect(captureReviewOf(create(object, { resource: 'pods', group: '' }), SOURCES)).toBeUndefined();
    expect(captureReviewOf(create(object, { resource: 'runtimeclasses' }), SOURCES)).toBeUndefined();
    expect(captureReviewOf(create(object, { group: 'checkpoint.k8s.io' }), SOURCES)).toBeUndefined();
    expect(captureReviewOf(create(object, { group: 'podsnapshot.gke.io', resource: 'podsnapshots' }), SOURCES)).toBeUndefined();
    const { object: _none, ...withoutObject } = create(object);
    expect(captureReviewOf(withoutObject, SOURCES)).toBeUndefined();
  });

  it('takes the namespace from the object when the request names none', () => {
    expect(captureReviewOf(create(checkpoint({ sourcePod: { name: 'web-0' } }), { namespace: '' }), SOURCES)?.namespace).toBe('team-a');
  });

  it('an object without the field captures nothing (a snapshot that only references existing data)', () => {
    expect(captureReviewOf(create(checkpoint({})), SOURCES)?.sourcePod).toEqual({ kind: 'absent' });
    expect(captureReviewOf(create(checkpoint({ sourcePod: null })), SOURCES)?.sourcePod).toEqual({ kind: 'absent' });
    expect(captureReviewOf(create(checkpoint({ sourcePod: { name: null } })), SOURCES)?.sourcePod).toEqual({ kind: 'absent' });
  });

  it('a present field that cannot name a Pod is malformed, never skipped', () => {
    const of = (value: unknown) => captureReviewOf(create(checkpoint({ sourcePod: { name: value } as JsonObject })), SOURCES)?.sourcePod;
    expect(of(42)).toEqual({ kind: 'malformed', problem: 'name-not-a-string' });
    expect(of('')).toEqual({ kind: 'malformed', problem: 'not-an-object-name' });
    expect(of('Web_0')).toEqual({ kind: 'malformed', problem: 'not-an-object-name' });
  });

  it("follows only the object's own keys: an inherited member names no Pod", () => {
    const custom: RestoreSource = { ...KEP, name: 'custom', sourcePod: { path: 'spec.constructor.name' } };
    expect(captureReviewOf(create(checkpoint({})), [custom])?.sourcePod).toEqual({ kind: 'absent' });
  });
});
