import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../src/admission/request.js';
import type { JsonObject } from '../../src/common/json.js';
import { restoreReviewOf } from '../../src/restore/scope.js';
import { dynamoSnapshotSource, gkePodSnapshotSource } from '../../src/policy/sources.js';
import { createRequest, KEP, restorePod } from '../support/fixtures.js';

describe('restoreReviewOf', () => {
  const concernsRestore = (request: AdmissionRequest) => restoreReviewOf(request, [KEP]) !== undefined;
  const pod = restorePod();
  it('takes Pod CREATE and UPDATE of the main resource', () => {
    expect(concernsRestore(createRequest(pod))).toBe(true);
    expect(concernsRestore(createRequest(pod, { operation: 'UPDATE', oldObject: pod }))).toBe(true);
  });

  it('takes UPDATE through resize and ephemeralcontainers only', () => {
    for (const subResource of ['resize', 'ephemeralcontainers']) {
      expect(concernsRestore(createRequest(pod, { operation: 'UPDATE', oldObject: pod, subResource }))).toBe(true);
      expect(concernsRestore(createRequest(pod, { operation: 'CREATE', subResource }))).toBe(false);
    }
    for (const subResource of ['status', 'binding', 'eviction', 'exec']) {
      expect(concernsRestore(createRequest(pod, { operation: 'UPDATE', oldObject: pod, subResource }))).toBe(false);
    }
  });

  it('takes a restoreFrom found only in the old object (its removal)', () => {
    expect(concernsRestore(createRequest({ spec: {} }, { operation: 'UPDATE', oldObject: pod }))).toBe(true);
  });

  it('reads both references once, and the namespace from the object when the request names none', () => {
    const review = restoreReviewOf(
      createRequest(restorePod({ checkpoint: { name: 'new' } }), { operation: 'UPDATE', oldObject: restorePod(), namespace: '' }),
      [KEP],
    );
    expect(review?.references).toEqual([
      { source: KEP, field: { kind: 'ref', ref: { name: 'new', options: {} } }, oldField: { kind: 'ref', ref: { name: 'ckpt', options: {} } } },
    ]);
    expect(review?.namespace).toBe('team-a');
  });

  it('leaves other resources, groups, operations and ordinary Pods alone', () => {
    expect(concernsRestore(createRequest({ spec: {} }))).toBe(false);
    expect(concernsRestore(createRequest(pod, { resource: 'deployments', group: 'apps' }))).toBe(false);
    expect(concernsRestore(createRequest(pod, { group: 'example.com' }))).toBe(false);
    expect(concernsRestore(createRequest(pod, { operation: 'DELETE', oldObject: pod }))).toBe(false);
    expect(concernsRestore(createRequest(pod, { operation: 'CONNECT' }))).toBe(false);
  });

  it('leaves a restoring object of another resource alone, and reads the old object only on UPDATE', () => {
    expect(restoreReviewOf(createRequest(pod, { resource: 'deployments' }), [KEP])).toBeUndefined();
    expect(restoreReviewOf(createRequest({ spec: { containers: [] } }, { oldObject: pod }), [KEP])).toBeUndefined();
  });

  it('gives an empty namespace when neither the request nor the object names one', () => {
    const nameless = { spec: { restoreFrom: { name: 'ckpt' } } };
    expect(restoreReviewOf(createRequest(nameless, { namespace: '' }), [KEP])?.namespace).toBe('');
  });

  describe('with annotation sources', () => {
    const sources = [KEP, dynamoSnapshotSource(), gkePodSnapshotSource()];
    const annotated = (annotations: Record<string, string>): JsonObject => ({
      metadata: { name: 'p', namespace: 'team-a', annotations },
      spec: { containers: [] },
    });

    it('takes a Pod that carries an enabled source annotation, and names that source', () => {
      const review = restoreReviewOf(createRequest(annotated({ 'nvidia.com/restore-from': 'snap-1' })), sources);
      expect(review?.references.map((r) => [r.source.name, r.field])).toEqual([['dynamo-snapshot', { kind: 'ref', ref: { name: 'snap-1', options: {} } }]]);
    });

    it('leaves a Pod whose annotation belongs to a source that is not enabled', () => {
      expect(restoreReviewOf(createRequest(annotated({ 'nvidia.com/restore-from': 'snap-1' })), [KEP])).toBeUndefined();
      expect(restoreReviewOf(createRequest(annotated({ 'nvidia.com/restore': 'snap-1' })), sources)).toBeUndefined();
    });

    it('lists every source a Pod references, in the policy order', () => {
      const both = { ...annotated({ 'podsnapshot.gke.io/ps-name': 'a', 'nvidia.com/restore-from': 'b' }), spec: { restoreFrom: { name: 'c' } } };
      expect(restoreReviewOf(createRequest(both), sources)?.references.map((r) => r.source.name)).toEqual(['kep-5823', 'dynamo-snapshot', 'gke-pod-snapshot']);
    });

    it('takes an annotation only in the old object (its removal), and reads no inherited key', () => {
      const request = createRequest(annotated({}), { operation: 'UPDATE', oldObject: annotated({ 'podsnapshot.gke.io/ps-name': 'a' }) });
      expect(restoreReviewOf(request, sources)?.references[0].oldField).toEqual({ kind: 'ref', ref: { name: 'a', options: {} } });
      const inherited = createRequest({ metadata: { annotations: Object.create({ 'nvidia.com/restore-from': 'x' }) as Record<string, string> }, spec: {} });
      expect(restoreReviewOf(inherited, sources)).toBeUndefined();
    });
  });
});
