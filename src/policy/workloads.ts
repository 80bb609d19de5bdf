/** A kind of object that carries a Pod template and whose controller creates Pods (or other workloads) from it. */
export interface WorkloadKind {
  group: string;
  version: string;
  /** Plural resource name, as in webhook rules and SubjectAccessReviews. */
  resource: string;
  /** Kind, as in ownerReferences. */
  kind: string;
  /** Dotted path to the Pod template (a PodTemplateSpec: metadata and spec). */
  templatePath: string;
  /** The ServiceAccount kube-controller-manager runs this kind's controller as (with --use-service-account-credentials). */
  controller?: string;
}

const kubeSystem = (name: string) => `system:serviceaccount:kube-system:${name}`;

/** The built-in workloads, each with the controller that copies its template. */
export const BUILT_IN_WORKLOADS: readonly WorkloadKind[] = [
  { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment', templatePath: 'spec.template', controller: kubeSystem('deployment-controller') },
  { group: 'apps', version: 'v1', resource: 'replicasets', kind: 'ReplicaSet', templatePath: 'spec.template', controller: kubeSystem('replicaset-controller') },
  {
    group: 'apps',
    version: 'v1',
    resource: 'statefulsets',
    kind: 'StatefulSet',
    templatePath: 'spec.template',
    controller: kubeSystem('statefulset-controller'),
  },
  { group: 'apps', version: 'v1', resource: 'daemonsets', kind: 'DaemonSet', templatePath: 'spec.template', controller: kubeSystem('daemon-set-controller') },
  { group: 'batch', version: 'v1', resource: 'jobs', kind: 'Job', templatePath: 'spec.template', controller: kubeSystem('job-controller') },
  {
    group: 'batch',
    version: 'v1',
    resource: 'cronjobs',
    kind: 'CronJob',
    templatePath: 'spec.jobTemplate.spec.template',
    controller: kubeSystem('cronjob-controller'),
  },
];

/**
 * kube-controller-manager's identities: its controllers' ServiceAccounts (--use-service-account-credentials,
 * what kubeadm and most distributions run) and its own user (without that flag).
 */
export const DEFAULT_CONTROLLERS: readonly string[] = [...BUILT_IN_WORKLOADS.map((w) => w.controller ?? ''), 'system:kube-controller-manager'];

/** Whether workload controllers may restore on behalf of the workload's checked writer. */
export type Delegation = 'enabled' | 'disabled';
