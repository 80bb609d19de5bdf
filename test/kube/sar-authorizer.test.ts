import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CachedAuthorizer } from '../../src/kube/authorization-cache.js';
import type { ApiClient } from '../../src/kube/api-client.js';
import { SubjectAccessReviewAuthorizer } from '../../src/kube/sar-authorizer.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import type { UserInfo } from '../../src/admission/request.js';
import { deadlineIn, manualDeadline } from '../support/deadlines.js';
import { FakeApi } from '../../harness/fake-api.js';
import { failureOf } from '../support/failures.js';
import { restoreAccessTo } from '../support/fixtures.js';

const user: UserInfo = {
  username: 'system:serviceaccount:team-a:deployer',
  uid: 'uid-42',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a'],
  extra: { 'authentication.kubernetes.io/pod-name': ['deployer-0'] },
};
const access = restoreAccessTo('cp-1');

async function sarCount(metrics: Metrics, result: string): Promise<number> {
  const metric = await metrics.sarCalls.get();
  return metric.values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('SubjectAccessReviewAuthorizer against the fake API', () => {
  let api: FakeApi;
  let metrics: Metrics;
  let client: ApiClient;
  let authorizer: SubjectAccessReviewAuthorizer;

  beforeEach(async () => {
    api = await FakeApi.start();
    metrics = createMetrics({ defaultMetrics: false });
    client = api.client();
    authorizer = new SubjectAccessReviewAuthorizer({ client, metrics });
  });

  afterEach(async () => {
    client.close();
    await api.close();
  });

  it('sends the whole identity and the restore attributes, and reads an allow', async () => {
    api.grant({ group: 'system:serviceaccounts:team-a', namespace: 'team-a', name: 'cp-1' });
    const answer = await authorizer.authorize(user, access, deadlineIn(5_000));
    expect(answer).toEqual({ allowed: true, reason: 'fake grant' });
    expect(api.sarSpecs).toEqual([
      {
        user: user.username,
        uid: 'uid-42',
        groups: user.groups,
        extra: user.extra,
        resourceAttributes: {
          namespace: 'team-a',
          verb: 'restore',
          group: 'node.k8s.io',
          version: 'v1alpha1',
          resource: 'podcheckpoints',
          name: 'cp-1',
        },
      },
    ]);
    expect(await sarCount(metrics, 'allowed')).toBe(1);
    expect((await metrics.sarDuration.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(1);
  });

  it("sends a capture's subresource (exec on the source Pod), and none for a restore", async () => {
    await authorizer.authorize(
      user,
      { verb: 'create', group: '', version: 'v1', resource: 'pods', subresource: 'exec', namespace: 'team-a', name: 'web-0' },
      deadlineIn(5_000),
    );
    expect(api.sarSpecs[0]?.resourceAttributes).toEqual({
      namespace: 'team-a',
      verb: 'create',
      group: '',
      version: 'v1',
      resource: 'pods',
      subresource: 'exec',
      name: 'web-0',
    });
  });

  it('reads a denial with its reason', async () => {
    api.sarHandler = () => ({ allowed: false, denied: true, reason: 'denied by policy' });
    expect(await authorizer.authorize(user, access, deadlineIn(5_000))).toEqual({
      allowed: false,
      reason: 'denied by policy',
    });
    expect(await sarCount(metrics, 'denied')).toBe(1);
  });

  it('treats "no opinion" as not allowed', async () => {
    expect(await authorizer.authorize(user, access, deadlineIn(5_000))).toEqual({ allowed: false, reason: '' });
  });

  it('turns an evaluation error without an allow into evaluation-error', async () => {
    api.sarHandler = () => ({ allowed: false, evaluationError: 'webhook authorizer timed out' });
    const err = await failureOf(authorizer.authorize(user, access, deadlineIn(5_000)));
    expect(err.failure).toBe('evaluation-error');
    expect(err.message).toContain('webhook authorizer timed out');
    expect(await sarCount(metrics, 'error')).toBe(1);
  });

  it('keeps an allow that comes with an evaluation error', async () => {
    api.sarHandler = () => ({ allowed: true, reason: 'rbac', evaluationError: 'one role missing' });
    expect(await authorizer.authorize(user, access, deadlineIn(5_000))).toEqual({ allowed: true, reason: 'rbac' });
  });

  it('maps HTTP 500 to server-error with the status code', async () => {
    await api.setFault('status500');
    const err = await failureOf(authorizer.authorize(user, access, deadlineIn(5_000)));
    expect(err.failure).toBe('server-error');
    expect(err.message).toContain('500');
    expect(err.message).toContain('injected failure');
  });

  it('maps HTTP 429 to server-error with the status code', async () => {
    await api.setFault('status429');
    const err = await failureOf(authorizer.authorize(user, access, deadlineIn(5_000)));
    expect(err.failure).toBe('server-error');
    expect(err.message).toContain('429');
  });

  it('maps a refused connection to unreachable', async () => {
    await api.setFault('down');
    const err = await failureOf(authorizer.authorize(user, access, deadlineIn(5_000)));
    expect(err.failure).toBe('unreachable');
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('maps a server that does not answer before the deadline to timeout', async () => {
    await api.setFault('hang');
    const manual = manualDeadline();
    const pending = failureOf(authorizer.authorize(user, access, manual.deadline));
    await vi.waitFor(() => expect(api.calls('subjectaccessreviews')).toBe(1), { timeout: 5_000, interval: 10 });
    manual.expire();
    expect((await pending).failure).toBe('timeout');
  });

  it('settles by remainingMs() even when the deadline signal never fires', async () => {
    await api.setFault('hang');
    const end = performance.now() + 100;
    const deadline = { signal: new AbortController().signal, remainingMs: () => Math.max(0, end - performance.now()) };
    expect((await failureOf(authorizer.authorize(user, access, deadline))).failure).toBe('timeout');
  });

  it('gives up at once when the deadline has already passed', async () => {
    const err = await failureOf(authorizer.authorize(user, access, deadlineIn(0)));
    expect(err.failure).toBe('timeout');
    expect(api.calls('subjectaccessreviews')).toBe(0);
  });

  it('recovers when the API server comes back on the same port', async () => {
    await api.setFault('down');
    await failureOf(authorizer.authorize(user, access, deadlineIn(5_000)));
    await api.setFault('none');
    api.grant({ user: user.username, namespace: 'team-a' });
    expect((await authorizer.authorize(user, access, deadlineIn(5_000))).allowed).toBe(true);
  });

  it('behind the cache, sends one review for many identical concurrent requests', async () => {
    api.grant({ user: user.username, namespace: 'team-a' });
    api.setDelay(50);
    const cached = new CachedAuthorizer(authorizer, { metrics });
    const answers = await Promise.all(Array.from({ length: 10 }, () => cached.authorize(user, access, deadlineIn(5_000))));
    expect(answers.every((a) => a.allowed)).toBe(true);
    expect(api.sarCount).toBe(1);
  });
});
