import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunningWebhook } from '../../src/cli/serve.js';
import type { JsonObject } from '../../src/common/json.js';
import { FakeApi } from '../../harness/fake-api.js';
import { reviewBody } from '../support/fixtures.js';
import { post } from '../support/https-client.js';
import { startAgainst } from '../support/in-process-webhook.js';

const HEADER = 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\n';
const CONFIG_MAP = { namespace: 'restore-guard', name: 'restore-guard-policy' };

interface Answer {
  allowed: boolean;
  status?: { code: number; message: string };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

/**
 * Taking a checkpoint, over HTTPS through the whole webhook against the fake API server: the policy from
 * its ConfigMap (changed live), a real SubjectAccessReview for exec on the source Pod, real API faults.
 */
describe('captures against a fake API server', () => {
  let api: FakeApi;
  let webhook: RunningWebhook;
  let ca: string;
  const putPolicy = (text: string) => api.configMaps.put({ metadata: { ...CONFIG_MAP, uid: 'cm-uid' }, data: { 'policy.yaml': `${HEADER}${text}` } });

  beforeAll(async () => {
    api = await FakeApi.start();
    api.grant({ user: 'alice', namespace: 'team-a', name: 'web-0', verb: 'create', resource: 'pods', subresource: 'exec' });
    // bob may exec nowhere, but into web-0's neighbour, and may get web-0: neither is the access a capture needs.
    api.grant({ user: 'bob', namespace: 'team-a', name: 'web-1', verb: 'create', resource: 'pods', subresource: 'exec' });
    api.grant({ user: 'bob', namespace: 'team-a', name: 'web-0', verb: 'get', resource: 'pods' });
    putPolicy('sources: [{preset: kep-5823}, {preset: dynamo-snapshot}]\n');
    api.addResource('nvidia.com', 'v1alpha1', 'podsnapshots', 'PodSnapshot');
    ({ webhook, ca } = await startAgainst(api, { policyConfigMap: CONFIG_MAP }));
    await vi.waitFor(async () => expect((await fetch(`http://127.0.0.1:${webhook.metricsPort}/readyz`)).status).toBe(200), { timeout: 10_000 });
  });
  afterAll(async () => {
    await webhook?.close();
    await api?.close();
  });

  const create = async (user: string, object: JsonObject, resource = { group: 'node.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints' }) => {
    const body = reviewBody({ ...resource, object, userInfo: { username: user, groups: ['system:authenticated'], extra: {} } });
    const reply = await post(webhook.webhookPort, '/validate?timeout=5s', JSON.stringify(body), { ca });
    return (reply.body as { response: Answer }).response;
  };
  const podCheckpoint = (pod = 'web-0'): JsonObject => ({ metadata: { name: 'ckpt', namespace: 'team-a' }, spec: { sourcePod: { name: pod } } });
  const podSnapshot = (podRef?: JsonObject): JsonObject => ({ metadata: { name: 'snap', namespace: 'team-a' }, spec: podRef ? { source: { podRef } } : {} });
  const DYNAMO = { group: 'nvidia.com', version: 'v1alpha1', resource: 'podsnapshots' };

  it('admits alice, who may exec into the source Pod, asking for exactly that', async () => {
    const before = api.sarSpecs.length;
    const answer = await create('alice', podCheckpoint());
    expect(answer).toMatchObject({ allowed: true, auditAnnotations: { source: 'kep-5823', checkpoint: 'ckpt', 'source-pod': 'web-0' } });
    expect(api.sarSpecs.slice(before).map((s) => s.resourceAttributes)).toEqual([
      { namespace: 'team-a', verb: 'create', group: '', version: 'v1', resource: 'pods', subresource: 'exec', name: 'web-0' },
    ]);
  });

  it('denies bob (403): exec on another Pod, or get on this one, is not exec on this one', async () => {
    const answer = await create('bob', podCheckpoint());
    expect(answer.allowed).toBe(false);
    expect(answer.status?.code).toBe(403);
    expect(answer.status?.message).toMatch(/^user "bob" cannot create pods\/exec on Pod "web-0" in namespace "team-a": .* holds the Pod's memory/);
    expect((await create('bob', podCheckpoint('web-1'))).allowed).toBe(true);
  });

  it('guards a Dynamo PodSnapshot by its podRef, and lets one that names no Pod through without a call', async () => {
    expect((await create('bob', podSnapshot({ name: 'web-0', containers: ['main'] }), DYNAMO)).status?.code).toBe(403);
    expect((await create('alice', podSnapshot({ name: 'web-0', containers: ['main'] }), DYNAMO)).allowed).toBe(true);
    const before = api.sarSpecs.length;
    expect((await create('bob', podSnapshot(), DYNAMO)).allowed).toBe(true);
    expect(api.sarSpecs.length).toBe(before);
  });

  it('denies when the API server cannot answer (503), and never caches the failure', async () => {
    // carol is new to the authorization cache: her answer must come from the API server.
    api.grant({ user: 'carol', namespace: 'team-a', name: 'web-0', verb: 'create', resource: 'pods', subresource: 'exec' });
    await api.setFault('status500');
    try {
      const answer = await create('carol', podCheckpoint());
      expect(answer).toMatchObject({ allowed: false, status: { code: 503 } });
      expect(answer.status?.message).toContain('The checkpoint is denied until this succeeds');
    } finally {
      await api.setFault('none');
    }
    expect((await create('carol', podCheckpoint())).allowed).toBe(true);
  });

  it('warn, set live in the ConfigMap: bob is admitted with a warning naming what would be denied; off: no call at all', async () => {
    putPolicy('checkpoints: {guard: warn}\n');
    await vi.waitFor(async () => expect((await create('bob', podCheckpoint())).allowed).toBe(true));
    const warned = await create('bob', podCheckpoint());
    expect(warned.warnings?.[0]).toMatch(/^restore-guard would deny \(warn mode\): user "bob" cannot create pods\/exec on Pod "web-0"/);
    expect(warned.auditAnnotations).toMatchObject({ decision: 'would-deny', mode: 'warn', 'source-pod': 'web-0' });
    putPolicy('checkpoints: {guard: off}\n');
    await vi.waitFor(async () => expect((await create('bob', podCheckpoint())).warnings ?? []).toEqual([]));
    const before = api.sarSpecs.length;
    expect((await create('bob', podCheckpoint())).allowed).toBe(true);
    expect(api.sarSpecs.length).toBe(before);
  });
});
