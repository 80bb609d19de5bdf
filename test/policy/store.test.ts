import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createMetrics } from '../../src/observability/metrics.js';
import { defaultPolicy } from '../../src/policy/policy.js';
import { PolicyStore } from '../../src/policy/store.js';

const HEADER = 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n';

function store() {
  const metrics = createMetrics({ defaultMetrics: false });
  const lines: Array<{ level: number; msg: string } & Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  return { store: new PolicyStore({ logger, metrics }), metrics, lines };
}

const reloads = async (metrics: ReturnType<typeof createMetrics>) =>
  (await metrics.policyReloads.get()).values.map((v) => `${v.labels.source}/${v.labels.result}=${v.value}`).sort();

describe('PolicyStore', () => {
  it('starts with the defaults at generation 1', () => {
    const { store: s } = store();
    expect(s.current()).toEqual(defaultPolicy());
    expect(s.generation).toBe(1);
  });

  it('applies a valid change with a new generation and tells listeners', () => {
    const { store: s, metrics } = store();
    const seen: string[] = [];
    s.onChange((policy, previous) => seen.push(`${previous.mode}->${policy.mode}`));
    expect(s.apply(`${HEADER}mode: warn`, 'configmap', 'ns/cm')).toEqual({ result: 'accepted', generation: 2 });
    expect(s.current().mode).toBe('warn');
    expect(seen).toEqual(['enforce->warn']);
    return metrics.registry
      .getSingleMetricAsString('restore_guard_policy_generation')
      .then((text) => expect(text).toContain('restore_guard_policy_generation 2'));
  });

  it('keeps the last good policy when a document is invalid, and counts it', async () => {
    const { store: s, metrics } = store();
    s.apply(`${HEADER}mode: audit`, 'file', 'p');
    const before = s.current();
    const result = s.apply(`${HEADER}mode: sometimes`, 'file', 'p');
    expect(result.result).toBe('rejected');
    expect(s.current()).toBe(before);
    expect(s.generation).toBe(2);
    expect(await metrics.registry.getSingleMetricAsString('restore_guard_policy_reloads_total')).toContain('source="file",result="rejected"} 1');
  });

  it('does not bump the generation for a document that changes nothing', () => {
    const { store: s } = store();
    expect(s.apply(`${HEADER}mode: enforce\n# only a comment changed`, 'configmap', 'x').result).toBe('unchanged');
    expect(s.generation).toBe(1);
  });

  it('goes back to the defaults when the document disappears', () => {
    const { store: s } = store();
    s.apply(`${HEADER}mode: warn`, 'configmap', 'x');
    expect(s.apply(undefined, 'configmap', 'x').result).toBe('accepted');
    expect(s.current()).toEqual(defaultPolicy());
    expect(s.generation).toBe(3);
  });

  it('has nothing unavailable when no source is configured', () => {
    expect(store().store.unavailable()).toBeUndefined();
  });

  it('is unavailable from expect() until the configured source delivers a valid policy, and says why', () => {
    const { store: s } = store();
    s.expect('configmap', 'ConfigMap ns/cm');
    expect(s.unavailable()).toContain('ConfigMap ns/cm');
    expect(s.unavailable()).toContain('not been read yet');
    s.readFailed('the API server answered HTTP 500');
    expect(s.unavailable()).toContain('HTTP 500');
    expect(s.apply(`${HEADER}mode: sometimes`, 'configmap', 'ns/cm').result).toBe('rejected');
    expect(s.unavailable()).toContain('does not validate');
    expect(s.unavailable()).toContain('/mode');
    expect(s.apply(`${HEADER}mode: warn`, 'configmap', 'ns/cm').result).toBe('accepted');
    expect(s.unavailable()).toBeUndefined();
    // Once loaded, a later bad document keeps the last good policy: still available.
    s.apply(`${HEADER}mode: sometimes`, 'configmap', 'ns/cm');
    expect(s.unavailable()).toBeUndefined();
  });

  it('counts a configured document equal to the defaults, or no document at all, as loaded', () => {
    const a = store().store;
    a.expect('file', 'f');
    expect(a.apply(HEADER, 'file', 'f').result).toBe('unchanged');
    expect(a.unavailable()).toBeUndefined();
    const b = store().store;
    b.expect('configmap', 'cm');
    b.apply(undefined, 'configmap', 'cm');
    expect(b.unavailable()).toBeUndefined();
  });

  it('counts every document by source and result, and tells listeners only of accepted changes', async () => {
    const { store: s, metrics } = store();
    const seen: string[] = [];
    s.onChange((policy) => seen.push(policy.mode));
    s.apply(`${HEADER}mode: warn`, 'file', 'f');
    s.apply(`${HEADER}mode: warn`, 'file', 'f');
    s.apply(`${HEADER}mode: nope`, 'configmap', 'c');
    s.apply(`${HEADER}mode: audit`, 'configmap', 'c');
    expect(seen).toEqual(['warn', 'audit']);
    expect(await reloads(metrics)).toEqual(['configmap/accepted=1', 'configmap/rejected=1', 'file/accepted=1', 'file/unchanged=1']);
    expect(s.generation).toBe(3);
  });

  it('logs an accepted policy at info, a failureMode: open one at warn, and a refusal at error with its errors', () => {
    const { store: s, lines } = store();
    s.apply(`${HEADER}mode: warn`, 'file', 'f');
    s.apply(`${HEADER}failureMode: open`, 'file', 'f');
    s.apply(`${HEADER}mode: nope`, 'file', 'f');
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [30, 'policy applied'],
      [40, 'policy applied with failureMode: open: API failures will ALLOW restores unchecked'],
      [50, 'invalid policy refused; the last good policy stays in effect'],
    ]);
    expect(lines[0]).toMatchObject({ source: 'file', origin: 'f', generation: 2, defaults: false, mode: 'warn', failureMode: 'closed' });
    expect(lines[2]).toMatchObject({ generation: 3, errors: ['/mode: must be one of enforce, warn, audit'] });
  });

  it('says when the configured policy is loaded, once', () => {
    const { store: s, lines } = store();
    s.expect('file', 'f');
    s.apply(`${HEADER}mode: warn`, 'file', 'f');
    s.apply(`${HEADER}mode: audit`, 'file', 'f');
    expect(lines.filter((l) => l.msg === 'the configured policy is loaded: restores are decided')).toHaveLength(1);
  });

  it('gives the listener the policy before the change, and records the generation in the metric', async () => {
    const { store: s, metrics } = store();
    const pairs: string[] = [];
    s.onChange((policy, previous) => pairs.push(`${previous.mode}->${policy.mode}`));
    s.apply(`${HEADER}mode: warn`, 'file', 'f');
    s.apply(undefined, 'file', 'f');
    expect(pairs).toEqual(['enforce->warn', 'warn->enforce']);
    expect((await metrics.policyGeneration.get()).values[0]?.value).toBe(3);
  });

  it('exposes the rejected reloads of a configured source at 0 from expect(), before any document', async () => {
    const { store: s, metrics } = store();
    expect(await reloads(metrics)).toEqual([]);
    s.expect('configmap', 'ConfigMap ns/cm');
    expect(await reloads(metrics)).toEqual(['configmap/rejected=0']);
    s.apply(`${HEADER}mode: sometimes`, 'configmap', 'ns/cm');
    expect(await reloads(metrics)).toEqual(['configmap/rejected=1']);
  });

  it('records generation 1 in the metric from the start', async () => {
    const { metrics } = store();
    expect((await metrics.policyGeneration.get()).values[0]?.value).toBe(1);
  });

  it('ignores a read failure when no source is expected', () => {
    const { store: s } = store();
    s.readFailed('the API server answered HTTP 500');
    expect(s.unavailable()).toBeUndefined();
  });

  it('says why the configured document does not validate, every error of it', () => {
    const { store: s } = store();
    s.expect('file', 'f');
    s.apply(`${HEADER}mode: sometimes\nplacement: anywhere`, 'file', 'f');
    expect(s.unavailable()).toBe(
      'restore-guard has not loaded its configured policy (f): it does not validate: /mode: must be one of enforce, warn, audit; ' +
        '/placement: must be one of nodeAffinity, nodeName, none',
    );
  });

  it('logs where the configured policy came from, and whether the defaults were applied', () => {
    const { store: s, lines } = store();
    s.expect('file', 'f');
    s.apply(`${HEADER}mode: warn`, 'file', 'f');
    s.apply(undefined, 'file', 'f');
    expect(lines[0]).toMatchObject({ level: 30, source: 'file', origin: 'f', msg: 'the configured policy is loaded: restores are decided' });
    expect(lines[2]).toMatchObject({ msg: 'policy applied', defaults: true, generation: 3 });
  });
});
