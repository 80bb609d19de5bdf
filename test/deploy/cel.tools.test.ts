import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

/**
 * The CEL in the manifests (both webhooks' matchConditions and the companion ValidatingAdmissionPolicy),
 * compiled and evaluated by kube-apiserver's own admission code (k8s.io/apiserver, the Kubernetes minor
 * the control-plane tests pin) through scripts/celcheck. Compiling uses the environment the API server
 * applies to new objects, so an expression accepted here is accepted by `kubectl apply`.
 */

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');

type Obj = Record<string, unknown>;
interface Grant {
  user: string;
  verb: string;
  group: string;
  resource: string;
  namespace: string;
  name: string;
}
interface Case {
  name: string;
  operation: 'CREATE' | 'UPDATE';
  subResource?: string;
  namespace: string;
  user: string;
  object: Obj | null;
  oldObject?: Obj | null;
  grants?: Grant[];
  typed?: boolean;
}
interface Result {
  name: string;
  webhooks: Record<string, { matches: boolean; error?: string }>;
  decisions: Array<{ action: string; evaluation: string; message: string; reason: string }>;
  authzChecks: Array<Grant & { allowed: boolean }>;
}

const restoreGrant = (user: string, name = 'ckpt'): Grant => ({
  user,
  verb: 'restore',
  group: 'node.k8s.io',
  resource: 'podcheckpoints',
  namespace: 'team-a',
  name,
});
function pod(spec: Obj = {}, extra: { status?: Obj; labels?: Obj } = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'team-a', ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: { containers: [{ name: 'app', image: 'registry.example/app@sha256:1111', resources: { requests: { cpu: '500m' } } }], ...spec },
    ...(extra.status ? { status: extra.status } : {}),
  };
}
const restoring = (spec: Obj = {}, extra: { status?: Obj; labels?: Obj } = {}) => pod({ restoreFrom: { name: 'ckpt' }, ...spec }, extra);
const restored = { conditions: [{ type: 'PodRestored', status: 'True' }] };
const gates = (...names: string[]) => ({ schedulingGates: names.map((name) => ({ name })) });

/** restore-guard's own Pod, as its Deployment makes it in its own namespace. */
function ownPod(labels: Obj = {}): Obj {
  const deployment = parseAllDocuments(readFileSync(join(ROOT, 'manifests', 'base', 'deployment.yaml'), 'utf8'))
    .map((d) => d.toJS() as Obj)
    .find((d) => d.kind === 'Deployment') as { spec: { template: { metadata: Obj; spec: Obj } } };
  const { metadata, spec } = deployment.spec.template;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...metadata, name: 'restore-guard-abc', namespace: 'restore-guard', labels: { ...(metadata.labels as Obj), ...labels } },
    spec,
  };
}

const cases: Case[] = [
  {
    name: 'own pod create',
    operation: 'CREATE',
    namespace: 'restore-guard',
    user: 'system:serviceaccount:kube-system:replicaset-controller',
    object: ownPod(),
  },
  { name: 'own pod update', operation: 'UPDATE', namespace: 'restore-guard', user: 'system:node:node-a', object: ownPod({ x: 'y' }), oldObject: ownPod() },
  { name: 'plain create', operation: 'CREATE', namespace: 'team-a', user: 'alice', object: pod() },
  { name: 'plain update', operation: 'UPDATE', namespace: 'team-a', user: 'alice', object: pod({}, { labels: { a: 'b' } }), oldObject: pod() },
  { name: 'cluster without the field', operation: 'CREATE', namespace: 'team-a', user: 'alice', object: restoring(), typed: true },
  {
    name: 'cluster without the field, update',
    operation: 'UPDATE',
    namespace: 'team-a',
    user: 'alice',
    object: restoring({ activeDeadlineSeconds: 5 }),
    oldObject: restoring(),
    typed: true,
  },
  { name: 'granted restore', operation: 'CREATE', namespace: 'team-a', user: 'alice', object: restoring(), grants: [restoreGrant('alice')] },
  {
    name: 'ungranted restore',
    operation: 'CREATE',
    namespace: 'team-a',
    user: 'bob',
    object: restoring(),
    grants: [restoreGrant('alice'), restoreGrant('bob', 'other')],
  },
  { name: 'string shape', operation: 'CREATE', namespace: 'team-a', user: 'alice', object: pod({ restoreFrom: 'ckpt' }), grants: [restoreGrant('alice')] },
  {
    name: 'string shape, ungranted',
    operation: 'CREATE',
    namespace: 'team-a',
    user: 'alice',
    object: pod({ restoreFrom: 'other' }),
    grants: [restoreGrant('alice')],
  },
  { name: 'add restoreFrom', operation: 'UPDATE', namespace: 'team-a', user: 'alice', object: restoring(), oldObject: pod(), grants: [restoreGrant('alice')] },
  { name: 'remove restoreFrom', operation: 'UPDATE', namespace: 'team-a', user: 'alice', object: pod(), oldObject: restoring({}, { status: restored }) },
  {
    name: 'change restoreFrom',
    operation: 'UPDATE',
    namespace: 'team-a',
    user: 'alice',
    object: pod({ restoreFrom: { name: 'other' } }),
    oldObject: restoring({}, { status: restored }),
  },
  {
    name: 'change options',
    operation: 'UPDATE',
    namespace: 'team-a',
    user: 'alice',
    object: pod({ restoreFrom: { name: 'ckpt', options: { tcp: 'close' } } }),
    oldObject: restoring({}, { status: restored }),
  },
  {
    name: 'metadata change while restoring',
    operation: 'UPDATE',
    namespace: 'team-a',
    user: 'alice',
    object: restoring({}, { labels: { tier: 'web' } }),
    oldObject: restoring(),
  },
  {
    name: 'spec change while restoring',
    operation: 'UPDATE',
    namespace: 'team-a',
    user: 'alice',
    object: restoring({ activeDeadlineSeconds: 60 }),
    oldObject: restoring(),
  },
  {
    name: 'spec change once restored',
    operation: 'UPDATE',
    namespace: 'team-a',
    user: 'alice',
    object: restoring({ activeDeadlineSeconds: 60 }, { status: restored }),
    oldObject: restoring({}, { status: restored }),
  },
  {
    name: 'gate removed while restoring',
    operation: 'UPDATE',
    namespace: 'team-a',
    user: 'alice',
    object: restoring(gates('b')),
    oldObject: restoring(gates('a', 'b')),
  },
  { name: 'last gate removed while restoring', operation: 'UPDATE', namespace: 'team-a', user: 'alice', object: restoring(), oldObject: restoring(gates('a')) },
  {
    name: 'gate added while restoring',
    operation: 'UPDATE',
    namespace: 'team-a',
    user: 'alice',
    object: restoring(gates('a', 'b')),
    oldObject: restoring(gates('a')),
  },
  {
    name: 'resize while restoring',
    operation: 'UPDATE',
    subResource: 'resize',
    namespace: 'team-a',
    user: 'alice',
    object: restoring({ containers: [{ name: 'app', image: 'registry.example/app@sha256:1111', resources: { requests: { cpu: '2' } } }] }),
    oldObject: restoring(),
  },
  {
    name: 'ephemeral container while restoring',
    operation: 'UPDATE',
    subResource: 'ephemeralcontainers',
    namespace: 'team-a',
    user: 'alice',
    object: restoring({ ephemeralContainers: [{ name: 'debug', image: 'busybox' }] }),
    oldObject: restoring(),
  },
];

let results: Map<string, Result>;
let compileErrors: string[];
let standIn: { group: string; compileErrors: string[]; results: Map<string, Result> };

/** Renders `dir` with kustomize and evaluates `cases` against its webhooks and policy with celcheck. */
async function evaluate(kustomize: string, celcheck: string, dir: string, evaluated: Case[]) {
  const { stdout } = await run(kustomize, ['build', dir], { maxBuffer: 16 * 1024 * 1024 });
  const docs = parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
  const find = (kind: string) => docs.find((d) => d.kind === kind);
  const input = JSON.stringify({
    mutatingWebhookConfiguration: find('MutatingWebhookConfiguration'),
    validatingWebhookConfiguration: find('ValidatingWebhookConfiguration'),
    validatingAdmissionPolicy: find('ValidatingAdmissionPolicy'),
    cases: evaluated,
  });
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(celcheck, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += String(c)));
    child.stderr.on('data', (c: Buffer) => (err += String(c)));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`celcheck exited ${code}: ${err}`))));
    child.stdin.end(input);
  });
  const parsed = JSON.parse(output) as { compileErrors: string[]; results: Result[] };
  const crd = find('CustomResourceDefinition');
  return {
    group: (crd?.spec as { group?: string } | undefined)?.group ?? '',
    compileErrors: parsed.compileErrors,
    results: new Map(parsed.results.map((r) => [r.name, r])),
  };
}

beforeAll(async () => {
  const sh = (script: string) => run('bash', [join(ROOT, 'scripts', script)], { maxBuffer: 16 * 1024 * 1024 }).then((r) => r.stdout.trim());
  // Both are built on first use from the Go module proxy and reused from .cache/bin afterwards.
  const [kustomize, celcheck] = await Promise.all([sh('ensure-kustomize.sh'), sh('ensure-celcheck.sh')]);
  ({ compileErrors, results } = await evaluate(kustomize, celcheck, join(ROOT, 'manifests', 'base'), cases));

  // The base with the stand-in component, which patches the policy's authorization check to its group.
  const overlay = mkdtempSync(join(tmpdir(), 'rg-standin-'));
  const from = (path: string) => relative(overlay, join(ROOT, 'manifests', path));
  writeFileSync(
    join(overlay, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      `resources: [${from('base')}]`,
      `components: [${from('components/podcheckpoint-standin')}]`,
    ].join('\n'),
  );
  const first = await evaluate(kustomize, celcheck, overlay, []);
  const grant = (user: string): Grant => ({ ...restoreGrant(user), group: first.group });
  standIn = await evaluate(kustomize, celcheck, overlay, [
    { name: 'granted', operation: 'CREATE', namespace: 'team-a', user: 'alice', object: restoring(), grants: [grant('alice')] },
    { name: 'ungranted', operation: 'CREATE', namespace: 'team-a', user: 'bob', object: restoring(), grants: [grant('alice')] },
  ]);
  rmSync(overlay, { recursive: true, force: true });
}, 900_000);

const result = (name: string) => {
  const found = results.get(name);
  if (!found) throw new Error(`no result for ${name}`);
  return found;
};
const sent = (name: string) => Object.values(result(name).webhooks).map((w) => w.matches);
const denials = (name: string) => result(name).decisions.filter((d) => d.action === 'deny');

describe('CEL in the manifests, as kube-apiserver runs it', () => {
  it('compiles: matchConditions, variables, validations and message expressions', () => {
    expect(compileErrors).toEqual([]);
  });

  it("never sends restore-guard's own Pods (its Deployment's template, created or updated in its namespace)", () => {
    for (const name of ['own pod create', 'own pod update']) {
      expect(sent(name), name).toEqual([false, false]);
      expect(
        Object.values(result(name).webhooks).every((w) => w.error === undefined),
        name,
      ).toBe(true);
    }
  });

  it('sends nothing but restores to the webhooks, and never errors (a matchCondition error would fail closed for every Pod)', () => {
    for (const name of ['plain create', 'plain update', 'cluster without the field', 'cluster without the field, update']) {
      expect(sent(name), name).toEqual([false, false]);
      expect(
        Object.values(result(name).webhooks).every((w) => w.error === undefined),
        name,
      ).toBe(true);
      expect(result(name).decisions, name).toEqual([]);
      expect(result(name).authzChecks, name).toEqual([]);
    }
    for (const name of ['granted restore', 'string shape', 'add restoreFrom', 'remove restoreFrom', 'resize while restoring']) {
      expect(sent(name), name).toEqual([true, true]);
    }
  });

  it('authorizes the restore verb on the named checkpoint for the requester, on CREATE', () => {
    expect(denials('granted restore')).toEqual([]);
    expect(result('granted restore').authzChecks).toEqual([{ ...restoreGrant('alice'), allowed: true }]);
    const [denied] = denials('ungranted restore');
    expect(denials('ungranted restore')).toHaveLength(1);
    expect(denied?.reason).toBe('Forbidden');
    expect(denied?.message).toBe(
      'restoring a Pod from a checkpoint needs the restore verb: bob may not restore podcheckpoints.node.k8s.io "ckpt" in namespace "team-a"',
    );
    expect(denials('string shape')).toEqual([]);
    expect(result('string shape').authzChecks.map((c) => c.name)).toEqual(['ckpt']);
    expect(denials('string shape, ungranted').map((d) => d.reason)).toEqual(['Forbidden']);
  });

  it('keeps restoreFrom immutable on UPDATE: adding, removing and changing it are Invalid', () => {
    for (const name of ['add restoreFrom', 'remove restoreFrom', 'change restoreFrom', 'change options']) {
      expect(
        denials(name).map((d) => [d.reason, d.message]),
        name,
      ).toContainEqual(['Invalid', 'spec.restoreFrom is immutable; to restore again, create a new Pod']);
    }
    expect(result('add restoreFrom').authzChecks).toEqual([]);
  });

  it('with the stand-in component: still compiles, and authorizes against the stand-in group', () => {
    expect(standIn.group).not.toBe('');
    expect(standIn.compileErrors).toEqual([]);
    const granted = standIn.results.get('granted') as Result;
    expect(granted.authzChecks).toEqual([{ ...restoreGrant('alice'), group: standIn.group, allowed: true }]);
    expect(granted.decisions.filter((d) => d.action === 'deny')).toEqual([]);
    const ungranted = (standIn.results.get('ungranted') as Result).decisions.filter((d) => d.action === 'deny');
    expect(ungranted.map((d) => d.reason)).toEqual(['Forbidden']);
    expect(ungranted[0]?.message).toContain(`podcheckpoints.${standIn.group}`);
  });

  it('freezes the spec until PodRestored=True, except for removing scheduling gates; metadata always passes', () => {
    expect(denials('metadata change while restoring')).toEqual([]);
    expect(denials('spec change once restored')).toEqual([]);
    expect(denials('gate removed while restoring')).toEqual([]);
    expect(denials('last gate removed while restoring')).toEqual([]);
    for (const name of ['spec change while restoring', 'gate added while restoring', 'resize while restoring', 'ephemeral container while restoring']) {
      expect(
        denials(name).map((d) => d.reason),
        name,
      ).toEqual(['Forbidden']);
      expect(denials(name)[0]?.message, name).toContain('frozen until it has condition PodRestored=True');
    }
  });
});
