import type { LabelSelector, Policy } from '../policy/policy.js';
import { deny, type Decision } from './decision.js';

export function matchesSelector(labels: Record<string, string>, selector: LabelSelector): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) if (labels[key] !== value) return false;
  return selector.matchExpressions.every(({ key, operator, values }) => {
    const has = Object.hasOwn(labels, key);
    switch (operator) {
      case 'In':
        return has && values.includes(labels[key] ?? '');
      case 'NotIn':
        return !has || !values.includes(labels[key] ?? '');
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
    }
  });
}

/** Whether the namespace's labels must be read to apply `namespaces` (only with a selector). */
export function needsNamespaceLabels(policy: Policy): boolean {
  return policy.namespaces.selector !== undefined;
}

/**
 * Namespaces where restoring is not permitted at all, whatever RBAC grants. Checked before authorization:
 * it reveals nothing about checkpoints. `labels` is undefined when the namespace could not be found.
 */
export function namespaceDenial(policy: Policy, namespace: string, labels?: Record<string, string>): Decision | undefined {
  const { include, exclude, selector } = policy.namespaces;
  let why: string | undefined;
  if (exclude.includes(namespace)) why = 'it is excluded';
  else if (include.length > 0 && !include.includes(namespace)) why = 'it is not in the included namespaces';
  else if (selector && !matchesSelector(labels ?? {}, selector)) why = "its labels do not match the policy's namespace selector";
  if (!why) return undefined;
  return deny(
    'Forbidden',
    'namespace-not-permitted',
    `restoring Pods from checkpoints is not permitted in namespace ${JSON.stringify(namespace)} by the restore-guard policy: ${why}`,
  );
}
