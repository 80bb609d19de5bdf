import { beforeEach, describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../src/admission/request.js';
import type { JsonObject } from '../../src/common/json.js';
import { defaultPolicy, type Policy } from '../../src/policy/policy.js';
import { dynamoSnapshotSource, gkePodSnapshotSource } from '../../src/policy/sources.js';
import { RestoreMutator } from '../../src/restore/mutator.js';
import { RestoreValidator } from '../../src/restore/validator.js';
import { deadlineIn } from '../support/deadlines.js';
import { FakePorts } from '../support/fake-ports.js';
import { alice, createRequest } from '../support/fixtures.js';

const policy: Policy = { ...defaultPolicy(), sources: [{ preset: 'kep-5823' }, dynamoSnapshotSource()] };
const template = (snapshot?: string, image = 'img'): JsonObject => ({
  metadata: snapshot === undefined ? {} : { annotations: { 'nvidia.com/restore-from': snapshot } },
  spec: { containers: [{ name: 'c', image }] },
});
const deployment = (tmpl: JsonObject, replicas = 1): JsonObject => ({ metadata: { name: 'web', namespace: 'team-a' }, spec: { replicas, template: tmpl } });
const apps = { group: 'apps', resource: 'deployments' };

describe('template writes (the validating webhook)', () => {
  let fake: FakePorts;
  const decide = (request: AdmissionRequest, p: Policy = policy) =>
    new RestoreValidator({ ...fake.ports(), policy: () => p }).decide(request, deadlineIn(1000));
  const as = (user: string, object: JsonObject, overrides: Partial<AdmissionRequest> = {}) =>
    createRequest(object, { ...apps, userInfo: { ...alice, username: user }, ...overrides });
  beforeEach(() => {
    fake = new FakePorts();
    fake.grants.add('alice/team-a/snap');
  });

  it("allows the writer who may restore the template's snapshot, reading nothing about it", async () => {
    const decision = await decide(as('alice', deployment(template('snap'))));
    expect(decision).toMatchObject({ allowed: true, outcome: 'template-allowed' });
    expect(decision.auditAnnotations).toMatchObject({ source: 'dynamo-snapshot', checkpoint: 'snap', decision: 'allowed' });
    expect(fake.calls.filter((c) => c.startsWith('checkpoint'))).toEqual([]);
  });

  it('denies a writer without the grant (403), naming the kind and the reference', async () => {
    const decision = await decide(as('bob', deployment(template('snap'))));
    expect(decision.status).toMatchObject({ code: 403 });
    expect(decision.status?.message).toBe(
      'user "bob" cannot restore podsnapshots.nvidia.com "snap" in namespace "team-a": writing a Deployment whose Pod template has annotation ' +
        '"nvidia.com/restore-from" requires the "restore" verb on the checkpoint (resource podsnapshots, group nvidia.com)',
    );
  });

  it('checks an UPDATE that adds, changes or keeps the reference while changing the template', async () => {
    for (const [from, to] of [
      [template(), template('snap')],
      [template('other'), template('snap')],
      [template('snap'), template('snap', 'img:2')],
    ]) {
      const bob = await decide(as('bob', deployment(to ?? {}), { operation: 'UPDATE', oldObject: deployment(from ?? {}) }));
      expect(bob.outcome).toBe('unauthorized');
    }
  });

  it('lets anyone scale, relabel or drop the reference, with no call', async () => {
    const scaled = await decide(as('bob', deployment(template('snap'), 3), { operation: 'UPDATE', oldObject: deployment(template('snap'), 1) }));
    expect(scaled.outcome).toBe('template-unchanged');
    const dropped = await decide(as('bob', deployment(template()), { operation: 'UPDATE', oldObject: deployment(template('snap')) }));
    expect(dropped.outcome).toBe('template-without-restore');
    expect(fake.calls).toEqual([]);
  });

  it('denies a template naming two sources, and a reference that cannot name an object (422)', async () => {
    const both = template('snap');
    both.spec = { containers: [], restoreFrom: { name: 'c' } };
    expect((await decide(as('alice', deployment(both)))).outcome).toBe('ambiguous-reference');
    expect((await decide(as('alice', deployment(template('Not_A_Name'))))).status).toMatchObject({ code: 422 });
  });

  it('warns of several replicas restoring one snapshot, and of a controller that will be denied', async () => {
    fake.grants.add('system:serviceaccount:kube-system:deployment-controller/team-a/snap');
    const many = await decide(as('alice', deployment(template('snap'), 3)));
    expect(many.warnings).toEqual(['this Deployment runs 3 Pods from one checkpoint: restoring several Pods from one checkpoint is not supported upstream']);
    fake.grants.delete('system:serviceaccount:kube-system:deployment-controller/team-a/snap');
    const lonely = await decide(as('alice', deployment(template('snap'))));
    expect(lonely.warnings).toEqual([
      "what the Deployment's controller makes from this template will be denied: workloads.delegation is disabled and " +
        '"system:serviceaccount:kube-system:deployment-controller" may not restore podsnapshots.nvidia.com "snap"; grant it "restore" on that object, ' +
        'or enable delegation',
    ]);
    const delegating = await decide(as('alice', deployment(template('snap'))), { ...policy, workloads: { ...policy.workloads, delegation: 'enabled' } });
    expect(delegating.warnings).toEqual([]);
  });

  it('fails closed when authorization cannot answer', async () => {
    fake.failure = new (await import('../../src/restore/ports.js')).DependencyError('unreachable', 'connection refused');
    expect((await decide(as('alice', deployment(template('snap'))))).status).toMatchObject({ code: 503 });
  });

  it('leaves workloads to the validating webhook: the mutating one ignores them', async () => {
    const decision = await new RestoreMutator({ ...fake.ports(), policy: () => policy }).decide(as('alice', deployment(template('snap'))), deadlineIn(1000));
    expect(decision.outcome).toBe('not-a-restore');
    expect(fake.calls).toEqual([]);
  });

  it("counts the Pods each kind runs at once: replicas, a Job's parallelism, a DaemonSet's nodes, never a CronJob", async () => {
    fake.grants.add('system:serviceaccount:kube-system:statefulset-controller/team-a/snap');
    fake.grants.add('system:serviceaccount:kube-system:job-controller/team-a/snap');
    fake.grants.add('system:serviceaccount:kube-system:daemon-set-controller/team-a/snap');
    fake.grants.add('system:serviceaccount:kube-system:cronjob-controller/team-a/snap');
    const warningsOf = async (group: string, resource: string, spec: JsonObject) =>
      (await decide(as('alice', { metadata: { name: 'w' }, spec }, { group, resource }))).warnings;
    expect(await warningsOf('apps', 'statefulsets', { replicas: 2, template: template('snap') })).toEqual([
      'this StatefulSet runs 2 Pods from one checkpoint: restoring several Pods from one checkpoint is not supported upstream',
    ]);
    expect(await warningsOf('batch', 'jobs', { parallelism: 4, replicas: 1, template: template('snap') })).toHaveLength(1);
    expect(await warningsOf('batch', 'jobs', { parallelism: 1, replicas: 4, template: template('snap') })).toEqual([]);
    expect(await warningsOf('apps', 'daemonsets', { template: template('snap') })).toEqual([
      'this DaemonSet runs a Pod on every matching node from one checkpoint: restoring several Pods from one checkpoint is not supported upstream',
    ]);
    expect(await warningsOf('batch', 'cronjobs', { replicas: 3, jobTemplate: { spec: { template: template('snap') } } })).toEqual([]);
    expect(await warningsOf('apps', 'statefulsets', { replicas: '3', template: template('snap') })).toEqual([]);
  });

  it("asks about the controller as kube-controller-manager's ServiceAccount, with its groups", async () => {
    await decide(as('alice', deployment(template('snap'))));
    expect(fake.requesters.map((u) => [u.username, u.groups])).toEqual([
      ['alice', alice.groups],
      ['system:serviceaccount:kube-system:deployment-controller', ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated']],
    ]);
  });

  it('checks only the source the new template names when an UPDATE moves to another source', async () => {
    const gke = { ...policy, sources: [...policy.sources, gkePodSnapshotSource()] };
    const moved: JsonObject = { metadata: { annotations: { 'podsnapshot.gke.io/ps-name': 'snap' } }, spec: { containers: [] } };
    const decision = await decide(as('alice', deployment(moved), { operation: 'UPDATE', oldObject: deployment(template('snap')) }), gke);
    expect(decision.outcome).toBe('template-allowed');
    expect(decision.auditAnnotations.source).toBe('dynamo-snapshot,gke-pod-snapshot');
    // The writer, then the controller (for the warning): both about the GKE snapshot only.
    expect(fake.accesses.map((a) => a.group)).toEqual(['podsnapshot.gke.io', 'podsnapshot.gke.io']);
  });
});
