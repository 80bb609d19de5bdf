import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { at } from '../support/json-path.js';

/**
 * What keeps charts/restore-guard equal to manifests/ without helm (chart.tools.test.ts renders both): the
 * monitoring files and the stand-in CRD the chart embeds are copies of manifests/, and the default policy value
 * is the base ConfigMap's text.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const CHART = join(ROOT, 'charts', 'restore-guard');

describe('charts/restore-guard', () => {
  it.each(['restore-guard-dashboard.json', 'prometheusrule.yaml'])('files/%s is manifests/monitoring/%s', (file) => {
    expect(readFileSync(join(CHART, 'files', file), 'utf8')).toBe(readFileSync(join(ROOT, 'manifests', 'monitoring', file), 'utf8'));
  });

  it('files/podcheckpoints.checkpoint.k8s.io.yaml is the stand-in CRD of manifests/components/podcheckpoint-standin', () => {
    const file = 'podcheckpoints.checkpoint.k8s.io.yaml';
    expect(readFileSync(join(CHART, 'files', file), 'utf8')).toBe(readFileSync(join(ROOT, 'manifests', 'components', 'podcheckpoint-standin', file), 'utf8'));
  });

  it("the default policy value is the base ConfigMap's policy.yaml, comments included", () => {
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const configMap = parse(readFileSync(join(ROOT, 'manifests', 'base', 'policy-configmap.yaml'), 'utf8')) as unknown;
    expect(values.policy).toBe(at(configMap, 'data', 'policy.yaml'));
  });
});
