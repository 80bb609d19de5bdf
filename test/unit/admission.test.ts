import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AdmissionHandler } from '../../src/admission/handler.js';
import { toAdmissionReview } from '../../src/admission/response.js';
import { parseReview } from '../../src/admission/review.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { allow, deny } from '../../src/admission/decision.js';
import { restoreDeciders } from '../../src/restore/webhooks.js';
import { pinnedAffinity, restorePod, reviewBody } from '../support/fixtures.js';
import { deadlineIn } from '../support/deadlines.js';
import { FakePorts } from '../support/fake-ports.js';

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

describe('AdmissionHandler', () => {
  function handlerWith(fake: FakePorts) {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) });
    const metrics = createMetrics({ defaultMetrics: false });
    const handler = new AdmissionHandler({ deciders: restoreDeciders(fake.ports()), logger: createLogger('info', sink), metrics });
    return { handler, lines, metrics };
  }

  it('answers HTTP 400 with a JSON Status for a body that is not a review', async () => {
    const { handler } = handlerWith(new FakePorts());
    const reply = await handler.handle('validate', { hello: 'world' }, deadlineIn(1000));
    expect(reply.statusCode).toBe(400);
    expect(reply.body).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest' });
  });

  it('denies a malformed request with code 400 inside a well-formed review', async () => {
    const { handler } = handlerWith(new FakePorts());
    const body = reviewBody({});
    (body.request as Record<string, unknown>).operation = 'EXPLODE';
    const reply = await handler.handle('validate', body, deadlineIn(1000));
    expect(reply.statusCode).toBe(200);
    expect(reply.body).toMatchObject({ kind: 'AdmissionReview', response: { uid: 'req-1', allowed: false, status: { code: 400 } } });
  });

  it('turns an internal error into a 500 denial, never an allowed restore', async () => {
    const fake = new FakePorts();
    fake.failure = new TypeError('bug');
    const { handler } = handlerWith(fake);
    const reply = await handler.handle('validate', reviewBody({ object: restorePod({ spec: { affinity: pinnedAffinity() } }) }), deadlineIn(1000));
    expect(reply.body).toMatchObject({ response: { uid: 'req-1', allowed: false, status: { code: 500, reason: 'InternalError' } } });
  });

  it('logs one line per restore decision with names only, nothing from the spec', async () => {
    const { handler, lines } = handlerWith(new FakePorts());
    await handler.handle('validate', reviewBody({ object: restorePod() }), deadlineIn(1000));
    await handler.handle('validate', reviewBody({ object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'plain' }, spec: {} } }), deadlineIn(1000));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(line).toMatchObject({ uid: 'req-1', webhook: 'validate', user: 'alice', namespace: 'team-a', pod: 'restored', checkpoint: 'ckpt', operation: 'CREATE', decision: 'denied', reason: 'unauthorized' });
    expect(typeof line.durationMs).toBe('number');
    expect(lines[0]).not.toContain('MODE');
  });

  it('counts reviews by webhook, operation and decision', async () => {
    const { handler, metrics } = handlerWith(new FakePorts());
    await handler.handle('mutate', reviewBody({ object: restorePod() }), deadlineIn(1000));
    const text = await metrics.registry.metrics();
    expect(text).toContain('restore_guard_reviews_total{webhook="mutate",operation="CREATE",decision="denied"} 1');
  });
});
