import { describe, expect, it } from 'vitest';
import { BUILT_IN_WORKLOADS, DEFAULT_CONTROLLERS } from '../../src/policy/workloads.js';

// README ("Who may restore") lists these: the kinds checked, their templates, and the controllers trusted.
describe('built-in workloads', () => {
  it('are the six kinds kube-controller-manager makes Pods or workloads for, with their template paths and controllers', () => {
    expect(BUILT_IN_WORKLOADS).toStrictEqual([
      {
        group: 'apps',
        version: 'v1',
        resource: 'deployments',
        kind: 'Deployment',
        templatePath: 'spec.template',
        controller: 'system:serviceaccount:kube-system:deployment-controller',
      },
      {
        group: 'apps',
        version: 'v1',
        resource: 'replicasets',
        kind: 'ReplicaSet',
        templatePath: 'spec.template',
        controller: 'system:serviceaccount:kube-system:replicaset-controller',
      },
      {
        group: 'apps',
        version: 'v1',
        resource: 'statefulsets',
        kind: 'StatefulSet',
        templatePath: 'spec.template',
        controller: 'system:serviceaccount:kube-system:statefulset-controller',
      },
      {
        group: 'apps',
        version: 'v1',
        resource: 'daemonsets',
        kind: 'DaemonSet',
        templatePath: 'spec.template',
        controller: 'system:serviceaccount:kube-system:daemon-set-controller',
      },
      {
        group: 'batch',
        version: 'v1',
        resource: 'jobs',
        kind: 'Job',
        templatePath: 'spec.template',
        controller: 'system:serviceaccount:kube-system:job-controller',
      },
      {
        group: 'batch',
        version: 'v1',
        resource: 'cronjobs',
        kind: 'CronJob',
        templatePath: 'spec.jobTemplate.spec.template',
        controller: 'system:serviceaccount:kube-system:cronjob-controller',
      },
    ]);
  });

  it('trust kube-controller-manager with and without --use-service-account-credentials', () => {
    expect(DEFAULT_CONTROLLERS).toStrictEqual([...BUILT_IN_WORKLOADS.map((w) => w.controller), 'system:kube-controller-manager']);
  });
});
