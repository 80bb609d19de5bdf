import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { SOURCE_PRESETS, sourceNames, type SourcePreset } from './sources.js';

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
  subresource?: string;
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
  /** What the case writes: a core Pod unless set (a checkpoint object). */
  resource?: { group: string; version: string; resource: string; kind: string };
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

/** A workload of `kind` whose Pod template (the CronJob's at spec.jobTemplate.spec.template) is `template`. */
function workload(kind: 'Deployment' | 'ReplicaSet' | 'StatefulSet' | 'DaemonSet' | 'Job' | 'CronJob', template: Obj | undefined, spec: Obj = {}): Obj {
  const apiVersion = kind === 'Job' || kind === 'CronJob' ? 'batch/v1' : 'apps/v1';
  const withTemplate = template === undefined ? {} : kind === 'CronJob' ? { jobTemplate: { spec: { template } } } : { template };
  return { apiVersion, kind, metadata: { name: 'web', namespace: 'team-a' }, spec: { ...spec, ...withTemplate } };
}
/** A Pod template from a Pod: its spec, and its annotations when `withAnnotations`. */
const templateOf = (object: Obj, withAnnotations = false): Obj => {
  const annotations = withAnnotations ? (object.metadata as Obj).annotations : undefined;
  return { metadata: { labels: { app: 'web' }, ...(annotations ? { annotations } : {}) }, spec: object.spec };
};
const WORKLOAD_KINDS = ['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'] as const;

const workloadCases: Case[] = [
  ...WORKLOAD_KINDS.flatMap((kind): Case[] => [
    { name: `${kind} restoring`, operation: 'CREATE', namespace: 'team-a', user: 'alice', object: workload(kind, templateOf(restoring())) },
    { name: `${kind} plain`, operation: 'CREATE', namespace: 'team-a', user: 'alice', object: workload(kind, templateOf(pod())) },
  ]),
  {
    name: 'Deployment without a template',
    operation: 'CREATE',
    namespace: 'team-a',
    user: 'alice',
    object: workload('Deployment', undefined, { replicas: 1 }),
  },
  { name: 'Deployment, template without spec', operation: 'CREATE', namespace: 'team-a', user: 'alice', object: workload('Deployment', { metadata: {} }) },
  {
    name: 'CronJob, jobTemplate without spec',
    operation: 'CREATE',
    namespace: 'team-a',
    user: 'alice',
    object: { ...workload('CronJob', undefined), spec: { jobTemplate: {} } },
  },
  {
    name: 'Deployment scaled, template restoring',
    operation: 'UPDATE',
    namespace: 'team-a',
    user: 'bob',
    object: workload('Deployment', templateOf(restoring()), { replicas: 3 }),
    oldObject: workload('Deployment', templateOf(restoring()), { replicas: 1 }),
  },
  {
    name: 'Deployment reference dropped',
    operation: 'UPDATE',
    namespace: 'team-a',
    user: 'bob',
    object: workload('Deployment', templateOf(pod())),
    oldObject: workload('Deployment', templateOf(restoring())),
  },
  {
    name: 'Deployment reference added',
    operation: 'UPDATE',
    namespace: 'team-a',
    user: 'bob',
    object: workload('Deployment', templateOf(restoring())),
    oldObject: workload('Deployment', templateOf(pod())),
  },
];

/** Taking a checkpoint: exec on the source Pod, in the checkpoint's namespace. */
const execGrant = (user: string, pod = 'web-0'): Grant => ({
  user,
  verb: 'create',
  group: '',
  resource: 'pods',
  subresource: 'exec',
  namespace: 'team-a',
  name: pod,
});
/** Creating a checkpoint object of `resource` whose `path` (dotted) names `pod`; no path: it names none. */
function captureCase(name: string, user: string, resource: NonNullable<Case['resource']>, path: string | undefined, pod = 'web-0'): Case {
  const spec: Obj = {};
  if (path) {
    const keys = path.split('.').slice(1);
    let at = spec;
    for (const key of keys.slice(0, -1)) at = at[key] = {};
    at[keys[keys.length - 1] as string] = pod;
  }
  const object = { apiVersion: `${resource.group}/${resource.version}`, kind: resource.kind, metadata: { name: 'ckpt', namespace: 'team-a' }, spec };
  return { name, operation: 'CREATE', namespace: 'team-a', user, object, resource, grants: [execGrant('alice')] };
}
const PODCHECKPOINT = { group: 'node.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints', kind: 'PodCheckpoint' };
const captureCases: Case[] = [
  captureCase('capture granted', 'alice', PODCHECKPOINT, 'spec.sourcePod.name'),
  captureCase('capture ungranted', 'bob', PODCHECKPOINT, 'spec.sourcePod.name'),
  captureCase('capture of another Pod', 'alice', PODCHECKPOINT, 'spec.sourcePod.name', 'db-0'),
  captureCase('capture in the first revision group', 'bob', { ...PODCHECKPOINT, group: 'checkpoint.k8s.io' }, 'spec.sourcePod.name'),
  captureCase('checkpoint naming no Pod', 'bob', PODCHECKPOINT, undefined),
];
let capture: { compileErrors: string[]; results: Map<string, Result> };

let results: Map<string, Result>;
let compileErrors: string[];
let standIn: { group: string; compileErrors: string[]; results: Map<string, Result> };

/** Renders `dir` with kustomize and evaluates `cases` against its webhooks and one policy with celcheck. */
async function evaluate(kustomize: string, celcheck: string, dir: string, evaluated: Case[], policyName = 'restore-guard.dev') {
  const { stdout } = await run(kustomize, ['build', dir], { maxBuffer: 16 * 1024 * 1024 });
  const docs = parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
  const find = (kind: string) => docs.find((d) => d.kind === kind);
  const input = JSON.stringify({
    mutatingWebhookConfiguration: find('MutatingWebhookConfiguration'),
    validatingWebhookConfiguration: find('ValidatingWebhookConfiguration'),
    // One policy per run (celcheck's input); a Component may add others, so it is picked by name.
    validatingAdmissionPolicy: docs.find((d) => d.kind === 'ValidatingAdmissionPolicy' && (d.metadata as Obj).name === policyName),
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

const sh = (script: string) => run('bash', [join(ROOT, 'scripts', script)], { maxBuffer: 16 * 1024 * 1024 }).then((r) => r.stdout.trim());

beforeAll(async () => {
  // Both are built on first use from the Go module proxy and reused from .cache/bin afterwards.
  const [kustomize, celcheck] = await Promise.all([sh('ensure-kustomize.sh'), sh('ensure-celcheck.sh')]);
  ({ compileErrors, results } = await evaluate(kustomize, celcheck, join(ROOT, 'manifests', 'base'), [...cases, ...workloadCases]));
  capture = await evaluate(kustomize, celcheck, join(ROOT, 'manifests', 'base'), captureCases, 'capture.restore-guard.dev');

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
const POD_HOOKS = ['pin.restore-guard.dev', 'restore.restore-guard.dev'];
const WORKLOAD_HOOK = 'workloads.restore-guard.dev';
/** Whether the Pod entries (mutating, validating) were called. */
const sent = (name: string) => POD_HOOKS.map((hook) => result(name).webhooks[hook]?.matches);
const noErrors = (name: string) => Object.values(result(name).webhooks).every((w) => w.error === undefined);
const denials = (name: string) => result(name).decisions.filter((d) => d.action === 'deny');

describe('CEL in the manifests, as kube-apiserver runs it', () => {
  it('compiles: matchConditions, variables, validations and message expressions', () => {
    expect(compileErrors).toEqual([]);
  });

  it('sends workloads whose Pod template uses restoreFrom (every kind, the CronJob through its jobTemplate) to the workloads entry only', () => {
    for (const kind of WORKLOAD_KINDS) {
      expect(result(`${kind} restoring`).webhooks[WORKLOAD_HOOK], kind).toEqual({ matches: true });
      expect(sent(`${kind} restoring`), kind).toEqual([false, false]);
      expect(result(`${kind} plain`).webhooks[WORKLOAD_HOOK], kind).toEqual({ matches: false });
      expect(noErrors(`${kind} plain`), kind).toBe(true);
      // The base policy has nothing to say about workloads.
      expect(result(`${kind} restoring`).decisions, kind).toEqual([]);
    }
    for (const name of ['Deployment without a template', 'Deployment, template without spec', 'CronJob, jobTemplate without spec']) {
      expect(result(name).webhooks[WORKLOAD_HOOK], name).toEqual({ matches: false });
      expect(noErrors(name), name).toBe(true);
    }
    // A scale-like UPDATE of a restoring template is sent (restore-guard lets an unchanged template through),
    // and so is one that adds the reference; one that drops it is not.
    expect(result('Deployment scaled, template restoring').webhooks[WORKLOAD_HOOK]?.matches).toBe(true);
    expect(result('Deployment reference added').webhooks[WORKLOAD_HOOK]?.matches).toBe(true);
    expect(result('Deployment reference dropped').webhooks[WORKLOAD_HOOK]?.matches).toBe(false);
    // Pods never go to the workloads entry.
    for (const name of ['granted restore', 'add restoreFrom', 'own pod create', 'plain create']) {
      expect(result(name).webhooks[WORKLOAD_HOOK], name).toEqual({ matches: false });
    }
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

  it('the capture entry and policy: sent only checkpoints naming a source Pod; exec on it for the requester, in both groups', () => {
    expect(capture.compileErrors).toEqual([]);
    const of = (name: string) => {
      const found = capture.results.get(name);
      if (!found) throw new Error(`no result for ${name}`);
      return found;
    };
    const matched = (name: string) =>
      Object.entries(of(name).webhooks)
        .filter(([, w]) => w.matches)
        .map(([hook]) => hook);
    for (const name of ['capture granted', 'capture ungranted', 'capture in the first revision group']) {
      expect(matched(name), name).toEqual(['capture.restore-guard.dev']);
    }
    expect(matched('checkpoint naming no Pod')).toEqual([]);
    expect(of('checkpoint naming no Pod').decisions).toEqual([]);
    expect(of('capture granted').decisions.filter((d) => d.action === 'deny')).toEqual([]);
    expect(of('capture granted').authzChecks).toEqual([{ ...execGrant('alice'), allowed: true }]);
    const message = (user: string, pod: string) =>
      `taking a checkpoint needs the access exec needs, because a checkpoint holds the Pod's memory: ${user} may not create pods/exec on Pod "${pod}" in namespace "team-a"`;
    expect(of('capture ungranted').decisions.map((d) => [d.action, d.reason, d.message])).toEqual([['deny', 'Forbidden', message('bob', 'web-0')]]);
    expect(of('capture of another Pod').decisions.map((d) => d.message)).toEqual([message('alice', 'db-0')]);
    expect(of('capture in the first revision group').authzChecks).toEqual([{ ...execGrant('bob'), allowed: false }]);
    // Pods never reach the capture entry.
    for (const [name, r] of results) expect(r.webhooks['capture.restore-guard.dev']?.matches, name).toBe(false);
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

// ---------------------------------------------------------------------------------------------------------
// The restore source Components (manifests/components/source-<preset>): their webhook entries and their own
// companion policies, rendered together with the base and the stand-in, as an admin enabling both would.

const snapshotGrant = (source: SourcePreset, user: string, name = 'snap', namespace = 'team-a'): Grant => ({
  user,
  verb: 'restore',
  group: source.group,
  resource: source.resource,
  namespace,
  name,
});
function annotated(source: SourcePreset, value: string | null = 'snap', spec: Obj = {}, extra: { status?: Obj; labels?: Obj; annotations?: Obj } = {}): Obj {
  const plain = pod(spec, extra);
  const annotations = { ...extra.annotations, ...(value === null ? {} : { [source.annotation]: value }) };
  return { ...plain, metadata: { ...(plain.metadata as Obj), ...(Object.keys(annotations).length > 0 ? { annotations } : {}) } };
}
const conditions = (...entries: Array<[string, string, string?]>) => ({
  conditions: entries.map(([type, status, reason]) => ({ type, status, ...(reason ? { reason } : {}) })),
});
/** Restored conditions of the other systems, none of which ends this source's restore. */
const othersRestored = (source: SourcePreset) =>
  conditions(
    ...[...new Set(['PodRestored', ...SOURCE_PRESETS.map((s) => s.restored)])].filter((c) => c !== source.restored).map((c): [string, string] => [c, 'True']),
  );

function sourceCases(source: SourcePreset): Case[] {
  const restoredStatus = conditions([source.restored, 'True', 'RestoreSucceeded']);
  const review = (name: string, object: Obj, oldObject?: Obj, more: Partial<Case> = {}): Case => ({
    name,
    operation: oldObject ? 'UPDATE' : 'CREATE',
    namespace: 'team-a',
    user: 'alice',
    object,
    ...(oldObject ? { oldObject } : {}),
    ...more,
  });
  const granted = { grants: [snapshotGrant(source, 'alice')] };
  return [
    review('own pod create', ownPod(), undefined, { namespace: 'restore-guard', user: 'system:serviceaccount:kube-system:replicaset-controller' }),
    review('plain create', pod()),
    review('plain update', pod({}, { labels: { a: 'b' } }), pod()),
    review('restoreFrom only', restoring(), undefined, { grants: [restoreGrant('alice')] }),
    review(
      'neighbouring annotations',
      annotated(source, null, {}, { annotations: { [`${source.annotation}-x`]: 'snap', 'example.com/restore-from': 'snap' } }),
    ),
    review('granted', annotated(source), undefined, granted),
    review('granted, typed', annotated(source), undefined, { ...granted, typed: true }),
    review('ungranted', annotated(source), undefined, {
      user: 'bob',
      grants: [snapshotGrant(source, 'alice'), snapshotGrant(source, 'bob', 'other'), snapshotGrant(source, 'bob', 'snap', 'team-b')],
    }),
    review('longest name', annotated(source, 'a'.repeat(253)), undefined, { grants: [snapshotGrant(source, 'alice', '')] }),
    ...['', 'Snap', 'a/b', '../snap', 'snap ', 'a'.repeat(254)].map((value) =>
      review(`invalid name ${JSON.stringify(value.length > 20 ? `${value.length} characters` : value)}`, annotated(source, value), undefined, {
        grants: [snapshotGrant(source, 'alice', '')],
      }),
    ),
    review('add the annotation', annotated(source), annotated(source, null), granted),
    review(
      'change the annotation',
      annotated(source, 'other', {}, { status: restoredStatus }),
      annotated(source, 'snap', {}, { status: restoredStatus }),
      granted,
    ),
    review('remove the annotation', annotated(source, null, {}, { status: restoredStatus }), annotated(source, 'snap', {}, { status: restoredStatus })),
    review('metadata change while restoring', annotated(source, 'snap', {}, { labels: { tier: 'web' } }), annotated(source)),
    review('spec change while restoring', annotated(source, 'snap', { activeDeadlineSeconds: 60 }), annotated(source)),
    review(
      'spec change, restore in progress',
      annotated(source, 'snap', { activeDeadlineSeconds: 60 }, { status: conditions([source.restored, 'False', 'RestoreInProgress']) }),
      annotated(source, 'snap', {}, { status: conditions([source.restored, 'False', 'RestoreInProgress']) }),
    ),
    review(
      "spec change, only other systems' restored conditions",
      annotated(source, 'snap', { activeDeadlineSeconds: 60 }, { status: othersRestored(source) }),
      annotated(source, 'snap', {}, { status: othersRestored(source) }),
    ),
    review(
      'spec change once restored',
      annotated(source, 'snap', { activeDeadlineSeconds: 60 }, { status: restoredStatus }),
      annotated(source, 'snap', {}, { status: restoredStatus }),
    ),
    review('gate removed while restoring', annotated(source, 'snap', gates('b')), annotated(source, 'snap', gates('a', 'b'))),
    review('gate added while restoring', annotated(source, 'snap', gates('a', 'b')), annotated(source, 'snap', gates('a'))),
    review(
      'resize while restoring',
      annotated(source, 'snap', { containers: [{ name: 'app', image: 'registry.example/app@sha256:1111', resources: { requests: { cpu: '2' } } }] }),
      annotated(source),
      { subResource: 'resize' },
    ),
    ...WORKLOAD_KINDS.map((kind) => review(`${kind} annotated template`, workload(kind, templateOf(annotated(source), true)))),
    review('Deployment annotated itself, not its template', { ...workload('Deployment', templateOf(pod())), metadata: annotated(source).metadata }),
    review(
      'Deployment template with neighbouring annotations',
      workload('Deployment', templateOf(annotated(source, null, {}, { annotations: { [`${source.annotation}-x`]: 'snap' } }), true)),
    ),
    review('Deployment template restoring by restoreFrom', workload('Deployment', templateOf(restoring()))),
    review('Deployment template without metadata', workload('Deployment', { spec: pod().spec as Obj })),
    review(
      'Deployment scaled, template annotated',
      workload('Deployment', templateOf(annotated(source), true), { replicas: 3 }),
      workload('Deployment', templateOf(annotated(source), true)),
      {
        user: 'bob',
      },
    ),
    review('Deployment annotation dropped', workload('Deployment', templateOf(pod())), workload('Deployment', templateOf(annotated(source), true))),
    review(
      'ephemeral container while restoring',
      annotated(source, 'snap', { ephemeralContainers: [{ name: 'debug', image: 'busybox' }] }),
      annotated(source),
      {
        subResource: 'ephemeralcontainers',
      },
    ),
  ];
}

describe('CEL of the restore source Components, composed with the base and the stand-in', () => {
  const runs = new Map<string, { compileErrors: string[]; results: Map<string, Result> }>();
  let basePolicy: { compileErrors: string[]; results: Map<string, Result> };

  beforeAll(async () => {
    const [kustomize, celcheck] = await Promise.all([sh('ensure-kustomize.sh'), sh('ensure-celcheck.sh')]);
    const overlay = mkdtempSync(join(tmpdir(), 'rg-sources-'));
    const from = (path: string) => relative(overlay, join(ROOT, 'manifests', path));
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        `resources: [${from('base')}]`,
        `components: [${['podcheckpoint-standin', ...SOURCE_PRESETS.map((s) => sourceNames(s.preset).component)].map((c) => from(`components/${c}`)).join(', ')}]`,
      ].join('\n'),
    );
    try {
      for (const source of SOURCE_PRESETS) {
        runs.set(source.preset, await evaluate(kustomize, celcheck, overlay, sourceCases(source), sourceNames(source.preset).policy));
      }
      // The base's own policy, with Pods that only carry an annotation: not its business.
      const first = SOURCE_PRESETS[0] as SourcePreset;
      basePolicy = await evaluate(kustomize, celcheck, overlay, [
        { name: 'annotated', operation: 'CREATE', namespace: 'team-a', user: 'bob', object: annotated(first) },
        {
          name: 'annotated update',
          operation: 'UPDATE',
          namespace: 'team-a',
          user: 'bob',
          object: annotated(first, 'snap', { activeDeadlineSeconds: 5 }),
          oldObject: annotated(first),
        },
      ]);
    } finally {
      rmSync(overlay, { recursive: true, force: true });
    }
  }, 900_000);

  it('everything compiles together: every entry of both configurations, the base policy and each source policy', () => {
    expect(basePolicy.compileErrors).toEqual([]);
    for (const source of SOURCE_PRESETS) expect(runs.get(source.preset)?.compileErrors, source.preset).toEqual([]);
  });

  it("the base policy leaves Pods that only carry a source's annotation alone", () => {
    for (const result of basePolicy.results.values()) {
      expect(result.decisions, result.name).toEqual([]);
      expect(result.authzChecks, result.name).toEqual([]);
    }
  });

  for (const source of SOURCE_PRESETS) {
    const names = sourceNames(source.preset);
    const result = (name: string) => {
      const found = runs.get(source.preset)?.results.get(name);
      if (!found) throw new Error(`no result for ${source.preset}: ${name}`);
      return found;
    };
    const denials = (name: string) => result(name).decisions.filter((d) => d.action === 'deny');
    /** The entries a case was sent to (matchConditions true), none of them erroring. */
    const sentTo = (name: string) => {
      const webhooks = Object.entries(result(name).webhooks);
      expect(
        webhooks.filter(([, w]) => w.error !== undefined),
        name,
      ).toEqual([]);
      return webhooks
        .filter(([, w]) => w.matches)
        .map(([hook]) => hook)
        .sort();
    };

    describe(source.preset, () => {
      it(`sends Pods carrying ${source.annotation} to its two entries only, typed or not; nothing else to them`, () => {
        const own = [names.mutatingWebhook, names.validatingWebhook].sort();
        expect(sentTo('granted')).toEqual(own);
        expect(sentTo('granted, typed')).toEqual(own);
        // UPDATE that removes it: the old object still carries it.
        expect(sentTo('remove the annotation')).toContain(names.validatingWebhook);
        for (const name of ['own pod create', 'plain create', 'plain update', 'neighbouring annotations']) expect(sentTo(name), name).toEqual([]);
        // A KEP-5823 restore goes to the base entries only.
        expect(sentTo('restoreFrom only')).toEqual(['pin.restore-guard.dev', 'restore.restore-guard.dev']);
      });

      it(`sends workloads whose Pod template carries ${source.annotation} (every kind, the CronJob's jobTemplate) to its workloads entry only`, () => {
        for (const kind of WORKLOAD_KINDS) expect(sentTo(`${kind} annotated template`), kind).toEqual([names.workloadsWebhook]);
        // A scale-like UPDATE still carries it (restore-guard lets an unchanged template through); dropping it is not sent.
        expect(sentTo('Deployment scaled, template annotated')).toEqual([names.workloadsWebhook]);
        expect(sentTo('Deployment annotation dropped')).toEqual([]);
        for (const name of ['Deployment template with neighbouring annotations', 'Deployment template without metadata']) {
          expect(sentTo(name), name).toEqual([]);
        }
        // The workload's own annotations are not its template's. (The Pod entries' conditions read
        // metadata.annotations; their rules, which celcheck does not apply, send them Pods only.)
        expect(sentTo('Deployment annotated itself, not its template')).not.toContain(names.workloadsWebhook);
        expect(sentTo('Deployment template restoring by restoreFrom')).toEqual([WORKLOAD_HOOK]);
      });

      it('its policy ignores every Pod without the annotation', () => {
        for (const name of ['own pod create', 'plain create', 'plain update', 'restoreFrom only', 'neighbouring annotations']) {
          expect(result(name).decisions, name).toEqual([]);
          expect(result(name).authzChecks, name).toEqual([]);
        }
      });

      it(`authorizes \`restore\` on the named ${source.kind} (${source.resource}.${source.group}) in the Pod's namespace, on CREATE`, () => {
        expect(denials('granted')).toEqual([]);
        expect(result('granted').authzChecks).toEqual([{ ...snapshotGrant(source, 'alice'), allowed: true }]);
        expect(denials('granted, typed')).toEqual([]);
        expect(result('granted, typed').authzChecks).toEqual([{ ...snapshotGrant(source, 'alice'), allowed: true }]);
        expect(denials('ungranted').map((d) => [d.reason, d.message])).toEqual([
          [
            'Forbidden',
            `restoring a Pod from a snapshot needs the restore verb: bob may not restore ${source.resource}.${source.group} "snap" in namespace "team-a"`,
          ],
        ]);
        expect(result('ungranted').authzChecks).toEqual([{ ...snapshotGrant(source, 'bob'), allowed: false }]);
      });

      it('denies a value that is not an object name, without asking the authorizer or echoing it', () => {
        expect(denials('longest name')).toEqual([]);
        const invalid = [...(runs.get(source.preset)?.results.keys() ?? [])].filter((n) => n.startsWith('invalid name'));
        expect(invalid).toHaveLength(6);
        for (const name of invalid) {
          expect(
            denials(name).map((d) => [d.reason, d.message]),
            name,
          ).toEqual([
            [
              'Invalid',
              `annotation ${source.annotation} must name a PodSnapshot: a DNS-1123 subdomain of at most 253 characters (lower-case letters, digits, '-' and '.')`,
            ],
          ]);
          expect(result(name).authzChecks, name).toEqual([]);
        }
      });

      it('keeps the annotation immutable on UPDATE: adding, changing and removing it are Invalid', () => {
        for (const name of ['add the annotation', 'change the annotation', 'remove the annotation']) {
          expect(
            denials(name).map((d) => [d.reason, d.message]),
            name,
          ).toContainEqual(['Invalid', `annotation ${source.annotation} is immutable; to restore again, create a new Pod`]);
          expect(result(name).authzChecks, name).toEqual([]);
        }
      });

      it(`freezes the spec until ${source.restored}=True on the old Pod, except removing scheduling gates; metadata always passes`, () => {
        for (const name of ['metadata change while restoring', 'spec change once restored', 'gate removed while restoring'])
          expect(denials(name), name).toEqual([]);
        for (const name of [
          'spec change while restoring',
          'spec change, restore in progress',
          "spec change, only other systems' restored conditions",
          'gate added while restoring',
          'resize while restoring',
          'ephemeral container while restoring',
        ]) {
          expect(
            denials(name).map((d) => d.reason),
            name,
          ).toEqual(['Forbidden']);
          expect(denials(name)[0]?.message, name).toContain(`frozen until it has condition ${source.restored}=True`);
        }
      });
    });
  }
});
