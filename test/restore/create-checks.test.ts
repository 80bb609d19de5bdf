import { applyPatch } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { decideMutation, decideValidation, MUTATION_CHECKS, podOnlyPrefix, VALIDATION_CHECKS } from '../../src/restore/create-checks.js';
import { restoreAccess, type CreateFacts } from '../../src/restore/facts.js';
import type { JsonObject } from '../../src/common/json.js';
import type { PodCheckpoint } from '../../src/restore/model.js';
import { defaultPolicy, type Policy } from '../../src/policy/policy.js';
import { kep5823Source } from '../../src/policy/sources.js';
import { alice, KEP, NODE, pinnedAffinity, podSpec, readyCheckpoint, restorePod } from '../support/fixtures.js';

const policy = defaultPolicy();

function facts(overrides: Partial<CreateFacts> = {}): CreateFacts {
  const pod = overrides.pod ?? restorePod({ spec: { affinity: pinnedAffinity() } });
  const ref = overrides.ref ?? { name: 'ckpt', options: {} };
  return {
    pod,
    ref,
    // KEP-5823 as the facts' policy describes it (placement, checkpoint API).
    source: kep5823Source(overrides.policy ?? policy),
    user: alice,
    access: restoreAccess(KEP, 'team-a', ref),
    authorization: { allowed: true, reason: '' },
    checkpoint: readyCheckpoint(),
    policy,
    ...overrides,
    now: overrides.now ?? Date.parse('2026-11-27T12:00:00Z'),
  };
}

describe('restoreAccess', () => {
  it('asks for verb restore on podcheckpoints.node.k8s.io/v1alpha1, named, in the Pod namespace', () => {
    expect(restoreAccess(KEP, 'team-a', { name: 'ckpt', options: {} })).toEqual({
      verb: 'restore',
      group: 'node.k8s.io',
      version: 'v1alpha1',
      resource: 'podcheckpoints',
      namespace: 'team-a',
      name: 'ckpt',
    });
  });

  it('follows the policy when upstream moves the API', () => {
    const moved = { ...policy, checkpointAPI: { group: 'checkpoint.k8s.io', version: 'v1', resource: 'podcheckpoints', verb: 'restore' } };
    expect(restoreAccess(kep5823Source(moved), 'ns', { name: 'c', options: {} }).group).toBe('checkpoint.k8s.io');
  });
});

describe('decideMutation', () => {
  it('pins an unpinned Pod with a JSONPatch that, applied, gives the pinned Pod', () => {
    const pod = restorePod();
    const decision = decideMutation(facts({ pod }));
    expect(decision.allowed).toBe(true);
    expect(decision.patch?.length).toBeGreaterThan(0);
    const patched = applyPatch(structuredClone(pod), decision.patch ?? []).newDocument;
    expect((patched.spec as JsonObject).affinity).toEqual(pinnedAffinity());
    expect(decision.auditAnnotations).toMatchObject({ checkpoint: 'ckpt', node: NODE });
  });

  it('yields no patch on reinvocation of an already pinned Pod', () => {
    const decision = decideMutation(facts());
    expect(decision.allowed).toBe(true);
    expect(decision.patch).toBeUndefined();
    expect(decision.outcome).toBe('already-placed');
  });

  it('denies 403 an unauthorized requester before anything about the checkpoint', () => {
    const decision = decideMutation(facts({ authorization: { allowed: false, reason: '' } }));
    expect(decision.allowed).toBe(false);
    expect(decision.status?.code).toBe(403);
    expect(decision.status?.message).toContain('cannot restore podcheckpoints.node.k8s.io "ckpt" in namespace "team-a"');
    expect(decision.patch).toBeUndefined();
  });

  it('denies 403 a missing checkpoint, and one with no node yet', () => {
    const missing = decideMutation(facts({ checkpoint: undefined }));
    expect(missing.status).toMatchObject({ code: 403, reason: 'Forbidden' });
    expect(missing.status?.message).toContain('not found');
    const unplaced = decideMutation(facts({ checkpoint: readyCheckpoint({ nodeName: undefined }) }));
    expect(unplaced.status?.code).toBe(403);
    expect(unplaced.status?.message).toContain('status.nodeName');
  });

  it('denies 403 a Pod that sets spec.nodeName', () => {
    const decision = decideMutation(facts({ pod: restorePod({ spec: { nodeName: 'node-z' } }) }));
    expect(decision.status?.code).toBe(403);
    expect(decision.status?.message).toContain('spec.nodeName');
  });
});

describe('decideValidation', () => {
  it('allows a pinned Pod whose spec equals the captured template', () => {
    const decision = decideValidation(facts());
    expect(decision.allowed).toBe(true);
    expect(decision.auditAnnotations).toMatchObject({ checkpoint: 'ckpt', node: NODE, decision: 'allowed' });
  });

  it('denies spec.nodeName first, even before authorization', () => {
    const decision = decideValidation(
      facts({ pod: restorePod({ spec: { nodeName: NODE, affinity: pinnedAffinity() } }), authorization: { allowed: false, reason: '' } }),
    );
    expect(decision.outcome).toBe('node-name-set');
  });

  it('denies 403 with verb, resource, checkpoint, namespace and the authorizer reason', () => {
    const decision = decideValidation(facts({ authorization: { allowed: false, reason: 'no RBAC policy matched' } }));
    expect(decision.status).toMatchObject({ code: 403, reason: 'Forbidden' });
    const message = decision.status?.message ?? '';
    for (const part of ['"alice"', 'restore', 'podcheckpoints.node.k8s.io', '"ckpt"', '"team-a"', 'no RBAC policy matched']) {
      expect(message).toContain(part);
    }
  });

  it('tells a workload controller that its ServiceAccount needs the grant', () => {
    const controller = { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: [], extra: {} };
    const decision = decideValidation(facts({ user: controller, authorization: { allowed: false, reason: '' } }));
    expect(decision.status?.message).toContain('workload controller');
    const operatorPod = restorePod({ spec: { affinity: pinnedAffinity() } });
    (operatorPod.metadata as JsonObject).ownerReferences = [{ kind: 'Foo', name: 'x', uid: '1', apiVersion: 'x/v1', controller: true }];
    const operator = { username: 'system:serviceaccount:ops:my-operator', groups: [], extra: {} };
    expect(decideValidation(facts({ pod: operatorPod, user: operator, authorization: { allowed: false, reason: '' } })).status?.message).toContain(
      'workload controller',
    );
    expect(decideValidation(facts({ authorization: { allowed: false, reason: '' } })).status?.message).not.toContain('workload controller');
  });

  it('denies a checkpoint that is missing, unplaced, not ready or has no template', () => {
    expect(decideValidation(facts({ checkpoint: undefined })).outcome).toBe('checkpoint-not-found');
    expect(decideValidation(facts({ checkpoint: readyCheckpoint({ nodeName: undefined }) })).outcome).toBe('checkpoint-not-placed');
    const notReady = decideValidation(facts({ checkpoint: readyCheckpoint({ ready: false, notReadyReason: 'CheckpointInProgress' }) }));
    expect(notReady.status?.code).toBe(403);
    expect(notReady.status?.message).toContain('CheckpointInProgress');
    expect(decideValidation(facts({ checkpoint: readyCheckpoint({ template: undefined }) })).outcome).toBe('checkpoint-without-template');
  });

  it('re-checks the pin on the final object (another webhook may have undone it)', () => {
    const unpinned = decideValidation(facts({ pod: restorePod() }));
    expect(unpinned.status?.code).toBe(403);
    expect(unpinned.outcome).toBe('not-pinned');
    const elsewhere = decideValidation(facts({ pod: restorePod({ spec: { affinity: pinnedAffinity('node-b') } }) }));
    expect(elsewhere.outcome).toBe('not-pinned');
  });

  describe('restore options', () => {
    const ref = { name: 'ckpt', options: { tcp: 'close', 'secret-ish': 's3cr3t-value' } };
    const withRuntime = restorePod({ spec: { affinity: pinnedAffinity(), runtimeClassName: 'gvisor' } });

    it('requires spec.runtimeClassName (422)', () => {
      const decision = decideValidation(facts({ ref }));
      expect(decision.status).toMatchObject({ code: 422, reason: 'Invalid' });
    });

    it('requires a readable RuntimeClass', () => {
      expect(decideValidation(facts({ ref, pod: withRuntime, runtimeClass: null })).outcome).toBe('runtime-class-not-found');
    });

    it('requires every key in allowedRestoreOptions and never echoes values', () => {
      const decision = decideValidation(facts({ ref, pod: withRuntime, runtimeClass: { name: 'gvisor', allowedRestoreOptions: ['tcp'] } }));
      expect(decision.status?.code).toBe(403);
      expect(decision.status?.message).toContain('"secret-ish"');
      expect(JSON.stringify(decision)).not.toContain('s3cr3t-value');
      expect(JSON.stringify(decision)).not.toContain('close');
    });

    it('allows options the RuntimeClass lists (runtimeClassName is part of the template match)', () => {
      const checkpoint = readyCheckpoint({ template: { spec: podSpec({ runtimeClassName: 'gvisor' }) } });
      const decision = decideValidation(
        facts({ ref, pod: withRuntime, checkpoint, runtimeClass: { name: 'gvisor', allowedRestoreOptions: ['tcp', 'secret-ish'] } }),
      );
      expect(decision.allowed).toBe(true);
    });
  });

  describe('spec equality', () => {
    it('ignores nodeName, restoreFrom, ephemeralContainers and schedulingGates, and accounts for the pin', () => {
      const pod = restorePod({
        spec: { affinity: pinnedAffinity(), schedulingGates: [{ name: 'g' }], ephemeralContainers: [{ name: 'dbg', image: 'busybox' }] },
      });
      expect(decideValidation(facts({ pod })).allowed).toBe(true);
    });

    it('normalises quantities and treats absent as empty', () => {
      const spec = podSpec({ affinity: pinnedAffinity(), tolerations: [] });
      const containers = spec.containers as JsonObject[];
      (containers[0] as JsonObject).resources = { requests: { cpu: '0.5', memory: '1024Mi' }, limits: { cpu: '1000m', memory: '1Gi' } };
      expect(decideValidation(facts({ pod: restorePod({ spec }) })).allowed).toBe(true);
    });

    it('keeps the template affinity and adds only the pin to it', () => {
      const zone = { key: 'zone', operator: 'In', values: ['z1'] };
      const template = {
        spec: podSpec({
          affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [zone] }] } } },
        }),
      };
      const pinned = {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [zone], matchFields: [{ key: 'metadata.name', operator: 'In', values: [NODE] }] }],
          },
        },
      };
      const checkpoint: PodCheckpoint = readyCheckpoint({ template });
      expect(decideValidation(facts({ checkpoint, pod: restorePod({ spec: { affinity: pinned } }) })).allowed).toBe(true);
    });

    it('denies 422 naming every differing field path', () => {
      const spec = podSpec({ affinity: pinnedAffinity(), hostNetwork: true });
      (((spec.containers as JsonObject[])[0] as JsonObject).image as unknown) = 'registry.example/evil@sha256:2222';
      const decision = decideValidation(facts({ pod: restorePod({ spec }) }));
      expect(decision.status).toMatchObject({ code: 422, reason: 'Invalid' });
      expect(decision.status?.message).toContain('spec.containers[0].image');
      expect(decision.status?.message).toContain('spec.hostNetwork');
    });

    it('caps a long list of differences', () => {
      const env = Array.from({ length: 40 }, (_, i) => ({ name: `V${i}`, value: 'x' }));
      const spec = podSpec({ affinity: pinnedAffinity() });
      ((spec.containers as JsonObject[])[0] as JsonObject).env = env;
      const message = decideValidation(facts({ pod: restorePod({ spec }) })).status?.message ?? '';
      expect(message).toMatch(/and \d+ more$/);
    });
  });
});

describe('oracle: an unauthorized requester learns nothing about the checkpoint', () => {
  const variants: Array<[string, PodCheckpoint | undefined]> = [
    ['existing and ready', readyCheckpoint()],
    ['missing', undefined],
    ['not ready', readyCheckpoint({ ready: false, notReadyReason: 'CheckpointInProgress' })],
    ['on another node', readyCheckpoint({ nodeName: 'secret-node' })],
    ['without a node', readyCheckpoint({ nodeName: undefined })],
    ['without a template', readyCheckpoint({ template: undefined })],
  ];
  for (const decide of [decideMutation, decideValidation]) {
    it(`${decide.name} answers identically`, () => {
      const answers = variants.map(([, checkpoint]) => JSON.stringify(decide(facts({ checkpoint, authorization: { allowed: false, reason: '' } }))));
      expect(new Set(answers).size).toBe(1);
      expect(answers[0]).not.toContain('secret-node');
      expect(answers[0]).not.toContain(NODE);
    });
  }
});

describe('the order of the checks', () => {
  it('authorization comes before every check that reads the checkpoint, and only Pod checks before it', () => {
    for (const checks of [MUTATION_CHECKS, VALIDATION_CHECKS]) {
      const authorization = checks.findIndex((check) => check.reads === 'authorization');
      expect(authorization).toBeGreaterThanOrEqual(0);
      checks.forEach((check, index) => {
        if (index < authorization) expect(check.reads, check.name).toBe('pod');
        if (check.reads === 'checkpoint') expect(index, check.name).toBeGreaterThan(authorization);
      });
    }
  });

  it('validates in the documented order: node name, authorization, the checkpoint, placement, options, token, spec', () => {
    expect(VALIDATION_CHECKS.map((check) => check.name)).toEqual([
      'node name',
      'authorization',
      'checkpoint exists',
      'checkpoint has a node',
      'checkpoint ready',
      'checkpoint age',
      'captured template',
      'placement',
      'restore options',
      'service account token',
      'spec equality',
    ]);
  });
});

describe('workload controllers', () => {
  const unauthorized = { authorization: { allowed: false, reason: '' } };
  const isToldController = (user: CreateFacts['user'], pod = restorePod({ spec: { affinity: pinnedAffinity() } })) =>
    (decideValidation(facts({ ...unauthorized, user, pod })).status?.message ?? '').includes('workload controller');
  const sa = (name: string) => ({ username: `system:serviceaccount:${name}`, groups: [], extra: {} });
  const ownedBy = (...owners: unknown[]) => {
    const pod = restorePod({ spec: { affinity: pinnedAffinity() } });
    (pod.metadata as JsonObject).ownerReferences = owners as JsonObject[];
    return pod;
  };

  it('are the built-in controllers: ServiceAccounts in kube-system named *-controller', () => {
    expect(isToldController(sa('kube-system:job-controller'))).toBe(true);
    expect(isToldController(sa('kube-system:default'))).toBe(false);
    expect(isToldController(sa('ops:job-controller'))).toBe(false);
    expect(isToldController(sa('kube-system'))).toBe(false);
  });

  it('are ServiceAccounts creating a Pod with a controller ownerReference, and only those', () => {
    const controllerRef = { kind: 'Foo', name: 'x', uid: '1', apiVersion: 'x/v1', controller: true };
    expect(isToldController(sa('ops:my-operator'), ownedBy(controllerRef))).toBe(true);
    expect(isToldController(sa('ops:my-operator'), ownedBy({ ...controllerRef, controller: false }, 'junk', null))).toBe(false);
    expect(isToldController(sa('ops:my-operator'), ownedBy())).toBe(false);
    expect(isToldController(sa('ops:my-operator'))).toBe(false);
    expect(isToldController({ ...alice }, ownedBy(controllerRef))).toBe(false);
  });
});

describe('the node name a Pod arrives with (mutation)', () => {
  const withNode = (nodeName: string, placement: Policy['placement']) =>
    decideMutation(facts({ pod: restorePod({ spec: { affinity: pinnedAffinity(), nodeName } }), policy: { ...policy, placement } }));

  it("with nodeAffinity placement any node name is the requester's and is refused, even the checkpoint's node", () => {
    expect(withNode(NODE, 'nodeAffinity').outcome).toBe('node-name-set');
    expect(withNode('node-z', 'nodeAffinity').outcome).toBe('node-name-set');
  });

  it("with nodeName placement only the checkpoint's node passes (reinvocation)", () => {
    expect(withNode(NODE, 'nodeName')).toEqual({
      allowed: true,
      warnings: [],
      auditAnnotations: { checkpoint: 'ckpt', node: NODE, decision: 'allowed' },
      outcome: 'already-placed',
    });
    expect(withNode('node-z', 'nodeName').outcome).toBe('node-name-set');
  });

  it('with placement none restore-guard does not place, so any node name passes', () => {
    expect(withNode('node-z', 'none').outcome).toBe('already-placed');
  });
});

describe('decisions and their audit annotations', () => {
  it('placed: the patch, the checkpoint and its node', () => {
    const decision = decideMutation(facts({ pod: restorePod() }));
    expect(decision).toMatchObject({ allowed: true, outcome: 'placed', auditAnnotations: { checkpoint: 'ckpt', node: NODE, decision: 'placed' } });
    expect(Object.keys(decision.auditAnnotations)).toHaveLength(3);
  });

  it('already placed: the checkpoint and its node', () => {
    expect(decideMutation(facts())).toEqual({
      allowed: true,
      warnings: [],
      auditAnnotations: { checkpoint: 'ckpt', node: NODE, decision: 'allowed' },
      outcome: 'already-placed',
    });
  });

  it('restore allowed: the checkpoint, its node and the warnings of every check', () => {
    expect(decideValidation(facts())).toEqual({
      allowed: true,
      warnings: ['a restored Pod should set automountServiceAccountToken: false (the tokens in a checkpoint go stale)'],
      auditAnnotations: { checkpoint: 'ckpt', node: NODE, decision: 'allowed' },
      outcome: 'restore-allowed',
    });
  });

  it('a denial about the checkpoint names its node to the authorized requester', () => {
    const notReady = decideValidation(facts({ checkpoint: readyCheckpoint({ ready: false, notReadyReason: 'CheckpointInProgress' }) }));
    expect(notReady.auditAnnotations).toEqual({ checkpoint: 'ckpt', node: NODE, decision: 'denied', reason: 'checkpoint-not-ready' });
    const unauthorized = decideValidation(facts({ authorization: { allowed: false, reason: '' } }));
    expect(unauthorized.auditAnnotations).toEqual({ checkpoint: 'ckpt', decision: 'denied', reason: 'unauthorized' });
  });
});

describe('restore options: the message lists keys sorted', () => {
  it('names the refused keys and the allowed ones in order, whatever order they come in', () => {
    const pod = restorePod({ spec: { affinity: pinnedAffinity(), runtimeClassName: 'gvisor' } });
    const ref = { name: 'ckpt', options: { zeta: '1', alpha: '2', tcp: '3' } };
    const decision = decideValidation(facts({ ref, pod, runtimeClass: { name: 'gvisor', allowedRestoreOptions: ['tcp', 'mmap'] } }));
    expect(decision.status?.message).toBe(
      'restore options "alpha", "zeta" not allowed by RuntimeClass "gvisor" (podCheckpoint.allowedRestoreOptions: mmap, tcp)',
    );
  });
});

describe('the spec equality check ignores the node name', () => {
  it('with placement none a Pod naming a node still matches its template', () => {
    const decision = decideValidation(facts({ pod: restorePod({ spec: { nodeName: 'node-z' } }), policy: { ...policy, placement: 'none' } }));
    expect(decision.outcome).toBe('restore-allowed');
  });
});

describe('the checks and what they read', () => {
  it('lists every check of each webhook with what it reads', () => {
    expect(MUTATION_CHECKS.map((check) => [check.name, check.reads])).toEqual([
      ['authorization', 'authorization'],
      ['checkpoint exists', 'checkpoint'],
      ['checkpoint has a node', 'checkpoint'],
      ['node name (mutation)', 'checkpoint'],
    ]);
    expect(VALIDATION_CHECKS.map((check) => check.reads)).toEqual([
      'pod',
      'authorization',
      'checkpoint',
      'checkpoint',
      'checkpoint',
      'checkpoint',
      'checkpoint',
      'checkpoint',
      'checkpoint',
      'pod',
      'checkpoint',
    ]);
  });

  it('runs only the Pod checks at the head of a list before any outbound call', () => {
    expect(podOnlyPrefix(VALIDATION_CHECKS).map((check) => check.name)).toEqual(['node name']);
    expect(podOnlyPrefix(MUTATION_CHECKS)).toEqual([]);
    expect(podOnlyPrefix([...VALIDATION_CHECKS.slice(0, 1), ...VALIDATION_CHECKS.slice(9, 10), ...VALIDATION_CHECKS]).map((check) => check.name)).toEqual([
      'node name',
      'service account token',
      'node name',
    ]);
  });

  it('a check that reads the checkpoint refuses to run before the checkpoint is resolved', () => {
    const ready = VALIDATION_CHECKS.find((check) => check.name === 'checkpoint ready');
    expect(() => ready?.run(facts({ checkpoint: undefined }))).toThrow('a check that reads the checkpoint ran before the checkpoint was resolved');
    expect(() => ready?.run(facts({ checkpoint: readyCheckpoint({ nodeName: undefined }) }))).toThrow('ran before the checkpoint was resolved');
  });
});
