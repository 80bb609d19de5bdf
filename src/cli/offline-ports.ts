import type { UserInfo } from '../admission/request.js';
import { objectAt, own, stringAt, type JsonObject } from '../common/json.js';
import { sourcesOf } from '../policy/policy.js';
import type { RestoreSource } from '../policy/sources.js';
import { toPodCheckpoint } from '../restore/checkpoint.js';
import type { RestorePorts } from '../restore/facts.js';
import type { RestoreAccess } from '../restore/model.js';
import { toRuntimeClassInfo } from '../restore/runtime-class.js';
import { apiResourceOf } from './api-resource.js';
import { InputError } from './input-error.js';
import type { TestFile, TestGrant } from './test-file.js';

/** `plural.group`, or `plural` for the core group: how a grant names a resource. */
function resourceName(resource: { group: string; resource: string }): string {
  return resource.group ? `${resource.resource}.${resource.group}` : resource.resource;
}

function grants(grant: TestGrant, user: UserInfo, access: RestoreAccess): boolean {
  const who = (grant.user !== undefined && grant.user === user.username) || (grant.group !== undefined && user.groups.includes(grant.group));
  return (
    who &&
    grant.namespace === access.namespace &&
    (grant.names === undefined || grant.names.includes(access.name)) &&
    (grant.verb === undefined || grant.verb === access.verb) &&
    (grant.resource === undefined || grant.resource === resourceName(access) + (access.subresource ? `/${access.subresource}` : ''))
  );
}

/**
 * The webhooks' ports over a test file's world: the objects that exist (each matched to a source of the
 * policy by its apiVersion and kind, and read as that source lays it out), the RuntimeClasses, the
 * namespaces' labels and the grants. No API server is involved.
 */
export function offlinePorts(test: TestFile): RestorePorts {
  const sources = sourcesOf(test.policy);
  const objects = new Map<string, JsonObject>();
  for (const [index, object] of test.objects.entries()) {
    const name = stringAt(object, 'metadata', 'name');
    if (!name) throw new InputError(`${test.file}: /objects/${index} has no metadata.name`);
    const apiResource = apiResourceOf(object);
    const resource = resourceName(apiResource);
    const source = sources.find((s) => resourceName(s.resource) === resource && s.resource.version === apiResource.version);
    if (!source) {
      const known = sources.map((s) => `${s.resource.group}/${s.resource.version} ${s.resource.resource}`).join(', ');
      throw new InputError(
        `${test.file}: /objects/${index} (${JSON.stringify(object.apiVersion ?? null)} ${JSON.stringify(object.kind ?? null)}) is of no source the policy enables (${known})`,
      );
    }
    const namespace = stringAt(object, 'metadata', 'namespace') ?? 'default';
    const withNamespace: JsonObject = { ...object, metadata: { ...objectAt(object, 'metadata'), namespace } };
    objects.set(`${resource}/${namespace}/${name}`, withNamespace);
  }
  const runtimeClasses = new Map<string, JsonObject>();
  for (const [index, runtimeClass] of test.runtimeClasses.entries()) {
    const name = stringAt(runtimeClass, 'metadata', 'name');
    if (!name) throw new InputError(`${test.file}: /runtimeClasses/${index} has no metadata.name`);
    runtimeClasses.set(name, runtimeClass);
  }
  const read = (namespace: string, name: string, source: RestoreSource) =>
    toPodCheckpoint(objects.get(`${resourceName(source.resource)}/${namespace}/${name}`), { layout: source });
  const ports: RestorePorts = {
    authorizer: {
      authorize: (user, access) => {
        const allowed = test.grants.some((grant) => grants(grant, user, access));
        return Promise.resolve({ allowed, reason: allowed ? 'granted in the test file' : '' });
      },
    },
    checkpoints: {
      get: (namespace, name, _deadline, source) => Promise.resolve(read(namespace, name, source)),
      withTemplate: (checkpoint, _deadline, source) => Promise.resolve(read(checkpoint.namespace, checkpoint.name, source)),
    },
    runtimeClasses: { get: (name) => Promise.resolve(toRuntimeClassInfo(runtimeClasses.get(name))) },
    namespaces: { labels: (namespace) => Promise.resolve(own(test.namespaceLabels, namespace)) },
    // Test files describe Pods and the objects they restore from, not workloads: no owner exists, so
    // delegation never applies and every requester is checked by its grants.
    owners: { get: () => Promise.resolve(undefined) },
    policy: () => test.policy,
  };
  if (test.now !== undefined) {
    const now = test.now;
    ports.now = () => now;
  }
  return ports;
}
