import { describe, expect, it } from 'vitest';
import { applyMode, checkpointTitle, denials, failOpen, MAX_LISTED_FIELDS, warnings, type RestoreDecision } from '../../src/restore/messages.js';
import { alice, KEP, restoreAccessTo } from '../support/fixtures.js';

const access = restoreAccessTo('ckpt');
const TITLE = 'podcheckpoints.node.k8s.io "ckpt"';

/** The denial as the requester and the audit log see it. */
function denied(decision: RestoreDecision, code: number, reason: string, message: string): void {
  expect(decision).toEqual({
    allowed: false,
    status: { code, reason, message },
    warnings: [],
    auditAnnotations: { decision: 'denied', reason: decision.outcome },
    outcome: decision.outcome,
  });
}

describe('checkpointTitle', () => {
  it('names the checkpoint the way kube does, with the group only when there is one', () => {
    expect(checkpointTitle(access)).toBe(TITLE);
    expect(checkpointTitle({ ...access, group: '' })).toBe('podcheckpoints "ckpt"');
  });
});

describe('denials: the words are the contract', () => {
  it('policy not loaded (503)', () => {
    const decision = denials.policyNotLoaded('restore-guard has not loaded its configured policy');
    expect(decision.outcome).toBe('policy-not-loaded');
    denied(
      decision,
      503,
      'ServiceUnavailable',
      'restore-guard has not loaded its configured policy. Restores and checkpoints are denied until it is; retry shortly',
    );
  });

  it.each([
    [{ problem: 'not-an-object' } as const, 'spec.restoreFrom must be an object with a name'],
    [{ problem: 'options-without-name' } as const, 'spec.restoreFrom.options is set but spec.restoreFrom.name is empty'],
    [{ problem: 'name-not-a-string' } as const, 'spec.restoreFrom.name must be a string'],
    [{ problem: 'options-not-a-map' } as const, 'spec.restoreFrom.options must be a map of strings'],
    [{ problem: 'option-not-a-string', key: 'tcp' } as const, 'spec.restoreFrom.options["tcp"] must be a string'],
  ])('malformed restoreFrom (422): %o', (why, message) => {
    const decision = denials.malformedReference(why, KEP);
    expect(decision.outcome).toBe('malformed-restore-from');
    denied(decision, 422, 'Invalid', message);
  });

  it('spec.nodeName set (403)', () => {
    const decision = denials.nodeNameSet();
    expect(decision.outcome).toBe('node-name-set');
    denied(
      decision,
      403,
      'Forbidden',
      "spec.nodeName must not be set on a Pod that restores from a checkpoint: restore-guard places it on the checkpoint's node through required node affinity",
    );
  });

  it.each([
    ['excluded', 'it is excluded'],
    ['not-included', 'it is not in the included namespaces'],
    ['selector', "its labels do not match the policy's namespace selector"],
  ] as const)('namespace not permitted (403): %s', (why, text) => {
    const decision = denials.namespaceNotPermitted('team-a', why);
    expect(decision.outcome).toBe('namespace-not-permitted');
    denied(decision, 403, 'Forbidden', `restoring Pods from checkpoints is not permitted in namespace "team-a" by the restore-guard policy: ${text}`);
  });

  it('unauthorized (403): verb, checkpoint, namespace, and the authorizer reason only when there is one', () => {
    const base =
      'user "alice" cannot restore podcheckpoints.node.k8s.io "ckpt" in namespace "team-a": creating a Pod with spec.restoreFrom requires the ' +
      '"restore" verb on the checkpoint (resource podcheckpoints, group node.k8s.io)';
    const decision = denials.unauthorized(alice, access, '', false, KEP);
    expect(decision.outcome).toBe('unauthorized');
    denied(decision, 403, 'Forbidden', base);
    denied(denials.unauthorized(alice, access, 'no RBAC policy matched', false, KEP), 403, 'Forbidden', `${base}; authorizer: no RBAC policy matched`);
  });

  it('unauthorized (403): names the core group, and tells a workload controller its ServiceAccount needs the grant', () => {
    const core = { ...access, resource: 'checkpoints', group: '' };
    const controller = { ...alice, username: 'system:serviceaccount:kube-system:replicaset-controller' };
    denied(
      denials.unauthorized(controller, core, '', true, KEP),
      403,
      'Forbidden',
      'user "system:serviceaccount:kube-system:replicaset-controller" cannot restore checkpoints "ckpt" in namespace "team-a": creating a Pod ' +
        'with spec.restoreFrom requires the "restore" verb on the checkpoint (resource checkpoints, group core). This Pod is created by a ' +
        'workload controller, so its ServiceAccount "system:serviceaccount:kube-system:replicaset-controller" must be granted "restore" on the checkpoint',
    );
  });

  it('what the checkpoint says (403), for an authorized requester', () => {
    const cases: Array<[RestoreDecision, string, string]> = [
      [denials.checkpointNotFound(access), 'checkpoint-not-found', `${TITLE} not found in namespace "team-a"`],
      [
        denials.checkpointNotPlaced(access, 'status.nodeName'),
        'checkpoint-not-placed',
        `${TITLE} has no status.nodeName yet: a restore cannot be placed until checkpointing has started on a node`,
      ],
      [
        denials.checkpointNotReady(access, 'CheckpointInProgress', { condition: 'Ready', status: 'True' }),
        'checkpoint-not-ready',
        `${TITLE} is not ready (CheckpointInProgress): a Pod can only restore from a checkpoint with condition Ready=True`,
      ],
      [
        denials.checkpointNotReady(access, undefined, { condition: 'Ready', status: 'True' }),
        'checkpoint-not-ready',
        `${TITLE} is not ready (unknown): a Pod can only restore from a checkpoint with condition Ready=True`,
      ],
      [denials.checkpointAgeUnknown(access), 'checkpoint-age-unknown', `${TITLE} has no status.completionTime, and the policy limits checkpoint age`],
      [
        denials.checkpointTooOld(access, '2026-11-27T11:00:00Z', 1_800_400),
        'checkpoint-too-old',
        `${TITLE} completed at 2026-11-27T11:00:00Z, longer ago than the policy's maxCheckpointAge (1800 s)`,
      ],
      [
        denials.checkpointWithoutTemplate(access, 'status.checkpointedPodTemplate'),
        'checkpoint-without-template',
        `${TITLE} has no status.checkpointedPodTemplate to restore from`,
      ],
      [
        denials.notPinned(access, 'node-a'),
        'not-pinned',
        `the Pod must be pinned to node "node-a", which holds ${TITLE}: every required node affinity term needs matchFields metadata.name In [node] ` +
          '(did another mutating webhook remove the pin?)',
      ],
      [denials.notPlaced(access, 'node-a'), 'not-placed', `spec.nodeName must be "node-a", the node that holds ${TITLE}`],
      [denials.runtimeClassNotFound('gvisor'), 'runtime-class-not-found', 'RuntimeClass "gvisor" not found: cannot check which restore options it allows'],
      [
        denials.serviceAccountTokenMounted(),
        'service-account-token-mounted',
        'the restore-guard policy requires a restored Pod to set automountServiceAccountToken: false (the tokens in a checkpoint go stale)',
      ],
    ];
    for (const [decision, outcome, message] of cases) {
      expect(decision.outcome).toBe(outcome);
      denied(decision, 403, 'Forbidden', message);
    }
  });

  it('options need a RuntimeClass (422)', () => {
    const decision = denials.optionsNeedRuntimeClass();
    expect(decision.outcome).toBe('options-need-runtime-class');
    denied(decision, 422, 'Invalid', 'spec.runtimeClassName is required when spec.restoreFrom.options is set');
  });

  it('options not allowed (403): one option or several, and "none" when the RuntimeClass allows none', () => {
    const one = denials.optionNotAllowed(['tcp'], 'gvisor', ['a', 'b']);
    expect(one.outcome).toBe('option-not-allowed');
    denied(one, 403, 'Forbidden', 'restore option "tcp" not allowed by RuntimeClass "gvisor" (podCheckpoint.allowedRestoreOptions: a, b)');
    denied(
      denials.optionNotAllowed(['tcp', 'x'], 'gvisor', []),
      403,
      'Forbidden',
      'restore options "tcp", "x" not allowed by RuntimeClass "gvisor" (podCheckpoint.allowedRestoreOptions: none)',
    );
  });

  it('spec mismatch (422) lists the fields', () => {
    const decision = denials.specMismatch(access, ['spec.hostNetwork', 'spec.containers[0].image'], 'status.checkpointedPodTemplate');
    expect(decision.outcome).toBe('spec-mismatch');
    denied(
      decision,
      422,
      'Invalid',
      `spec must match the template captured in ${TITLE} (status.checkpointedPodTemplate.spec); differing fields: spec.hostNetwork, spec.containers[0].image`,
    );
  });

  it(`lists exactly ${MAX_LISTED_FIELDS} fields without "more", and says how many more past that`, () => {
    const paths = (n: number) => Array.from({ length: n }, (_, i) => `spec.f${i}`);
    expect(denials.specMismatch(access, paths(MAX_LISTED_FIELDS), 'status').status?.message).toMatch(/differing fields: spec\.f0, .*, spec\.f19$/);
    expect(denials.specMismatch(access, paths(MAX_LISTED_FIELDS + 1), 'status').status?.message).toMatch(/, spec\.f19 and 1 more$/);
    expect(denials.specFrozen(paths(MAX_LISTED_FIELDS), [KEP]).status?.message).toMatch(/Changed: spec\.f0, .*, spec\.f19$/);
  });

  it('restoreFrom changed (422) and spec frozen (403) on UPDATE', () => {
    const changed = denials.restoreFromChanged(KEP);
    expect(changed.outcome).toBe('restore-from-changed');
    denied(
      changed,
      422,
      'Invalid',
      'spec.restoreFrom is immutable: it cannot be added, changed or removed on an existing Pod; restore again by creating a new Pod',
    );
    const frozen = denials.specFrozen(['spec.hostNetwork'], [KEP]);
    expect(frozen.outcome).toBe('spec-frozen');
    denied(
      frozen,
      403,
      'Forbidden',
      'the spec of a Pod that restores from a checkpoint cannot change until the restore has succeeded (condition PodRestored=True); ' +
        'only removing scheduling gates is allowed. Changed: spec.hostNetwork',
    );
  });

  it.each([
    ['unreachable', 503, 'ServiceUnavailable'],
    ['timeout', 504, 'Timeout'],
    ['server-error', 503, 'ServiceUnavailable'],
    ['evaluation-error', 500, 'InternalError'],
  ] as const)('a dependency failure (%s) names the step and the checkpoint in the message and the audit annotations', (failure, code, reason) => {
    expect(denials.dependency(failure, 'connection refused', 'checkpoint lookup', access)).toEqual({
      allowed: false,
      status: {
        code,
        reason,
        message:
          `restore-guard could not complete the checkpoint lookup for ${TITLE} in namespace "team-a": connection refused. ` +
          'The restore is denied until this succeeds; retry shortly',
      },
      warnings: [],
      auditAnnotations: { checkpoint: 'ckpt', step: 'checkpoint lookup', decision: 'denied', reason: failure },
      outcome: failure,
    });
  });
});

describe('warnings', () => {
  it('word the token and spec warnings', () => {
    expect(warnings.serviceAccountToken()).toBe('a restored Pod should set automountServiceAccountToken: false (the tokens in a checkpoint go stale)');
    expect(warnings.specMismatch(['spec.hostNetwork'])).toBe("spec differs from the checkpoint's template: spec.hostNetwork");
  });
});

describe('applyMode', () => {
  const denial = { ...denials.nodeNameSet(), warnings: ['earlier'] };

  it('enforce, and anything but warn or audit, keeps the denial', () => {
    expect(applyMode(denial, 'enforce')).toBe(denial);
    expect(applyMode(denial, 'bogus' as never)).toBe(denial);
  });

  it('warn allows, keeps earlier warnings and adds what would have been denied', () => {
    expect(applyMode(denial, 'warn')).toEqual({
      allowed: true,
      warnings: ['earlier', `restore-guard would deny (warn mode): ${denial.status?.message}`],
      auditAnnotations: { decision: 'would-deny', reason: 'node-name-set', mode: 'warn' },
      outcome: 'node-name-set',
    });
  });

  it('warn names the outcome when the denial has no status', () => {
    const bare: RestoreDecision = { allowed: false, warnings: [], auditAnnotations: {}, outcome: 'spec-frozen' };
    expect(applyMode(bare, 'warn').warnings).toEqual(['restore-guard would deny (warn mode): spec-frozen']);
  });

  it('audit allows and records the denial only in the audit annotations', () => {
    expect(applyMode(denial, 'audit')).toEqual({
      allowed: true,
      warnings: ['earlier'],
      auditAnnotations: { decision: 'would-deny', reason: 'node-name-set', mode: 'audit' },
      outcome: 'node-name-set',
    });
  });

  it('leaves an allowed decision alone in every mode', () => {
    const allowed: RestoreDecision = { allowed: true, warnings: [], auditAnnotations: {}, outcome: 'placed' };
    for (const mode of ['enforce', 'warn', 'audit'] as const) expect(applyMode(allowed, mode)).toBe(allowed);
  });
});

describe('failOpen', () => {
  it('allows loudly: a warning with the denial message, fail-open in the audit annotations, and the failedOpen flag', () => {
    const denial = denials.dependency('timeout', 'deadline spent', 'authorization', access);
    expect(failOpen(denial)).toEqual({
      allowed: true,
      warnings: [`restore-guard FAILED OPEN (policy failureMode: open): ${denial.status?.message}`],
      auditAnnotations: { checkpoint: 'ckpt', step: 'authorization', reason: 'timeout', decision: 'fail-open' },
      outcome: 'fail-open',
      failedOpen: true,
    });
  });

  it('names the outcome when the denial has no status', () => {
    const bare: RestoreDecision = { allowed: false, warnings: [], auditAnnotations: {}, outcome: 'timeout' };
    expect(failOpen(bare).warnings).toEqual(['restore-guard FAILED OPEN (policy failureMode: open): timeout']);
  });
});
