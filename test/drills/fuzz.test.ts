import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdmissionHandler } from '../../src/admission/handler.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { restoreDeciders } from '../../src/restore/webhooks.js';
import { generateServingPair } from '../../src/server/dev-certificate.js';
import { createWebhookServer, type WebhookServer } from '../../src/server/webhook-server.js';
import { pinnedAffinity, podSpec, readyCheckpoint } from '../support/fixtures.js';
import { FakePorts } from '../support/fake-ports.js';

/**
 * Generated and mutated AdmissionReviews thrown at the real Fastify app (in-process injection, the same
 * parser, limits and handlers as over TLS). 100,000 bodies in all, bounded by count, not by time.
 */
const RUNS = { generated: 60_000, mutated: 30_000, raw: 10_000 };

// Names an object with a prototype answers without holding them: hostile as namespaces, users and keys.
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);
const oddKeys = fc.constantFrom(...PROTOTYPE_NAMES, 'prototype', '', 'ñ', '𝔘', 'a.b', '$ref');
const oddString = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', 'ckpt', '\u0000', '\ud800', 'a'.repeat(5000)));
const anyJson = fc.jsonValue({ maxDepth: 4 });

const restoreFrom = fc.oneof(
  fc.constant({ name: 'ckpt' }),
  fc.constant({ name: 'ckpt' }),
  fc.record({ name: oddString, options: fc.dictionary(oddString, fc.oneof(oddString, anyJson)) }, { requiredKeys: [] }),
  oddString,
  anyJson,
  fc.constant(null),
);

const spec = fc.record(
  {
    restoreFrom,
    nodeName: fc.oneof(fc.constant('node-a'), oddString),
    containers: fc.oneof(fc.constant([{ name: 'app', image: 'x' }]), anyJson),
    affinity: anyJson,
    runtimeClassName: oddString,
    schedulingGates: anyJson,
  },
  { requiredKeys: [] },
);

const pod = fc.record(
  {
    apiVersion: fc.constant('v1'),
    kind: fc.constant('Pod'),
    metadata: fc.record({ name: oddString, namespace: oddString, ownerReferences: anyJson }, { requiredKeys: [] }),
    spec: fc.oneof(spec, anyJson),
    status: anyJson,
  },
  { requiredKeys: [] },
);

const userInfo = fc.record(
  {
    username: fc.oneof(fc.constantFrom('granted', 'mallory', 'system:serviceaccount:kube-system:replicaset-controller'), oddString, anyJson),
    uid: fc.oneof(oddString, anyJson),
    groups: fc.oneof(fc.array(oddString, { maxLength: 5 }), anyJson),
    extra: fc.oneof(fc.dictionary(oddString, fc.array(oddString, { maxLength: 3 })), anyJson),
  },
  { requiredKeys: [] },
);

const request = fc.record(
  {
    uid: fc.oneof(fc.uuid(), oddString, anyJson),
    kind: fc.oneof(fc.constant({ group: '', version: 'v1', kind: 'Pod' }), anyJson),
    resource: fc.oneof(
      fc.constant({ group: '', version: 'v1', resource: 'pods' }),
      fc.record({
        group: fc.constantFrom('', 'apps', 'x'),
        version: fc.constantFrom('v1', 'v2'),
        resource: fc.constantFrom('pods', 'deployments', 'podcheckpoints'),
      }),
      anyJson,
    ),
    subResource: fc.oneof(fc.constantFrom('', 'resize', 'ephemeralcontainers', 'status', 'binding'), anyJson),
    namespace: fc.oneof(fc.constantFrom('team-a', ''), oddString),
    name: oddString,
    operation: fc.oneof(fc.constantFrom('CREATE', 'UPDATE', 'DELETE', 'CONNECT'), oddString),
    userInfo,
    object: fc.oneof(pod, anyJson),
    oldObject: fc.oneof(pod, anyJson),
    dryRun: fc.oneof(fc.boolean(), anyJson),
  },
  { requiredKeys: ['uid', 'operation', 'object'] },
);

const anyReview = fc.record({
  apiVersion: fc.oneof(fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'), oddString),
  kind: fc.oneof(fc.constant('AdmissionReview'), oddString),
  request,
});

/** Close to what kube-apiserver sends for a restore, so that allowed restores are reached too. */
const plausibleReview = fc
  .record({
    uid: fc.uuid(),
    username: fc.constantFrom('granted', 'mallory', 'mallory', ...PROTOTYPE_NAMES),
    namespace: fc.constantFrom('team-a', 'team-a', ...PROTOTYPE_NAMES),
    reference: fc.constantFrom<unknown>({ name: 'ckpt' }, 'ckpt', { name: 'other' }, { name: 'ckpt', options: { tcp: 'close' } }),
    optionKey: fc.option(oddKeys, { nil: undefined }),
    extraKey: fc.option(oddKeys, { nil: undefined }),
    pinned: fc.boolean(),
    extra: fc.option(fc.tuple(oddKeys, anyJson), { nil: undefined }),
    operation: fc.constantFrom('CREATE', 'CREATE', 'UPDATE'),
  })
  .map(({ uid, username, namespace, reference, optionKey, extraKey, pinned, extra, operation }) => {
    // Object literals with computed keys, so "__proto__" stays an own key through JSON.stringify.
    const withOption = optionKey === undefined ? reference : { name: 'ckpt', options: { [optionKey]: 'x' } };
    const spec: Record<string, unknown> = { ...(podSpec() as Record<string, unknown>), restoreFrom: withOption };
    if (pinned) spec.affinity = pinnedAffinity();
    if (extra) Object.defineProperty(spec, extra[0], { value: extra[1], enumerable: true, configurable: true, writable: true });
    const object = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace }, spec };
    return {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        namespace,
        operation,
        userInfo: { username, groups: ['system:authenticated', username], extra: extraKey === undefined ? {} : { [extraKey]: ['x'] } },
        object,
        oldObject: operation === 'UPDATE' ? object : null,
      },
    };
  });

const review = fc.oneof(anyReview, plausibleReview);

/** Adds odd keys anywhere, changes types, or nests deeply. */
const mutatedReview = fc.tuple(review, fc.array(fc.tuple(oddKeys, anyJson), { maxLength: 4 }), fc.nat({ max: 3000 })).map(([body, extras, depth]) => {
  const target = body.request as Record<string, unknown>;
  for (const [key, value] of extras) Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true });
  const text = JSON.stringify(body);
  if (depth > 2500) return text.replace('"object":', `"deep":${'['.repeat(depth)}${']'.repeat(depth)},"object":`);
  return text;
});

/** Raw text: truncated reviews, junk, and unicode. */
const rawBody = fc.oneof(
  review.chain((body) => {
    const text = JSON.stringify(body);
    return fc.nat({ max: text.length }).map((cut) => text.slice(0, cut));
  }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('null', 'true', '1', '"x"', '[]', '{}', '{"kind":"AdmissionReview"}', '\ufeff{}'),
);

function hasUidToEcho(text: string): { uid: string } | undefined {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
    const { apiVersion, kind, request: req } = body as Record<string, unknown>;
    if (kind !== 'AdmissionReview' || (apiVersion !== 'admission.k8s.io/v1' && apiVersion !== 'admission.k8s.io/v1beta1')) return undefined;
    if (typeof req !== 'object' || req === null || Array.isArray(req)) return undefined;
    const uid = (req as Record<string, unknown>).uid;
    return typeof uid === 'string' && uid !== '' ? { uid } : undefined;
  } catch {
    return undefined;
  }
}

/** Independent of the code under test: a Pod CREATE that names a checkpoint in restoreFrom. */
function isRestoreCreate(text: string): boolean {
  try {
    const { request: req } = JSON.parse(text) as { request?: Record<string, unknown> };
    const resource = req?.resource as Record<string, unknown> | undefined;
    const spec = (req?.object as Record<string, unknown> | undefined)?.spec as Record<string, unknown> | undefined;
    const field = spec?.restoreFrom;
    const named = (typeof field === 'string' && field !== '') || (typeof field === 'object' && field !== null && (field as Record<string, unknown>).name);
    return req?.operation === 'CREATE' && resource?.resource === 'pods' && resource.group === '' && !req.subResource && Boolean(named);
  } catch {
    return false;
  }
}

describe('fuzzing the admission endpoints', () => {
  let app: WebhookServer;
  const fake = new FakePorts();
  let answered = 0;
  const seen = { echoed: 0, restoreAllowed: 0, restoreDenied: 0 };

  beforeAll(async () => {
    for (const namespace of ['team-a', ...PROTOTYPE_NAMES]) {
      fake.grants.add(`granted/${namespace}/ckpt`);
      fake.checkpoints.set(`${namespace}/ckpt`, readyCheckpoint({ namespace }));
    }
    const handler = new AdmissionHandler({
      deciders: restoreDeciders(fake.ports()),
      logger: createLogger('silent'),
      metrics: createMetrics({ defaultMetrics: false }),
    });
    app = createWebhookServer({ tls: await generateServingPair(), handler, logger: createLogger('silent') });
    await app.ready();
  });
  afterAll(async () => app.close());

  async function check(text: string, path: '/mutate' | '/validate'): Promise<void> {
    const before = fake.calls.length;
    const reply = await app.inject({ method: 'POST', url: path, payload: text, headers: { 'content-type': 'application/json' } });
    answered++;
    expect(reply.statusCode).toBeLessThan(500);
    expect(reply.headers['content-type']).toContain('application/json');
    const body = reply.json<{ kind?: string; response?: { uid: string; allowed: boolean } }>();
    const echo = hasUidToEcho(text);
    if (echo) {
      seen.echoed++;
      expect(reply.statusCode).toBe(200);
      expect(body.kind).toBe('AdmissionReview');
      expect(body.response?.uid).toBe(echo.uid);
      expect(typeof body.response?.allowed).toBe('boolean');
    } else {
      expect(reply.statusCode).toBeGreaterThanOrEqual(400);
    }
    if (isRestoreCreate(text) && body.response) seen[body.response.allowed ? 'restoreAllowed' : 'restoreDenied']++;
    if (body.response?.allowed && isRestoreCreate(text)) {
      // Allowed restores exist only for the one granted requester, after an authorization call.
      expect(fake.calls.slice(before).some((c) => c.startsWith('authorize granted '))).toBe(true);
    }
  }

  it(`answers ${RUNS.generated} generated reviews well-formed, and allows no restore without a grant`, async () => {
    await fc.assert(
      fc.asyncProperty(review, fc.constantFrom('/mutate' as const, '/validate' as const), (body, path) => check(JSON.stringify(body), path)),
      { numRuns: RUNS.generated },
    );
  }, 300_000);

  it(`answers ${RUNS.mutated} mutated reviews (odd keys, wrong types, deep nesting)`, async () => {
    await fc.assert(
      fc.asyncProperty(mutatedReview, fc.constantFrom('/mutate' as const, '/validate' as const), (text, path) => check(text, path)),
      {
        numRuns: RUNS.mutated,
      },
    );
  }, 300_000);

  it(`answers ${RUNS.raw} truncated and junk bodies with a JSON error`, async () => {
    await fc.assert(
      fc.asyncProperty(rawBody, (text) => check(text, '/validate')),
      { numRuns: RUNS.raw },
    );
  }, 300_000);

  it('gives identical answers to identical input', async () => {
    await fc.assert(
      fc.asyncProperty(review, async (body) => {
        const text = JSON.stringify(body);
        const send = () => app.inject({ method: 'POST', url: '/validate', payload: text, headers: { 'content-type': 'application/json' } });
        const [a, b] = [await send(), await send()];
        expect(b.statusCode).toBe(a.statusCode);
        expect(b.body).toBe(a.body);
      }),
      { numRuns: 2_000 },
    );
  });

  it('covered the interesting cases and did not grow without bound', () => {
    expect(answered).toBeGreaterThanOrEqual(RUNS.generated + RUNS.mutated + RUNS.raw);
    // Not vacuous: many bodies were answerable reviews, and restores were both allowed and denied.
    expect(seen.echoed).toBeGreaterThan(10_000);
    expect(seen.restoreAllowed).toBeGreaterThan(50);
    expect(seen.restoreDenied).toBeGreaterThan(1_000);
    // The process is alive and its heap is that of a small service, after 100,000 reviews.
    expect(process.memoryUsage().heapUsed).toBeLessThan(512 * 1024 * 1024);
  });
});
