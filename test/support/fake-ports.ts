import type { UserInfo } from '../../src/admission/request.js';
import type { JsonObject } from '../../src/common/json.js';
import type { PodCheckpoint, RestoreAccess, RuntimeClassInfo } from '../../src/restore/model.js';
import { defaultPolicy } from '../../src/policy/policy.js';
import type { RestorePorts } from '../../src/restore/facts.js';

/** In-memory ports that record every call, for tests of the reviewer and the server. */
export class FakePorts {
  readonly calls: string[] = [];
  /** The requester of every SubjectAccessReview, in order. */
  readonly requesters: UserInfo[] = [];
  /** Every SubjectAccessReview asked for, in order. */
  readonly accesses: RestoreAccess[] = [];
  /** The source of every checkpoint read, by name, in order. */
  readonly sourcesRead: string[] = [];
  /** "user/namespace/name" entries that may restore. */
  readonly grants = new Set<string>();
  readonly checkpoints = new Map<string, PodCheckpoint>();
  readonly runtimeClasses = new Map<string, RuntimeClassInfo>();
  /** Workload objects by "resource/namespace/name", for delegation. */
  readonly owners = new Map<string, JsonObject>();
  /** Namespace labels by namespace; a namespace not listed does not exist. */
  readonly namespaceLabels = new Map<string, Record<string, string>>();
  /** Like the watch cache: `get` answers without the template, `withTemplate` reads it (counted as a call). */
  compact = false;
  /** Thrown by every port while set. */
  failure?: Error;

  ports(): RestorePorts {
    const fail = () => {
      if (this.failure) throw this.failure;
    };
    return {
      authorizer: {
        authorize: async (user, access) => {
          this.calls.push(`authorize ${user.username} ${access.namespace}/${access.name}`);
          this.accesses.push(access);
          this.requesters.push(user);
          fail();
          return { allowed: this.grants.has(`${user.username}/${access.namespace}/${access.name}`), reason: '' };
        },
      },
      checkpoints: {
        get: async (namespace, name, _deadline, source) => {
          this.calls.push(`checkpoint ${namespace}/${name}`);
          this.sourcesRead.push(source.name);
          fail();
          const found = this.checkpoints.get(`${namespace}/${name}`);
          if (!found || !this.compact) return found;
          const { template: _template, ...record } = found;
          return record;
        },
        withTemplate: async (checkpoint) => {
          this.calls.push(`template ${checkpoint.namespace}/${checkpoint.name}`);
          fail();
          return this.checkpoints.get(`${checkpoint.namespace}/${checkpoint.name}`);
        },
      },
      runtimeClasses: {
        get: async (name) => {
          this.calls.push(`runtimeclass ${name}`);
          fail();
          return this.runtimeClasses.get(name);
        },
      },
      owners: {
        get: async (kind, namespace, name) => {
          this.calls.push(`owner ${kind.resource} ${namespace}/${name}`);
          fail();
          return this.owners.get(`${kind.resource}/${namespace}/${name}`);
        },
      },
      namespaces: {
        labels: async (namespace) => {
          this.calls.push(`namespace ${namespace}`);
          fail();
          return this.namespaceLabels.get(namespace);
        },
      },
      policy: defaultPolicy,
    };
  }
}
