import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/common/json.js';
import { defaultPolicy } from '../../src/policy/policy.js';
import { dynamoSnapshotSource } from '../../src/policy/sources.js';
import { templateOf, workloadKinds, workloadReviewOf } from '../../src/restore/workloads.js';
import { createRequest, KEP } from '../support/fixtures.js';

const sources = [KEP, dynamoSnapshotSource()];
const kinds = workloadKinds(defaultPolicy());
const template = (annotations: Record<string, string> = {}, spec: JsonObject = { containers: [] }): JsonObject => ({ metadata: { annotations }, spec });
const deployment = (tmpl: JsonObject): JsonObject => ({ metadata: { name: 'web', namespace: 'team-a' }, spec: { replicas: 1, template: tmpl } });
const write = (object: JsonObject, overrides: Parameters<typeof createRequest>[1] = {}) =>
  createRequest(object, { group: 'apps', resource: 'deployments', ...overrides });

describe('workloadReviewOf', () => {
  it('takes a workload whose template references an enabled source, in the field or an annotation', () => {
    const byAnnotation = workloadReviewOf(write(deployment(template({ 'nvidia.com/restore-from': 'snap' }))), sources, kinds);
    expect(byAnnotation?.kind.kind).toBe('Deployment');
    expect(byAnnotation?.references.map((r) => [r.source.name, r.field])).toEqual([['dynamo-snapshot', { kind: 'ref', ref: { name: 'snap', options: {} } }]]);
    const byField = workloadReviewOf(write(deployment(template({}, { containers: [], restoreFrom: { name: 'c' } }))), sources, kinds);
    expect(byField?.references[0].source.name).toBe('kep-5823');
  });

  it('finds the template of every built-in kind, a CronJob one level deeper', () => {
    const cronJob = { spec: { jobTemplate: { spec: { template: template({ 'nvidia.com/restore-from': 's' }) } } } };
    expect(workloadReviewOf(write(cronJob, { group: 'batch', resource: 'cronjobs' }), sources, kinds)?.kind.kind).toBe('CronJob');
    for (const [group, resource] of [
      ['apps', 'replicasets'],
      ['apps', 'statefulsets'],
      ['apps', 'daemonsets'],
      ['batch', 'jobs'],
    ]) {
      expect(workloadReviewOf(write(deployment(template({ 'nvidia.com/restore-from': 's' })), { group, resource }), sources, kinds)).toBeDefined();
    }
  });

  it('takes an UPDATE whose old template alone referenced (the reference dropped)', () => {
    const request = write(deployment(template()), { operation: 'UPDATE', oldObject: deployment(template({ 'nvidia.com/restore-from': 'snap' })) });
    expect(workloadReviewOf(request, sources, kinds)?.references[0].oldField.kind).toBe('ref');
  });

  it('leaves templates without a reference, other kinds, subresources, deletes, and kinds the policy adds until it adds them', () => {
    expect(workloadReviewOf(write(deployment(template())), sources, kinds)).toBeUndefined();
    const restoring = deployment(template({ 'nvidia.com/restore-from': 'snap' }));
    expect(workloadReviewOf(write(restoring, { group: 'apps', resource: 'controllerrevisions' }), sources, kinds)).toBeUndefined();
    expect(workloadReviewOf(write(restoring, { group: 'example.com', resource: 'deployments' }), sources, kinds)).toBeUndefined();
    expect(workloadReviewOf(write(restoring, { operation: 'UPDATE', oldObject: restoring, subResource: 'scale' }), sources, kinds)).toBeUndefined();
    expect(workloadReviewOf(write(restoring, { operation: 'DELETE', oldObject: restoring }), sources, kinds)).toBeUndefined();
    const lws = {
      group: 'leaderworkerset.x-k8s.io',
      version: 'v1',
      resource: 'leaderworkersets',
      kind: 'LeaderWorkerSet',
      templatePath: 'spec.leaderWorkerTemplate.workerTemplate',
    };
    const object = { spec: { leaderWorkerTemplate: { workerTemplate: template({ 'nvidia.com/restore-from': 's' }) } } };
    const request = write(object, { group: lws.group, resource: lws.resource });
    expect(workloadReviewOf(request, sources, kinds)).toBeUndefined();
    expect(workloadReviewOf(request, sources, workloadKinds({ workloads: { ...defaultPolicy().workloads, kinds: [lws] } }))?.kind.kind).toBe('LeaderWorkerSet');
  });

  it('reads the template through own keys only', () => {
    const inherited = { spec: Object.create({ template: template({ 'nvidia.com/restore-from': 's' }) }) as JsonObject };
    expect(templateOf(inherited, { templatePath: 'spec.template' })).toBeUndefined();
  });
});
