import type { UserInfo } from '../admission/request.js';
import type { Deadline } from '../admission/deadline.js';
import { arrayAt, isObject, stringAt, type JsonObject } from '../common/json.js';
import type { Policy } from '../policy/policy.js';
import type { RestoreSource } from '../policy/sources.js';
import type { WorkloadKind } from '../policy/workloads.js';
import type { AuthorizationAnswer, RestoreRef } from './model.js';
import type { OwnerSource } from './ports.js';
import { referenceOf } from './reference.js';
import { templateOf, workloadKinds } from './workloads.js';

/** The workload an object names as its controller (ownerReference with controller: true), and its kind. */
export interface ControllerOwner {
  kind: WorkloadKind;
  name: string;
  uid: string;
}

/** The object's controller, when it is a workload kind restore-guard checks; anything else is no owner. */
export function controllerOwner(object: JsonObject, kinds: readonly WorkloadKind[]): ControllerOwner | undefined {
  const owner = (arrayAt(object, 'metadata', 'ownerReferences') ?? []).find((o) => isObject(o) && o.controller === true);
  const apiVersion = stringAt(owner, 'apiVersion');
  const kindName = stringAt(owner, 'kind');
  const name = stringAt(owner, 'name');
  const uid = stringAt(owner, 'uid');
  if (!apiVersion || !kindName || !name || !uid) return undefined;
  // Workloads live in named groups: a core apiVersion (`v1`) names none of them.
  const slash = apiVersion.indexOf('/');
  if (slash < 0) return undefined;
  const group = apiVersion.slice(0, slash);
  const kind = kinds.find((k) => k.group === group && k.kind === kindName);
  return kind ? { kind, name, uid } : undefined;
}

function sameOptions(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}

/** Whether the owner's Pod template references the same object of the same source (with the same options). */
export function carriesReference(owner: JsonObject, kind: WorkloadKind, source: RestoreSource, ref: RestoreRef): boolean {
  const field = referenceOf(templateOf(owner, kind), source);
  return field.kind === 'ref' && field.ref.name === ref.name && sameOptions(field.ref.options, ref.options);
}

/**
 * Delegation: an object (a Pod, a ReplicaSet, a Job) written by a trusted controller restores what its
 * controlling owner's template restores, since that template's writer was checked. Undefined when
 * delegation does not apply (off, another requester, no owner of a workload kind, an owner that is gone,
 * replaced (uid) or does not carry the same reference): the requester is then checked as usual. Reads only
 * the owner, never the checkpoint; an owner that cannot be read throws (the review fails closed).
 */
export async function delegatedAuthorization(
  owners: OwnerSource,
  policy: Pick<Policy, 'workloads'>,
  user: UserInfo,
  object: JsonObject,
  namespace: string,
  reference: { source: RestoreSource; ref: RestoreRef },
  deadline: Deadline,
): Promise<AuthorizationAnswer | undefined> {
  const { delegation, controllers } = policy.workloads;
  if (delegation !== 'enabled' || !controllers.includes(user.username)) return undefined;
  const owner = controllerOwner(object, workloadKinds(policy));
  if (!owner) return undefined;
  const found = await owners.get(owner.kind, namespace, owner.name, deadline);
  if (!found || stringAt(found, 'metadata', 'uid') !== owner.uid) return undefined;
  if (!carriesReference(found, owner.kind, reference.source, reference.ref)) return undefined;
  return { allowed: true, reason: '', delegatedBy: `${owner.kind.kind}/${owner.name}` };
}
