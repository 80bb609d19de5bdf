// restore-guard registered through its real webhook configurations (url and caBundle), called by
// kube-apiserver itself: matchConditions keep ordinary Pods away from it, also while it is down; restores fail
// closed while it is down; its denials reach the user as kubectl prints them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { run, type ControlPlaneInfo } from '../../harness/controlplane/controlplane.js';
import { kubectl } from '../../harness/controlplane/kubectl.js';
import { eventually } from '../../harness/controlplane/net.js';
import { asUser, create, createCheckpoint, createNamespace, grantRestore, restoreObject, type Json } from '../../harness/controlplane/scenario.js';
import { startSuite, type Suite } from '../../harness/controlplane/suite.js';

const info: ControlPlaneInfo = inject('controlPlane');
let suite: Suite;
const ns = 'e2e-registration';

const REVIEW_COUNTERS = ['restore_guard_reviews_total', 'restore_guard_malformed_reviews_total'];
const reviewsSoFar = async () => {
  let sum = 0;
  for (const name of REVIEW_COUNTERS) sum += await suite.restoreGuard.counter(name);
  return sum;
};
const corePod = (name: string, extraSpec: Json = {}): Json => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns },
  spec: { automountServiceAccountToken: false, containers: [{ name: 'app', image: 'registry.example/app:1' }], ...extraSpec },
});

/** restore-guard's own Pod, from the shipped Deployment's template, in its own namespace. */
function ownPod(): Json {
  const deployment = parseAllDocuments(readFileSync(join(import.meta.dirname, '..', '..', 'manifests', 'base', 'deployment.yaml'), 'utf8'))
    .map((d) => d.toJS() as Json)
    .find((d) => d.kind === 'Deployment') as { spec: { template: { metadata: Json; spec: Json } } };
  const { metadata, spec } = deployment.spec.template;
  return { apiVersion: 'v1', kind: 'Pod', metadata: { ...metadata, name: 'restore-guard-own', namespace: OWN_NAMESPACE }, spec };
}
const OWN_NAMESPACE = 'restore-guard';

beforeAll(async () => {
  suite = await startSuite(info);
  await createNamespace(info, OWN_NAMESPACE);
  await run(info, ['apply', '--server-side', '-f', '-'], {
    input: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'restore-guard', namespace: OWN_NAMESPACE } },
  });
  await createCheckpoint(info, OWN_NAMESPACE, 'cart-1');
  await createNamespace(info, ns);
  await createCheckpoint(info, ns, 'cart-1');
  await grantRestore(info, ns, 'alice-restores', { kind: 'User', name: 'alice' });
});
afterAll(async () => {
  await suite?.close();
});

describe('registered through the shipped webhook configurations', () => {
  it('points kube-apiserver at restore-guard by url with the CA as caBundle', async () => {
    const configuration = JSON.parse(await run(info, ['get', 'mutatingwebhookconfiguration', 'restore-guard', '-o', 'json'])) as {
      webhooks: Array<{ clientConfig: { url?: string; caBundle?: string }; matchConditions?: unknown[] }>;
    };
    expect(configuration.webhooks[0]?.clientConfig.url).toBe(`https://127.0.0.1:${suite.restoreGuard.port}/mutate`);
    expect(configuration.webhooks[0]?.clientConfig.caBundle).toBeTruthy();
    expect(configuration.webhooks[0]?.matchConditions?.length).toBeGreaterThan(0);
  });

  it('admits ordinary Pods without calling restore-guard (matchConditions)', async () => {
    const before = await reviewsSoFar();
    const relayed = suite.relay.forwarded;
    await run(info, ['create', '-f', '-'], { ...asUser('alice'), input: corePod('ordinary') });
    await run(info, ['label', '-n', ns, 'pod', 'ordinary', 'tier=web'], asUser('alice'));
    await run(info, ['delete', '-n', ns, 'pod', 'ordinary', '--wait=false'], asUser('alice'));
    expect(await reviewsSoFar()).toBe(before);
    expect(suite.relay.forwarded).toBe(relayed);
  });

  it('never sees spec.restoreFrom on a real Pod: this kube-apiserver drops the field when it decodes the request', async () => {
    const strict = await kubectl(info, ['create', '-f', '-'], { ...asUser('bob'), input: corePod('sneaky', { restoreFrom: { name: 'cart-1' } }) });
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toContain('unknown field "spec.restoreFrom"');

    const before = await reviewsSoFar();
    const lax = await kubectl(info, ['create', '--validate=false', '-o', 'json', '-f', '-'], {
      ...asUser('bob'),
      input: corePod('sneaky', { restoreFrom: { name: 'cart-1' } }),
    });
    expect(lax.code).toBe(0);
    expect((JSON.parse(lax.stdout) as { spec: Json }).spec.restoreFrom).toBeUndefined();
    expect(await reviewsSoFar()).toBe(before);
  });

  it("shows restore-guard's denial to the user through kube-apiserver, as kubectl prints it", async () => {
    const result = await create(info, restoreObject(ns, 'r', 'cart-1'), asUser('bob'));
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `Error from server (Forbidden): error when creating "STDIN": admission webhook "pin.restore-guard.dev" denied the request: ` +
        `user "bob" cannot restore podcheckpoints.checkpoint.k8s.io "cart-1" in namespace "${ns}": creating a Pod with spec.restoreFrom ` +
        `requires the "restore" verb on the checkpoint (resource podcheckpoints, group checkpoint.k8s.io)`,
    );
  });
});

describe("restore-guard's own namespace", () => {
  it('is not excluded: a restore there is checked like any other', async () => {
    const result = await create(info, restoreObject(OWN_NAMESPACE, 'r', 'cart-1'), asUser('bob'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('admission webhook "pin.restore-guard.dev" denied the request: user "bob" cannot restore');
  });
});

describe('audit', () => {
  it("kube-apiserver records restore-guard's audit annotations, prefixed with the webhook's name", async () => {
    const result = await create(info, restoreObject(ns, 'audited', 'cart-1'), asUser('bob'));
    expect(result.code).not.toBe(0);
    const event = await eventually('the audit event', async () =>
      readFileSync(info.auditLog, 'utf8')
        .split('\n')
        .filter((line) => line.includes('"audited"') && line.includes('"bob"'))
        .map((line) => JSON.parse(line) as { stage: string; annotations?: Record<string, string> })
        .find((e) => e.stage === 'ResponseComplete' && e.annotations?.['pin.restore-guard.dev/decision']),
    );
    expect(event.annotations).toMatchObject({ 'pin.restore-guard.dev/checkpoint': 'cart-1', 'pin.restore-guard.dev/decision': 'denied' });
    // Not authorized: the node that holds the checkpoint is not revealed, not even in the audit log.
    expect(event.annotations?.['pin.restore-guard.dev/node']).toBeUndefined();
  });
});

describe('while restore-guard is down', () => {
  it('ordinary Pods are still admitted, restores fail closed, and restores work again once it is back', async () => {
    await eventually('the restore to be allowed', async () =>
      (await create(info, restoreObject(ns, 'r', 'cart-1'), asUser('alice'))).code === 0 ? true : undefined,
    );
    await suite.restoreGuard.stop();
    try {
      await run(info, ['create', '-f', '-'], { ...asUser('alice'), input: corePod('while-down') });
      // restore-guard's own Pods never reach it, so it can always be started again.
      await run(info, ['create', '--dry-run=server', '-f', '-'], { input: ownPod() });
      const restore = await create(info, restoreObject(ns, 'r', 'cart-1'), asUser('alice'));
      expect(restore.code).not.toBe(0);
      expect(restore.stderr).toContain('failed calling webhook "pin.restore-guard.dev"');
    } finally {
      await suite.restoreGuard.start();
    }
    await eventually('the restore to be allowed again', async () =>
      (await create(info, restoreObject(ns, 'r', 'cart-1'), asUser('alice'))).code === 0 ? true : undefined,
    );
  });
});
