// restore-guard check against the in-process fake API: the caller's own identity (SelfSubjectReview and
// SelfSubjectAccessReview) or --as (SubjectAccessReview), the live policy ConfigMap, both webhooks in order,
// the oracle rule, and every way it cannot decide.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { checkpointObject, FakeApi } from '../../harness/fake-api.js';
import { parseCheckOptions } from '../../src/cli/check-options.js';
import { runCheck } from '../../src/cli/check.js';
import { InputError } from '../../src/cli/input-error.js';
import type { JsonObject } from '../../src/common/json.js';

let api: FakeApi;
let dir: string;
let kubeconfig: string;

function podFile(name: string, pod: JsonObject): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(pod));
  return file;
}

function restorePod(checkpoint: string, image = 'registry.example/app@sha256:0'): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'restored', namespace: 'team-a' },
    spec: { restoreFrom: { name: checkpoint }, containers: [{ name: 'app', image }] },
  };
}

async function check(args: string[], tty = false): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runCheck(parseCheckOptions([...args, '--kubeconfig', kubeconfig]), { stdout: { write: (t: string) => (out += t), isTTY: tty }, env: {} });
  return { code, out };
}

beforeAll(async () => {
  api = await FakeApi.start();
  dir = mkdtempSync(join(tmpdir(), 'rg-check-'));
  kubeconfig = await api.writeKubeConfig(dir);
  api.checkpoints.put(checkpointObject('team-a', 'ckpt', { nodeName: 'node-7' }));
  api.checkpoints.put(checkpointObject('team-a', 'warming', { ready: false, nodeName: 'node-8' }));
  api.grant({ user: 'alice', namespace: 'team-a' });
});
afterAll(async () => {
  await api?.close();
});
beforeEach(() => {
  api.self = { username: 'alice', groups: ['devs', 'system:authenticated'] };
  api.configMaps.remove('restore-guard', 'restore-guard-policy');
});

describe('restore-guard check as the caller', () => {
  it('asks a SelfSubjectAccessReview, runs both webhooks, and prints the patch: exit 0', async () => {
    const sarsBefore = api.sarCount;
    const { code, out } = await check(['-f', podFile('ok', restorePod('ckpt'))]);
    expect(code).toBe(0);
    expect(out).toContain('user alice (you, SelfSubjectAccessReview)');
    expect(out).toContain('policy the defaults (no ConfigMap restore-guard/restore-guard-policy)');
    expect(out).toMatch(/mutating\s+allowed\s+placed/);
    expect(out).toMatch(/validating\s+allowed\s+restore-allowed/);
    expect(out).toContain('add /spec/affinity');
    expect(out).toContain('node-7');
    expect(out).toContain('result: ALLOWED (exit 0)');
    expect(out).not.toContain('\u001b[');
    expect(api.sarCount).toBe(sarsBefore);
    expect(api.selfReviews.at(-1)).toEqual({
      namespace: 'team-a',
      verb: 'restore',
      group: 'node.k8s.io',
      version: 'v1alpha1',
      resource: 'podcheckpoints',
      name: 'ckpt',
    });
  });

  it('colors only on a terminal', async () => {
    expect((await check(['-f', podFile('tty', restorePod('ckpt'))], true)).out).toContain('\u001b[32m');
  });

  it('-o json: both decisions, the patch and the differing fields of a spec that does not match: exit 1', async () => {
    const { code, out } = await check(['-f', podFile('mismatch', restorePod('ckpt', 'registry.example/app@sha256:9')), '-o', 'json']);
    expect(code).toBe(1);
    const report = JSON.parse(out);
    expect(report.verdict).toBe('denied');
    expect(report.mutate).toMatchObject({ allowed: true, outcome: 'placed' });
    expect(report.mutate.patch[0].op).toBe('add');
    expect(report.validate).toMatchObject({ allowed: false, outcome: 'spec-mismatch', code: 422, reason: 'Invalid' });
    expect(report.differingFields).toEqual(['spec.containers[0].image']);
    expect(report.user).toEqual({ username: 'alice', groups: ['devs', 'system:authenticated'], via: 'SelfSubjectAccessReview' });
  });

  it('a checkpoint that is not ready: the validating webhook denies, exit 1', async () => {
    const { code, out } = await check(['-f', podFile('warming', restorePod('warming'))]);
    expect(code).toBe(1);
    expect(out).toContain('is not ready (CheckpointInProgress)');
    expect(out).toContain('result: DENIED (exit 1)');
  });

  it('a checkpoint that does not exist: exit 2, saying so', async () => {
    const { code, out } = await check(['-f', podFile('missing', restorePod('nope'))]);
    expect(code).toBe(2);
    expect(out).toContain('result: COULD NOT DECIDE (exit 2): podcheckpoints.node.k8s.io "nope" not found in namespace "team-a"');
  });
});

describe('restore-guard check --as', () => {
  it('asks a SubjectAccessReview for the user and groups (with system:authenticated)', async () => {
    const before = api.sarCount;
    const { code } = await check(['-f', podFile('as-alice', restorePod('ckpt')), '--as', 'alice', '--as-group', 'devs']);
    expect(code).toBe(0);
    // One per webhook, as the two webhooks each ask (the webhook's cache may save the second; check has none).
    expect(api.sarCount).toBe(before + 2);
    expect(api.sarSpecs.at(-1)).toMatchObject({ user: 'alice', groups: ['devs', 'system:authenticated'] });
  });

  it('keeps the oracle rule: bob learns only that he may not restore, whatever the checkpoint is', async () => {
    const reads = api.calls('podcheckpoints.get');
    const answers = await Promise.all(
      ['ckpt', 'warming', 'nope'].map(async (name) => {
        const { code, out } = await check(['-f', podFile(`bob-${name}`, restorePod(name)), '--as', 'bob', '-o', 'json']);
        expect(code).toBe(1);
        return out.replaceAll(name, 'NAME');
      }),
    );
    expect(answers[1]).toBe(answers[0]);
    expect(answers[2]).toBe(answers[0]);
    const report = JSON.parse(answers[0] ?? '');
    expect(report.mutate.outcome).toBe('unauthorized');
    expect(report.validate).toBeNull();
    expect(report.differingFields).toEqual([]);
    expect(answers[0]).not.toMatch(/node-\d/);
    expect(api.calls('podcheckpoints.get')).toBe(reads);
  });
});

describe('restore-guard check reads the live policy', () => {
  it('from the ConfigMap the Deployment uses, with its sources', async () => {
    const snapshots = api.addResource('nvidia.com', 'v1alpha1', 'podsnapshots', 'PodSnapshot');
    snapshots.put({ metadata: { namespace: 'team-a', name: 'snap' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
    api.grant({ user: 'alice', namespace: 'team-a', resource: 'podsnapshots' });
    const policy = stringify({ apiVersion: 'restore-guard.dev/v1alpha1', kind: 'RestorePolicy', sources: [{ preset: 'dynamo-snapshot' }] });
    api.configMaps.put({ metadata: { namespace: 'restore-guard', name: 'restore-guard-policy' }, data: { 'policy.yaml': policy } });
    const pod: JsonObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'llm', annotations: { 'nvidia.com/restore-from': 'snap' } },
      spec: { containers: [{ name: 'llm', image: 'llm:1' }] },
    };
    const { code, out } = await check(['-f', podFile('dynamo', pod), '-n', 'team-a']);
    expect(code).toBe(0);
    expect(out).toContain('policy ConfigMap restore-guard/restore-guard-policy');
    expect(out).toMatch(/validating\s+allowed\s+restore-allowed/);
    expect(out).toContain('Warning: a restored Pod should set automountServiceAccountToken: false');
  });

  it('from --policy-file; one that does not validate is refused with the reason', async () => {
    const good = join(dir, 'policy-warn.yaml');
    writeFileSync(good, 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\nmode: warn\n');
    const { code, out } = await check(['-f', podFile('warn', restorePod('warming')), '--policy-file', good]);
    expect(code).toBe(0);
    expect(out).toContain('restore-guard would deny (warn mode)');
    const bad = join(dir, 'policy-bad.yaml');
    writeFileSync(bad, 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\nmodee: warn\n');
    await expect(check(['-f', podFile('bad', restorePod('ckpt')), '--policy-file', bad])).rejects.toThrow(
      /does not validate: \(top level\): unknown field "modee"/,
    );
  });
});

describe('restore-guard check on a workload', () => {
  const deployment = (checkpoint: string): JsonObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'team-a' },
    spec: { replicas: 1, template: { metadata: {}, spec: { restoreFrom: { name: checkpoint }, containers: [{ name: 'app', image: 'img' }] } } },
  });

  it('checks the writer of a restoring template as the validating webhook does (the mutating one leaves workloads alone)', async () => {
    const { code, out } = await check(['-f', podFile('web', deployment('ckpt')), '-o', 'json']);
    expect(code).toBe(0);
    const report = JSON.parse(out) as { pod: { kind: string }; mutate: { outcome: string }; validate: { outcome: string } };
    expect(report.pod.kind).toBe('Deployment');
    expect(report.mutate.outcome).toBe('not-a-restore');
    expect(report.validate.outcome).toBe('template-allowed');
    const bob = await check(['-f', podFile('web-bob', deployment('ckpt')), '--as', 'bob', '-o', 'json']);
    expect(bob.code).toBe(1);
    expect((JSON.parse(bob.out) as { validate: { outcome: string } }).validate.outcome).toBe('unauthorized');
  });
});

describe('restore-guard check of a new checkpoint (a capture)', () => {
  const podCheckpoint = (pod: string): JsonObject => ({
    apiVersion: 'node.k8s.io/v1alpha1',
    kind: 'PodCheckpoint',
    metadata: { name: `${pod}-ckpt`, namespace: 'team-a' },
    spec: { sourcePod: { name: pod } },
  });

  it('asks for exec on the source Pod, for the caller or --as: exit 0 when held, 1 with the reason when not', async () => {
    api.grant({ user: 'alice', namespace: 'team-a', name: 'web-0', verb: 'create', resource: 'pods', subresource: 'exec' });
    const before = api.selfReviews.length;
    const { code, out } = await check(['-f', podFile('capture', podCheckpoint('web-0')), '-o', 'json']);
    expect(code).toBe(0);
    const report = JSON.parse(out) as { pod: { kind: string; name: string }; mutate: { outcome: string }; validate: { outcome: string } };
    expect(report).toMatchObject({
      pod: { kind: 'PodCheckpoint', name: 'web-0-ckpt' },
      mutate: { outcome: 'not-a-capture' },
      validate: { outcome: 'capture-allowed' },
    });
    expect(api.selfReviews.slice(before)).toEqual([
      { namespace: 'team-a', verb: 'create', group: '', version: 'v1', resource: 'pods', subresource: 'exec', name: 'web-0' },
    ]);
    const bob = await check(['-f', podFile('capture-bob', podCheckpoint('web-0')), '--as', 'bob', '-o', 'json']);
    expect(bob.code).toBe(1);
    expect((JSON.parse(bob.out) as { validate: { outcome: string; message: string } }).validate).toMatchObject({
      outcome: 'capture-unauthorized',
      message: expect.stringContaining('cannot create pods/exec on Pod "web-0"') as string,
    });
  });

  it('knows only the checkpoint objects of enabled sources that name a source Pod', async () => {
    const gke = podFile('gke', { apiVersion: 'podsnapshot.gke.io/v1', kind: 'PodSnapshot', metadata: { name: 's' }, spec: {} });
    await expect(check(['-f', gke])).rejects.toThrow(
      /holds a PodSnapshot \(podsnapshot\.gke\.io\/v1\), not an object restore-guard checks: .*podcheckpoints\.node\.k8s\.io \(a capture\)$/,
    );
  });
});

describe('restore-guard check cannot decide', () => {
  it('refuses a file that is neither a Pod nor a workload, and a namespace that contradicts the Pod', async () => {
    const service = podFile('service', { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: {} });
    await expect(check(['-f', service])).rejects.toThrow(
      new InputError(
        `${service} holds a Service (v1), not an object restore-guard checks: Pod (v1), Deployment (apps/v1), ReplicaSet (apps/v1), StatefulSet (apps/v1), DaemonSet (apps/v1), Job (batch/v1), CronJob (batch/v1)`,
      ),
    );
    const endpoint = podFile('slice', { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's' } });
    await expect(check(['-f', endpoint])).rejects.toThrow(/holds a EndpointSlice \(discovery\.k8s\.io\/v1\), not an object restore-guard checks/);
    await expect(check(['-f', podFile('ns', restorePod('ckpt')), '-n', 'team-b'])).rejects.toThrow(/does not match -n "team-b"/);
  });

  it('an API server that fails: exit 2 with the reason', async () => {
    api.sarHandler = () => ({ allowed: false, evaluationError: 'webhook authorizer down' });
    try {
      const { code, out } = await check(['-f', podFile('eval', restorePod('ckpt')), '--as', 'alice']);
      expect(code).toBe(2);
      expect(out).toContain('COULD NOT DECIDE (exit 2)');
      expect(out).toContain('webhook authorizer down');
    } finally {
      api.sarHandler = FakeApi.prototype['answerFromGrants'].bind(api);
    }
  });
});
