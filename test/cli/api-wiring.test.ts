import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/common/json.js';
import { FakeApi } from '../../harness/fake-api.js';
import { pinnedAffinity, rawCheckpoint, restorePod, reviewBody } from '../support/fixtures.js';
import { post } from '../support/https-client.js';
import { startInCluster, type WebhookProcess } from '../support/webhook-process.js';

/**
 * The built binary the way a pod runs it: no kubeconfig, only $KUBERNETES_SERVICE_HOST/PORT and the
 * service account's token and ca.crt, against an API server that serves TLS with that CA.
 */
describe('restore-guard with the in-cluster service account', () => {
  let api: FakeApi;
  let webhook: WebhookProcess;

  beforeAll(async () => {
    api = await FakeApi.start({ tls: true, token: 'sa-token-1' });
    api.checkpoints.put(rawCheckpoint());
    api.grant({ user: 'granted', namespace: 'team-a', name: 'ckpt' });
    webhook = await startInCluster(api);
  });
  afterAll(async () => {
    await webhook?.stop();
    await api?.close();
  });

  const review = async (username: string) => {
    const object: JsonObject = restorePod({ spec: { affinity: pinnedAffinity() } });
    const body = reviewBody({ object, userInfo: { username, groups: ['system:authenticated'], extra: {} } });
    const reply = await post(webhook.webhookPort, '/validate?timeout=5s', JSON.stringify(body), { ca: webhook.ca });
    return (reply.body as { response: { allowed: boolean; status?: { message: string } } }).response;
  };

  it('finds the API server from the pod environment and authenticates with the token over TLS', async () => {
    expect(webhook.logs.find((l) => l.msg === 'using Kubernetes API')?.source).toBe(`in-cluster service account (${api.url})`);
    expect((await review('granted')).allowed).toBe(true);
    const denied = await review('stranger');
    expect(denied.allowed).toBe(false);
    expect(denied.status?.message).toContain('restore');
    expect(api.sarSpecs.map((spec) => spec.user)).toEqual(expect.arrayContaining(['granted', 'stranger']));
  });
});
