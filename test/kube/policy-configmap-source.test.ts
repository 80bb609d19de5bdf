import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunningWebhook } from '../../src/cli/serve.js';
import type { JsonObject } from '../../src/common/json.js';
import { FakeApi } from '../../harness/fake-api.js';
import { pinnedAffinity, rawCheckpoint, restorePod, reviewBody } from '../support/fixtures.js';
import { post } from '../support/https-client.js';
import { startAgainst } from '../support/in-process-webhook.js';

const HEADER = 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n';

/** The policy ConfigMap followed live through the API, as `--policy-configmap` wires it. */
describe('policy from a ConfigMap', () => {
  let api: FakeApi;
  let webhook: RunningWebhook;
  let ca: string;

  beforeAll(async () => {
    api = await FakeApi.start();
    api.checkpoints.put(rawCheckpoint());
    api.grant({ user: 'alice', namespace: 'team-a', name: 'ckpt' });
    ({ webhook, ca } = await startAgainst(api, { policyConfigMap: { namespace: 'restore-guard', name: 'restore-guard-policy' } }));
  });
  afterAll(async () => {
    await webhook?.close();
    await api?.close();
  });

  const validate = async (object: JsonObject) => {
    const reply = await post(webhook.webhookPort, '/validate', JSON.stringify(reviewBody({ object })), { ca });
    return (reply.body as { response: { allowed: boolean; warnings?: string[]; auditAnnotations?: Record<string, string> } }).response;
  };
  const mismatched = () => restorePod({ spec: { affinity: pinnedAffinity(), hostNetwork: true } });
  const putPolicy = (text: string) =>
    api.configMaps.put({ metadata: { namespace: 'restore-guard', name: 'restore-guard-policy', uid: 'cm-uid' }, data: { 'policy.yaml': text } });
  const metric = async (name: string) =>
    (await (await fetch(`http://127.0.0.1:${webhook.metricsPort}/metrics`)).text()).split('\n').filter((l) => l.startsWith(name));

  it('uses the defaults while there is no ConfigMap', async () => {
    const answer = await validate(mismatched());
    expect(answer.allowed).toBe(false);
    expect(answer.auditAnnotations?.['policy-generation']).toBe('1');
  });

  it('applies a new ConfigMap within seconds, without a restart', async () => {
    putPolicy(`${HEADER}mode: warn`);
    await vi.waitFor(async () => expect((await validate(mismatched())).allowed).toBe(true));
    const answer = await validate(mismatched());
    expect(answer.warnings?.join()).toContain('would deny');
    expect(answer.auditAnnotations).toMatchObject({ 'policy-generation': '2', decision: 'would-deny' });
    expect(await metric('restore_guard_policy_generation')).toContain('restore_guard_policy_generation 2');
    await vi.waitFor(() => expect(api.events.some((e) => e.reason === 'PolicyApplied')).toBe(true));
  });

  it('refuses a bad change: the last good policy stays, an Event and a metric say why', async () => {
    putPolicy(`${HEADER}mode: warn\nrequireReadyy: true`);
    await vi.waitFor(() => expect(api.events.some((e) => e.reason === 'InvalidPolicy')).toBe(true));
    const event = api.events.find((e) => e.reason === 'InvalidPolicy') as JsonObject;
    expect(event).toMatchObject({ type: 'Warning', involvedObject: { kind: 'ConfigMap', namespace: 'restore-guard', name: 'restore-guard-policy' } });
    expect(event.message).toContain('unknown field "requireReadyy"');
    expect((await validate(mismatched())).allowed).toBe(true);
    expect((await metric('restore_guard_policy_reloads_total')).join()).toMatch(/result="rejected"} 1/);
    expect((await fetch(`http://127.0.0.1:${webhook.metricsPort}/readyz`)).status).toBe(200);
  });

  it('changes the authorization cache and the checkpoint API live', async () => {
    putPolicy(`${HEADER}authorizationCache: { allowedTTL: 0s }\ncheckpointAPI: { group: checkpoint.k8s.io }`);
    await vi.waitFor(async () => {
      const before = api.sarSpecs.length;
      await validate(restorePod({ spec: { affinity: pinnedAffinity() } }));
      expect(api.sarSpecs.slice(before).at(-1)?.resourceAttributes?.group).toBe('checkpoint.k8s.io');
    });
    const before = api.sarCount;
    await validate(restorePod({ spec: { affinity: pinnedAffinity() } }));
    await validate(restorePod({ spec: { affinity: pinnedAffinity() } }));
    expect(api.sarCount - before).toBe(2);
  });

  it('goes back to the defaults when the ConfigMap is deleted', async () => {
    api.configMaps.remove('restore-guard', 'restore-guard-policy');
    await vi.waitFor(async () => expect((await validate(mismatched())).allowed).toBe(false));
  });
});

/** A new replica must not decide restores with the defaults while the admin's policy cannot be read. */
describe('policy from a ConfigMap, before it is loaded', () => {
  let api: FakeApi;
  let webhook: RunningWebhook;
  let ca: string;
  const configMap = { namespace: 'restore-guard', name: 'restore-guard-policy' };

  beforeAll(async () => {
    api = await FakeApi.start();
    api.checkpoints.put(rawCheckpoint());
    api.grant({ user: 'alice', namespace: 'team-a', name: 'ckpt' });
    // A restrictive policy that does not validate when the replica starts.
    api.configMaps.put({
      metadata: { ...configMap, uid: 'cm-uid' },
      data: {
        'policy.yaml': `${HEADER}namespaces: {include: [team-b]}
mode: sometimes`,
      },
    });
    ({ webhook, ca } = await startAgainst(api, { policyConfigMap: configMap }));
  });
  afterAll(async () => {
    await webhook?.close();
    await api?.close();
  });

  const readyz = async () => {
    const reply = await fetch(`http://127.0.0.1:${webhook.metricsPort}/readyz`);
    return { status: reply.status, text: await reply.text() };
  };
  const restore = async () => {
    const reply = await post(webhook.webhookPort, '/validate', JSON.stringify(reviewBody({ object: restorePod({ spec: { affinity: pinnedAffinity() } }) })), {
      ca,
    });
    return (reply.body as { response: { allowed: boolean; status?: { code: number; message: string } } }).response;
  };

  it('is not ready and denies restores saying the configured policy does not validate', async () => {
    await vi.waitFor(async () => expect((await restore()).status?.message).toContain('does not validate'));
    const answer = await restore();
    expect(answer).toMatchObject({ allowed: false, status: { code: 503 } });
    expect(answer.status?.message).toContain('ConfigMap restore-guard/restore-guard-policy');
    expect(await readyz()).toMatchObject({ status: 503, text: expect.stringContaining('the configured policy') });
    expect(api.sarCount).toBe(0);
  });

  it("becomes ready and decides by the admin's policy once a valid one is read", async () => {
    api.configMaps.put({ metadata: { ...configMap, uid: 'cm-uid' }, data: { 'policy.yaml': `${HEADER}namespaces: {include: [team-b]}` } });
    await vi.waitFor(async () => expect((await readyz()).status).toBe(200));
    const answer = await restore();
    expect(answer).toMatchObject({ allowed: false, status: { code: 403 } });
    expect(answer.status?.message).toContain('not in the included namespaces');
  });
});

describe('policy from a ConfigMap the API server will not serve', () => {
  it('keeps the replica unready and restores denied until the read succeeds', async () => {
    const api = await FakeApi.start();
    api.checkpoints.put(rawCheckpoint());
    api.grant({ user: 'alice', namespace: 'team-a', name: 'ckpt' });
    await api.setFault('status500');
    const { webhook, ca } = await startAgainst(api, { policyConfigMap: { namespace: 'restore-guard', name: 'restore-guard-policy' } });
    try {
      const validate = async () =>
        (
          (await post(webhook.webhookPort, '/validate', JSON.stringify(reviewBody({ object: restorePod({ spec: { affinity: pinnedAffinity() } }) })), { ca }))
            .body as {
            response: { allowed: boolean; status?: { code: number; message: string } };
          }
        ).response;
      const denied = await validate();
      expect(denied).toMatchObject({ allowed: false, status: { code: 503 } });
      expect(denied.status?.message).toContain('has not loaded its configured policy');
      expect((await fetch(`http://127.0.0.1:${webhook.metricsPort}/readyz`)).status).toBe(503);
      await api.setFault('none');
      await vi.waitFor(async () => expect((await fetch(`http://127.0.0.1:${webhook.metricsPort}/readyz`)).status).toBe(200), { timeout: 10_000, interval: 50 });
      expect(await validate()).toMatchObject({ allowed: true });
    } finally {
      await webhook.close();
      await api.close();
    }
  });
});
