import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunningWebhook } from '../../src/cli/serve.js';
import type { JsonObject } from '../../src/common/json.js';
import { FakeApi } from '../../harness/fake-api.js';
import { pinnedAffinity, rawCheckpoint, restorePod, reviewBody } from '../support/fixtures.js';
import { post } from '../support/https-client.js';
import { startAgainst } from '../support/in-process-webhook.js';

/**
 * The whole webhook as `restore-guard serve` wires it, over HTTPS, against an in-process fake API
 * server: real SubjectAccessReviews, real watches, real failures.
 */
describe('restore-guard against a fake API server', () => {
  let api: FakeApi;
  let webhook: RunningWebhook;
  let ca: string;

  beforeAll(async () => {
    api = await FakeApi.start();
    api.checkpoints.put(rawCheckpoint());
    api.checkpoints.put(rawCheckpoint({ name: 'warming', ready: false }));
    ({ webhook, ca } = await startAgainst(api));
    await vi.waitFor(async () => expect((await fetch(`http://127.0.0.1:${webhook.metricsPort}/readyz`)).status).toBe(200));
  });
  afterAll(async () => {
    await webhook?.close();
    await api?.close();
  });
  beforeEach(async () => {
    await api.setFault('none');
    api.setDelay(0);
  });

  const review = async (path: string, body: JsonObject, timeout = '5s') => {
    const reply = await post(webhook.webhookPort, `${path}?timeout=${timeout}`, JSON.stringify(body), { ca });
    return (
      reply.body as { response: { allowed: boolean; status?: { code: number; message: string }; patch?: string; auditAnnotations?: Record<string, string> } }
    ).response;
  };
  const pinnedPod = (checkpoint = 'ckpt') => restorePod({ checkpoint: { name: checkpoint }, spec: { affinity: pinnedAffinity() } });
  const asUser = (username: string, object: JsonObject) => reviewBody({ object, userInfo: { username, groups: ['system:authenticated'], extra: {} } });

  it('allows a granted user and pins through the mutating webhook', async () => {
    api.grant({ user: 'granted', namespace: 'team-a', name: 'ckpt' });
    const mutated = await review('/mutate', asUser('granted', restorePod()));
    expect(mutated.allowed).toBe(true);
    expect(mutated.patch).toBeDefined();
    expect(mutated.auditAnnotations).toMatchObject({ checkpoint: 'ckpt', node: 'node-a' });
    expect((await review('/validate', asUser('granted', pinnedPod()))).allowed).toBe(true);
  });

  it('sends the requester identity whole in the SubjectAccessReview', async () => {
    const before = api.sarSpecs.length;
    await review(
      '/validate',
      reviewBody({ object: pinnedPod(), userInfo: { username: 'sam', uid: 'u-9', groups: ['g1', 'g2'], extra: { 'scopes.example': ['x'] } } }),
    );
    expect(api.sarSpecs.slice(before)[0]).toMatchObject({
      user: 'sam',
      uid: 'u-9',
      groups: ['g1', 'g2'],
      extra: { 'scopes.example': ['x'] },
      resourceAttributes: { verb: 'restore', group: 'node.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints', name: 'ckpt', namespace: 'team-a' },
    });
  });

  it('denies an ungranted user identically for an existing, a not-ready and a missing checkpoint', async () => {
    const answers = await Promise.all(['ckpt', 'warming', 'missing'].map((name) => review('/validate', asUser('mallory', pinnedPod(name)))));
    for (const answer of answers) expect(answer.status?.code).toBe(403);
    const normalise = (a: (typeof answers)[number], name: string) => JSON.stringify(a).replaceAll(`\\"${name}\\"`, 'X').replaceAll(`"${name}"`, 'X');
    expect(new Set(answers.map((a, i) => normalise(a, ['ckpt', 'warming', 'missing'][i] ?? ''))).size).toBe(1);
    expect(JSON.stringify(answers)).not.toContain('node-a');
  });

  it('sees a checkpoint turn Ready through the watch', async () => {
    api.grant({ user: 'granted', namespace: 'team-a', name: 'flip' });
    api.checkpoints.put(rawCheckpoint({ name: 'flip', ready: false }));
    await vi.waitFor(async () => expect((await review('/validate', asUser('granted', pinnedPod('flip')))).status?.message).toContain('not ready'));
    api.checkpoints.put(rawCheckpoint({ name: 'flip', ready: true }));
    await vi.waitFor(async () => expect((await review('/validate', asUser('granted', pinnedPod('flip')))).allowed).toBe(true));
  });

  it.each([
    ['down', 503, 'could not'],
    ['status500', 503, '500'],
    ['status429', 503, '429'],
  ] as const)('fails closed while the API server is %s, and recovers', async (fault, code, text) => {
    await api.setFault(fault);
    // A new user so the authorization cache cannot answer.
    const denied = await review('/validate', asUser(`user-${fault}`, pinnedPod()));
    expect(denied.allowed).toBe(false);
    expect(denied.status?.code).toBe(code);
    expect(denied.status?.message).toContain(text);
    expect((await review('/validate', reviewBody({ object: { metadata: { name: 'plain' }, spec: {} } }))).allowed).toBe(true);
    await api.setFault('none');
    api.grant({ user: `user-${fault}`, namespace: 'team-a', name: 'ckpt' });
    await vi.waitFor(async () => expect((await review('/validate', asUser(`user-${fault}`, pinnedPod()))).allowed).toBe(true));
  });

  it('denies inside the review timeout when the API server is slower than it', async () => {
    api.setDelay(60_000);
    const denied = await review('/validate', asUser('slow-user', pinnedPod()), '1s');
    expect(denied.status?.code).toBe(504);
  });

  it('reports review and SubjectAccessReview metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${webhook.metricsPort}/metrics`)).text();
    expect(text).toMatch(/restore_guard_subjectaccessreview_calls_total\{result="allowed"\} [1-9]/);
    expect(text).toMatch(/restore_guard_subjectaccessreview_cache_total\{result="hit"\} [1-9]/);
    expect(text).toMatch(/restore_guard_reviews_total\{webhook="validate",operation="CREATE",decision="denied",source="kep-5823"\} [1-9]/);
  });
});
