import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { renewCertificates } from '../../src/certs/authority.js';
import { parseServeOptions } from '../../src/cli/options.js';
import { parsePolicy } from '../../src/policy/parse.js';
import { parseCertificates } from '../../src/tls/check.js';
import { issueClient } from '../../src/tls/issue.js';
import { at } from '../support/json-path.js';
import { SecretVolume } from '../support/secret-volume.js';
import { startWebhookProcess } from '../support/webhook-process.js';
import { SOURCE_PRESETS, sourceNames } from './sources.js';

/**
 * Renders the base, both overlays, the examples and (when present) the stand-in component with kustomize,
 * the engine of `kubectl kustomize` / `kubectl apply -k`, built from the Go module proxy on first use by
 * scripts/ensure-kustomize.sh. The self-signed overlay is rendered from a copy of manifests/ with freshly
 * made certificates, and its Secret and caBundle are proven to form a chain a TLS client accepts.
 */

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
type Obj = Record<string, unknown>;
const name = (doc: Obj) => `${String(doc.kind)}/${String(at(doc, 'metadata', 'name'))}`;

let kustomize: string;
let work: string;
async function render(dir: string): Promise<Obj[]> {
  const { stdout } = await run(kustomize, ['build', dir], { maxBuffer: 32 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((doc) => {
    expect(doc.errors).toEqual([]);
    return doc.toJS() as Obj;
  });
}

beforeAll(async () => {
  // Builds kustomize on a fresh machine (Go module proxy); reuses .cache/bin/kustomize afterwards.
  kustomize = (await run('bash', [join(ROOT, 'scripts', 'ensure-kustomize.sh')], { maxBuffer: 16 * 1024 * 1024 })).stdout.trim();
  work = mkdtempSync(join(tmpdir(), 'rg-manifests-'));
  cpSync(join(ROOT, 'manifests'), join(work, 'manifests'), { recursive: true });
  for (const file of ['tls.crt', 'tls.key', 'ca.crt', 'ca.key', 'ca-bundle.crt', 'ca-bundle.b64']) {
    rmSync(join(work, 'manifests', 'overlays', 'self-signed', 'generated', file), { force: true });
  }
}, 900_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('kustomize renders', () => {
  let baseDocs: Obj[];
  beforeAll(async () => {
    baseDocs = await render(join(work, 'manifests', 'base'));
  });

  it('the base: every object once, all of restore-guard in its namespace, the image set', () => {
    expect(baseDocs.map(name).sort()).toEqual(
      [
        'ClusterRole/restore-guard',
        'ClusterRoleBinding/restore-guard',
        'ConfigMap/restore-guard-policy',
        'Deployment/restore-guard',
        'MutatingWebhookConfiguration/restore-guard',
        'Namespace/restore-guard',
        'NetworkPolicy/restore-guard',
        'PodDisruptionBudget/restore-guard',
        'ResourceQuota/restore-guard-critical-pods',
        'Role/restore-guard',
        'RoleBinding/restore-guard',
        'Service/restore-guard',
        'ServiceAccount/restore-guard',
        'ValidatingAdmissionPolicy/restore-guard.dev',
        'ValidatingAdmissionPolicyBinding/restore-guard.dev',
        'ValidatingAdmissionPolicy/capture.restore-guard.dev',
        'ValidatingAdmissionPolicyBinding/capture.restore-guard.dev',
        'ValidatingWebhookConfiguration/restore-guard',
      ].sort(),
    );
    const deployment = baseDocs.find((d) => d.kind === 'Deployment') as Obj;
    expect(at(deployment, 'spec', 'template', 'spec', 'containers', 0, 'image')).toBe('ghcr.io/restore-guard/restore-guard:0.1.0');
    for (const doc of baseDocs) expect(at(doc, 'metadata', 'labels', 'app.kubernetes.io/part-of'), name(doc)).toBe('restore-guard');
  });

  it('the cert-manager overlay: the base plus Issuers and Certificates, both webhooks annotated for cainjector', async () => {
    const docs = await render(join(work, 'manifests', 'overlays', 'cert-manager'));
    const added = docs.map(name).filter((n) => !baseDocs.map(name).includes(n));
    expect(added.sort()).toEqual([
      'Certificate/restore-guard-ca',
      'Certificate/restore-guard-serving',
      'Issuer/restore-guard-ca',
      'Issuer/restore-guard-selfsigned',
    ]);
    const serving = docs.find((d) => name(d) === 'Certificate/restore-guard-serving') as Obj;
    expect(at(serving, 'metadata', 'namespace')).toBe('restore-guard');
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const hook = docs.find((d) => d.kind === kind) as Obj;
      expect(at(hook, 'metadata', 'annotations', 'cert-manager.io/inject-ca-from')).toBe('restore-guard/restore-guard-serving');
      expect(at(hook, 'webhooks', 0, 'matchConditions')).toEqual(
        at(
          baseDocs.find((d) => d.kind === kind),
          'webhooks',
          0,
          'matchConditions',
        ),
      );
    }
    const deployment = docs.find((d) => d.kind === 'Deployment');
    expect(deployment).toEqual(baseDocs.find((d) => d.kind === 'Deployment'));
  });

  it('the self-signed overlay: the Secret from `npm run certs` and its caBundle in both webhooks, nothing local applied', async () => {
    const generated = join(work, 'manifests', 'overlays', 'self-signed', 'generated');
    const issued = await renewCertificates({ outDir: generated });
    const docs = await render(join(work, 'manifests', 'overlays', 'self-signed'));
    expect(docs.find((d) => d.kind === 'ConfigMap' && at(d, 'metadata', 'name') === 'restore-guard-ca-bundle')).toBeUndefined();
    const secret = docs.find((d) => d.kind === 'Secret') as Obj;
    expect(name(secret)).toBe('Secret/restore-guard-tls');
    expect(secret.type).toBe('kubernetes.io/tls');
    const decoded = (key: string) => Buffer.from(String(at(secret, 'data', key)), 'base64').toString();
    expect(decoded('tls.crt')).toBe(readFileSync(issued.files.tlsCert, 'utf8'));
    expect(decoded('tls.key')).toBe(readFileSync(issued.files.tlsKey, 'utf8'));

    const bundleBase64 = readFileSync(issued.files.caBundleBase64, 'utf8');
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const hook = docs.find((d) => d.kind === kind) as Obj;
      // Every entry: the validating configuration's workloads and capture entries too.
      expect((hook.webhooks as Obj[]).length).toBe(kind === 'MutatingWebhookConfiguration' ? 1 : 3);
      for (const entry of hook.webhooks as Obj[]) {
        expect(at(entry, 'clientConfig', 'caBundle'), String(entry.name)).toBe(bundleBase64);
        expect(at(entry, 'clientConfig', 'service', 'name'), String(entry.name)).toBe('restore-guard');
      }
    }

    // What the API server does with it: trust the caBundle, dial restore-guard.restore-guard.svc.
    const bundle = Buffer.from(bundleBase64, 'base64').toString();
    const leaf = new X509Certificate(decoded('tls.crt'));
    expect(parseCertificates(bundle).some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))).toBe(true);
    const server: Server = createServer({ cert: decoded('tls.crt'), key: decoded('tls.key') }, (socket) => socket.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const socket: TLSSocket = await new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port, ca: bundle, servername: 'restore-guard.restore-guard.svc' }, () => resolve(s));
        s.once('error', reject);
      });
      expect(socket.authorized).toBe(true);
      socket.destroy();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('the self-signed overlay turns on mTLS with a pinned name: the API server certificate `npm run certs` issues is answered, nothing else', async () => {
    const generated = join(work, 'manifests', 'overlays', 'self-signed', 'generated');
    const issued = await renewCertificates({ outDir: generated });
    const docs = await render(join(work, 'manifests', 'overlays', 'self-signed'));
    const secret = docs.find((d) => name(d) === 'Secret/restore-guard-tls') as Obj;
    const clientCa = docs.find((d) => name(d) === 'ConfigMap/restore-guard-client-ca') as Obj;
    expect(at(clientCa, 'metadata', 'namespace')).toBe('restore-guard');
    expect(at(clientCa, 'data', 'ca.crt')).toBe(readFileSync(issued.files.caBundle, 'utf8'));
    const pod = at(
      docs.find((d) => d.kind === 'Deployment'),
      'spec',
      'template',
      'spec',
    ) as Obj;
    const container = at(pod, 'containers', 0) as Obj;
    const [, ...flags] = (container.args as string[]).map(String);
    const options = parseServeOptions(flags);
    expect(options.clientAllowedNames).toEqual([issued.client.commonName]);
    const mount = (container.volumeMounts as Obj[]).find((m) => String(options.clientCaFile).startsWith(`${String(m.mountPath)}/`)) as Obj;
    expect((pod.volumes as Obj[]).find((v) => v.name === mount.name)).toEqual({ name: mount.name, configMap: { name: 'restore-guard-client-ca' } });
    // With the pin in place, the admission port is open to every address.
    const policy = docs.find((d) => d.kind === 'NetworkPolicy') as Obj;
    expect((at(policy, 'spec', 'ingress') as Obj[]).find((rule) => (rule.ports as Obj[]).some((p) => p.port === 8443))?.from).toEqual([
      { ipBlock: { cidr: '0.0.0.0/0' } },
      { ipBlock: { cidr: '::/0' } },
    ]);
    // What the API server gets to present it: a kubeconfig user for the webhook's Service, and the AdmissionConfiguration.
    const kubeconfig = parseAllDocuments(readFileSync(issued.files.clientKubeconfig, 'utf8'))[0]?.toJS() as Obj;
    const users = kubeconfig.users as Array<{ name: string; user: Record<string, string> }>;
    expect(users.map((u) => u.name)).toEqual(['restore-guard.restore-guard.svc:443']);
    expect(Buffer.from(String(users[0]?.user['client-certificate-data']), 'base64').toString()).toBe(readFileSync(issued.files.clientCert, 'utf8'));
    const admission = parseAllDocuments(readFileSync(issued.files.admissionConfig, 'utf8'))[0]?.toJS() as Obj;
    expect((admission.plugins as Obj[]).map((p) => [p.name, at(p, 'configuration', 'kind')])).toEqual([
      ['ValidatingAdmissionWebhook', 'WebhookAdmissionConfiguration'],
      ['MutatingAdmissionWebhook', 'WebhookAdmissionConfiguration'],
    ]);

    // The rendered Secret and ConfigMap, mounted as the pod would see them, served by the built binary with the rendered flags.
    const volume = new SecretVolume(mkdtempSync(join(tmpdir(), 'rg-rendered-')));
    const decoded = (key: string) => Buffer.from(String(at(secret, 'data', key)), 'base64').toString();
    volume.write({ 'tls.crt': decoded('tls.crt'), 'tls.key': decoded('tls.key'), 'ca.crt': String(at(clientCa, 'data', 'ca.crt')) });
    const local = flags.map((flag) =>
      flag
        .replace(String(options.tlsCertFile), volume.file('tls.crt'))
        .replace(String(options.tlsPrivateKeyFile), volume.file('tls.key'))
        .replace(String(options.clientCaFile), volume.file('ca.crt')),
    );
    const kept = local.filter((flag) => /^--(tls-|client-)/.test(flag));
    const webhook = await startWebhookProcess(kept, { KUBECONFIG: '/nonexistent/kubeconfig' });
    try {
      const bundle = readFileSync(issued.files.caBundle, 'utf8');
      const call = (client: { cert?: string; key?: string }) =>
        new Promise<number | string>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port: webhook.webhookPort, ca: bundle, servername: 'restore-guard.restore-guard.svc', ...client }, () => {
            socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
          });
          let text = '';
          socket.on('data', (chunk: Buffer) => (text += String(chunk)));
          socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
          socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0)));
        });
      const apiServer = { cert: readFileSync(issued.files.clientCert, 'utf8'), key: readFileSync(issued.files.clientKey, 'utf8') };
      expect(await call(apiServer)).toBe(404); // answered (only /mutate and /validate exist)
      const ca = { cert: readFileSync(issued.files.caCert, 'utf8'), key: readFileSync(issued.files.caKey, 'utf8') };
      expect(await call(await issueClient({ commonName: 'mallory', issuer: ca }))).toBe(0); // closed, nothing answered
      expect(await call({})).not.toBe(404);
    } finally {
      await webhook.stop();
    }
  });

  it('the examples', async () => {
    const docs = await render(join(work, 'manifests', 'examples'));
    expect(docs.map(name).sort()).toEqual(
      [
        'ClusterRole/podcheckpoint-capturer',
        'Role/capture-web',
        'RoleBinding/podcheckpoint-capturer-alice',
        'RoleBinding/capture-web-alice',
        'RoleBinding/capture-web-snapshot-operator',
        'ClusterRole/podcheckpoint-restorer',
        'Role/restore-web-ckpt',
        'RoleBinding/podcheckpoint-restorer-alice',
        'RoleBinding/restore-web-ckpt-carol',
        'ClusterRole/podsnapshot-restorer-dynamo',
        'Role/restore-worker-snapshot',
        'RoleBinding/podsnapshot-restorer-dynamo-alice',
        'RoleBinding/restore-worker-snapshot-carol',
        'ClusterRole/podsnapshot-restorer-gke',
        'Role/restore-gke-snapshot',
        'RoleBinding/podsnapshot-restorer-gke-alice',
        'RoleBinding/restore-gke-snapshot-carol',
        'RuntimeClass/runc-checkpoint',
      ].sort(),
    );
  });

  it('the example patches, applied from an overlay (NetworkPolicy narrowed, mTLS flag and mount added)', async () => {
    const overlay = join(work, 'manifests', 'overlays', 'examples-applied');
    mkdirSync(overlay);
    cpSync(join(work, 'manifests', 'examples', 'networkpolicy-control-plane-patch.yaml'), join(overlay, 'networkpolicy.yaml'));
    cpSync(join(work, 'manifests', 'examples', 'mtls-patch.yaml'), join(overlay, 'mtls.yaml'));
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources: [../../base]',
        'patches:',
        '  - path: networkpolicy.yaml',
        '  - path: mtls.yaml',
        '    target: {kind: Deployment, name: restore-guard}',
      ].join('\n'),
    );
    const docs = await render(overlay);
    const policy = docs.find((d) => d.kind === 'NetworkPolicy') as Obj;
    expect(at(policy, 'spec', 'ingress', 0, 'from')).toEqual([{ ipBlock: { cidr: '192.0.2.0/24' } }]);
    const container = at(
      docs.find((d) => d.kind === 'Deployment'),
      'spec',
      'template',
      'spec',
      'containers',
      0,
    ) as Obj;
    expect(container.args).toContain('--client-ca-file=/etc/restore-guard/client-ca/ca.crt');
    expect(parseServeOptions((container.args as string[]).slice(1)).clientAllowedNames).toEqual(['kube-apiserver-admission-client']);
  });

  it('the monitoring kustomization: the dashboard as it is written, the rules, a ServiceMonitor for the base Service', async () => {
    const docs = await render(join(work, 'manifests', 'monitoring'));
    expect(docs.map(name).sort()).toEqual(['ConfigMap/restore-guard-dashboard', 'PrometheusRule/restore-guard', 'ServiceMonitor/restore-guard']);
    for (const doc of docs) {
      expect(at(doc, 'metadata', 'namespace'), name(doc)).toBe('restore-guard');
      expect(at(doc, 'metadata', 'labels', 'app.kubernetes.io/part-of'), name(doc)).toBe('restore-guard');
    }
    const dashboard = docs.find((d) => d.kind === 'ConfigMap') as Obj;
    expect(at(dashboard, 'metadata', 'labels', 'grafana_dashboard')).toBe('1');
    const json = String(at(dashboard, 'data', 'restore-guard-dashboard.json'));
    expect(JSON.parse(json)).toEqual(JSON.parse(readFileSync(join(ROOT, 'manifests', 'monitoring', 'restore-guard-dashboard.json'), 'utf8')));
    const monitor = docs.find((d) => d.kind === 'ServiceMonitor') as Obj;
    const service = baseDocs.find((d) => d.kind === 'Service') as Obj;
    const selector = at(monitor, 'spec', 'selector', 'matchLabels') as Record<string, string>;
    for (const [key, value] of Object.entries(selector)) expect(at(service, 'metadata', 'labels', key)).toBe(value);
    const ports = (at(service, 'spec', 'ports') as Obj[]).map((p) => p.name);
    expect(ports).toContain(at(monitor, 'spec', 'endpoints', 0, 'port'));
  });

  it('the base with the stand-in PodCheckpoint CRD component (for clusters without the upstream API)', async () => {
    const overlay = join(work, 'manifests', 'overlays', 'with-standin');
    mkdirSync(overlay);
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources: [../../base]',
        'components: [../../components/podcheckpoint-standin]',
      ].join('\n'),
    );
    const docs = await render(overlay);
    const crd = docs.find((d) => d.kind === 'CustomResourceDefinition') as Obj;
    const group = String(at(crd, 'spec', 'group'));
    expect(at(crd, 'spec', 'names', 'plural')).toBe('podcheckpoints');
    // Everything that names the checkpoint API agrees with the stand-in's group.
    const policy = parsePolicy(
      String(
        at(
          docs.find((d) => name(d) === 'ConfigMap/restore-guard-policy'),
          'data',
          'policy.yaml',
        ),
      ),
    );
    expect(policy.ok && policy.policy.checkpointAPI.group).toBe(group);
    const rules = at(
      docs.find((d) => name(d) === 'ClusterRole/restore-guard'),
      'rules',
    ) as Obj[];
    expect(rules).toContainEqual({ apiGroups: [group], resources: ['podcheckpoints'], verbs: ['get', 'list', 'watch'] });
    const vap = docs.find((d) => name(d) === 'ValidatingAdmissionPolicy/restore-guard.dev') as Obj;
    expect(JSON.stringify(at(vap, 'spec', 'validations'))).toContain(`authorizer.group('${group}').resource('podcheckpoints')`);
  });
});

describe('kustomize renders the restore source Components', () => {
  const HOOK_KINDS = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'] as const;
  const webhookNames = (docs: Obj[], kind: string) =>
    (
      at(
        docs.find((d) => d.kind === kind),
        'webhooks',
      ) as Obj[]
    ).map((w) => String(w.name));
  /** A new overlay in the working copy: `resources` and `components` relative to manifests/overlays/<dir>. */
  async function renderOverlay(dir: string, resources: string[], components: string[]): Promise<Obj[]> {
    const overlay = join(work, 'manifests', 'overlays', dir);
    mkdirSync(overlay);
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        `resources: [${resources.join(', ')}]`,
        `components: [${components.map((c) => `../../components/${c}`).join(', ')}]`,
      ].join('\n'),
    );
    return render(overlay);
  }
  const capturing = (preset: string) => SOURCE_PRESETS.some((s) => s.preset === preset && s.sourcePod);
  const added = (preset: string) => {
    const names = sourceNames(preset);
    return [
      `ClusterRole/${names.clusterRole}`,
      `ClusterRoleBinding/${names.clusterRole}`,
      `ValidatingAdmissionPolicy/${names.policy}`,
      `ValidatingAdmissionPolicyBinding/${names.policy}`,
      ...(capturing(preset) ? [`ValidatingAdmissionPolicy/${names.capture}`, `ValidatingAdmissionPolicyBinding/${names.capture}`] : []),
    ];
  };

  let baseDocs: Obj[];
  beforeAll(async () => {
    baseDocs = await render(join(work, 'manifests', 'base'));
  });
  /** Entries with every source Component: the base's (1 mutating; Pods, workloads, captures validating), and each source's. */
  const entriesPer = (kind: string) =>
    kind === 'MutatingWebhookConfiguration' ? 1 + SOURCE_PRESETS.length : 3 + SOURCE_PRESETS.reduce((n, s) => n + (s.sourcePod ? 3 : 2), 0);

  const combinations: Array<{ dir: string; components: string[] }> = [
    ...SOURCE_PRESETS.map((s) => ({ dir: `only-${s.preset}`, components: [sourceNames(s.preset).component] })),
    { dir: 'both-sources', components: SOURCE_PRESETS.map((s) => sourceNames(s.preset).component) },
    { dir: 'both-sources-reversed', components: SOURCE_PRESETS.map((s) => sourceNames(s.preset).component).reverse() },
    { dir: 'both-sources-and-standin', components: ['podcheckpoint-standin', ...SOURCE_PRESETS.map((s) => sourceNames(s.preset).component)] },
  ];
  for (const { dir, components } of combinations) {
    it(`base + ${components.join(' + ')}: each adds its own objects and webhook entries, and replaces nothing`, async () => {
      const docs = await renderOverlay(dir, ['../../base'], components);
      const sources = components.flatMap((c) => SOURCE_PRESETS.filter((s) => sourceNames(s.preset).component === c));
      const standIn = components.includes('podcheckpoint-standin');
      const expected = [
        ...baseDocs.map(name),
        ...sources.flatMap((s) => added(s.preset)),
        ...(standIn ? ['CustomResourceDefinition/podcheckpoints.checkpoint.k8s.io'] : []),
      ];
      expect(docs.map(name).sort()).toEqual(expected.sort());

      // Everything of the base is as the base renders it, but for what the stand-in patches and the entries added.
      const patchedByStandIn = ['ConfigMap/restore-guard-policy', 'ClusterRole/restore-guard', 'ValidatingAdmissionPolicy/restore-guard.dev'];
      for (const doc of baseDocs) {
        if (HOOK_KINDS.includes(doc.kind as (typeof HOOK_KINDS)[number])) continue;
        if (standIn && patchedByStandIn.includes(name(doc))) continue;
        expect(
          docs.find((d) => name(d) === name(doc)),
          name(doc),
        ).toEqual(doc);
      }
      for (const kind of HOOK_KINDS) {
        const baseHook = baseDocs.find((d) => d.kind === kind) as Obj;
        const hook = docs.find((d) => d.kind === kind) as Obj;
        const entries = hook.webhooks as Obj[];
        // The base entries first and untouched (the validating one's Pod and workloads entries), then each source's
        // (its Pod entry, and its workloads entry in the validating configuration), in the order the Components are listed.
        const baseEntries = baseHook.webhooks as Obj[];
        expect(entries.slice(0, baseEntries.length)).toEqual(baseEntries);
        const own = (s: { preset: string }) =>
          kind === 'MutatingWebhookConfiguration'
            ? [sourceNames(s.preset).mutatingWebhook]
            : [
                sourceNames(s.preset).validatingWebhook,
                sourceNames(s.preset).workloadsWebhook,
                ...(capturing(s.preset) ? [sourceNames(s.preset).capture] : []),
              ];
        expect(webhookNames(docs, kind)).toEqual([...baseEntries.map((e) => String(e.name)), ...sources.flatMap(own)]);
        for (const entry of entries.slice(baseEntries.length)) {
          const { name: _n, matchConditions: _m, ...rest } = entry;
          // Like the base entry of the same role: the Pod entry, the workloads entry, or the capture entry (its own resource).
          const role = ['workloads', 'capture'].find((r) => String(entry.name).endsWith(`.${r}.restore-guard.dev`));
          const like = role ? `${role}.restore-guard.dev` : String(baseEntries[0]?.name);
          const { name: _bn, matchConditions: _bm, ...baseRest } = baseEntries.find((e) => e.name === like) as Obj;
          if (role === 'capture') {
            expect({ ...rest, rules: undefined }, String(entry.name)).toEqual({ ...baseRest, rules: undefined });
          } else {
            expect(rest, String(entry.name)).toEqual(baseRest);
          }
        }
        expect({ ...hook, webhooks: undefined }).toEqual({ ...baseHook, webhooks: undefined });
      }
      for (const source of sources) {
        const role = docs.find((d) => name(d) === `ClusterRole/${sourceNames(source.preset).clusterRole}`) as Obj;
        expect(role.rules).toEqual([{ apiGroups: [source.group], resources: [source.resource], verbs: ['get', 'list', 'watch'] }]);
        for (const doc of docs.filter((d) => added(source.preset).includes(name(d)))) {
          expect(at(doc, 'metadata', 'labels', 'app.kubernetes.io/part-of'), name(doc)).toBe('restore-guard');
        }
      }
      if (standIn) {
        // The stand-in's patches still land on the base's objects, not on a source's.
        const rules = at(
          docs.find((d) => name(d) === 'ClusterRole/restore-guard'),
          'rules',
        ) as Obj[];
        expect(rules).toContainEqual({ apiGroups: ['checkpoint.k8s.io'], resources: ['podcheckpoints'], verbs: ['get', 'list', 'watch'] });
        const vap = docs.find((d) => name(d) === 'ValidatingAdmissionPolicy/restore-guard.dev') as Obj;
        expect(JSON.stringify(at(vap, 'spec', 'validations'))).toContain("authorizer.group('checkpoint.k8s.io')");
      }
    });
  }

  it('over the cert-manager overlay: cainjector is asked to fill both configurations, so every entry', async () => {
    const docs = await renderOverlay(
      'cert-manager-sources',
      ['../cert-manager'],
      SOURCE_PRESETS.map((s) => sourceNames(s.preset).component),
    );
    for (const kind of HOOK_KINDS) {
      const hook = docs.find((d) => d.kind === kind) as Obj;
      expect(at(hook, 'metadata', 'annotations', 'cert-manager.io/inject-ca-from')).toBe('restore-guard/restore-guard-serving');
      expect(webhookNames(docs, kind)).toHaveLength(entriesPer(kind));
    }
  });

  it('in the self-signed overlay: its replacements give every entry the caBundle; in an overlay over it they cannot (as the headers say)', async () => {
    const copy = join(work, 'manifests', 'overlays', 'self-signed-sources');
    cpSync(join(work, 'manifests', 'overlays', 'self-signed'), copy, { recursive: true });
    const issued = await renewCertificates({ outDir: join(copy, 'generated') });
    const bundle = readFileSync(issued.files.caBundleBase64, 'utf8');
    writeFileSync(
      join(copy, 'kustomization.yaml'),
      `${readFileSync(join(copy, 'kustomization.yaml'), 'utf8')}components:\n${SOURCE_PRESETS.map((s) => `  - ../../components/${sourceNames(s.preset).component}\n`).join('')}`,
    );
    const docs = await render(copy);
    for (const kind of HOOK_KINDS) {
      const entries = at(
        docs.find((d) => d.kind === kind),
        'webhooks',
      ) as Obj[];
      expect(entries).toHaveLength(entriesPer(kind));
      for (const entry of entries) expect(at(entry, 'clientConfig', 'caBundle'), String(entry.name)).toBe(bundle);
    }

    // An overlay over the self-signed overlay: its replacements ran before the Components added their entries.
    await renewCertificates({ outDir: join(work, 'manifests', 'overlays', 'self-signed', 'generated') });
    const overDocs = await renderOverlay(
      'over-self-signed',
      ['../self-signed'],
      SOURCE_PRESETS.map((s) => sourceNames(s.preset).component),
    );
    for (const kind of HOOK_KINDS) {
      const entries = at(
        overDocs.find((d) => d.kind === kind),
        'webhooks',
      ) as Obj[];
      const base = kind === 'MutatingWebhookConfiguration' ? 1 : 3;
      expect(entries.map((e) => at(e, 'clientConfig', 'caBundle') !== undefined)).toEqual([
        ...Array.from({ length: base }, () => true),
        ...Array.from({ length: entriesPer(kind) - base }, () => false),
      ]);
    }
  });
});
