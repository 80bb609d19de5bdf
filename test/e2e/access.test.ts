// How restore-guard finds and authenticates to the API server, against the real one: as a pod (the
// ServiceAccount's mounted token and the cluster CA, KUBERNETES_SERVICE_HOST/PORT; what every other e2e file
// uses) and out of cluster from a kubeconfig, which @kubernetes/client-node reads. Both must sync their watches
// under the shipped RBAC and get the same SubjectAccessReview answers.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { USERS, type ControlPlaneInfo, type UserName } from '../../harness/controlplane/controlplane.js';
import { httpsRequest } from '../../harness/controlplane/net.js';
import { startRestoreGuard, type RestoreGuard } from '../../harness/controlplane/restoreguard.js';
import { appSpec, createCheckpoint, createNamespace, grantRestore } from '../../harness/controlplane/scenario.js';
import { POLICY_ARGS } from '../../harness/controlplane/suite.js';

const info: ControlPlaneInfo = inject('controlPlane');
const ns = 'e2e-access';
const instances: Partial<Record<'in-cluster' | 'kubeconfig', RestoreGuard>> = {};

beforeAll(async () => {
  await createNamespace(info, ns);
  await createCheckpoint(info, ns, 'ckpt');
  await grantRestore(info, ns, 'access-alice', { kind: 'User', name: 'alice' }, ['ckpt']);
  for (const access of ['in-cluster', 'kubeconfig'] as const) {
    instances[access] = await startRestoreGuard(info, { access, args: POLICY_ARGS });
  }
});
afterAll(async () => {
  await Promise.all(Object.values(instances).map((instance) => instance.close()));
});

/** A restore review sent straight to /mutate, as kube-apiserver would for a core Pod. */
async function mutate(restoreGuard: RestoreGuard, user: UserName): Promise<{ allowed: boolean; patch?: string; status?: { message?: string } }> {
  const { name, uid, groups } = USERS[user];
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `access-${user}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: ns,
      operation: 'CREATE',
      userInfo: { username: name, uid, groups: [...groups, 'system:authenticated'] },
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'restored', namespace: ns }, spec: { ...appSpec(), restoreFrom: { name: 'ckpt' } } },
    },
  };
  const answer = await httpsRequest(`https://127.0.0.1:${restoreGuard.port}/mutate?timeout=10s`, {
    ca: restoreGuard.ca,
    // As kube-apiserver calls it: restore-guard answers only its webhook client certificate.
    ...restoreGuard.apiServerClient,
    method: 'POST',
    body: JSON.stringify(review),
  });
  expect(answer.status).toBe(200);
  return (JSON.parse(answer.body) as { response: { allowed: boolean; patch?: string; status?: { message?: string } } }).response;
}

describe('API server access', () => {
  it.each(['in-cluster', 'kubeconfig'] as const)("%s: syncs its watches and gets the real authorizer's answers", async (access) => {
    const restoreGuard = instances[access];
    if (!restoreGuard) throw new Error(`no ${access} instance`);
    const source = restoreGuard.logs.find((line) => line.msg === 'using Kubernetes API')?.source;
    expect(source).toBe(access === 'kubeconfig' ? `kubeconfig ${info.restoreGuardKubeconfig}` : `in-cluster service account (${info.server})`);

    const granted = await mutate(restoreGuard, 'alice');
    expect(granted.allowed).toBe(true);
    expect(granted.patch).toBeDefined();
    const refused = await mutate(restoreGuard, 'bob');
    expect(refused.allowed).toBe(false);
    expect(refused.status?.message).toMatch(/restore/);
    expect(refused.status?.message).not.toMatch(/could not be reached/);
    expect(await restoreGuard.counter('restore_guard_subjectaccessreview_calls_total')).toBeGreaterThanOrEqual(2);
  });
});
