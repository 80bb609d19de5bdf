// The benchmark's pieces on a tiny load, so `npm run bench` cannot rot silently. Nothing here is timed:
// only answers and counts are checked.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBaselineServer, listen } from '../../bench/baseline-server.js';
import { startInProcess, type FakeApiHandle } from '../../bench/fake-api.js';
import { bigUpdateBody, passThroughBody, restoreBody, restoreBodyForUser } from '../../bench/fixtures.js';
import { answered, burst, fixedRate, keepAliveAgent, median, percentile, post, saturate, type Target } from '../../bench/load.js';
import { breakdownOf, breakdownTable, perReview, PERF_FREQUENCY } from '../../bench/perf.js';
import { summarizeProfile } from '../../bench/profile.js';
import { cpuSeconds, eventLoopDelay, rssMiB, startWebhookProcess, type ServerProcess } from '../../bench/processes.js';
import { generateServingPair } from '../../src/server/dev-certificate.js';
import type { PemPair } from '../../src/tls/check.js';

const UID = '705ab4f5-6393-11e8-b7cc-42010a800002';
const PATH = '/validate?timeout=10s';

describe('benchmark harness', () => {
  let dir: string;
  let tls: PemPair;
  let baseline: Server;
  let baselineTarget: Target;
  let fakeApi: FakeApiHandle;
  let webhook: ServerProcess & { metricsPort: number };
  let webhookTarget: Target;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rg-bench-test-'));
    tls = await generateServingPair();
    await writeFile(join(dir, 'tls.crt'), tls.cert);
    await writeFile(join(dir, 'tls.key'), tls.key);
    baseline = createBaselineServer(tls);
    baselineTarget = { port: await listen(baseline), ca: tls.cert };
    fakeApi = await startInProcess(dir);
    webhook = await startWebhookProcess({
      certFile: join(dir, 'tls.crt'),
      keyFile: join(dir, 'tls.key'),
      access: fakeApi.access,
      logLevel: 'warn',
    });
    webhookTarget = { port: webhook.port, ca: tls.cert };
  });

  afterAll(async () => {
    await webhook?.stop();
    await fakeApi?.close();
    baseline?.closeAllConnections();
    await new Promise<void>((resolve) => (baseline ? baseline.close(() => resolve()) : resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('builds realistic bodies: a Pod of about 8 KB of spec, a 1 MiB UPDATE', () => {
    const restore = restoreBody();
    expect(restore.length).toBeGreaterThan(8_000);
    expect(restore.length).toBeLessThan(16_000);
    expect(JSON.parse(restore)).toMatchObject({ request: { uid: UID, object: { spec: { restoreFrom: { name: 'ckpt' } } } } });
    expect(JSON.parse(passThroughBody()).request.object.spec.restoreFrom).toBeUndefined();
    const big = bigUpdateBody();
    expect(big.length).toBeGreaterThan(1024 * 1024 - 4096);
    expect(big.length).toBeLessThan(1024 * 1024 + 4096);
    expect(JSON.parse(big)).toMatchObject({ request: { operation: 'UPDATE' } });
    expect(restoreBodyForUser()('bob')).toContain('"username":"bob"');
  });

  it('the baseline answers allowed with the uid, in the review version', async () => {
    const agent = keepAliveAgent(baselineTarget, 1);
    const answer = await post(baselineTarget, agent, PATH, restoreBody());
    agent.destroy();
    expect(answered(answer, true, UID)).toBe(true);
    expect(JSON.parse(answer.text)).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: UID, allowed: true } });
  });

  it('restore-guard answers every benchmark body as the benchmark expects', async () => {
    const agent = keepAliveAgent(webhookTarget, 1);
    for (const body of [passThroughBody(), restoreBody(), bigUpdateBody()]) {
      expect(answered(await post(webhookTarget, agent, PATH, body), true, UID)).toBe(true);
    }
    agent.destroy();
  });

  it('counts SubjectAccessReviews: one for a new user, none for a cached one, at most one per identical burst', async () => {
    const forUser = restoreBodyForUser();
    const agent = keepAliveAgent(webhookTarget, 1);
    const before = await fakeApi.sarCount();
    expect(answered(await post(webhookTarget, agent, PATH, forUser('harness-1')), true)).toBe(true);
    expect(await fakeApi.sarCount()).toBe(before + 1);
    expect(answered(await post(webhookTarget, agent, PATH, forUser('harness-1')), true)).toBe(true);
    expect(await fakeApi.sarCount()).toBe(before + 1);
    agent.destroy();

    const answers = await burst(webhookTarget, PATH, passThroughBody(), forUser('harness-burst'), 4);
    expect(answers.every((a) => answered(a, true))).toBe(true);
    const burstSars = (await fakeApi.sarCount()) - before - 1;
    expect(burstSars).toBeGreaterThanOrEqual(1);
    expect(burstSars).toBeLessThanOrEqual(4);
  });

  it('drives a fixed-rate load and a saturating load, and reads the server process', async () => {
    const rate = await fixedRate({ target: baselineTarget, path: PATH, body: restoreBody(), rate: 50, durationS: 0.3, warmupS: 0.1, expectAllowed: true });
    expect(rate.errors).toBe(0);
    expect(rate.samples).toBeGreaterThan(0);
    expect(rate.sent).toBeGreaterThanOrEqual(rate.samples);
    expect(rate.p99).toBeGreaterThanOrEqual(rate.p50);

    const forUser = restoreBodyForUser();
    const sat = await saturate({ target: webhookTarget, path: PATH, body: (i) => forUser(`sat-${i}`), connections: 2, durationS: 0.5, pid: webhook.pid });
    expect(sat.requests).toBeGreaterThan(0);
    expect(sat.non2xx).toBe(0);
    if (process.platform === 'linux') {
      expect(cpuSeconds(webhook.pid)).toBeGreaterThan(0);
      expect(rssMiB(webhook.pid)).toBeGreaterThan(0);
    }
  });

  it("reads the webhook's event-loop delay over a window, from its /metrics", async () => {
    await eventLoopDelay(webhook.metricsPort);
    await fixedRate({ target: webhookTarget, path: PATH, body: restoreBody(), rate: 50, durationS: 0.3, warmupS: 0, expectAllowed: true });
    const delay = await eventLoopDelay(webhook.metricsPort);
    expect(delay).toBeDefined();
    expect(delay?.maxMs).toBeGreaterThanOrEqual(delay?.p99Ms ?? Number.NaN);
    expect(delay?.p99Ms).toBeGreaterThanOrEqual(0);
  });

  it('summarizes numbers and profiles', () => {
    expect(percentile(Float64Array.from([1, 2, 3, 4]), 0.5)).toBe(2);
    expect(percentile(Float64Array.from([1, 2, 3, 4]), 0.999)).toBe(4);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    const summary = summarizeProfile({
      nodes: [
        { id: 1, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 }, hitCount: 1 },
        { id: 2, callFrame: { functionName: 'semanticDiff', url: 'file:///x/dist/restore/spec-diff.js', lineNumber: 16 }, hitCount: 3 },
      ],
    });
    expect(summary.totalSamples).toBe(4);
    expect(summary.functions[0]).toEqual({ name: 'semanticDiff dist/restore/spec-diff.js:17', share: 0.75 });
    expect(summary.packages[0]).toEqual({ name: 'restore-guard restore/spec-diff.js', share: 0.75 });
  });

  it('charges each perf sample to the innermost frame that names a category', () => {
    const script = [
      'MainThread ',
      '\t 1 v8::internal::JsonParser<unsigned char>::ParseJsonObject (/node)',
      '\t 2 v8::internal::Builtin_JsonParse (/node)',
      '\t 3 JS:+onEnd file:///x/dist/server/intake-limits.js:359:23 (/tmp/perf-1.map)',
      '',
      'MainThread ',
      "\t 4 JS:*'walkFields file:///x/dist/restore/spec-diff.js:80:20 (/tmp/perf-1.map)",
      "\t 5 JS:+'decide file:///x/dist/restore/decider.js:35:17 (/tmp/perf-1.map)",
      '',
      'V8Worker ',
      '\t 6 v8::internal::ConcurrentMarking::RunMajor (/node)',
      '',
      'MainThread ',
      "\t 7 JS:+'create file:///x/dist/restore/validator.js:24:17 (/tmp/perf-1.map)",
      '',
    ].join('\n');
    const breakdown = breakdownOf(script);
    expect(Object.fromEntries(breakdown)).toEqual({
      'JSON.parse': 1,
      'restore rules: spec comparison': 1,
      "V8's helper threads (GC, compiling)": 1,
      'restore rules: the rest': 1,
    });
    // One sample is 1/PERF_FREQUENCY s of CPU: over one review, ~1,001 µs.
    expect(perReview(breakdown, 1).get('JSON.parse')).toBeCloseTo(1e6 / PERF_FREQUENCY);
    const table = breakdownTable(
      new Map([['JSON.parse', 10]]),
      new Map([
        ['JSON.parse', 12],
        ['Fastify', 5],
      ]),
    );
    expect(table).toContain('| JSON.parse | 10.0 | 12.0 | +2.0 |');
    expect(table).toContain('| **total** | 10.0 | 17.0 | +7.0 |');
  });
});
