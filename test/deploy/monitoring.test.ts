import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { createMetrics } from '../../src/observability/metrics.js';
import { at } from '../support/json-path.js';
import { startWebhookProcess, type WebhookProcess } from '../support/webhook-process.js';

/**
 * manifests/monitoring: the Grafana dashboard and the PrometheusRule are well-formed, and every metric their
 * PromQL names is one a running restore-guard (the built binary) exposes on /metrics, with labels it has, so a
 * renamed metric or label cannot silently blank a panel or mute an alert. `promtool check rules` and the
 * per-alert `promtool test rules` run in test/deploy/promtool.tools.test.ts (npm run test:tools).
 */

const DIR = join(import.meta.dirname, '..', '..', 'manifests', 'monitoring');
type Obj = Record<string, unknown>;

/** Metrics from outside restore-guard that the rules may read, with the exporter that provides them. */
const EXTERNAL: Record<string, string> = {
  kube_deployment_status_replicas_ready: 'kube-state-metrics',
  kube_deployment_spec_replicas: 'kube-state-metrics',
};
/** Labels Prometheus adds to every series it scrapes through the ServiceMonitor. */
const TARGET_LABELS = ['namespace', 'pod', 'service', 'container', 'endpoint', 'job', 'instance'];
const NOT_METRICS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

interface Selector {
  metric: string;
  labels: string[];
}

/**
 * The metric names a PromQL expression reads, each with the label names its matchers use (an approximation of
 * the PromQL grammar good for the expressions written here: strings, ranges and grouping clauses removed,
 * identifiers followed by `(` taken as functions).
 */
function selectors(expr: string): Selector[] {
  const found: Selector[] = [];
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  rest = rest.replace(/([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}/g, (_all, metric: string | undefined, matchers: string) => {
    const labels = [...matchers.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!);
    if (!metric) throw new Error(`a selector without a metric name in ${expr}`);
    found.push({ metric, labels });
    return ' ';
  });
  rest = rest.replace(/\[[^\]]*\]/g, ' ').replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  for (const m of rest.matchAll(/([a-zA-Z_:][\w:]*)(?=\s*(\()?)/g)) {
    const [, name, call] = m;
    const before = rest[m.index - 1];
    if (call || NOT_METRICS.has(name!.toLowerCase()) || (before && /[\w.$]/.test(before))) continue;
    found.push({ metric: name!, labels: [] });
  }
  return found;
}

function balanced(expr: string): boolean {
  const open: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  for (const c of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
    if ('([{'.includes(c)) open.push(c);
    else if (c in pairs && open.pop() !== pairs[c]) return false;
  }
  return open.length === 0;
}

const dashboard = JSON.parse(readFileSync(join(DIR, 'restore-guard-dashboard.json'), 'utf8')) as Obj;
const panels = (at(dashboard, 'panels') as Obj[]).filter((p) => p.type !== 'row');
const panelExprs = panels.flatMap((p) => (p.targets as Obj[]).map((t) => ({ where: `panel "${String(p.title)}"`, expr: String(t.expr) })));
const variableExprs = (at(dashboard, 'templating', 'list') as Obj[])
  .filter((v) => v.type === 'query')
  .map((v) => {
    const query = String(at(v, 'query', 'query'));
    const m = /^label_values\((.*),\s*\w+\)$/.exec(query);
    if (!m) throw new Error(`variable ${String(v.name)}: not label_values(selector, label): ${query}`);
    return { where: `variable ${String(v.name)}`, expr: m[1]! };
  });
const ruleDocs = parseAllDocuments(readFileSync(join(DIR, 'prometheusrule.yaml'), 'utf8'));
const rule = ruleDocs[0]!.toJS() as Obj;
const rules = (at(rule, 'spec', 'groups') as Obj[]).flatMap((g) => g.rules as Obj[]);
const ruleExprs = rules.map((r) => ({ where: `alert ${String(r.alert)}`, expr: String(r.expr) }));
const allExprs = [...panelExprs, ...variableExprs, ...ruleExprs];

describe('the PromQL reader of this test', () => {
  it('finds metric names and matcher labels, not functions, keywords, grouping labels or Grafana variables', () => {
    expect(
      selectors(
        'histogram_quantile(0.99, sum by (le, webhook) (rate(a_bucket{namespace=~"$ns", pod="x{y}"}[$__rate_interval]))) / on(pod) b - time() < 14 * 24 and bool c',
      ),
    ).toEqual([
      { metric: 'a_bucket', labels: ['namespace', 'pod'] },
      { metric: 'b', labels: [] },
      { metric: 'c', labels: [] },
    ]);
  });
});

describe('manifests/monitoring is well-formed', () => {
  it('the kustomization lists every file of the folder', () => {
    const kustomization = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as Obj;
    const listed = [...(kustomization.resources as string[]), ...(at(kustomization, 'configMapGenerator', 0, 'files') as string[])];
    expect(listed.concat('kustomization.yaml').sort()).toEqual(readdirSync(DIR).sort());
    expect(at(kustomization, 'configMapGenerator', 0, 'options', 'labels', 'grafana_dashboard')).toBe('1');
  });

  it('the dashboard: a uid, unique panel ids on a 24-column grid, a Prometheus query in every panel', () => {
    expect(dashboard.uid).toBe('restore-guard');
    const all = at(dashboard, 'panels') as Obj[];
    const ids = all.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of all) {
      const grid = panel.gridPos as { x: number; w: number; h: number; y: number };
      expect(grid.x + grid.w, String(panel.title)).toBeLessThanOrEqual(24);
      expect(grid.h, String(panel.title)).toBeGreaterThan(0);
    }
    for (const panel of panels) {
      expect(panel.targets, String(panel.title)).not.toHaveLength(0);
      expect(at(panel, 'datasource', 'uid'), String(panel.title)).toBe('${datasource}');
      expect(typeof panel.description, String(panel.title)).toBe('string');
    }
    for (const { where, expr } of allExprs) expect(balanced(expr), `${where}: ${expr}`).toBe(true);
  });

  it('the dashboard shows what an admin watches', () => {
    const titles = panels.map((p) => p.title);
    for (const title of [
      'Decisions by outcome and source',
      'Review latency p50 / p99',
      'SubjectAccessReview latency p50 / p99',
      'SubjectAccessReview cache hit ratio',
      'API failures',
      'Fail-open use',
      'Policy generation',
      'Policy reloads',
      'Certificate expiry',
      'Reviews in flight',
      'Memory',
    ]) {
      expect(titles).toContain(title);
    }
  });

  it('the PrometheusRule: one YAML document, each alert named once with a severity, a summary and a description', () => {
    expect(ruleDocs).toHaveLength(1);
    expect(ruleDocs[0]!.errors).toEqual([]);
    expect(rule.kind).toBe('PrometheusRule');
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rules.map((r) => r.alert)).toEqual([
      'RestoreGuardCertificateExpiringSoon',
      'RestoreGuardCertificateReloadFailed',
      'RestoreGuardPolicyRejected',
      'RestoreGuardFailOpenUsed',
      'RestoreGuardSubjectAccessReviewErrors',
      'RestoreGuardReplicasNotReady',
    ]);
    for (const r of rules) {
      expect(['warning', 'critical'], String(r.alert)).toContain(at(r, 'labels', 'severity'));
      expect(typeof at(r, 'annotations', 'summary'), String(r.alert)).toBe('string');
      expect(typeof at(r, 'annotations', 'description'), String(r.alert)).toBe('string');
      if (r.for !== undefined) expect(r.for, String(r.alert)).toMatch(/^\d+[smh]$/);
    }
  });
});

describe('every metric the dashboard and the alerts read is exposed by a running restore-guard', () => {
  let webhook: WebhookProcess;
  /** Series names on /metrics: every `# TYPE`, with _bucket, _sum and _count for histograms and summaries. */
  const exposed = new Set<string>();
  /** The samples on /metrics at start-up: `name{labels}` and the value. */
  let samples: Array<{ metric: string; labels: Record<string, string>; value: number }> = [];
  beforeAll(async () => {
    // A policy file, as the manifests configure a policy source (the ConfigMap): its reloads are counted.
    const policyFile = join(mkdtempSync(join(tmpdir(), 'rg-monitoring-')), 'policy.yaml');
    writeFileSync(policyFile, 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n');
    webhook = await startWebhookProcess(['--policy-file', policyFile], { KUBECONFIG: '/nonexistent/kubeconfig' });
    const response = await fetch(`http://127.0.0.1:${webhook.metricsPort}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    samples = [...text.matchAll(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/gm)].map(([, metric, labels, value]) => ({
      metric: metric!,
      labels: Object.fromEntries([...(labels ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!])),
      value: Number(value),
    }));
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exposed.add(name!);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exposed.add(name! + suffix);
      if (type === 'summary') for (const suffix of ['_sum', '_count']) exposed.add(name! + suffix);
    }
  });
  afterAll(async () => {
    await webhook?.stop();
  });

  it('metric names', () => {
    expect(exposed.has('restore_guard_reviews_total')).toBe(true);
    const missing = allExprs.flatMap(({ where, expr }) =>
      selectors(expr)
        .filter(({ metric }) => !exposed.has(metric) && !(metric in EXTERNAL))
        .map(({ metric }) => `${where}: ${metric}`),
    );
    expect(missing).toEqual([]);
  });

  it('label names in matchers: the metric has them, or Prometheus adds them when it scrapes', () => {
    const labelNames = new Map<string, string[]>();
    for (const metric of createMetrics({ defaultMetrics: false }).registry.getMetricsAsArray()) {
      const { name, labelNames: names } = metric as unknown as { name: string; labelNames: string[] };
      for (const suffix of ['', '_bucket', '_sum', '_count']) labelNames.set(name + suffix, names);
    }
    const unknown = allExprs.flatMap(({ where, expr }) =>
      selectors(expr)
        .filter(({ metric }) => !(metric in EXTERNAL))
        .flatMap(({ metric, labels }) =>
          labels
            .filter(
              (label) => !TARGET_LABELS.includes(label) && !(labelNames.get(metric) ?? []).includes(label) && !(label === 'le' && metric.endsWith('_bucket')),
            )
            .map((label) => `${where}: ${metric}{${label}}`),
        ),
    );
    expect(unknown).toEqual([]);
  });

  it('the series an alert reads with increase() are on /metrics at 0 from start-up (increase() never sees a first sample)', () => {
    const read = ruleExprs.flatMap(({ where, expr }) =>
      [...expr.matchAll(/increase\(([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\[/g)].map(([, metric, matchers]) => ({
        where,
        metric: metric!,
        labels: Object.fromEntries([...(matchers ?? '').matchAll(/(\w+)\s*=\s*"([^"]*)"/g)].map((m) => [m[1]!, m[2]!])),
      })),
    );
    expect(read.map((r) => r.where)).toEqual([
      'alert RestoreGuardCertificateReloadFailed',
      'alert RestoreGuardPolicyRejected',
      'alert RestoreGuardFailOpenUsed',
      'alert RestoreGuardSubjectAccessReviewErrors',
    ]);
    const missing = read
      .filter(({ metric, labels }) => !samples.some((s) => s.metric === metric && s.value === 0 && Object.entries(labels).every(([k, v]) => s.labels[k] === v)))
      .map(({ where, metric, labels }) => `${where}: ${metric}${JSON.stringify(labels)}`);
    expect(missing).toEqual([]);
  });

  it('the decisions panel groups by labels restore_guard_reviews_total has, source among them', () => {
    const panel = panels.find((p) => p.title === 'Decisions by outcome and source')!;
    const grouped = /sum by \(([^)]*)\) \(rate\(restore_guard_reviews_total\{/.exec(String(at(panel, 'targets', 0, 'expr')))?.[1]?.split(/,\s*/);
    expect(grouped).toContain('source');
    const reviews = createMetrics({ defaultMetrics: false }).registry.getSingleMetric('restore_guard_reviews_total') as unknown as { labelNames: string[] };
    expect(reviews.labelNames).toEqual(expect.arrayContaining(grouped!));
    expect(String(at(panel, 'targets', 0, 'legendFormat'))).toContain('{{source}}');
  });

  it('the dashboard has a panel for every restore-guard metric (a new metric gets one)', () => {
    const onDashboard = new Set(
      [...panelExprs, ...variableExprs].flatMap(({ expr }) => selectors(expr).map((s) => s.metric.replace(/_(bucket|sum|count)$/, ''))),
    );
    const ours = createMetrics({ defaultMetrics: false })
      .registry.getMetricsAsArray()
      .map((m) => (m as unknown as { name: string }).name);
    expect(ours.filter((name) => !onDashboard.has(name))).toEqual([]);
  });
});
