// The shipped manifests against a real kube-apiserver: everything applies with server-side dry-run (so the API
// server validates and compiles the webhooks' matchConditions and the companion ValidatingAdmissionPolicy), and
// the shipped RBAC is exactly what restore-guard needs: it runs on it, and its ServiceAccount holds nothing more.
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listYaml, parseStream, run, shippedBase, shippedInstall, type ControlPlaneInfo, type Manifest } from '../../harness/controlplane/controlplane.js';
import { kubectl } from '../../harness/controlplane/kubectl.js';
import { eventually } from '../../harness/controlplane/net.js';
import { MANIFESTS } from '../../harness/controlplane/paths.js';
import { servingPair } from '../../harness/controlplane/restoreguard.js';
import { asUser, create, createCheckpoint, createNamespace, grantRestore, restoreObject } from '../../harness/controlplane/scenario.js';
import { startSuite, type Suite } from '../../harness/controlplane/suite.js';

const info: ControlPlaneInfo = inject('controlPlane');

/** cert-manager's own kinds: no cert-manager runs here, so kube-apiserver cannot validate them. */
const FOREIGN_GROUPS = ['cert-manager.io/'];
const foreign = (o: Manifest) => FOREIGN_GROUPS.some((group) => String(o.apiVersion).startsWith(group));

async function dryRun(objects: Manifest[]): Promise<{ code: number; stderr: string; stdout: string }> {
  return kubectl(info, ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', '-'], { input: objects });
}

describe('manifests/ applies with server-side dry-run', () => {
  it('base: every object, webhook matchConditions and the ValidatingAdmissionPolicy compile', async () => {
    const objects = await shippedBase(info);
    const kinds = objects.map((o) => o.kind);
    expect(kinds).toEqual(
      expect.arrayContaining(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ClusterRole']),
    );
    const result = await dryRun(objects);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('a broken CEL expression would be refused (the dry-run really compiles them)', async () => {
    const objects = (await shippedBase(info)).filter((o) => o.kind === 'ValidatingWebhookConfiguration');
    const webhooks = objects[0]!.webhooks as Array<{ matchConditions: Array<{ expression: string }> }>;
    webhooks[0]!.matchConditions[0]!.expression = 'has(object.spec.restoreFrom';
    const result = await dryRun(objects);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('compilation failed');
  });

  it('overlays: each renders and applies (cert-manager kinds left out: no cert-manager here)', async () => {
    // A copy, so the self-signed overlay's generated/ files can be made without touching the work tree.
    const copy = mkdtempSync(join(info.dir, 'manifests-'));
    cpSync(MANIFESTS, copy, { recursive: true });
    const generated = join(copy, 'overlays', 'self-signed', 'generated');
    if (existsSync(join(copy, 'overlays', 'self-signed'))) {
      const pair = await servingPair(info, 'restore-guard.restore-guard.svc');
      const ca = readFileSync(info.caFile, 'utf8');
      writeFileSync(join(generated, 'tls.crt'), pair.cert);
      writeFileSync(join(generated, 'tls.key'), pair.key);
      writeFileSync(join(generated, 'ca.crt'), ca);
      writeFileSync(join(generated, 'ca-bundle.b64'), Buffer.from(ca).toString('base64'));
      writeFileSync(join(generated, 'ca-bundle.crt'), ca);
    }
    const overlays = listYaml(join(copy, 'overlays')).filter((f) => f.endsWith('/kustomization.yaml'));
    expect(overlays.length).toBeGreaterThan(0);
    for (const kustomization of overlays) {
      const dir = kustomization.slice(0, -'/kustomization.yaml'.length);
      const objects = parseStream(await run(info, ['kustomize', dir])).filter((o) => !foreign(o));
      const result = await dryRun(objects);
      expect({ overlay: dir.slice(copy.length), stderr: result.stderr }).toEqual({ overlay: dir.slice(copy.length), stderr: '' });
    }
  });

  it('examples: the kustomization applies, but RuntimeClass.podCheckpoint, which no released API server knows', async () => {
    await run(info, ['apply', '--server-side', '-f', '-'], { input: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } } });
    const objects = parseStream(await run(info, ['kustomize', join(MANIFESTS, 'examples')]));
    const runtimeClasses = objects.filter((o) => o.kind === 'RuntimeClass');
    const rest = await dryRun(objects.filter((o) => o.kind !== 'RuntimeClass'));
    expect(rest.stderr).toBe('');
    for (const runtimeClass of runtimeClasses) {
      const strict = await dryRun([runtimeClass]);
      expect(strict.stderr).toMatch(/\.podCheckpoint: field not declared in schema|unknown field "podCheckpoint"/);
      // Field validation off (as older kubectl did): the server accepts the object and drops the field.
      const renamed = { ...runtimeClass, metadata: { ...runtimeClass.metadata, name: `${runtimeClass.metadata?.name ?? 'rc'}-lax` } };
      const lax = await kubectl(info, ['create', '--dry-run=server', '--validate=false', '-o', 'json', '-f', '-'], { input: renamed });
      expect(lax.stderr).toBe('');
      expect((JSON.parse(lax.stdout) as Record<string, unknown>).podCheckpoint).toBeUndefined();
    }
  });

  it('examples: the patches apply to the base in an overlay', async () => {
    const overlay = mkdtempSync(join(info.dir, 'examples-overlay-'));
    const patches = listYaml(join(MANIFESTS, 'examples')).filter((f) => f.endsWith('-patch.yaml'));
    expect(patches.length).toBeGreaterThan(0);
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: [relative(overlay, join(MANIFESTS, 'base'))],
        patches: patches.map((file) => {
          cpSync(file, join(overlay, basename(file)));
          const isJsonPatch = Array.isArray(parseStream(readFileSync(file, 'utf8'))[0]) || /^\s*- op:/m.test(readFileSync(file, 'utf8'));
          return isJsonPatch ? { path: basename(file), target: { kind: 'Deployment', name: 'restore-guard' } } : { path: basename(file) };
        }),
      }),
    );
    const objects = parseStream(await run(info, ['kustomize', overlay]));
    const result = await dryRun(objects);
    expect(result.stderr).toBe('');
  });
});

describe('the shipped RBAC', () => {
  let suite: Suite;
  const ns = 'e2e-rbac';
  beforeAll(async () => {
    suite = await startSuite(info);
    await createNamespace(info, ns);
    await createCheckpoint(info, ns, 'cart-1');
    await grantRestore(info, ns, 'alice-restores', { kind: 'User', name: 'alice' });
  });
  afterAll(async () => {
    await suite?.close();
  });

  it('is sufficient: restore-guard, on its own ServiceAccount token only, syncs its watches and authorizes restores', async () => {
    const kubeconfig = readFileSync(info.restoreGuardKubeconfig, 'utf8');
    expect(kubeconfig).toContain('restore-guard');
    expect(kubeconfig).not.toContain(info.tokens.admin);
    expect((await fetch(`http://127.0.0.1:${suite.restoreGuard.metricsPort}/readyz`)).status).toBe(200);
    // Its policy came from the ConfigMap (get/watch of that one object by name).
    expect(suite.restoreGuard.logs.find((l) => l.msg === 'policy applied')).toMatchObject({
      source: 'configmap',
      origin: 'restore-guard/restore-guard-policy',
    });
    const result = await eventually('the grant to take effect', async () => {
      const attempt = await create(info, restoreObject(ns, 'r', 'cart-1'), asUser('alice'));
      return attempt.code === 0 ? attempt : undefined;
    });
    expect(result.stderr).toBe('');
    expect(await suite.restoreGuard.counter('restore_guard_subjectaccessreview_calls_total')).toBeGreaterThan(0);
  });

  it('grants nothing more: the ServiceAccount may do exactly what manifests/base says, plus what every user may', async () => {
    const token = (await run(info, ['create', 'token', 'restore-guard', '-n', 'restore-guard', '--duration=1h'])).trim();
    const base = await shippedInstall(info);
    const rules = (kind: string, name: string) => (base.find((o) => o.kind === kind && o.metadata?.name === name)?.rules ?? []) as Rule[];
    // What any ServiceAccount holds by default (discovery, self reviews, ...): one with no binding of its own.
    const nobody = (await run(info, ['create', 'token', 'default', '-n', ns, '--duration=1h'])).trim();
    const roles = base.filter((o) => o.kind === 'Role' && o.metadata?.namespace === 'restore-guard').flatMap((o) => (o.rules ?? []) as Rule[]);
    const clusterRoles = base.filter((o) => o.kind === 'ClusterRole').flatMap((o) => (o.rules ?? []) as Rule[]);
    expect(rules('ClusterRole', 'restore-guard').length).toBeGreaterThan(0);

    for (const namespace of ['restore-guard', ns]) {
      const held = await rulesOf(token, namespace);
      const everyone = await rulesOf(nobody, namespace);
      const shipped = new Set([...tuples([...clusterRoles, ...(namespace === 'restore-guard' ? roles : [])]), ...everyone]);
      expect({ namespace, beyondShipped: held.filter((t) => !shipped.has(t)) }).toEqual({ namespace, beyondShipped: [] });
      // And what it needs is there.
      for (const needed of [
        'create authorization.k8s.io/subjectaccessreviews/*',
        'watch checkpoint.k8s.io/podcheckpoints/*',
        'list node.k8s.io/runtimeclasses/*',
      ]) {
        expect(held).toContain(needed);
      }
    }
    for (const [verb, resource] of [
      ['list', 'secrets'],
      ['get', 'pods'],
      ['list', 'configmaps'],
      ['create', 'pods'],
    ]) {
      const answer = await kubectl(info, ['auth', 'can-i', verb!, resource!, '-A'], { token });
      expect({ verb, resource, answer: answer.stdout.trim() }).toEqual({ verb, resource, answer: 'no' });
    }
  });
});

interface Rule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

/** What a token may do in a namespace, by a SelfSubjectRulesReview, as tuples(). */
async function rulesOf(token: string, namespace: string): Promise<string[]> {
  const review = await kubectl(info, ['create', '--validate=false', '-o', 'json', '-f', '-'], {
    token,
    input: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace } },
  });
  if (review.code !== 0) throw new Error(review.stderr);
  return tuples((JSON.parse(review.stdout) as { status: { resourceRules: Rule[] } }).status.resourceRules);
}

/** "verb group/resource/name" for every combination a rule grants ('*' for no resourceNames). */
function tuples(rules: Rule[]): string[] {
  const out: string[] = [];
  for (const rule of rules) {
    for (const verb of rule.verbs)
      for (const group of rule.apiGroups ?? [''])
        for (const resource of rule.resources ?? []) {
          for (const name of rule.resourceNames?.length ? rule.resourceNames : ['*']) out.push(`${verb} ${group}/${resource}/${name}`);
        }
  }
  return out.sort();
}
