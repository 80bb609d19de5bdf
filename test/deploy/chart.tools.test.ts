import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { renewCertificates } from '../../src/certs/authority.js';
import { parsePolicy } from '../../src/policy/parse.js';
import { at } from '../support/json-path.js';

/**
 * charts/restore-guard: `helm lint`, and `helm template` compared object by object (labels aside) with what
 * kustomize renders from manifests/, so the two install paths cannot drift: the defaults against the base plus
 * the cert-manager overlay, the sources against the source Components, monitoring against manifests/monitoring,
 * mTLS against the self-signed overlay, the PodCheckpoint stand-in against its Component.
 * helm and kustomize are built from the Go module proxy on first use (scripts/ensure-helm.sh, ensure-kustomize.sh).
 */

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const CHART = join(ROOT, 'charts', 'restore-guard');
type Obj = Record<string, unknown>;
const name = (doc: Obj) => `${String(doc.kind)}/${String(at(doc, 'metadata', 'name'))}`;

let helm: string;
let kustomize: string;
let work: string;

function parse(stdout: string): Obj[] {
  return parseAllDocuments(stdout)
    .map((doc) => {
      expect(doc.errors).toEqual([]);
      return doc.toJS() as Obj | null;
    })
    .filter((doc): doc is Obj => doc !== null);
}
let renders = 0;
/**
 * `helm template`, read back through kustomize so both sides pass the same Go YAML parser (`0440` is octal to
 * it and to the API server, folded scalars are unfolded alike).
 */
async function template(args: string[] = []): Promise<Obj[]> {
  const { stdout } = await run(helm, ['template', 'restore-guard', CHART, '--namespace', 'default', ...args], { maxBuffer: 32 * 1024 * 1024 });
  const dir = join(work, `helm-${++renders}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'chart.yaml'), stdout);
  writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [chart.yaml]\n');
  return build(dir);
}
async function build(dir: string): Promise<Obj[]> {
  return parse((await run(kustomize, ['build', dir], { maxBuffer: 32 * 1024 * 1024 })).stdout);
}
/** The objects by kind/name, without metadata.labels (the chart adds Helm's). */
function byName(docs: Obj[]): Record<string, Obj> {
  const out: Record<string, Obj> = {};
  for (const doc of docs) {
    const copy = structuredClone(doc);
    delete (copy.metadata as Obj).labels;
    expect(out[name(copy)], `${name(copy)} twice`).toBeUndefined();
    out[name(copy)] = copy;
  }
  return out;
}
/** A new overlay in the work copy: the cert-manager overlay (what the chart's defaults match) plus Components. */
function certManagerWith(dir: string, components: string[]): string {
  const overlay = join(work, 'manifests', 'overlays', dir);
  mkdirSync(overlay);
  writeFileSync(
    join(overlay, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources: [../cert-manager]',
      `components: [${components.map((c) => `../../components/${c}`).join(', ')}]`,
      '',
    ].join('\n'),
  );
  return overlay;
}
/** A values file written to the work folder. */
function values(file: string, text: string): string {
  const path = join(work, file);
  writeFileSync(path, text);
  return path;
}

beforeAll(async () => {
  kustomize = (await run('bash', [join(ROOT, 'scripts', 'ensure-kustomize.sh')], { maxBuffer: 16 * 1024 * 1024 })).stdout.trim();
  helm = (await run('bash', [join(ROOT, 'scripts', 'ensure-helm.sh')], { maxBuffer: 16 * 1024 * 1024 })).stdout.trim();
  work = mkdtempSync(join(tmpdir(), 'rg-chart-'));
  cpSync(join(ROOT, 'manifests'), join(work, 'manifests'), { recursive: true });
}, 1_800_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the Helm chart', () => {
  it('passes helm lint', async () => {
    const { stdout } = await run(helm, ['lint', '--strict', CHART]);
    expect(stdout).toContain('0 chart(s) failed');
  });

  it('with default values renders manifests/base plus the cert-manager overlay, object by object', async () => {
    const chart = await template();
    const kustomized = await build(join(ROOT, 'manifests', 'overlays', 'cert-manager'));
    expect(byName(chart)).toEqual(byName(kustomized));
    for (const doc of chart) {
      expect(at(doc, 'metadata', 'labels', 'app.kubernetes.io/part-of'), name(doc)).toBe('restore-guard');
      expect(at(doc, 'metadata', 'labels', 'app.kubernetes.io/managed-by'), name(doc)).toBe('Helm');
    }
    const policy = chart.find((d) => name(d) === 'ConfigMap/restore-guard-policy') as Obj;
    expect(() => parsePolicy(String(at(policy, 'data', 'policy.yaml')))).not.toThrow();
  });

  it('with both sources (and their presets in the policy) renders the source Components, the policy aside', async () => {
    const overlay = certManagerWith('sources', ['source-dynamo-snapshot', 'source-gke-pod-snapshot']);
    const kustomized = byName(await build(overlay));
    const policy =
      'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\nsources:\n  - preset: kep-5823\n  - preset: dynamo-snapshot\n  - preset: gke-pod-snapshot\n';
    const chart = byName(
      await template([
        '--set',
        'sources.dynamoSnapshot=true,sources.gkePodSnapshot=true',
        '-f',
        values('sources.yaml', `policy: |\n${policy.replace(/^/gm, '  ')}`),
      ]),
    );
    expect(at(chart['ConfigMap/restore-guard-policy'], 'data', 'policy.yaml')).toBe(policy);
    delete chart['ConfigMap/restore-guard-policy'];
    delete kustomized['ConfigMap/restore-guard-policy'];
    expect(chart).toEqual(kustomized);
    expect(Object.keys(chart)).toContain('ValidatingAdmissionPolicy/dynamo-snapshot.restore-guard.dev');
  });

  it('refuses a source whose preset the policy does not list (enable both, or neither)', async () => {
    await expect(template(['--set', 'sources.dynamoSnapshot=true'])).rejects.toThrow(/list `- preset: dynamo-snapshot`/);
  });

  it("with the PodCheckpoint stand-in (and its Component's policy as the value) renders the base plus the stand-in Component", async () => {
    const overlay = certManagerWith('standin', ['podcheckpoint-standin']);
    const kustomized = byName(await build(overlay));
    const patch = parseAllDocuments(
      readFileSync(join(ROOT, 'manifests', 'components', 'podcheckpoint-standin', 'policy-configmap-patch.yaml'), 'utf8'),
    )[0]?.toJS() as Obj;
    const policy = String(at(patch, 'data', 'policy.yaml'));
    const chart = byName(
      await template(['--set', 'podCheckpointStandIn.enabled=true', '-f', values('standin.yaml', `policy: |\n${policy.replace(/^(?=.)/gm, '  ')}`)]),
    );
    // The Component replaces the restore authorization's expression with a JSON patch, whose folded scalar
    // kustomize reads with one line break before the more-indented `.name(...)` line where it reads two from the
    // base (and the chart): the same CEL, spaced apart differently. Compared with whitespace collapsed.
    for (const objects of [chart, kustomized]) {
      const validation = at(objects['ValidatingAdmissionPolicy/restore-guard.dev'], 'spec', 'validations', 0) as Obj;
      validation.expression = String(validation.expression).replace(/\s+/g, ' ');
    }
    expect(chart).toEqual(kustomized);
    expect(Object.keys(chart)).toContain('CustomResourceDefinition/podcheckpoints.checkpoint.k8s.io');
    expect(parsePolicy(policy)).toMatchObject({ ok: true, policy: { checkpointAPI: { group: 'checkpoint.k8s.io' } } });
  });

  it('refuses the stand-in unless the policy names its group, and that group without the stand-in', async () => {
    await expect(template(['--set', 'podCheckpointStandIn.enabled=true'])).rejects.toThrow(
      /podCheckpointStandIn.enabled is on: the policy value must say `checkpointAPI: \{group: checkpoint.k8s.io\}` \(.* it says node.k8s.io\)/,
    );
    const other = values('other-group.yaml', 'policy: |\n  checkpointAPI: {group: checkpoint.k8s.io, version: v1alpha1}\n');
    await expect(template(['-f', other])).rejects.toThrow(
      /checkpointAPI.group is checkpoint.k8s.io, but the chart grants and checks podcheckpoints in node.k8s.io/,
    );
    await expect(template(['-f', other, '--set', 'podCheckpointStandIn.enabled=true'])).resolves.toBeDefined();
  });

  it('with monitoring on adds exactly what manifests/monitoring holds', async () => {
    const chart = await template(['--set', 'monitoring.serviceMonitor=true,monitoring.prometheusRule=true,monitoring.dashboard=true']);
    const defaults = byName(await template());
    const added = Object.fromEntries(Object.entries(byName(chart)).filter(([key]) => !(key in defaults)));
    expect(added).toEqual(byName(await build(join(ROOT, 'manifests', 'monitoring'))));
  });

  it("with mTLS (the client CA bundle, the pinned name) renders the self-signed overlay's Deployment, NetworkPolicy and client CA ConfigMap", async () => {
    const generated = join(work, 'manifests', 'overlays', 'self-signed', 'generated');
    const issued = await renewCertificates({ outDir: generated });
    const kustomized = byName(await build(join(work, 'manifests', 'overlays', 'self-signed')));
    const chart = byName(await template(['--set', 'mtls.enabled=true', '--set-file', `mtls.clientCA=${issued.files.caBundle}`]));
    const mtlsObjects = ['Deployment/restore-guard', 'NetworkPolicy/restore-guard', 'ConfigMap/restore-guard-client-ca'];
    for (const key of mtlsObjects) expect(chart[key], key).toEqual(kustomized[key]);
    expect(at(chart['ConfigMap/restore-guard-client-ca'], 'data', 'ca.crt')).toBe(readFileSync(issued.files.caBundle, 'utf8'));
    // Nothing else changes: the certificates stay cert-manager's (the overlay's Secret and caBundle are its own).
    const defaults = byName(await template());
    expect(Object.keys(chart).sort()).toEqual([...Object.keys(defaults), 'ConfigMap/restore-guard-client-ca'].sort());
    for (const key of Object.keys(defaults).filter((k) => !mtlsObjects.includes(k))) expect(chart[key], key).toEqual(defaults[key]);
  });

  it('mTLS: an existing ConfigMap instead, several names, CIDRs that narrow 8443; no CA source or no pinned name is refused', async () => {
    const docs = await template([
      '-f',
      values(
        'mtls.yaml',
        [
          'mtls: {enabled: true, existingConfigMap: my-client-ca, allowedNames: [apiserver-a, apiserver-b.example]}',
          'networkPolicy: {admissionFromCIDRs: [10.0.0.0/28]}',
          '',
        ].join('\n'),
      ),
    ]);
    expect(docs.map(name)).not.toContain('ConfigMap/restore-guard-client-ca');
    const pod = at(
      docs.find((d) => d.kind === 'Deployment'),
      'spec',
      'template',
      'spec',
    ) as Obj;
    expect((at(pod, 'containers', 0, 'args') as string[]).slice(-2)).toEqual([
      '--client-ca-file=/etc/restore-guard/client-ca/ca.crt',
      '--client-allowed-names=apiserver-a,apiserver-b.example',
    ]);
    expect((pod.volumes as Obj[]).find((v) => v.name === 'client-ca')).toEqual({ name: 'client-ca', configMap: { name: 'my-client-ca' } });
    const policy = docs.find((d) => d.kind === 'NetworkPolicy') as Obj;
    expect(at(policy, 'spec', 'ingress')).toEqual([
      { ports: [{ protocol: 'TCP', port: 8443 }], from: [{ ipBlock: { cidr: '10.0.0.0/28' } }] },
      { ports: [{ protocol: 'TCP', port: 8080 }] },
    ]);

    await expect(template(['--set', 'mtls.enabled=true'])).rejects.toThrow(/set mtls.clientCA .* or mtls.existingConfigMap/);
    await expect(template(['--set', 'mtls.enabled=true,mtls.existingConfigMap=x,mtls.allowedNames=null'])).rejects.toThrow(/mtls.allowedNames is empty/);
    await expect(template(['-f', values('mtls-unpinned.yaml', 'mtls: {enabled: true, existingConfigMap: x, allowedNames: []}\n')])).rejects.toThrow(
      /mtls.allowedNames is empty/,
    );
    await expect(template(['--set', 'mtls.enabled=true,mtls.existingConfigMap=x,mtls.clientCA=y'])).rejects.toThrow(/not both/);
    await expect(template(['--set', 'mtls.enabled=true,mtls.clientCA=not-pem'])).rejects.toThrow(/holds no PEM certificate/);
  });

  it('values: replicas, image, resources, NODE_OPTIONS, NetworkPolicy CIDRs, the companion policy off', async () => {
    const docs = await template([
      '-f',
      values(
        'admin.yaml',
        [
          'replicas: 3',
          'image: {repository: registry.example/rg, tag: "1.2.3"}',
          'nodeOptions: --max-old-space-size=300',
          'resources: {requests: {cpu: 200m, memory: 256Mi}, limits: {cpu: "2", memory: 512Mi}}',
          'networkPolicy: {admissionFromCIDRs: [10.0.0.0/28, "fd00::/64"]}',
          'companionPolicy: {enabled: false}',
          '',
        ].join('\n'),
      ),
    ]);
    const deployment = docs.find((d) => d.kind === 'Deployment') as Obj;
    const container = at(deployment, 'spec', 'template', 'spec', 'containers', 0) as Obj;
    expect(at(deployment, 'spec', 'replicas')).toBe(3);
    expect(container.image).toBe('registry.example/rg:1.2.3');
    expect(container.resources).toEqual({ requests: { cpu: '200m', memory: '256Mi' }, limits: { cpu: '2', memory: '512Mi' } });
    expect(container.env).toEqual([{ name: 'NODE_OPTIONS', value: '--max-old-space-size=300' }]);
    const policy = docs.find((d) => d.kind === 'NetworkPolicy') as Obj;
    expect(at(policy, 'spec', 'ingress')).toEqual([
      { ports: [{ protocol: 'TCP', port: 8443 }], from: [{ ipBlock: { cidr: '10.0.0.0/28' } }, { ipBlock: { cidr: 'fd00::/64' } }] },
      { ports: [{ protocol: 'TCP', port: 8080 }] },
    ]);
    expect(docs.filter((d) => String(d.kind).startsWith('ValidatingAdmissionPolicy'))).toEqual([]);
  });

  it('without cert-manager: no Issuer or Certificate, the caBundle given in every webhook entry, and none given is refused', async () => {
    await expect(template(['--set', 'certManager.enabled=false'])).rejects.toThrow(/set caBundle/);
    const bundle = Buffer.from(readFileSync(join(ROOT, 'test', 'deploy', 'chart.tools.test.ts'), 'utf8').slice(0, 30)).toString('base64');
    const docs = await template([
      '--set',
      `certManager.enabled=false,caBundle=${bundle},sources.gkePodSnapshot=true`,
      '--set-string',
      'policy=sources: [{preset: gke-pod-snapshot}]',
    ]);
    expect(docs.filter((d) => String(d.apiVersion).startsWith('cert-manager.io'))).toEqual([]);
    const entries = docs.filter((d) => String(d.kind).endsWith('WebhookConfiguration')).flatMap((d) => d.webhooks as Obj[]);
    expect(entries).toHaveLength(7);
    for (const entry of entries) expect(at(entry, 'clientConfig', 'caBundle'), String(entry.name)).toBe(bundle);
    for (const hook of docs.filter((d) => String(d.kind).endsWith('WebhookConfiguration'))) expect(at(hook, 'metadata', 'annotations')).toBeUndefined();
  });
});
