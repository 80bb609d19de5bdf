import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { at } from '../support/json-path.js';

/**
 * The PrometheusRule's alerts under promtool: `promtool check rules` on its spec.groups, and `promtool test rules`
 * with test/deploy/prometheusrule.test.yaml, one test group per alert. Then each rule is broken on purpose (a
 * threshold, a window, a `for`, a label matcher) and the tests must fail, on that alert's group and no other:
 * every group tests its own rule. promtool comes from Debian's prometheus package (scripts/ensure-promtool.sh).
 */

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const RULE = join(ROOT, 'manifests', 'monitoring', 'prometheusrule.yaml');
const TESTS = join(import.meta.dirname, 'prometheusrule.test.yaml');
type Obj = Record<string, unknown>;
interface Rule {
  alert: string;
  expr: string;
  for?: string;
}

const groups = at(parse(readFileSync(RULE, 'utf8')), 'spec', 'groups') as Obj[];
const rules = groups.flatMap((g) => g.rules as Rule[]);
const ALERTS = rules.map((r) => r.alert);

let promtool: string;
let work: string;
let runs = 0;

/** Writes the rule groups (changed by `change`, if given) beside a copy of the tests; runs `promtool test rules`. */
async function testRules(change?: (rules: Rule[]) => void): Promise<{ ok: boolean; output: string }> {
  const dir = join(work, `run-${++runs}`);
  mkdirSync(dir);
  const copy = structuredClone(groups);
  change?.(copy.flatMap((g) => g.rules as Rule[]));
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: copy }));
  copyFileSync(TESTS, join(dir, 'prometheusrule.test.yaml'));
  try {
    const { stdout, stderr } = await run(promtool, ['test', 'rules', 'prometheusrule.test.yaml'], { cwd: dir });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const { stdout, stderr } = error as { stdout: string; stderr: string };
    return { ok: false, output: stdout + stderr };
  }
}

/** The test groups promtool reports as failed (`name: <group>,` under FAILED). */
function failedGroups(output: string): string[] {
  return [...new Set([...output.matchAll(/^\s*name: (\S+),$/gm)].map((m) => m[1]!))].sort();
}

beforeAll(async () => {
  promtool = (await run('bash', [join(ROOT, 'scripts', 'ensure-promtool.sh')], { maxBuffer: 16 * 1024 * 1024 })).stdout.trim();
  work = mkdtempSync(join(tmpdir(), 'rg-promtool-'));
}, 600_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the PrometheusRule under promtool', () => {
  it('promtool check rules: its spec.groups are valid rules', async () => {
    const dir = join(work, 'check');
    mkdirSync(dir);
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
    const { stdout } = await run(promtool, ['check', 'rules', join(dir, 'rules.yaml')]);
    expect(stdout).toContain(`SUCCESS: ${ALERTS.length} rules found`);
  });

  it('the unit tests: one group per alert, testing only that alert, firing at some times and silent at others', () => {
    const tests = at(parse(readFileSync(TESTS, 'utf8')), 'tests') as Obj[];
    expect(tests.map((t) => t.name)).toEqual(ALERTS);
    for (const test of tests) {
      const cases = test.alert_rule_test as Obj[];
      expect(new Set(cases.map((c) => c.alertname)), String(test.name)).toEqual(new Set([test.name]));
      expect(
        cases.some((c) => (c.exp_alerts as Obj[]).length > 0),
        `${String(test.name)} fires`,
      ).toBe(true);
      expect(
        cases.some((c) => (c.exp_alerts as Obj[]).length === 0),
        `${String(test.name)} is silent`,
      ).toBe(true);
    }
  });

  it('promtool test rules passes', async () => {
    const { ok, output } = await testRules();
    expect(output).toContain('SUCCESS');
    expect(ok, output).toBe(true);
  });
});

/** Ways to break each rule; every one must turn its own alert's test group red, and only that one. */
const BREAKS: Array<{ alert: string; how: string; change: (rule: Rule) => void }> = [
  { alert: 'RestoreGuardCertificateExpiringSoon', how: 'threshold 15 days', change: (r) => (r.expr = r.expr.replace('< 14 *', '< 15 *')) },
  { alert: 'RestoreGuardCertificateExpiringSoon', how: 'threshold 13 days', change: (r) => (r.expr = r.expr.replace('< 14 *', '< 13 *')) },
  { alert: 'RestoreGuardCertificateExpiringSoon', how: 'for 30m', change: (r) => (r.for = '30m') },
  { alert: 'RestoreGuardCertificateReloadFailed', how: 'successful reloads too', change: (r) => (r.expr = r.expr.replace('{result="error"}', '')) },
  { alert: 'RestoreGuardCertificateReloadFailed', how: 'window 10m', change: (r) => (r.expr = r.expr.replace('[15m]', '[10m]')) },
  { alert: 'RestoreGuardPolicyRejected', how: 'accepted policies too', change: (r) => (r.expr = r.expr.replace('{result="rejected"}', '')) },
  { alert: 'RestoreGuardPolicyRejected', how: 'window 30m', change: (r) => (r.expr = r.expr.replace('[15m]', '[30m]')) },
  { alert: 'RestoreGuardFailOpenUsed', how: 'window 10m', change: (r) => (r.expr = r.expr.replace('[15m]', '[10m]')) },
  { alert: 'RestoreGuardFailOpenUsed', how: 'more than 3', change: (r) => (r.expr = r.expr.replace('> 0', '> 3')) },
  { alert: 'RestoreGuardSubjectAccessReviewErrors', how: 'no for', change: (r) => delete r.for },
  { alert: 'RestoreGuardSubjectAccessReviewErrors', how: 'window 5m', change: (r) => (r.expr = r.expr.replace('[10m]', '[5m]')) },
  { alert: 'RestoreGuardSubjectAccessReviewErrors', how: 'every call', change: (r) => (r.expr = r.expr.replace('{result="error"}', '')) },
  { alert: 'RestoreGuardReplicasNotReady', how: '<= instead of <', change: (r) => (r.expr = r.expr.replace('\n  <', '\n  <=')) },
  { alert: 'RestoreGuardReplicasNotReady', how: 'for 5m', change: (r) => (r.for = '5m') },
  {
    alert: 'RestoreGuardReplicasNotReady',
    how: 'any deployment named restore-guard',
    change: (r) => (r.expr = r.expr.replaceAll('namespace="restore-guard", ', '')),
  },
];

describe('each alert test fails when its rule is broken', () => {
  it('every alert has a way to break it below', () => {
    expect([...new Set(BREAKS.map((b) => b.alert))]).toEqual(ALERTS);
  });

  it.each(BREAKS)('$alert: $how', async ({ alert, change }) => {
    const { ok, output } = await testRules((all) => {
      const rule = all.find((r) => r.alert === alert)!;
      const before = structuredClone(rule);
      change(rule);
      expect(rule, 'the break changes the rule').not.toEqual(before);
    });
    expect(ok, output).toBe(false);
    expect(failedGroups(output)).toEqual([alert]);
  });
});
