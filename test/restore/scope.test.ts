import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../src/admission/request.js';
import { restoreReviewOf } from '../../src/restore/scope.js';
import { createRequest, restorePod } from '../support/fixtures.js';

describe('restoreReviewOf', () => {
  const concernsRestore = (request: AdmissionRequest) => restoreReviewOf(request) !== undefined;
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
    const review = restoreReviewOf(createRequest(restorePod({ checkpoint: { name: 'new' } }), { operation: 'UPDATE', oldObject: restorePod(), namespace: '' }));
    expect(review?.field).toEqual({ kind: 'ref', ref: { name: 'new', options: {} } });
    expect(review?.oldField).toEqual({ kind: 'ref', ref: { name: 'ckpt', options: {} } });
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
    expect(restoreReviewOf(createRequest(pod, { resource: 'deployments' }))).toBeUndefined();
    expect(restoreReviewOf(createRequest({ spec: { containers: [] } }, { oldObject: pod }))).toBeUndefined();
  });

  it('gives an empty namespace when neither the request nor the object names one', () => {
    const nameless = { spec: { restoreFrom: { name: 'ckpt' } } };
    expect(restoreReviewOf(createRequest(nameless, { namespace: '' }))?.namespace).toBe('');
  });
});
