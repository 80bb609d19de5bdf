import { describe, expect, it } from 'vitest';
import { reasonFor, statusBody, toAdmissionReview, type StatusReason } from '../../src/admission/response.js';
import { allow, deny } from '../../src/admission/decision.js';

describe('toAdmissionReview', () => {
  const patch = [{ op: 'add' as const, path: '/spec/x', value: 1 }];

  it('echoes version and uid, and encodes a JSONPatch for the mutating webhook only', () => {
    const review = toAdmissionReview('admission.k8s.io/v1', 'u', { ...allow('pinned'), patch }, true);
    expect(review).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true, patchType: 'JSONPatch' } });
    expect(JSON.parse(Buffer.from(review.response.patch ?? '', 'base64').toString())).toEqual(patch);
    const validating = toAdmissionReview('admission.k8s.io/v1', 'u', { ...allow('pinned'), patch }, false);
    expect(validating.response.patch).toBeUndefined();
    expect(validating.response.patchType).toBeUndefined();
  });

  it('carries a Status on denial and shortens long warnings', () => {
    const decision = { ...deny('Forbidden', 'x', 'no'), warnings: ['w'.repeat(300)] };
    const review = toAdmissionReview('admission.k8s.io/v1beta1', 'u', decision, true);
    expect(review.response.status).toEqual({ metadata: {}, status: 'Failure', code: 403, reason: 'Forbidden', message: 'no' });
    expect(review.response.warnings?.[0]?.length).toBeLessThanOrEqual(120);
    expect(review.apiVersion).toBe('admission.k8s.io/v1beta1');
  });
});

describe('statusBody', () => {
  it('writes the code that goes with each reason, as kube-apiserver pairs them', () => {
    expect(statusBody('BadRequest', 'm')).toEqual({ apiVersion: 'v1', kind: 'Status', status: 'Failure', code: 400, reason: 'BadRequest', message: 'm' });
    const pairs: Array<[StatusReason, number]> = [
      ['Forbidden', 403],
      ['Invalid', 422],
      ['NotFound', 404],
      ['RequestEntityTooLarge', 413],
      ['UnsupportedMediaType', 415],
      ['TooManyRequests', 429],
      ['RequestTimeout', 408],
      ['InternalError', 500],
      ['ServiceUnavailable', 503],
      ['Timeout', 504],
    ];
    for (const [reason, code] of pairs) {
      expect(statusBody(reason, 'm').code, reason).toBe(code);
      expect(reasonFor(code), String(code)).toBe(reason);
    }
    expect(statusBody('TooManyRequests', 'm', { retryAfterSeconds: 1 }).details).toEqual({ retryAfterSeconds: 1 });
  });

  it('falls back to BadRequest or InternalError for codes with no reason of their own', () => {
    expect(reasonFor(418)).toBe('BadRequest');
    expect(reasonFor(502)).toBe('InternalError');
  });
});
