import { describe, expect, it } from 'vitest';
import { MAX_POLICY_BYTES, parsePolicy } from '../../src/policy/parse.js';
import { defaultPolicy, sourcesOf, type Policy } from '../../src/policy/policy.js';
import { dynamoSnapshotSource, gkePodSnapshotSource } from '../../src/policy/sources.js';
import { DEFAULT_CONTROLLERS } from '../../src/policy/workloads.js';

const HEADER = 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n';

function policyFrom(yaml: string): Policy {
  const result = parsePolicy(`${HEADER}${yaml}`);
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.policy;
}

/** The errors of a document that must be refused. */
function errorsOf(yaml: string): string {
  const result = parsePolicy(`${HEADER}${yaml}`);
  if (result.ok) throw new Error(`accepted: ${yaml}`);
  return result.errors.join('\n');
}

describe('parsePolicy', () => {
  it('gives every default for an empty document', () => {
    expect(parsePolicy('')).toEqual({ ok: true, policy: defaultPolicy() });
  });

  it('reads a full document', () => {
    const result = parsePolicy(`
apiVersion: restore-guard.dev/v1alpha1
kind: RestorePolicy
checkpointAPI: { group: checkpoint.k8s.io, version: v1alpha1 }
authorizationCache: { allowedTTL: 30s, deniedTTL: 1m, maxEntries: 5 }
`);
    expect(result.ok && result.policy).toEqual({
      ...defaultPolicy(),
      checkpointAPI: { group: 'checkpoint.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints', verb: 'restore' },
      authorizationCache: { allowedTtlMs: 30_000, deniedTtlMs: 60_000, maxEntries: 5 },
    });
  });

  it.each([
    ['unknown key', 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\nchekpointAPI: {}', 'unknown field "chekpointAPI"'],
    ['wrong kind', 'apiVersion: restore-guard.dev/v1alpha1\nkind: Policy', '/kind'],
    ['bad duration', 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\nauthorizationCache: { allowedTTL: soon }', '/authorizationCache/allowedTTL'],
    ['bad YAML', 'apiVersion: [', 'not valid YAML'],
    ['not a map', '- a\n- b', 'must be object'],
  ])('refuses %s with a clear error', (_, text, expected) => {
    const result = parsePolicy(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.join('\n')).toContain(expected);
  });
});

describe('policy schema', () => {
  it('accepts every knob', () => {
    const policy = policyFrom(`
mode: warn
namespaceModes: { prod: enforce }
checkpointAPI: { group: checkpoint.k8s.io, version: v1, resource: podcheckpoints, verb: restore }
authorizationCache: { allowedTTL: 1m, deniedTTL: 2s, maxEntries: 100 }
placement: nodeName
requireReady: false
specEquality: warn
maxCheckpointAge: 24h
serviceAccountToken: require-disabled
namespaces:
  include: [prod, staging]
  exclude: [kube-system]
  selector: { matchLabels: { restore: allowed }, matchExpressions: [{ key: tier, operator: In, values: [a] }] }
failureMode: open
`);
    expect(policy).toMatchObject({ mode: 'warn', placement: 'nodeName', maxCheckpointAgeMs: 86_400_000, failureMode: 'open' });
    expect(policy.namespaces.selector?.matchExpressions[0]).toEqual({ key: 'tier', operator: 'In', values: ['a'] });
  });

  it.each([
    ['mode: strict', '/mode: must be one of enforce, warn, audit'],
    ['placement: anywhere', '/placement'],
    ['requireReady: "yes"', '/requireReady: must be boolean'],
    ['namespaceModes: { Team_A: warn }', '/namespaceModes'],
    ['namespaces: { include: [a], exclude: [a] }', 'both included and excluded'],
    ['namespaces: { selector: { matchExpressions: [{ key: k, operator: In }] } }', 'In needs values'],
    ['namespaces: { selector: { matchExpressions: [{ key: k, operator: Exists, values: [x] }] } }', 'Exists takes no values'],
    ['failureMode: maybe', '/failureMode'],
    ['authorizationCache: { maxEntries: -1 }', '/authorizationCache/maxEntries'],
    ['extra: 1', 'unknown field "extra"'],
  ])('refuses %s', (yaml, expected) => {
    const result = parsePolicy(`apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n${yaml}`);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.join('\n')).toContain(expected);
  });

  it('refuses a very large document, valid but for its size, without parsing it', () => {
    const header = 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\nmode: warn\n';
    expect(parsePolicy(`${header}# ${'x'.repeat(200 * 1024)}`).ok).toBe(true);
    const result = parsePolicy(`${header}# ${'x'.repeat(300 * 1024)}`);
    expect(result).toEqual({ ok: false, errors: ['the policy is larger than 256 KiB'] });
  });

  it('refuses YAML alias bombs', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      ...Array.from(
        { length: 9 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(',')}]`,
      ),
    ].join('\n');
    expect(parsePolicy(bomb).ok).toBe(false);
  });

  it("allows a few YAML aliases and refuses many, well below the YAML library's own bound of 100", () => {
    const uses = (n: number) =>
      `apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\nmode: &m warn\nnamespaceModes: {${Array.from({ length: n }, (_, i) => `n${i}: *m`).join(', ')}}\n`;
    expect(parsePolicy(uses(3)).ok).toBe(true);
    const refused = parsePolicy(uses(50));
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.errors.join()).toContain('alias');
  });
});

describe('policy schema bounds', () => {
  it.each([
    ['a DNS-style group with dots', 'checkpointAPI: { group: a.b-c.d }', true],
    ['an upper-case group', 'checkpointAPI: { group: Node.k8s.io }', false],
    ['a group starting with a dash', 'checkpointAPI: { group: -a }', false],
    ['a group ending with a dot', 'checkpointAPI: { group: a. }', false],
    ['a 253-character group', `checkpointAPI: { group: ${'a'.repeat(253)} }`, true],
    ['a 254-character group', `checkpointAPI: { group: ${'a'.repeat(254)} }`, false],
    ['an empty verb', 'checkpointAPI: { verb: "" }', false],
    ['a namespace with a dot', 'namespaces: { include: [a.b] }', false],
    ['a 63-character namespace', `namespaces: { include: [${'a'.repeat(63)}] }`, true],
    ['a 64-character namespace', `namespaces: { include: [${'a'.repeat(64)}] }`, false],
    ['the same namespace twice', 'namespaces: { exclude: [a, a] }', false],
    ['1,000 namespaces', `namespaces: { exclude: [${Array.from({ length: 1000 }, (_, i) => `n${i}`).join(', ')}] }`, true],
    ['1,001 namespaces', `namespaces: { exclude: [${Array.from({ length: 1001 }, (_, i) => `n${i}`).join(', ')}] }`, false],
    ['maxEntries 0', 'authorizationCache: { maxEntries: 0 }', true],
    ['maxEntries 1,000,000', 'authorizationCache: { maxEntries: 1000000 }', true],
    ['maxEntries 1,000,001', 'authorizationCache: { maxEntries: 1000001 }', false],
    ['a fractional maxEntries', 'authorizationCache: { maxEntries: 1.5 }', false],
    ['a compound duration', 'authorizationCache: { allowedTTL: 1m30s }', true],
    ['a duration without a unit', 'authorizationCache: { allowedTTL: "10" }', false],
    ['an empty maxCheckpointAge', 'maxCheckpointAge: ""', true],
    ['a 317-character label key', `namespaces: { selector: { matchExpressions: [{ key: ${'k'.repeat(317)}, operator: Exists }] } }`, true],
    ['a 318-character label key', `namespaces: { selector: { matchExpressions: [{ key: ${'k'.repeat(318)}, operator: Exists }] } }`, false],
    ['an empty label key', 'namespaces: { selector: { matchExpressions: [{ key: "", operator: Exists }] } }', false],
    ['a 64-character label value', `namespaces: { selector: { matchLabels: { a: ${'v'.repeat(64)} } } }`, false],
    ['101 matchLabels', `namespaces: { selector: { matchLabels: { ${Array.from({ length: 101 }, (_, i) => `l${i}: v`).join(', ')} } } }`, false],
    ['1,001 namespace modes', `namespaceModes: { ${Array.from({ length: 1001 }, (_, i) => `n${i}: warn`).join(', ')} }`, false],
    ['an unknown field in the selector', 'namespaces: { selector: { matchFields: {} } }', false],
  ])('%s: accepted %s', (_, yaml, accepted) => {
    expect(parsePolicy(`${HEADER}${yaml}`).ok).toBe(accepted);
  });

  it('explains each kind of error with its path', () => {
    expect(errorsOf('mode: strict')).toBe('/mode: must be one of enforce, warn, audit');
    expect(errorsOf('extra: 1')).toBe('(top level): unknown field "extra"');
    expect(errorsOf('checkpointAPI: { grup: x }')).toBe('/checkpointAPI: unknown field "grup"');
    expect(parsePolicy('apiVersion: restore-guard.dev/v2\nkind: RestorePolicy')).toEqual({
      ok: false,
      errors: ['/apiVersion: must be "restore-guard.dev/v1alpha1"'],
    });
    expect(errorsOf('requireReady: 1')).toBe('/requireReady: must be boolean');
    expect(parsePolicy('[]')).toEqual({ ok: false, errors: ['(top level): must be object'] });
  });

  it('lists every cross-field problem, with the index of the expression', () => {
    const errors = errorsOf(
      'namespaces: { include: [a, b, c], exclude: [b, c], selector: { matchExpressions: [{ key: k, operator: Exists }, { key: k, operator: NotIn }, { key: k, operator: DoesNotExist, values: [x] }, { key: k, operator: In }] } }',
    );
    expect(errors.split('\n')).toEqual([
      '/namespaces/selector/matchExpressions/1: NotIn needs values',
      '/namespaces/selector/matchExpressions/2: DoesNotExist takes no values',
      '/namespaces/selector/matchExpressions/3: In needs values',
      '/namespaces: b, c both included and excluded',
    ]);
  });

  it('reads every knob into the policy, and leaves the rest at its default', () => {
    expect(policyFrom('maxCheckpointAge: 90m').maxCheckpointAgeMs).toBe(5_400_000);
    expect(policyFrom('maxCheckpointAge: ""').maxCheckpointAgeMs).toBeUndefined();
    expect(policyFrom('namespaceModes: { team-a: audit }').namespaceModes).toEqual({ 'team-a': 'audit' });
    expect(policyFrom('namespaces: { selector: { matchExpressions: [{ key: k, operator: Exists }] } }').namespaces.selector).toEqual({
      matchLabels: {},
      matchExpressions: [{ key: 'k', operator: 'Exists', values: [] }],
    });
    expect(policyFrom('authorizationCache: { deniedTTL: 0s }').authorizationCache).toEqual({ allowedTtlMs: 10_000, deniedTtlMs: 0, maxEntries: 10_000 });
    expect(policyFrom('requireReady: false').requireReady).toBe(false);
    expect(policyFrom('mode: audit')).toEqual({ ...defaultPolicy(), mode: 'audit' });
  });

  it('takes a document of exactly the size limit, and refuses one byte more', () => {
    const filler = (total: number) => `${HEADER}# ${'x'.repeat(total - HEADER.length - 2)}`;
    expect(parsePolicy(filler(MAX_POLICY_BYTES)).ok).toBe(true);
    expect(parsePolicy(filler(MAX_POLICY_BYTES + 1)).ok).toBe(false);
  });

  it('treats a document of only white space as every default', () => {
    expect(parsePolicy(' \n\t\n')).toEqual({ ok: true, policy: defaultPolicy() });
  });

  it('checks each selector expression: known fields, a key and an operator, a known operator, a list of strings as values', () => {
    const expression = (text: string) => errorsOf(`namespaces: { selector: { matchExpressions: [${text}] } }`);
    const at = '/namespaces/selector/matchExpressions/0';
    expect(expression('{ key: k, operator: Exists, labels: x }')).toBe(`${at}: unknown field "labels"`);
    expect(expression('{ key: k }')).toBe(`${at}: must have required property 'operator'`);
    expect(expression('{ key: k, operator: Maybe }')).toBe(`${at}/operator: must be one of In, NotIn, Exists, DoesNotExist`);
    expect(expression('{ key: k, operator: In, values: x }')).toBe(`${at}/values: must be array`);
    expect(expression('{ key: k, operator: In, values: [1] }')).toBe(`${at}/values/0: must be string`);
  });

  it('reports every schema error of a document, not only the first', () => {
    expect(errorsOf('mode: strict\nplacement: anywhere').split('\n')).toEqual([
      '/mode: must be one of enforce, warn, audit',
      '/placement: must be one of nodeAffinity, nodeName, none',
    ]);
  });
});

describe('parsePolicy: sources', () => {
  const names = (policy: Policy) => sourcesOf(policy).map((s) => s.name);

  it('is KEP-5823 alone when absent, following the top-level checkpoint API and placement', () => {
    const policy = policyFrom('checkpointAPI: { group: checkpoint.k8s.io }\nplacement: nodeName\n');
    expect(policy.sources).toEqual([{ preset: 'kep-5823' }]);
    expect(sourcesOf(policy)[0]).toMatchObject({
      resource: { group: 'checkpoint.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints' },
      placement: { mode: 'nodeName', nodePath: 'status.nodeName' },
    });
  });

  it('expands presets, in order, with a version override', () => {
    const policy = policyFrom('sources:\n  - preset: gke-pod-snapshot\n    version: v1alpha1\n  - preset: dynamo-snapshot\n  - preset: kep-5823\n');
    expect(names(policy)).toEqual(['gke-pod-snapshot', 'dynamo-snapshot', 'kep-5823']);
    expect(sourcesOf(policy)[0]).toEqual(gkePodSnapshotSource('v1alpha1'));
    expect(sourcesOf(policy)[1]).toEqual(dynamoSnapshotSource());
  });

  it('reads a custom source, filling in the verb, the Ready status and no placement', () => {
    const policy = policyFrom(`sources:
  - name: example
    reference: {annotation: example.com/restore-from}
    resource: {group: example.com, version: v1, resource: snapshots}
    ready: {condition: Ready}
    restored: {condition: example.com/Restored}
`);
    expect(sourcesOf(policy)).toEqual([
      {
        name: 'example',
        reference: { annotation: 'example.com/restore-from' },
        resource: { group: 'example.com', version: 'v1', resource: 'snapshots' },
        verb: 'restore',
        ready: { condition: 'Ready', status: 'True' },
        placement: { mode: 'none' },
        restored: { condition: 'example.com/Restored' },
      },
    ]);
  });

  it.each([
    ['sources: []', '/sources: must NOT have fewer than 1 items'],
    ['sources: [{preset: kubevirt}]', '/sources/0/preset: must be one of kep-5823, dynamo-snapshot, gke-pod-snapshot'],
    ['sources: [{preset: kep-5823, version: v1}]', '/sources/0: kep-5823 takes its version from checkpointAPI'],
    ['sources: [{preset: dynamo-snapshot, verb: get}]', '/sources/0: unknown field "verb"'],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}, typo: 1}]',
      '/sources/0: unknown field "typo"',
    ],
    [
      'sources: [{name: x, reference: {field: spec.other}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}}]',
      '/sources/0/reference/field',
    ],
    [
      'sources: [{name: x, reference: {annotation: "not a key"}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}}]',
      '/sources/0/reference/annotation',
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}, placement: {mode: nodeName}}]',
      '/sources/0/placement: nodeName needs nodePath',
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}, placement: {mode: none, nodePath: status.node}}]',
      '/sources/0/placement: nodePath is only read by nodeAffinity or nodeName',
    ],
    [
      'sources: [{name: dynamo-snapshot, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}}]',
      "/sources/0/name: dynamo-snapshot is a preset's name",
    ],
    ['sources: [{preset: dynamo-snapshot}, {preset: dynamo-snapshot}]', '/sources/1: the name dynamo-snapshot is already used by /sources/0'],
    [
      'sources: [{preset: dynamo-snapshot}, {name: x, reference: {annotation: nvidia.com/restore-from}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}}]',
      '/sources/1: annotation "nvidia.com/restore-from" is already read by /sources/0',
    ],
    [
      'sources: [{preset: kep-5823}, {name: x, reference: {field: spec.restoreFrom}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}}]',
      '/sources/1: spec.restoreFrom is already read by /sources/0',
    ],
  ])('refuses %s', (yaml, error) => {
    expect(errorsOf(`${yaml}\n`)).toContain(error);
  });
});

describe('parsePolicy: the shape of a custom source', () => {
  const custom = (fields: string) =>
    `sources:\n  - name: x\n    reference: {annotation: example.com/restore-from}\n    resource: {group: example.com, version: v1, resource: snapshots}\n    restored: {condition: Restored}\n${fields}`;

  it('keeps the preset reference when listed explicitly', () => {
    expect(policyFrom('sources: [{preset: kep-5823}]\n').sources).toStrictEqual([{ preset: 'kep-5823' }]);
  });

  it.each([
    ['    placement: {mode: nodeName, nodePath: status.source.nodeName}\n', { placement: { mode: 'nodeName', nodePath: 'status.source.nodeName' } }],
    ['    placement: {mode: nodeAffinity, nodePath: status.node}\n', { placement: { mode: 'nodeAffinity', nodePath: 'status.node' } }],
    ['    ready: {condition: example.com/Usable, status: "False"}\n', { ready: { condition: 'example.com/Usable', status: 'False' } }],
    ['    ready: {condition: Ready, status: Unknown}\n', { ready: { condition: 'Ready', status: 'Unknown' } }],
    ['    template: {path: status.podTemplate}\n', { template: { path: 'status.podTemplate' } }],
    ['    sourcePod: {path: spec.target.pod}\n', { sourcePod: { path: 'spec.target.pod' } }],
    ['    verb: use\n', { verb: 'use' }],
  ])('accepts %s', (fields, expected) => {
    expect(sourcesOf(policyFrom(custom(fields)))[0]).toMatchObject(expected);
  });

  it('accepts the core group', () => {
    const text = 'sources:\n  - {name: x, reference: {annotation: a/b}, resource: {group: "", version: v1, resource: r}, restored: {condition: R}}\n';
    expect(sourcesOf(policyFrom(text))[0]?.resource.group).toBe('');
  });

  it.each([
    [
      'sources: [{reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}}]',
      "must have required property 'name'",
    ],
    ['sources: [{name: x, resource: {group: g, version: v1, resource: r}, restored: {condition: R}}]', "must have required property 'reference'"],
    ['sources: [{name: x, reference: {annotation: a/b}, restored: {condition: R}}]', "must have required property 'resource'"],
    ['sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}}]', "must have required property 'restored'"],
    ['sources: [{version: v1}]', "must have required property 'name'"],
    [
      'sources: [{name: x, reference: {}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}}]',
      "must have required property 'annotation'",
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {version: v1, resource: r}, restored: {condition: R}}]',
      "must have required property 'group'",
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, resource: r}, restored: {condition: R}}]',
      "must have required property 'version'",
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1}, restored: {condition: R}}]',
      "must have required property 'resource'",
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: G!, version: v1, resource: r}, restored: {condition: R}}]',
      '/sources/0/resource/group',
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {}}]',
      "must have required property 'condition'",
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}, ready: {}}]',
      "must have required property 'condition'",
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}, ready: {condition: Ready, status: Maybe}}]',
      '/sources/0/ready/status: must be one of True, False, Unknown',
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}, placement: {}}]',
      "must have required property 'mode'",
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}, placement: {mode: anywhere}}]',
      '/sources/0/placement/mode: must be one of nodeAffinity, nodeName, none',
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}, template: {}}]',
      "must have required property 'path'",
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}, template: {path: "status..x"}}]',
      '/sources/0/template/path',
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: R}, placement: {mode: nodeName, nodePath: "1x"}}]',
      '/sources/0/placement/nodePath',
    ],
    [
      'sources: [{name: x, reference: {annotation: a/b}, resource: {group: g, version: v1, resource: r}, restored: {condition: "no spaces"}}]',
      '/sources/0/restored/condition',
    ],
  ])('refuses %s', (yaml, error) => {
    const errors = errorsOf(`${yaml}\n`);
    expect(errors).toContain(error);
    // The if/then/else around a source or a reference adds nothing of its own to the errors.
    expect(errors).not.toContain('must match "then" schema');
    expect(errors).not.toContain('must match "else" schema');
  });
});

describe('parsePolicy: workloads', () => {
  it('is delegation disabled, with kube-controller-manager identities and no added kinds, when absent', () => {
    expect(policyFrom('').workloads).toStrictEqual({ delegation: 'disabled', controllers: [...DEFAULT_CONTROLLERS], kinds: [] });
  });

  it('reads delegation, the controllers and added kinds', () => {
    const policy = policyFrom(`workloads:
  delegation: enabled
  controllers: [system:serviceaccount:ops:restorer]
  kinds: [{group: leaderworkerset.x-k8s.io, version: v1, resource: leaderworkersets, kind: LeaderWorkerSet, templatePath: spec.leaderWorkerTemplate.workerTemplate}]
`);
    expect(policy.workloads).toStrictEqual({
      delegation: 'enabled',
      controllers: ['system:serviceaccount:ops:restorer'],
      kinds: [
        {
          group: 'leaderworkerset.x-k8s.io',
          version: 'v1',
          resource: 'leaderworkersets',
          kind: 'LeaderWorkerSet',
          templatePath: 'spec.leaderWorkerTemplate.workerTemplate',
        },
      ],
    });
  });

  it.each([
    ['workloads: {delegation: maybe}', '/workloads/delegation: must be one of enabled, disabled'],
    ['workloads: {controllers: [a, a]}', '/workloads/controllers'],
    ['workloads: {controllers: [""]}', '/workloads/controllers/0'],
    ['workloads: {typo: 1}', '/workloads: unknown field "typo"'],
    [
      'workloads: {kinds: [{group: apps, version: v1, resource: deployments, kind: Deployment, templatePath: spec.template}]}',
      'deployments.apps is already a workload kind',
    ],
    [
      'workloads: {kinds: [{group: x.io, version: v1, resource: ws, kind: W, templatePath: a}, {group: x.io, version: v2, resource: ws, kind: W, templatePath: a}]}',
      '/workloads/kinds/1: ws.x.io is already a workload kind',
    ],
    ['workloads: {kinds: [{group: x.io, version: v1, resource: ws, kind: lower, templatePath: a}]}', '/workloads/kinds/0/kind'],
    ['workloads: {kinds: [{group: x.io, version: v1, resource: ws, kind: W}]}', "must have required property 'templatePath'"],
  ])('refuses %s', (yaml, error) => {
    expect(errorsOf(`${yaml}\n`)).toContain(error);
  });
});

describe('parsePolicy: checkpoints (the capture guard)', () => {
  it('enforces exec on the source Pod by default', () => {
    expect(policyFrom('').checkpoints).toStrictEqual({ guard: 'enforce', access: { verb: 'create', group: '', resource: 'pods', subresource: 'exec' } });
  });

  it('reads the guard, and an access given whole (a partial one does not inherit exec)', () => {
    expect(policyFrom('checkpoints: {guard: warn}\n').checkpoints.guard).toBe('warn');
    expect(policyFrom('checkpoints: {access: {verb: get, resource: pods}}\n').checkpoints.access).toStrictEqual({
      verb: 'get',
      group: '',
      resource: 'pods',
      subresource: '',
    });
    expect(policyFrom('checkpoints: {access: {verb: dump, group: example.com, resource: memories, subresource: raw}}\n').checkpoints.access).toStrictEqual({
      verb: 'dump',
      group: 'example.com',
      resource: 'memories',
      subresource: 'raw',
    });
  });

  it.each([
    ['checkpoints: {guard: audit}', '/checkpoints/guard: must be one of enforce, warn, off'],
    ['checkpoints: {typo: 1}', '/checkpoints: unknown field "typo"'],
    ['checkpoints: {access: {verb: create}}', "must have required property 'resource'"],
    ['checkpoints: {access: {verb: create, resource: pods, subresource: Exec}}', '/checkpoints/access/subresource'],
    [
      'sources: [{preset: kep-5823}, {name: x, reference: {annotation: a/b}, resource: {group: node.k8s.io, version: v1, resource: podcheckpoints}, restored: {condition: R}}]',
      '/sources/1/sourcePod: podcheckpoints.node.k8s.io is also read by /sources/0, whose sourcePod differs',
    ],
  ])('refuses %s', (yaml, error) => {
    expect(errorsOf(`${yaml}\n`)).toContain(error);
  });

  it('lets two sources share a resource when they agree on the source Pod', () => {
    const text =
      'sources: [{preset: kep-5823}, {name: x, reference: {annotation: a/b}, resource: {group: node.k8s.io, version: v1, resource: podcheckpoints}, restored: {condition: R}, sourcePod: {path: spec.sourcePod.name}}]\n';
    expect(sourcesOf(policyFrom(text))).toHaveLength(2);
  });
});
