// Restore sources that run today, through a real kube-apiserver: NVIDIA Dynamo snapshots and GKE Pod
// snapshots name their snapshot with an annotation, which survives on a real core Pod, so kube-apiserver sends
// these restores straight to restore-guard (no relay). restore-guard is installed as an admin would install it
// with the Components manifests/components/source-<preset> (webhook entries, RBAC for its watches, and, in the
// last block, the companion ValidatingAdmissionPolicies), the stand-in CRDs of test/e2e/fixtures, and a
// policy enabling kep-5823, dynamo-snapshot and gke-pod-snapshot. Snapshot status is written by the admin
// through the status subresource, the restored condition through pods/status.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FAST_CACHE, run, setPolicy, type ControlPlaneInfo, type Manifest } from '../../harness/controlplane/controlplane.js';
import { kubectl, type KubectlResult } from '../../harness/controlplane/kubectl.js';
import { eventually } from '../../harness/controlplane/net.js';
import { asUser, create, createCheckpoint, createNamespace, grantRestore, pinnedNode, restoreObject, type Json } from '../../harness/controlplane/scenario.js';
import {
  annotatedPod,
  applySourceComponents,
  createSnapshot,
  deleteObjects,
  DYNAMO,
  GKE,
  grantSnapshotRestore,
  installSnapshotCrds,
  registerBaseWebhooks,
  registerSourceWebhooks,
  setPodCondition,
  setSnapshotStatus,
  setSourcesPolicy,
  SNAPSHOT_SYSTEMS,
  snapshotResource,
  type SnapshotSystem,
} from '../../harness/controlplane/sources.js';
import { startSuite, type Suite } from '../../harness/controlplane/suite.js';

const info: ControlPlaneInfo = inject('controlPlane');
let suite: Suite;
const installed: Manifest[] = [];

beforeAll(async () => {
  await installSnapshotCrds(info);
  // RBAC first: restore-guard is ready only once every enabled source's watch has synced.
  installed.push(...(await applySourceComponents(info, SNAPSHOT_SYSTEMS, { policies: false })));
  await setSourcesPolicy(info, [{ preset: 'kep-5823' }, { preset: DYNAMO.preset }, { preset: GKE.preset }]);
  suite = await startSuite(info);
  await registerSourceWebhooks(info, suite.restoreGuard, SNAPSHOT_SYSTEMS);
});
afterAll(async () => {
  // Leave the cluster as the other files expect it: no source RBAC (manifests.test.ts checks restore-guard
  // holds exactly what manifests/base ships), no source policies, the policy and webhooks of the base.
  await deleteObjects(info, installed);
  await setPolicy(info, { authorizationCache: FAST_CACHE });
  if (suite) await registerBaseWebhooks(info, suite.restoreGuard);
  await suite?.close();
});

const allowed = (result: KubectlResult): Json | undefined => (result.code === 0 ? (JSON.parse(result.stdout) as Json) : undefined);
const denied = (result: KubectlResult): string | undefined => (result.code !== 0 ? result.stderr.trim() : undefined);
const reviewsSoFar = async () =>
  (await suite.restoreGuard.counter('restore_guard_reviews_total')) + (await suite.restoreGuard.counter('restore_guard_malformed_reviews_total'));
/** The denial of a CREATE by one of the source's two entries (which one depends on what the mutating entry checks). */
const deniedCreate = (system: SnapshotSystem, status: 'Forbidden' | 'Invalid') =>
  new RegExp(
    `^${status === 'Forbidden' ? 'Error from server \\(Forbidden\\):' : 'The request is invalid:'} error when creating "STDIN": admission webhook ` +
      `"${system.preset.replaceAll('-', '\\-')}\\.(pin|restore)\\.restore-guard\\.dev" denied the request: `,
  );

describe.each([
  { system: DYNAMO, ns: 'e2e-source-dynamo', other: GKE },
  { system: GKE, ns: 'e2e-source-gke', other: DYNAMO },
])('$system.preset: real Pods with annotation $system.annotation', ({ system, ns, other }) => {
  const resource = snapshotResource(system);
  const pod = (name: string, snapshot?: string, spec?: Json) => annotatedPod(system, ns, name, snapshot, spec);
  const patchPod = (name: string, body: Json) =>
    run(info, ['patch', '-n', ns, 'pod', name, '--type=strategic', '-p', JSON.stringify(body)], asUser('alice')).then(
      () => 'ok',
      (error: Error) => error.message,
    );
  const validating = `admission webhook "${system.preset}.restore.restore-guard.dev" denied the request`;

  beforeAll(async () => {
    await createNamespace(info, ns);
    await createSnapshot(info, system, ns, 'snap-ready');
    await createSnapshot(info, system, ns, 'snap-warming', { ready: 'False' });
    await createSnapshot(info, system, ns, 'snap-other');
    await createSnapshot(info, system, ns, 'snap-late', { ready: 'False' });
    // alice may restore these by name (the missing one too, so its denial is about the snapshot); not snap-other.
    await grantSnapshotRestore(info, system, ns, 'alice-restores', { kind: 'User', name: 'alice' }, [
      'snap-ready',
      'snap-warming',
      'snap-missing',
      'snap-late',
    ]);
  });

  it('alice, granted restore on the snapshot by resourceNames, creates the Pod: it is stored, not pinned, and audited with the source', async () => {
    const stored = await eventually('the grant and the snapshot to reach restore-guard', async () =>
      allowed(await create(info, pod('restored', 'snap-ready'), { ...asUser('alice'), dryRun: false })),
    );
    expect((stored.metadata as { annotations: Record<string, string> }).annotations[system.annotation]).toBe('snap-ready');
    // placement: none: the snapshot's data is on shared storage, no node affinity is added.
    expect(pinnedNode(stored)).toBeUndefined();
    expect((stored.spec as Json).affinity).toBeUndefined();
    const got = JSON.parse(await run(info, ['get', '-n', ns, 'pod', 'restored', '-o', 'json'])) as { metadata: { uid: string } };
    expect(got.metadata.uid).toBe((stored.metadata as { uid: string }).uid);

    const event = await eventually('the audit event', async () =>
      readFileSync(info.auditLog, 'utf8')
        .split('\n')
        .filter((line) => line.includes(`"${ns}"`) && line.includes('"restored"') && line.includes('"create"'))
        .map((line) => JSON.parse(line) as { stage: string; annotations?: Record<string, string> })
        .find((e) => e.stage === 'ResponseComplete' && e.annotations?.[`${system.preset}.restore.restore-guard.dev/source`]),
    );
    expect(event.annotations).toMatchObject({
      [`${system.preset}.pin.restore-guard.dev/source`]: system.preset,
      [`${system.preset}.restore.restore-guard.dev/source`]: system.preset,
    });
  });

  it('alice is denied a snapshot her grant does not name, with the source in the message', async () => {
    const message = denied(await create(info, pod('other', 'snap-other'), asUser('alice')));
    expect(message).toMatch(deniedCreate(system, 'Forbidden'));
    expect(message).toContain(`user "alice" cannot restore ${resource} "snap-other" in namespace "${ns}"`);
    expect(message).toContain(`annotation ${JSON.stringify(system.annotation)}`);
  });

  it('alice is denied a missing snapshot and a not-Ready one; a snapshot that becomes Ready becomes usable', async () => {
    const missing = denied(await create(info, pod('from-missing', 'snap-missing'), asUser('alice')));
    expect(missing).toMatch(deniedCreate(system, 'Forbidden'));
    expect(missing).toContain(`${resource} "snap-missing" not found in namespace "${ns}"`);

    const warming = await eventually('the not-Ready snapshot to be seen', async () => {
      const message = denied(await create(info, pod('from-warming', 'snap-warming'), asUser('alice')));
      return message?.includes('is not ready') ? message : undefined;
    });
    expect(warming).toMatch(deniedCreate(system, 'Forbidden'));
    expect(warming).toContain(`${resource} "snap-warming" is not ready (SnapshotInProgress)`);
    expect(warming).toContain('condition Ready=True');

    const late = () => create(info, pod('from-late', 'snap-late'), asUser('alice'));
    await eventually('snap-late to be seen not Ready', async () => (denied(await late())?.includes('is not ready') ? true : undefined));
    await setSnapshotStatus(info, system, ns, 'snap-late', { ready: 'True' });
    await eventually('Ready=True to reach the watch cache', async () => allowed(await late()));
  });

  it('bob, who may create Pods but not restore, gets 403, and the message is the same whether the snapshot is ready, not Ready or missing', async () => {
    const answers = await Promise.all(
      ['snap-ready', 'snap-warming', 'snap-missing'].map(async (name) => {
        const result = await create(info, pod('probe', name), asUser('bob'));
        expect(result.code).not.toBe(0);
        return result.stderr.trim().replaceAll(name, 'NAME');
      }),
    );
    expect(answers[0]).toMatch(/^Error from server \(Forbidden\): error when creating "STDIN": admission webhook "[a-z-]+\.pin\.restore-guard\.dev" denied/);
    expect(answers[0]).toContain(`user "bob" cannot restore ${resource} "NAME" in namespace "${ns}"`);
    expect(answers[1]).toBe(answers[0]);
    expect(answers[2]).toBe(answers[0]);
    expect(answers[0]).not.toMatch(/not found|not ready|Ready=/);
    // A stored attempt is not stored.
    const stored = await create(info, pod('bob-restored', 'snap-ready'), { ...asUser('bob'), dryRun: false });
    expect(stored.code).not.toBe(0);
    expect((await kubectl(info, ['get', '-n', ns, 'pod', 'bob-restored'])).stderr).toContain('NotFound');
  });

  it('an annotation value that is not an object name is refused (422), without echoing it', async () => {
    const message = denied(await create(info, pod('bad-name', 'Not_A/Name'), asUser('alice')));
    expect(message).toMatch(deniedCreate(system, 'Invalid'));
    expect(message).toContain(`annotation ${JSON.stringify(system.annotation)} must name an object`);
  });

  it('an UPDATE cannot add the annotation to a plain Pod, nor change or remove it on a restored one (422)', async () => {
    await run(info, ['create', '-f', '-'], { ...asUser('alice'), input: pod('plain') });
    const added = await patchPod('plain', { metadata: { annotations: { [system.annotation]: 'snap-ready' } } });
    expect(added).toContain(`The request is invalid: ${validating}: annotation ${JSON.stringify(system.annotation)} is immutable`);

    await eventually('the restore to be admitted', async () => allowed(await create(info, pod('moving', 'snap-ready'), { ...asUser('alice'), dryRun: false })));
    const changed = await patchPod('moving', { metadata: { annotations: { [system.annotation]: 'snap-late' } } });
    expect(changed).toContain(`The request is invalid: ${validating}: annotation ${JSON.stringify(system.annotation)} is immutable`);
    const removed = await patchPod('moving', { metadata: { annotations: { [system.annotation]: null } } });
    expect(removed).toContain(`The request is invalid: ${validating}: annotation ${JSON.stringify(system.annotation)} is immutable`);
    // Other metadata is not frozen.
    expect(await patchPod('moving', { metadata: { labels: { tier: 'web' } } })).toBe('ok');
  });

  it(`the spec is frozen until an admin sets ${system.restored}=True through pods/status; another system's condition or False does not lift it`, async () => {
    await eventually('the restore to be admitted', async () => allowed(await create(info, pod('frozen', 'snap-ready'), { ...asUser('alice'), dryRun: false })));
    const image = { spec: { containers: [{ name: 'cart', image: 'registry.example/shop/cart:latest' }] } };
    const deadline = { spec: { activeDeadlineSeconds: 3600 } };
    for (const change of [image, deadline]) {
      expect(await patchPod('frozen', change)).toContain(`Error from server (Forbidden): ${validating}: the spec of a Pod that restores`);
    }
    expect(await patchPod('frozen', deadline)).toContain(`(condition ${system.restored}=True)`);

    await setPodCondition(info, ns, 'frozen', other.restored, 'True');
    await setPodCondition(info, ns, 'frozen', system.restored, 'False');
    expect(await patchPod('frozen', deadline)).toContain(`${validating}: the spec of a Pod that restores`);

    await setPodCondition(info, ns, 'frozen', system.restored, 'True');
    expect(await patchPod('frozen', deadline)).toBe('ok');
    expect(await patchPod('frozen', image)).toBe('ok');
    // Restored or not, the reference stays.
    expect(await patchPod('frozen', { metadata: { annotations: { [system.annotation]: null } } })).toContain('is immutable');
  });
});

describe('every source at once', () => {
  const ns = 'e2e-sources';
  beforeAll(async () => {
    await createNamespace(info, ns);
    await createCheckpoint(info, ns, 'cart-1');
    await grantRestore(info, ns, 'alice-checkpoints', { kind: 'User', name: 'alice' }, ['cart-1']);
    for (const system of SNAPSHOT_SYSTEMS) {
      await createSnapshot(info, system, ns, 'snap');
      await grantSnapshotRestore(info, system, ns, `alice-${system.preset}`, { kind: 'User', name: 'alice' }, ['snap']);
    }
  });

  it('a Pod naming two sources is denied as ambiguous (422)', async () => {
    const both = annotatedPod(DYNAMO, ns, 'both', 'snap');
    (both.metadata as { annotations: Record<string, string> }).annotations[GKE.annotation] = 'snap';
    const message = await eventually('the grants to take effect', async () => denied(await create(info, both, asUser('alice'))));
    expect(message).toMatch(/^The request is invalid: error when creating "STDIN": admission webhook "[a-z-]+\.pin\.restore-guard\.dev" denied the request: /);
    expect(message).toContain(
      'a Pod may restore from one source only; this one references annotation "nvidia.com/restore-from" (dynamo-snapshot) and annotation "podsnapshot.gke.io/ps-name" (gke-pod-snapshot)',
    );
  });

  it('a Pod without any reference (or only an unrelated Dynamo annotation) never reaches restore-guard', async () => {
    const before = await reviewsSoFar();
    const relayed = suite.relay.forwarded;
    await run(info, ['create', '-f', '-'], { ...asUser('bob'), input: annotatedPod(undefined, ns, 'ordinary') });
    const withMap = annotatedPod(undefined, ns, 'container-map');
    (withMap.metadata as Json).annotations = { 'nvidia.com/restore-container-map': 'cart=cart', 'podsnapshot.gke.io/other': 'x' };
    await run(info, ['create', '-f', '-'], { ...asUser('bob'), input: withMap });
    await run(info, ['patch', '-n', ns, 'pod', 'ordinary', '--type=merge', '-p', '{"spec":{"activeDeadlineSeconds":60}}'], asUser('bob'));
    await run(info, ['label', '-n', ns, 'pod', 'container-map', 'tier=web'], asUser('bob'));
    await run(info, ['delete', '-n', ns, 'pod', 'ordinary', 'container-map', '--wait=false'], asUser('bob'));
    expect(await reviewsSoFar()).toBe(before);
    expect(suite.relay.forwarded).toBe(relayed);
    // restore-guard counts the reviews it gets: an annotated restore does move the counter.
    await create(info, annotatedPod(DYNAMO, ns, 'counted', 'snap'), asUser('bob'));
    expect(await reviewsSoFar()).toBeGreaterThan(before);
  });

  it('KEP-5823 restores (the e2e Pod-shaped objects, through the relay) still work with the snapshot sources enabled', async () => {
    const object = await eventually('the grant to take effect', async () => allowed(await create(info, restoreObject(ns, 'kep', 'cart-1'), asUser('alice'))));
    expect(pinnedNode(object)).toBe('node-a');
    const bob = denied(await create(info, restoreObject(ns, 'kep', 'cart-1'), asUser('bob')));
    expect(bob).toContain('admission webhook "pin.restore-guard.dev" denied the request: user "bob" cannot restore podcheckpoints.checkpoint.k8s.io "cart-1"');
  });
});

describe('the source Components’ companion ValidatingAdmissionPolicies, in kube-apiserver', () => {
  const ns = 'e2e-source-policies';
  beforeAll(async () => {
    installed.push(...(await applySourceComponents(info, SNAPSHOT_SYSTEMS, { policies: true })));
    // restore-guard's source entries out of the way: only kube-apiserver's own policies decide.
    await registerBaseWebhooks(info, suite.restoreGuard);
    await createNamespace(info, ns);
    for (const system of SNAPSHOT_SYSTEMS) {
      await createSnapshot(info, system, ns, 'snap');
      await grantSnapshotRestore(info, system, ns, `alice-${system.preset}`, { kind: 'User', name: 'alice' }, ['snap']);
    }
  });

  it.each(SNAPSHOT_SYSTEMS)('$preset: authorization on CREATE, immutability and the freeze on UPDATE', async (system) => {
    const policy = `${system.preset}.restore-guard.dev`;
    const name = `r-${system.preset}`;
    const before = await reviewsSoFar();
    const bob = await eventually('the policy to be in force', async () => denied(await create(info, annotatedPod(system, ns, name, 'snap'), asUser('bob'))));
    expect(bob).toContain(`ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied request`);
    expect(bob).toContain(`bob may not restore ${snapshotResource(system)} "snap" in namespace "${ns}"`);

    await run(info, ['create', '-f', '-'], { ...asUser('alice'), input: annotatedPod(system, ns, name, 'snap') });
    const patch = (body: Json) =>
      run(info, ['patch', '-n', ns, 'pod', name, '--type=merge', '-p', JSON.stringify(body)], asUser('alice')).then(
        () => 'ok',
        (error: Error) => error.message,
      );
    expect(await patch({ metadata: { annotations: { [system.annotation]: 'snap-2' } } })).toContain(`annotation ${system.annotation} is immutable`);
    expect(await patch({ spec: { activeDeadlineSeconds: 60 } })).toContain(`${system.restored}=True`);
    expect(await patch({ metadata: { labels: { tier: 'web' } } })).toBe('ok');
    await setPodCondition(info, ns, name, system.restored, 'True');
    expect(await patch({ spec: { activeDeadlineSeconds: 60 } })).toBe('ok');
    // Nothing of this reached restore-guard.
    expect(await reviewsSoFar()).toBe(before);
  });
});
