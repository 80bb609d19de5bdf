import type { LabelSelector, Policy } from '../policy/policy.js';
import { denials, type RestoreDecision } from './messages.js';

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
export function namespaceDenial(policy: Policy, namespace: string, labels?: Record<string, string>): RestoreDecision | undefined {
  const { include, exclude, selector } = policy.namespaces;
  if (exclude.includes(namespace)) return denials.namespaceNotPermitted(namespace, 'excluded');
  if (include.length > 0 && !include.includes(namespace)) return denials.namespaceNotPermitted(namespace, 'not-included');
  if (selector && !matchesSelector(labels ?? {}, selector)) return denials.namespaceNotPermitted(namespace, 'selector');
  return undefined;
}
