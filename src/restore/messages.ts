import { arrayAt, isObject } from './json.js';
import type { RestoreAccess, UserInfo } from './model.js';

/** `podcheckpoints.node.k8s.io "name"`, the way kube names an object in its errors. */
export function checkpointTitle(access: Pick<RestoreAccess, 'resource' | 'group' | 'name'>): string {
  const resource = access.group ? `${access.resource}.${access.group}` : access.resource;
  return `${resource} ${JSON.stringify(access.name)}`;
}

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';

/**
 * Whether the requester is a workload controller creating Pods from a template: the built-in
 * controllers run as `kube-system/*-controller`, and any controller sets a controller ownerReference.
 */
export function isWorkloadController(user: UserInfo, pod: unknown): boolean {
  if (!user.username.startsWith(SERVICE_ACCOUNT_PREFIX)) return false;
  const [namespace = '', name = ''] = user.username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
  if (namespace === 'kube-system' && name.endsWith('-controller')) return true;
  const owners = isObject(pod) ? arrayAt(pod, 'metadata', 'ownerReferences') : undefined;
  return (owners ?? []).some((o) => isObject(o) && o.controller === true);
}

export function unauthorizedMessage(user: UserInfo, access: RestoreAccess, reason: string, pod: unknown): string {
  let message =
    `user ${JSON.stringify(user.username)} cannot ${access.verb} ${checkpointTitle(access)} ` +
    `in namespace ${JSON.stringify(access.namespace)}: creating a Pod with spec.restoreFrom requires the ` +
    `"${access.verb}" verb on the checkpoint (resource ${access.resource}, group ${access.group || 'core'})`;
  if (reason) message += `; authorizer: ${reason}`;
  if (isWorkloadController(user, pod)) {
    message +=
      `. This Pod is created by a workload controller, so its ServiceAccount ${JSON.stringify(user.username)} ` +
      `must be granted "${access.verb}" on the checkpoint`;
  }
  return message;
}
