import { beforeEach, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/common/json.js';
import { defaultPolicy, type Policy } from '../../src/policy/policy.js';
import { annotated, gatherCreateFacts, runtimeClassToRead, withCheckpointTemplate, type CreateFacts } from '../../src/restore/facts.js';
import { denials, type RestoreDecision } from '../../src/restore/messages.js';
import type { RestoreRef } from '../../src/restore/model.js';
import type { Deadline } from '../../src/admission/deadline.js';
import { DependencyError } from '../../src/restore/ports.js';
import { deadlineIn, manualDeadline } from '../support/deadlines.js';
import { createRequest, KEP, NODE, pinnedAffinity, readyCheckpoint, restoreAccessTo, restorePod } from '../support/fixtures.js';
import { FakePorts } from '../support/fake-ports.js';

const withOptions: RestoreRef = { name: 'ckpt', options: { tcp: 'close' } };
const noOptions: RestoreRef = { name: 'ckpt', options: {} };

describe('runtimeClassToRead', () => {
  it('names the RuntimeClass only when the Pod asks for restore options and names a class', () => {
    expect(runtimeClassToRead(restorePod({ spec: { runtimeClassName: 'gvisor' } }), withOptions)).toBe('gvisor');
    expect(runtimeClassToRead(restorePod({ spec: { runtimeClassName: 'gvisor' } }), noOptions)).toBeUndefined();
    expect(runtimeClassToRead(restorePod({ spec: { runtimeClassName: '' } }), withOptions)).toBeUndefined();
    expect(runtimeClassToRead(restorePod({ spec: { runtimeClassName: 7 } }), withOptions)).toBeUndefined();
    expect(runtimeClassToRead(restorePod(), withOptions)).toBeUndefined();
  });

  it('reads nothing from a Pod whose spec is not an object', () => {
    for (const spec of [null, ['gvisor'], 'gvisor', undefined]) {
      expect(runtimeClassToRead({ spec }, withOptions)).toBeUndefined();
    }
  });
});

describe('annotated', () => {
  const access = restoreAccessTo('ckpt');

  it("puts the checkpoint's name first, its node when given, and keeps the decision's own annotations", () => {
    const denial = denials.checkpointWithoutTemplate(access, 'status.checkpointedPodTemplate');
    expect(annotated(denial, access, readyCheckpoint())).toMatchObject({
      auditAnnotations: { checkpoint: 'ckpt', node: NODE, decision: 'denied', reason: 'checkpoint-without-template' },
    });
    expect(Object.keys(annotated(denial, access, readyCheckpoint()).auditAnnotations)).toEqual(['checkpoint', 'node', 'decision', 'reason']);
    expect(annotated(denial, access).auditAnnotations).toEqual({ checkpoint: 'ckpt', decision: 'denied', reason: 'checkpoint-without-template' });
    expect(annotated(denial, access, readyCheckpoint({ nodeName: undefined })).auditAnnotations).not.toHaveProperty('node');
  });
});

describe('gatherCreateFacts', () => {
  let fake: FakePorts;
  let policy: Policy;
  beforeEach(() => {
    fake = new FakePorts();
    fake.grants.add('alice/team-a/ckpt');
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint());
    fake.runtimeClasses.set('gvisor', { name: 'gvisor', allowedRestoreOptions: ['tcp'] });
    fake.namespaceLabels.set('team-a', { tier: 'prod' });
    policy = defaultPolicy();
  });
  const optionsPod = () => restorePod({ checkpoint: withOptions, spec: { affinity: pinnedAffinity(), runtimeClassName: 'gvisor' } });
  const gather = (pod: JsonObject, ref = withOptions, readRuntimeClass = true, deadline = deadlineIn(1000)) =>
    gatherCreateFacts(
      { ...fake.ports(), now: () => 42 },
      { ...createRequest(pod), object: pod },
      'team-a',
      { ref, source: KEP },
      policy,
      deadline,
      readRuntimeClass,
    );

  it('gathers authorization, the checkpoint and the RuntimeClass in that order', async () => {
    const facts = (await gather(optionsPod())) as CreateFacts;
    expect(fake.calls).toEqual(['authorize alice team-a/ckpt', 'checkpoint team-a/ckpt', 'runtimeclass gvisor']);
    expect(facts).toMatchObject({
      authorization: { allowed: true },
      checkpoint: readyCheckpoint(),
      runtimeClass: { name: 'gvisor', allowedRestoreOptions: ['tcp'] },
      now: 42,
    });
  });

  it('records a RuntimeClass that does not exist as null', async () => {
    fake.runtimeClasses.clear();
    expect(((await gather(optionsPod())) as CreateFacts).runtimeClass).toBeNull();
  });

  it('reads no RuntimeClass when not asked to, when the checkpoint is missing, or without options', async () => {
    expect(await gather(optionsPod(), withOptions, false)).not.toHaveProperty('runtimeClass');
    fake.checkpoints.clear();
    expect(await gather(optionsPod())).not.toHaveProperty('runtimeClass');
    expect(fake.calls).not.toContain('runtimeclass gvisor');
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint());
    expect(await gather(optionsPod(), noOptions)).not.toHaveProperty('runtimeClass');
    expect(fake.calls).not.toContain('runtimeclass gvisor');
  });

  it('reads the namespace labels first, only with a selector', async () => {
    policy = { ...policy, namespaces: { include: [], exclude: [], selector: { matchLabels: { tier: 'prod' }, matchExpressions: [] } } };
    await gather(optionsPod());
    expect(fake.calls[0]).toBe('namespace team-a');
  });

  const refuse = async (): Promise<never> => {
    throw new DependencyError('unreachable', 'connection refused');
  };
  it.each([
    ['namespace lookup', { namespaces: { labels: refuse } }],
    ['authorization', { authorizer: { authorize: refuse } }],
    ['checkpoint lookup', { checkpoints: { get: refuse } }],
    ['RuntimeClass lookup', { runtimeClasses: { get: refuse } }],
  ] as const)('names the step that failed (%s) in the denial', async (step, broken) => {
    policy = { ...policy, namespaces: { include: [], exclude: [], selector: { matchLabels: {}, matchExpressions: [] } } };
    const pod = optionsPod();
    const ports = { ...fake.ports(), ...broken };
    const decision = (await gatherCreateFacts(
      ports,
      { ...createRequest(pod), object: pod },
      'team-a',
      { ref: withOptions, source: KEP },
      policy,
      deadlineIn(1000),
      true,
    )) as RestoreDecision;
    expect(decision.status?.message).toBe(
      `restore-guard could not complete the ${step} for podcheckpoints.node.k8s.io "ckpt" in namespace "team-a": connection refused. ` +
        'The restore is denied until this succeeds; retry shortly',
    );
    expect(decision.auditAnnotations).toMatchObject({ checkpoint: 'ckpt', step });
  });

  it('denies with a timeout, and calls nothing, once the deadline is spent', async () => {
    const spent = manualDeadline();
    spent.expire();
    const decision = (await gather(optionsPod(), withOptions, true, spent.deadline)) as RestoreDecision;
    expect(decision.outcome).toBe('timeout');
    expect(decision.status?.message).toContain(': the time kube-apiserver allows for this review ran out. The restore is denied');
    expect(fake.calls).toEqual([]);
  });
});

describe('withCheckpointTemplate', () => {
  const pod = restorePod({ spec: { affinity: pinnedAffinity() } });
  const factsWith = (checkpoint: CreateFacts['checkpoint'], policy: Policy = defaultPolicy()): CreateFacts => ({
    pod,
    ref: noOptions,
    source: KEP,
    user: createRequest(pod).userInfo,
    access: restoreAccessTo('ckpt'),
    authorization: { allowed: true, reason: '' },
    ...(checkpoint ? { checkpoint } : {}),
    policy,
    now: 0,
  });
  const record = () => {
    const { template: _template, ...rest } = readyCheckpoint();
    return rest;
  };
  let fake: FakePorts;
  beforeEach(() => {
    fake = new FakePorts();
    fake.checkpoints.set('team-a/ckpt', readyCheckpoint({ nodeName: 'newer-node' }));
  });

  it('completes a record with the template, and the newer read wins', async () => {
    const completed = await withCheckpointTemplate(fake.ports(), factsWith(record()), deadlineIn(1000));
    expect('outcome' in completed).toBe(false);
    expect((completed as CreateFacts).checkpoint).toEqual(readyCheckpoint({ nodeName: 'newer-node' }));
    expect(fake.calls).toEqual(['template team-a/ckpt']);
  });

  it('reads nothing when the checkpoint already has its template, is missing, or the port reads whole checkpoints', async () => {
    const whole = factsWith(readyCheckpoint());
    expect(await withCheckpointTemplate(fake.ports(), whole, deadlineIn(1000))).toBe(whole);
    const missing = factsWith(undefined);
    expect(await withCheckpointTemplate(fake.ports(), missing, deadlineIn(1000))).toBe(missing);
    const ports = fake.ports();
    const plain = {
      ...ports,
      checkpoints: { get: (namespace: string, name: string, deadline: Deadline) => ports.checkpoints.get(namespace, name, deadline, KEP) },
    };
    const facts = factsWith(record());
    expect(await withCheckpointTemplate(plain, facts, deadlineIn(1000))).toBe(facts);
    expect(fake.calls).toEqual([]);
  });

  it('drops the checkpoint when it no longer exists', async () => {
    fake.checkpoints.clear();
    const completed = (await withCheckpointTemplate(fake.ports(), factsWith(record()), deadlineIn(1000))) as CreateFacts;
    expect('checkpoint' in completed).toBe(false);
  });

  it('denies the checkpoint lookup when the read fails or the deadline is spent, and fails open only when the policy says so', async () => {
    fake.failure = new DependencyError('unreachable', 'connection refused');
    const denied = (await withCheckpointTemplate(fake.ports(), factsWith(record()), deadlineIn(1000))) as RestoreDecision;
    expect(denied).toEqual(denials.dependency('unreachable', 'connection refused', 'checkpoint lookup', restoreAccessTo('ckpt')));
    const open = (await withCheckpointTemplate(
      fake.ports(),
      factsWith(record(), { ...defaultPolicy(), failureMode: 'open' }),
      deadlineIn(1000),
    )) as RestoreDecision;
    expect(open).toMatchObject({ allowed: true, outcome: 'fail-open', failedOpen: true });
    fake.failure = undefined;
    const before = fake.calls.length;
    const late = (await withCheckpointTemplate(fake.ports(), factsWith(record()), deadlineIn(0))) as RestoreDecision;
    expect(late).toMatchObject({ allowed: false, outcome: 'timeout', status: { code: 504 } });
    expect(late.status?.message).toContain('the time kube-apiserver allows for this review ran out');
    expect(fake.calls.length).toBe(before);
  });

  it('lets an unexpected error through', async () => {
    fake.failure = new TypeError('bug');
    await expect(withCheckpointTemplate(fake.ports(), factsWith(record()), deadlineIn(1000))).rejects.toThrow('bug');
  });
});
