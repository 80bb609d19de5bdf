// Captures (issue #18) through a real kube-apiserver: taking a checkpoint of a Pod needs the access exec into
// it needs (`create` on pods/exec, the default checkpoints.access). restore-guard is installed from the shipped
// manifests with the PodCheckpoint stand-in (checkpoint.k8s.io) and the source-dynamo-snapshot Component (its
// capture entry and companion policy, the stand-in PodSnapshot CRD of test/e2e/fixtures), and a policy enabling
// kep-5823 and dynamo-snapshot. In namespace e2e-capture, alice and bob may both create PodCheckpoints and
// PodSnapshots; alice alone may exec into Pod web-0. web-0 is a real core Pod (it stays Pending: nothing
// schedules it), though neither check reads it: only the requester's access to it is asked about, and a Pod
// that does not exist gets the same answer.
//
// kube-apiserver evaluates ValidatingAdmissionPolicies before it calls validating webhooks, so as shipped bob's
// capture is denied by the companion policy and never reaches restore-guard (first block). To see restore-guard
// decide, the second block removes the companion policies' bindings; the third puts them back and takes
// restore-guard's capture entries out, so the policies decide alone.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CHECKPOINT_GROUP, FAST_CACHE, run, setPolicy, shippedInstall, type ControlPlaneInfo, type Manifest } from '../../harness/controlplane/controlplane.js';
import { kubectl, type KubectlResult } from '../../harness/controlplane/kubectl.js';
import { eventually } from '../../harness/controlplane/net.js';
import { shippedWebhooks } from '../../harness/controlplane/restoreguard.js';
import { appSpec, asUser, CHECKPOINTS, create, createNamespace, type Json } from '../../harness/controlplane/scenario.js';
import {
  applySourceComponents,
  deleteObjects,
  DYNAMO,
  installSnapshotCrds,
  registerBaseWebhooks,
  registerSourceWebhooks,
  setSourcesPolicy,
  snapshotResource,
} from '../../harness/controlplane/sources.js';
import { startSuite, type Suite } from '../../harness/controlplane/suite.js';

const info: ControlPlaneInfo = inject('controlPlane');
const ns = 'e2e-capture';
const SOURCES = [{ preset: 'kep-5823' }, { preset: DYNAMO.preset }];
const COMPONENTS = [`source-${DYNAMO.preset}`];
/** The webhook entry and the companion policy (and its binding) share each name. */
const CAPTURE = 'capture.restore-guard.dev';
const DYNAMO_CAPTURE = `${DYNAMO.preset}.capture.restore-guard.dev`;
const SNAPSHOTS = snapshotResource(DYNAMO);
let suite: Suite;
const installed: Manifest[] = [];

const checkpoint = (name: string, sourcePod: string): Json => ({
  apiVersion: `${CHECKPOINT_GROUP}/v1alpha1`,
  kind: 'PodCheckpoint',
  metadata: { name, namespace: ns },
  spec: { sourcePod: { name: sourcePod }, timeoutSeconds: 60 },
});
/** A Dynamo PodSnapshot of `sourcePod`; without one, a snapshot that only names an existing artifact (an illustrative field: the stand-in keeps unknown spec fields). */
const snapshot = (name: string, sourcePod?: string): Json => ({
  apiVersion: `${DYNAMO.group}/${DYNAMO.version}`,
  kind: DYNAMO.kind,
  metadata: { name, namespace: ns },
  spec: { source: sourcePod ? { podRef: { name: sourcePod } } : { snapshotContentName: 'snapcontent-web-0' } },
});

const allowed = (result: KubectlResult): Json | undefined => (result.code === 0 ? (JSON.parse(result.stdout) as Json) : undefined);
const denied = (result: KubectlResult): string | undefined => (result.code !== 0 ? result.stderr.trim() : undefined);
const reviewsSoFar = async () =>
  (await suite.restoreGuard.counter('restore_guard_reviews_total')) + (await suite.restoreGuard.counter('restore_guard_malformed_reviews_total'));
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const deniedByWebhook = (entry: string) =>
  new RegExp(`^Error from server \\(Forbidden\\): error when creating "STDIN": admission webhook "${escape(entry)}" denied the request: `);
/** The webhook's denial of bob (captureUnauthorized); RBAC gives no reason for a denial, so no "; authorizer: ..." follows. */
const webhookMessage = (resource: string, pod: string) =>
  `user "bob" cannot create pods/exec on Pod "${pod}" in namespace "${ns}": creating ${resource} of that Pod requires "create" on ` +
  `pods/exec (group core), because a checkpoint holds the Pod's memory, secrets included`;

/** restore-guard's log line for its decision on the object `name` created by `user`. */
const decisionLogged = (user: string, name: string, reason: string) =>
  eventually(`restore-guard to log its ${reason} decision on ${name}`, async () =>
    suite.restoreGuard.logs.find((line) => line.user === user && line.namespace === ns && line.pod === name && line.reason === reason),
  );

interface AuditEvent {
  stage: string;
  user: { username: string };
  objectRef?: { name?: string };
  annotations?: Record<string, string>;
}
/** kube-apiserver's audit event for `user`'s create of `name` that carries the annotations of webhook `entry`. */
const auditEvent = (user: string, name: string, entry: string) =>
  eventually(`the audit event of ${user}'s ${name}`, async () =>
    readFileSync(info.auditLog, 'utf8')
      .split('\n')
      .filter((line) => line.includes(`"${ns}"`) && line.includes(`"${name}"`) && line.includes('"create"'))
      .map((line) => JSON.parse(line) as AuditEvent)
      .find((e) => e.stage === 'ResponseComplete' && e.user.username === user && e.objectRef?.name === name && e.annotations?.[`${entry}/decision`]),
  );

/** The bindings of the base's and the Dynamo Component's capture policies, as shipped. */
async function captureBindings(): Promise<Manifest[]> {
  const bindings = (await shippedInstall(info, COMPONENTS)).filter(
    (o) => o.kind === 'ValidatingAdmissionPolicyBinding' && [CAPTURE, DYNAMO_CAPTURE].includes(o.metadata?.name ?? ''),
  );
  if (bindings.length !== 2) throw new Error(`expected the bindings ${CAPTURE} and ${DYNAMO_CAPTURE}, found ${bindings.length}`);
  return bindings;
}

/** The webhook configurations rendered with the Dynamo Component, without the capture entries (server-side apply drops them). */
async function registerWithoutCaptureEntries(): Promise<void> {
  const configurations = await shippedWebhooks(info, `https://127.0.0.1:${suite.restoreGuard.port}`, await shippedInstall(info, COMPONENTS));
  const names = (o: Manifest) => ((o.webhooks ?? []) as Array<{ name: string }>).map((w) => w.name);
  for (const configuration of configurations) {
    configuration.webhooks = ((configuration.webhooks ?? []) as Array<{ name: string }>).filter((w) => w.name !== CAPTURE && w.name !== DYNAMO_CAPTURE);
  }
  await run(info, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: configurations });
  const live = JSON.parse(await run(info, ['get', 'validatingwebhookconfiguration', 'restore-guard', '-o', 'json'])) as Manifest;
  const left = names(live).filter((name) => name.endsWith(CAPTURE));
  if (left.length > 0) throw new Error(`capture entries left in the ValidatingWebhookConfiguration: ${left.join(', ')}`);
  // Until kube-apiserver stops calling them, restore-guard denies the admin's capture of a Pod with an invalid
  // name (malformed-source-pod); the policies check only access, which the admin holds.
  for (const object of [checkpoint('e2e-probe', 'Not_A/Name'), snapshot('e2e-probe', 'Not_A/Name')]) {
    await eventually('kube-apiserver to stop calling the capture entries', async () => allowed(await create(info, object)));
  }
}

beforeAll(async () => {
  await installSnapshotCrds(info, [DYNAMO]);
  // RBAC first (restore-guard is ready only once every enabled source's watch has synced), and the Component's
  // companion policies: the Dynamo install as an admin makes it.
  installed.push(...(await applySourceComponents(info, [DYNAMO], { policies: true })));
  await setSourcesPolicy(info, SOURCES);
  suite = await startSuite(info);
  await registerSourceWebhooks(info, suite.restoreGuard, [DYNAMO]);
  await createNamespace(info, ns);
  const role = (name: string, rules: Json[], subjects: string[]): Json[] => [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace: ns }, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: subjects.map((user) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user })),
    },
  ];
  await run(info, ['apply', '--server-side', '-f', '-'], {
    input: [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: ns, labels: { app: 'web' } }, spec: appSpec() },
      ...role(
        'take-checkpoints',
        [
          { apiGroups: [CHECKPOINT_GROUP], resources: ['podcheckpoints'], verbs: ['create'] },
          { apiGroups: [DYNAMO.group], resources: [DYNAMO.resource], verbs: ['create'] },
        ],
        ['alice', 'bob'],
      ),
      ...role('exec-web-0', [{ apiGroups: [''], resources: ['pods/exec'], verbs: ['create'], resourceNames: ['web-0'] }], ['alice']),
      // What a node agent does to a checkpoint after it is created: bob may, though he may not exec into web-0.
      ...role(
        'write-checkpoint-status',
        [{ apiGroups: [CHECKPOINT_GROUP], resources: ['podcheckpoints', 'podcheckpoints/status'], verbs: ['get', 'patch', 'update'] }],
        ['bob'],
      ),
    ],
  });
});
afterAll(async () => {
  // Leave the cluster as the other files expect it: no source RBAC or policies, the base's capture policy
  // bound, the policy and webhooks of the base.
  await deleteObjects(info, installed);
  const baseBinding = (await captureBindings()).filter((o) => o.metadata?.name === CAPTURE);
  await run(info, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: baseBinding });
  await setPolicy(info, { authorizationCache: FAST_CACHE });
  if (suite) await registerBaseWebhooks(info, suite.restoreGuard);
  await suite?.close();
});

describe('as shipped: the capture entries and the companion policies both in force', () => {
  it("bob's checkpoint of a Pod he may not exec into is denied by the companion policy, before restore-guard is called", async () => {
    const byPolicy = `ValidatingAdmissionPolicy '${DYNAMO_CAPTURE}' with binding '${DYNAMO_CAPTURE}' denied request`;
    await eventually('the Dynamo capture policy to be in force', async () =>
      denied(await create(info, snapshot('bob-snap', 'web-0'), asUser('bob')))?.includes(byPolicy) ? true : undefined,
    );
    const before = await reviewsSoFar();
    expect(denied(await create(info, snapshot('bob-snap', 'web-0'), asUser('bob')))).toContain(byPolicy);
    const kep = denied(await create(info, checkpoint('bob-ckpt', 'web-0'), asUser('bob')));
    expect(kep).toContain(`ValidatingAdmissionPolicy '${CAPTURE}' with binding '${CAPTURE}' denied request`);
    // kube-apiserver stops at the policy's denial: the webhook entry (which matches these too) is never called.
    expect(await reviewsSoFar()).toBe(before);
  });

  it('a status write and a label change of an existing PodCheckpoint by bob, who may not exec into its Pod, are not captures', async () => {
    await run(info, ['create', '-f', '-'], { input: checkpoint('kept', 'web-0') });
    // The check is in force for bob's creates...
    expect(denied(await create(info, checkpoint('kept-2', 'web-0'), asUser('bob')))).toContain('may not create pods/exec on Pod "web-0"');
    // ...but neither his status write (the node agent's part) nor his update of the main resource is checked.
    const before = await reviewsSoFar();
    const status = {
      status: {
        nodeName: 'node-a',
        conditions: [{ type: 'Ready', status: 'True', reason: 'CheckpointCompleted', lastTransitionTime: '2026-01-01T00:00:00Z' }],
      },
    };
    await run(info, ['patch', '-n', ns, CHECKPOINTS, 'kept', '--subresource=status', '--type=merge', '-p', JSON.stringify(status)], asUser('bob'));
    await run(info, ['label', '-n', ns, CHECKPOINTS, 'kept', 'tier=web'], asUser('bob'));
    const stored = JSON.parse(await run(info, ['get', '-n', ns, CHECKPOINTS, 'kept', '-o', 'json'])) as {
      metadata: { labels?: Json };
      status?: { nodeName?: string };
    };
    expect(stored.status?.nodeName).toBe('node-a');
    expect(stored.metadata.labels).toMatchObject({ tier: 'web' });
    expect(await reviewsSoFar()).toBe(before);
  });
});

describe("restore-guard's capture entries (the companion policies' bindings removed)", () => {
  beforeAll(async () => {
    await run(info, ['delete', '--ignore-not-found', 'validatingadmissionpolicybinding', CAPTURE, DYNAMO_CAPTURE]);
  });

  it('bob, who may create PodCheckpoints but not exec into web-0, is denied by the webhook (403), the same for a Pod that does not exist', async () => {
    const message = await eventually('the companion policy to be out of the way', async () => {
      const answer = denied(await create(info, checkpoint('bob-web-0', 'web-0'), asUser('bob')));
      return answer?.includes(`admission webhook "${CAPTURE}"`) ? answer : undefined;
    });
    expect(message).toMatch(deniedByWebhook(CAPTURE));
    expect(message).toContain(webhookMessage(CHECKPOINTS, 'web-0'));
    // What an auditor reads in it: the verb, the subresource, the Pod, the namespace, and why.
    for (const part of ['"create"', 'pods/exec', 'Pod "web-0"', `namespace "${ns}"`, "the Pod's memory"]) expect(message).toContain(part);

    const event = await auditEvent('bob', 'bob-web-0', CAPTURE);
    expect(event.annotations).toMatchObject({
      [`${CAPTURE}/decision`]: 'denied',
      [`${CAPTURE}/reason`]: 'capture-unauthorized',
      [`${CAPTURE}/source-pod`]: 'web-0',
      [`${CAPTURE}/checkpoint`]: 'bob-web-0',
    });

    // Nothing about the Pod is read: one that does not exist gets the same answer.
    const ghost = denied(await create(info, checkpoint('bob-ghost', 'ghost-0'), asUser('bob')));
    expect(ghost?.replaceAll('ghost-0', 'web-0')).toBe(message);
    // A stored attempt is not stored.
    expect(denied(await create(info, checkpoint('bob-stored', 'web-0'), { ...asUser('bob'), dryRun: false }))).toMatch(deniedByWebhook(CAPTURE));
    expect((await kubectl(info, ['get', '-n', ns, CHECKPOINTS, 'bob-stored'])).stderr).toContain('NotFound');
  });

  it('alice, who may exec into web-0, is admitted by restore-guard, for web-0 only', async () => {
    const stored = await eventually('the grant to take effect', async () =>
      allowed(await create(info, checkpoint('alice-web-0', 'web-0'), { ...asUser('alice'), dryRun: false })),
    );
    expect((stored.spec as { sourcePod: { name: string } }).sourcePod.name).toBe('web-0');
    expect((await decisionLogged('alice', 'alice-web-0', 'capture-allowed')).decision).toBe('allowed');
    // Her exec grant names web-0: a checkpoint of another Pod is denied.
    const other = denied(await create(info, checkpoint('alice-web-1', 'web-1'), asUser('alice')));
    expect(other).toMatch(deniedByWebhook(CAPTURE));
    expect(other).toContain('user "alice" cannot create pods/exec on Pod "web-1"');
  });

  // Bob, not alice: only a capture the check would deny shows the warning. The binding of the companion policy
  // is removed in this block, or it would deny bob before restore-guard is called (as its comment says: drop it
  // when checkpoints.guard is warn).
  it('with checkpoints.guard warn, bob is admitted with a warning and the would-deny is audited', async () => {
    await setPolicy(info, { authorizationCache: FAST_CACHE, sources: SOURCES, checkpoints: { guard: 'warn' } });
    try {
      const result = await eventually('the warn policy to reach restore-guard', async () => {
        const answer = await create(info, checkpoint('bob-warned', 'web-0'), asUser('bob'));
        return answer.code === 0 ? answer : undefined;
      });
      const warnings = result.stderr
        .split('\n')
        .filter((line) => line.startsWith('Warning: '))
        .map((line) => line.slice('Warning: '.length));
      expect(warnings).toHaveLength(1);
      const warning = warnings[0] ?? '';
      expect(warning).toMatch(/^restore-guard would deny \(warn mode\): /);
      // restore-guard cuts every warning at 120 characters (src/admission/response.ts): who, what and where
      // survive, the rest of the denial's message does not.
      expect(warning).toContain(`user "bob" cannot create pods/exec on Pod "web-0" in namespace "${ns}"`);
      expect(`restore-guard would deny (warn mode): ${webhookMessage(CHECKPOINTS, 'web-0')}`.startsWith(warning.replace(/…$/, ''))).toBe(true);
      const event = await auditEvent('bob', 'bob-warned', CAPTURE);
      expect(event.annotations).toMatchObject({
        [`${CAPTURE}/decision`]: 'would-deny',
        [`${CAPTURE}/mode`]: 'warn',
        [`${CAPTURE}/source-pod`]: 'web-0',
      });
    } finally {
      await setSourcesPolicy(info, SOURCES);
    }
    await eventually('enforce to be back', async () => denied(await create(info, checkpoint('bob-enforced', 'web-0'), asUser('bob'))));
  });

  it('Dynamo: bob is denied a PodSnapshot of web-0, alice is admitted, and a snapshot that names no Pod passes for bob without a review', async () => {
    const message = await eventually('the Dynamo companion policy to be out of the way', async () => {
      const answer = denied(await create(info, snapshot('bob-snap', 'web-0'), asUser('bob')));
      return answer?.includes(`admission webhook "${DYNAMO_CAPTURE}"`) ? answer : undefined;
    });
    expect(message).toMatch(deniedByWebhook(DYNAMO_CAPTURE));
    expect(message).toContain(webhookMessage(SNAPSHOTS, 'web-0'));

    await eventually('the grant to take effect', async () =>
      allowed(await create(info, snapshot('alice-snap', 'web-0'), { ...asUser('alice'), dryRun: false })),
    );
    expect((await decisionLogged('alice', 'alice-snap', 'capture-allowed')).source).toBe(DYNAMO.preset);

    // The entry's matchCondition keeps it from restore-guard: a reference-only snapshot is not a capture.
    const before = await reviewsSoFar();
    expect(allowed(await create(info, snapshot('bob-reference', undefined), { ...asUser('bob'), dryRun: false }))).toBeDefined();
    expect(await reviewsSoFar()).toBe(before);
  });
});

describe("the companion policies alone (restore-guard's capture entries removed)", () => {
  beforeAll(async () => {
    await run(info, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: await captureBindings() });
    await registerWithoutCaptureEntries();
  });

  it.each([
    { kind: 'PodCheckpoint', policy: CAPTURE, noun: 'checkpoint', object: (name: string) => checkpoint(name, 'web-0') },
    { kind: 'PodSnapshot', policy: DYNAMO_CAPTURE, noun: 'snapshot', object: (name: string) => snapshot(name, 'web-0') },
  ])('$kind: bob is denied by $policy, alice is admitted, without restore-guard', async ({ policy, noun, object }) => {
    const before = await reviewsSoFar();
    const message = await eventually('the policy to be in force', async () => denied(await create(info, object('bob-alone'), asUser('bob'))));
    expect(message).toMatch(/^Error from server \(Forbidden\): error when creating "STDIN": /);
    expect(message).toContain(`ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied request: `);
    expect(message).toContain(
      `taking a ${noun} needs the access exec needs, because a ${noun} holds the Pod's memory: bob may not create pods/exec on Pod "web-0" in namespace "${ns}"`,
    );
    expect(allowed(await create(info, object('alice-alone'), asUser('alice')))).toBeDefined();
    expect(await reviewsSoFar()).toBe(before);
  });

  it('a PodSnapshot that names no Pod passes the Dynamo policy for bob', async () => {
    await eventually('the policy to be in force', async () => denied(await create(info, snapshot('bob-probe', 'web-0'), asUser('bob'))));
    expect(allowed(await create(info, snapshot('bob-reference-2', undefined), asUser('bob')))).toBeDefined();
  });
});
