// mTLS with a pinned name against the real kube-apiserver (issue #11: "any caller who reaches port 8443 can
// read checkpoints"). kube-apiserver presents its webhook client certificate through its
// --admission-control-config-file (harness/controlplane.ts) and restore-guard runs with --client-ca-file (the
// cluster CA) and --client-allowed-names (that certificate's CN). kube-apiserver's calls are answered, straight
// and through the relay; a forged AdmissionReview claiming system:masters gets no answer, neither without a
// certificate nor with a genuine certificate of the cluster CA for another identity; and kube-apiserver itself
// is refused by an instance pinned to another name.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { run, TEST_POD_GROUP, type ControlPlaneInfo } from '../../harness/controlplane/controlplane.js';
import { eventually, httpsRequest } from '../../harness/controlplane/net.js';
import { clusterClientCertificate, startRestoreGuard, type RestoreGuard } from '../../harness/controlplane/restoreguard.js';
import { appSpec, create, createCheckpoint, createNamespace, pinnedNode, restoreObject, type Json } from '../../harness/controlplane/scenario.js';
import { POLICY_ARGS, startSuite, type Suite } from '../../harness/controlplane/suite.js';

const info: ControlPlaneInfo = inject('controlPlane');
const ns = 'e2e-client-identity';
const DIRECT = 'restore-guard-e2e-direct.restore-guard.dev';
let suite: Suite;
let elsewhere: RestoreGuard | undefined;

/** The finding's forged review: mallory, claiming system:masters, restores from a checkpoint. */
const forged = (uid: string) =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: ns,
      operation: 'CREATE',
      userInfo: { username: 'mallory', groups: ['system:masters', 'system:authenticated'] },
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'probe', namespace: ns }, spec: { ...appSpec(), restoreFrom: { name: 'secret-ckpt' } } },
    },
  });

/** One forged review straight to restore-guard's port: the answer, or the transport failure (no answer). */
async function forge(port: number, client: { cert?: string; key?: string }, uid: string): Promise<{ status?: number; body?: string; error?: string }> {
  try {
    const answer = await httpsRequest(`https://127.0.0.1:${port}/mutate?timeout=10s`, {
      ca: suite.restoreGuard.ca,
      method: 'POST',
      body: forged(uid),
      ...client,
    });
    return answer;
  } catch (error) {
    return { error: (error as NodeJS.ErrnoException).code ?? (error as Error).message };
  }
}

const reviews = async (restoreGuard: RestoreGuard) =>
  (await restoreGuard.counter('restore_guard_reviews_total')) + (await restoreGuard.counter('restore_guard_malformed_reviews_total'));

/** A validating webhook for labelled e2e Pods that kube-apiserver calls straight at `port` (no relay). */
async function registerDirect(port: number): Promise<void> {
  await run(info, ['apply', '--server-side', '--force-conflicts', '-f', '-'], {
    input: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: DIRECT },
      webhooks: [
        {
          name: DIRECT,
          clientConfig: { url: `https://127.0.0.1:${port}/validate`, caBundle: Buffer.from(readFileSync(info.caFile)).toString('base64') },
          rules: [{ apiGroups: [TEST_POD_GROUP], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'] }],
          objectSelector: { matchLabels: { 'e2e-direct': 'on-port' } },
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          timeoutSeconds: 5,
        },
      ],
    },
  });
}

const labelledPod = (name: string) => ({
  apiVersion: `${TEST_POD_GROUP}/v1`,
  kind: 'Pod',
  metadata: { name, namespace: ns, labels: { 'e2e-direct': 'on-port' } },
  spec: appSpec(),
});

beforeAll(async () => {
  suite = await startSuite(info);
  await createNamespace(info, ns);
  await createCheckpoint(info, ns, 'secret-ckpt', { node: 'node-secret' });
});
afterAll(async () => {
  await run(info, ['delete', 'validatingwebhookconfiguration', DIRECT, '--ignore-not-found']);
  await elsewhere?.close();
  await suite?.close();
});

describe('mTLS with a pinned name, against kube-apiserver', () => {
  it("restore-guard runs with the cluster CA as client CA and kube-apiserver's webhook client name pinned", () => {
    const started = suite.restoreGuard.logs.find((l) => l.msg === 'restore-guard is serving');
    expect(started).toBeDefined();
    expect(suite.restoreGuard.logs.some((l) => String(l.msg).startsWith('mTLS without --client-allowed-names'))).toBe(false);
  });

  it("kube-apiserver's calls are answered: straight to restore-guard, and restores through the relay", async () => {
    await registerDirect(suite.restoreGuard.port);
    const before = await suite.restoreGuard.counter('restore_guard_reviews_total');
    await eventually('a labelled Pod admitted through the direct webhook', async () =>
      (await create(info, labelledPod('direct-1'))).code === 0 ? true : undefined,
    );
    expect(await suite.restoreGuard.counter('restore_guard_reviews_total')).toBeGreaterThan(before);

    // A restore as the admin (system:masters, really): kube-apiserver -> relay -> restore-guard, decided.
    const restore = await create(info, restoreObject(ns, 'restored', 'secret-ckpt'));
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    expect(pinnedNode(JSON.parse(restore.stdout) as Json)).toBe('node-secret');
    expect(await suite.restoreGuard.counter('restore_guard_client_certificates_refused_total')).toBe(0);
  });

  it('a forged review without a client certificate gets no answer', async () => {
    const before = await reviews(suite.restoreGuard);
    const result = await forge(suite.restoreGuard.port, {}, 'forged-anonymous');
    expect(result.status).toBeUndefined();
    expect(result.error).toBeDefined();
    expect(await reviews(suite.restoreGuard)).toBe(before);
  });

  it('a forged review with a genuine cluster-CA certificate for another identity gets no answer, and is counted and logged', async () => {
    const mallory = await clusterClientCertificate(info, 'mallory');
    // A real credential: kube-apiserver itself authenticates it as user mallory.
    const whoami = await httpsRequest(`${info.server}/apis/authentication.k8s.io/v1/selfsubjectreviews`, {
      ca: suite.restoreGuard.ca,
      ...mallory,
      method: 'POST',
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
    });
    expect((JSON.parse(whoami.body) as { status?: { userInfo?: { username?: string } } }).status?.userInfo?.username).toBe('mallory');

    const before = await reviews(suite.restoreGuard);
    const refusedBefore = await suite.restoreGuard.counter('restore_guard_client_certificates_refused_total');
    const result = await forge(suite.restoreGuard.port, mallory, 'forged-mallory');
    expect(result.status).toBeUndefined();
    expect(result.error).toBeDefined();
    expect(await reviews(suite.restoreGuard)).toBe(before);
    expect(await suite.restoreGuard.counter('restore_guard_client_certificates_refused_total')).toBe(refusedBefore + 1);
    const warning = await eventually('the warning', async () => suite.restoreGuard.logs.find((l) => l.clientCN === 'mallory'));
    expect(warning.level).toBe(40);
    expect(JSON.stringify(suite.restoreGuard.logs)).not.toContain('forged-mallory');

    // Control: the very same review with kube-apiserver's certificate is answered, and shows what was at stake.
    const answered = await forge(suite.restoreGuard.port, suite.restoreGuard.apiServerClient, 'forged-as-apiserver');
    expect(answered.status).toBe(200);
    expect(answered.body).toContain('node-secret');
  });

  it('an instance pinned to another name refuses kube-apiserver itself (the check is not vacuous)', async () => {
    elsewhere = await startRestoreGuard(info, { args: POLICY_ARGS, allowedClients: ['someone-else'] });
    await registerDirect(elsewhere.port);
    const instance = elsewhere;
    const result = await eventually('kube-apiserver to call the other instance', async () => {
      const attempt = await create(info, labelledPod('direct-2'));
      return attempt.stderr.includes(`failed calling webhook "${DIRECT}"`) ? attempt : undefined;
    });
    expect(result.code).not.toBe(0);
    expect(await reviews(instance)).toBe(0);
    expect(await instance.counter('restore_guard_client_certificates_refused_total')).toBeGreaterThan(0);
    const warning = await eventually('the warning', async () => instance.logs.find((l) => l.clientCN === info.webhookClient.name));
    expect(warning.level).toBe(40);
  });
});
