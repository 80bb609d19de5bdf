import { describe, expect, it } from 'vitest';
import { parseReview } from '../../src/admission/review.js';
import { reviewBody } from '../support/fixtures.js';

describe('parseReview', () => {
  it('reads a well-formed v1 review', () => {
    const parsed = parseReview(reviewBody({}));
    expect(parsed.kind).toBe('review');
    if (parsed.kind === 'review') {
      expect(parsed.request).toMatchObject({ uid: 'req-1', resource: 'pods', group: '', operation: 'CREATE', namespace: 'team-a' });
      expect(parsed.request.userInfo).toEqual({ username: 'alice', uid: 'u-1', groups: ['devs', 'system:authenticated'], extra: { scopes: ['a', 'b'] } });
    }
  });

  it('reads v1beta1 and remembers the version', () => {
    const parsed = parseReview(reviewBody({}, 'admission.k8s.io/v1beta1'));
    expect(parsed.kind === 'review' && parsed.apiVersion).toBe('admission.k8s.io/v1beta1');
  });

  it.each([
    ['a string', 'hello'],
    ['an array', []],
    ['another kind', { apiVersion: 'admission.k8s.io/v1', kind: 'Pod', request: { uid: 'x' } }],
    ['an unknown version', { apiVersion: 'admission.k8s.io/v2', kind: 'AdmissionReview', request: { uid: 'x' } }],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }],
    ['no uid', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }],
    ['a numeric uid', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 7 } }],
  ])('rejects %s outright', (_, body) => {
    expect(parseReview(body).kind).toBe('rejected');
  });

  it('answers a review with a uid but a request of the wrong shape, listing the problems', () => {
    const body = reviewBody({});
    const request = body.request as Record<string, unknown>;
    request.operation = 'PATCH';
    request.userInfo = { username: 5, groups: 'admins' };
    request.object = 'pod';
    const parsed = parseReview(body);
    expect(parsed.kind).toBe('invalid');
    if (parsed.kind === 'invalid') {
      expect(parsed.uid).toBe('req-1');
      expect(parsed.problems.join('\n')).toMatch(/operation/);
      expect(parsed.problems.join('\n')).toMatch(/username/);
      expect(parsed.problems.join('\n')).toMatch(/groups/);
      expect(parsed.problems.join('\n')).toMatch(/request.object/);
    }
  });
});
