import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AdmissionHandler } from '../../src/admission/handler.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { defaultPolicy, type Policy } from '../../src/policy/policy.js';
import { dynamoSnapshotSource } from '../../src/policy/sources.js';
import { restoreDeciders } from '../../src/restore/webhooks.js';
import { pinnedAffinity, restorePod, reviewBody } from '../support/fixtures.js';
import { deadlineIn } from '../support/deadlines.js';
import { FakePorts } from '../support/fake-ports.js';

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
    expect(line).toMatchObject({
      uid: 'req-1',
      webhook: 'validate',
      user: 'alice',
      namespace: 'team-a',
      pod: 'restored',
      checkpoint: 'ckpt',
      operation: 'CREATE',
      decision: 'denied',
      reason: 'unauthorized',
    });
    expect(typeof line.durationMs).toBe('number');
    expect(lines[0]).not.toContain('MODE');
  });

  it("logs a capture's source Pod beside the new checkpoint's name", async () => {
    const { handler, lines } = handlerWith(new FakePorts());
    const checkpoint = { metadata: { name: 'web-0-ckpt', namespace: 'team-a' }, spec: { sourcePod: { name: 'web-0' } } };
    await handler.handle(
      'validate',
      reviewBody({ group: 'node.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints', object: checkpoint }),
      deadlineIn(1000),
    );
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ source: 'kep-5823', checkpoint: 'web-0-ckpt', sourcePod: 'web-0', reason: 'capture-unauthorized' });
  });

  it('counts reviews by webhook, operation, decision and source (none for a Pod that references none)', async () => {
    const { handler, metrics } = handlerWith(new FakePorts());
    await handler.handle('mutate', reviewBody({ object: restorePod() }), deadlineIn(1000));
    await handler.handle('validate', reviewBody({ object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'plain' }, spec: {} } }), deadlineIn(1000));
    const text = await metrics.registry.metrics();
    expect(text).toContain('restore_guard_reviews_total{webhook="mutate",operation="CREATE",decision="denied",source="kep-5823"} 1');
    expect(text).toContain('restore_guard_reviews_total{webhook="validate",operation="CREATE",decision="allowed",source="none"} 1');
  });

  it('takes the source label from the policy: the source a Pod references by name, none for a reference to no configured source', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) });
    const metrics = createMetrics({ defaultMetrics: false });
    let policy: Policy = { ...defaultPolicy(), sources: [{ preset: 'kep-5823' }, dynamoSnapshotSource()] };
    const ports = { ...new FakePorts().ports(), policy: () => policy };
    const handler = new AdmissionHandler({ deciders: restoreDeciders(ports), logger: createLogger('info', sink), metrics });
    const annotated = (annotations: Record<string, string>) => ({ metadata: { name: 'worker', namespace: 'team-a', annotations }, spec: { containers: [] } });
    await handler.handle('validate', reviewBody({ object: annotated({ 'nvidia.com/restore-from': 'snap' }) }), deadlineIn(1000));
    // Two references: denied as ambiguous, labelled with both names of the policy.
    const both = restorePod();
    both.metadata = { name: 'worker', namespace: 'team-a', annotations: { 'nvidia.com/restore-from': 'snap' } };
    await handler.handle('validate', reviewBody({ object: both }), deadlineIn(1000));
    policy = defaultPolicy();
    await handler.handle('validate', reviewBody({ object: annotated({ 'nvidia.com/restore-from': 'snap' }) }), deadlineIn(1000));
    const counted = (await metrics.reviews.get()).values.map((v) => `${v.labels.source}/${v.labels.decision}=${v.value}`).sort();
    expect(counted).toEqual(['dynamo-snapshot/denied=1', 'kep-5823,dynamo-snapshot/denied=1', 'none/allowed=1']);
  });
});
