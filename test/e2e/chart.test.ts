// charts/restore-guard against a real kube-apiserver: `helm template` with default values, with both sources,
// with monitoring on, with mTLS, with the PodCheckpoint stand-in, and without cert-manager, each applied with `kubectl apply --server-side --dry-run=server`
// (the kubectl built beside kube-apiserver, as manifests.test.ts does for kustomize): the API server's own
// validation (schemas, strict field validation, CEL of matchConditions and the ValidatingAdmissionPolicies)
// judges every object the chart renders, and nothing is stored.
//
// The chart also renders kinds of other projects (cert-manager's Certificate and Issuer, the Prometheus
// Operator's ServiceMonitor and PrometheusRule) whose CRDs this bare API server lacks. They get stand-in CRDs
// for the length of this file: the same group, version, kind, plural and scope, with a schema that keeps any
// spec. So the API server checks their apiVersion, kind, namespace and metadata here, not their spec: the
// PrometheusRule's spec is checked by promtool (test/deploy/promtool.tools.test.ts), and the chart's copies of
// all four equal what manifests/ holds (test/deploy/chart.tools.test.ts).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseStream, run, type ControlPlaneInfo, type Manifest } from '../../harness/controlplane/controlplane.js';
import { kubectl } from '../../harness/controlplane/kubectl.js';
import { REPO } from '../../harness/controlplane/paths.js';

const info: ControlPlaneInfo = inject('controlPlane');
const CHART = join(REPO, 'charts', 'restore-guard');
const exec = promisify(execFile);

/** The foreign kinds the chart may render, as their projects' CRDs declare them (all namespaced). */
const FOREIGN = [
  { group: 'cert-manager.io', version: 'v1', kind: 'Certificate', plural: 'certificates' },
  { group: 'cert-manager.io', version: 'v1', kind: 'Issuer', plural: 'issuers' },
  { group: 'monitoring.coreos.com', version: 'v1', kind: 'ServiceMonitor', plural: 'servicemonitors' },
  { group: 'monitoring.coreos.com', version: 'v1', kind: 'PrometheusRule', plural: 'prometheusrules' },
];
const STAND_IN = 'restore-guard.dev/e2e-stand-in-for-chart';
const standInCrd = ({ group, version, kind, plural }: (typeof FOREIGN)[number]): Record<string, unknown> => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.${group}`, labels: { [STAND_IN]: 'true' } },
  spec: {
    group,
    scope: 'Namespaced',
    names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
    versions: [
      {
        name: version,
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } },
      },
    ],
  },
});

let helm: string;

async function template(args: string[] = []): Promise<Manifest[]> {
  const { stdout } = await exec(helm, ['template', 'restore-guard', CHART, '--namespace', 'default', ...args], { maxBuffer: 32 * 1024 * 1024 });
  return parseStream(stdout);
}
async function dryRun(objects: Manifest[]): Promise<{ code: number; stderr: string; stdout: string }> {
  return kubectl(info, ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'], { input: objects });
}
const kinds = (objects: Manifest[]) => [...new Set(objects.map((o) => String(o.kind)))].sort();

beforeAll(async () => {
  // Built by `npm run test:tools` before (.cache/bin), or now from the Go module proxy (a few minutes).
  helm = (await exec('bash', [join(REPO, 'scripts', 'ensure-helm.sh')], { maxBuffer: 16 * 1024 * 1024 })).stdout.trim();
  await run(info, ['apply', '--server-side', '-f', '-'], { input: FOREIGN.map(standInCrd) });
  await run(info, ['wait', '--for=condition=Established', '--timeout=60s', ...FOREIGN.map(({ group, plural }) => `crd/${plural}.${group}`)]);
}, 1_800_000);
afterAll(async () => {
  await run(info, ['delete', 'crd', '-l', STAND_IN, '--ignore-not-found', '--wait=false']);
});

describe('the Helm chart applies to kube-apiserver with server-side dry-run', () => {
  it('default values: every object, cert-manager Certificate and Issuer included', async () => {
    const objects = await template();
    expect(kinds(objects)).toEqual(
      expect.arrayContaining([
        'Certificate',
        'ClusterRole',
        'ConfigMap',
        'Deployment',
        'Issuer',
        'MutatingWebhookConfiguration',
        'ValidatingAdmissionPolicy',
        'ValidatingWebhookConfiguration',
      ]),
    );
    const result = await dryRun(objects);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(objects.length);
  });

  it('both sources on, with their presets in the policy: their webhook entries, RBAC and policies too', async () => {
    const policy = [
      'apiVersion: restore-guard.dev/v1alpha1',
      'kind: RestorePolicy',
      'sources:',
      '  - preset: kep-5823',
      '  - preset: dynamo-snapshot',
      '  - preset: gke-pod-snapshot',
    ];
    const objects = await template([
      '--set',
      'sources.dynamoSnapshot=true,sources.gkePodSnapshot=true',
      '--set-string',
      `policy=${policy.join('\n')}\n`.replaceAll(',', '\\,'),
    ]);
    expect(objects.map((o) => o.metadata?.name)).toEqual(expect.arrayContaining(['dynamo-snapshot.restore-guard.dev', 'gke-pod-snapshot.restore-guard.dev']));
    const result = await dryRun(objects);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('monitoring on: ServiceMonitor, PrometheusRule and the dashboard ConfigMap', async () => {
    const objects = await template(['--set', 'monitoring.serviceMonitor=true,monitoring.prometheusRule=true,monitoring.dashboard=true']);
    expect(kinds(objects)).toEqual(expect.arrayContaining(['PrometheusRule', 'ServiceMonitor']));
    expect(objects.map((o) => o.metadata?.name)).toContain('restore-guard-dashboard');
    const result = await dryRun(objects);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('mTLS on: the client CA ConfigMap, the flags and mount, 8443 open to all', async () => {
    const pem = '-----BEGIN CERTIFICATE-----\nnot checked by the API server\n-----END CERTIFICATE-----\n';
    const objects = await template(['--set', 'mtls.enabled=true', '--set-string', `mtls.clientCA=${pem}`]);
    expect(objects.map((o) => `${String(o.kind)}/${String(o.metadata?.name)}`)).toContain('ConfigMap/restore-guard-client-ca');
    const deployment = objects.find((o) => o.kind === 'Deployment') as Manifest;
    expect(JSON.stringify(deployment)).toContain('--client-allowed-names=kube-apiserver-admission-client');
    const result = await dryRun(objects);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  // The stand-in is the one case where the chart renders a CRD. A server-side dry-run creates nothing, so a CRD
  // dry-run in the same apply serves nothing either: an object of its kind cannot be judged beside it (kubectl
  // finds no mapping for the kind). The chart renders no such object (the ClusterRole rule and the companion
  // policy name the group as strings, which needs no served API), so the dry-run of the whole chart judges the
  // CRD itself and every object with it, whether or not the cluster serves the CRD already. This control plane
  // does (global setup installs the stand-in Component), so here the CRD is judged as an update of that one; the
  // second half shows the same CRD shape created fresh, under a group nothing serves.
  it('the PodCheckpoint stand-in on (and the policy on its group): the CRD, RBAC and companion policy on checkpoint.k8s.io', async () => {
    const objects = await template([
      '--set',
      'podCheckpointStandIn.enabled=true',
      '--set-string',
      'policy=checkpointAPI: {group: checkpoint.k8s.io}\n'.replaceAll(',', '\\,'),
    ]);
    const crd = objects.find((o) => o.kind === 'CustomResourceDefinition') as Manifest;
    expect(crd.metadata?.name).toBe('podcheckpoints.checkpoint.k8s.io');
    expect(JSON.stringify(objects.find((o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata?.name === 'restore-guard.dev'))).toContain(
      "authorizer.group('checkpoint.k8s.io')",
    );
    await run(info, ['get', 'crd', 'podcheckpoints.checkpoint.k8s.io']);
    const result = await dryRun(objects);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('customresourcedefinition.apiextensions.k8s.io/podcheckpoints.checkpoint.k8s.io serverside-applied (server dry run)');

    // The same CRD under a group nothing serves (outside *.k8s.io, so without the approval annotation), with a
    // PodCheckpoint of it, in one apply: the CRD passes the dry-run, its object cannot be judged with it.
    const group = 'checkpoint.e2e-dry-run.restore-guard.dev';
    const fresh = structuredClone(crd) as Manifest & { spec: { group: string }; metadata: { annotations?: Record<string, string> } };
    fresh.metadata.name = `podcheckpoints.${group}`;
    delete fresh.metadata.annotations?.['api-approved.kubernetes.io'];
    fresh.spec.group = group;
    const checkpoint = {
      apiVersion: `${group}/v1alpha1`,
      kind: 'PodCheckpoint',
      metadata: { name: 'cp', namespace: 'default' },
      spec: { sourcePod: { name: 'web-0' } },
    };
    const both = await dryRun([fresh, checkpoint]);
    expect(both.stdout).toContain(`customresourcedefinition.apiextensions.k8s.io/podcheckpoints.${group} serverside-applied (server dry run)`);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/no matches for kind "PodCheckpoint" in version "checkpoint\.e2e-dry-run\.restore-guard\.dev\/v1alpha1"/);
    expect((await kubectl(info, ['get', 'crd', fresh.metadata.name])).code).not.toBe(0);
  });

  it('without cert-manager (an existing Secret and its CA bundle), the companion policy off', async () => {
    const ca = Buffer.from('-----BEGIN CERTIFICATE-----\nnot checked by the API server\n-----END CERTIFICATE-----\n').toString('base64');
    const objects = await template(['--set', `certManager.enabled=false,companionPolicy.enabled=false,caBundle=${ca}`]);
    expect(kinds(objects)).not.toContain('Certificate');
    expect(kinds(objects)).not.toContain('ValidatingAdmissionPolicy');
    const result = await dryRun(objects);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('a value the API server refuses is refused (the dry-run judges what the chart renders)', async () => {
    const objects = await template(['--set', 'image.pullPolicy=Sometimes']);
    const result = await dryRun(objects);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/imagePullPolicy: Unsupported value: "Sometimes"/);
  });
});
