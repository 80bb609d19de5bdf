import type { UserInfo } from '../admission/request.js';
import type { Deadline } from '../admission/deadline.js';
import type { AuthorizationAnswer, PodCheckpoint, RestoreAccess, RuntimeClassInfo } from '../restore/model.js';
import type { JsonObject } from '../common/json.js';
import type { WorkloadKind } from '../policy/workloads.js';
import { DependencyError, type Authorizer, type CheckpointSource, type NamespaceSource, type OwnerSource, type RuntimeClassSource } from '../restore/ports.js';

/**
 * Stands in for every Kubernetes adapter when there is no API configuration: each call fails as
 * unreachable, so restores are denied with the reason instead of the webhook refusing to start.
 */
export class UnavailableApi implements Authorizer, CheckpointSource, RuntimeClassSource, NamespaceSource, OwnerSource {
  constructor(readonly reason: string) {}

  authorize(_user: UserInfo, _access: RestoreAccess, _deadline: Deadline): Promise<AuthorizationAnswer> {
    return Promise.reject(this.error());
  }

  get(namespace: string, name: string, deadline: Deadline): Promise<PodCheckpoint | undefined>;
  get(name: string, deadline: Deadline): Promise<RuntimeClassInfo | undefined>;
  get(kind: WorkloadKind, namespace: string, name: string, deadline: Deadline): Promise<JsonObject | undefined>;
  get(): Promise<never> {
    return Promise.reject(this.error());
  }

  labels(): Promise<never> {
    return Promise.reject(this.error());
  }

  private error(): DependencyError {
    return new DependencyError('unreachable', `the Kubernetes API server could not be reached: ${this.reason}`);
  }
}
