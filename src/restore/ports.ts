import type { UserInfo } from '../admission/request.js';
import type { Deadline } from '../admission/deadline.js';
import type { JsonObject } from '../common/json.js';
import type { RestoreSource } from '../policy/sources.js';
import type { WorkloadKind } from '../policy/workloads.js';
import type { AuthorizationAnswer, PodCheckpoint, RestoreAccess, RuntimeClassInfo } from './model.js';

/** Why a port could not answer; every one of these denies a restore (fail closed). */
export type DependencyFailure = 'unreachable' | 'timeout' | 'server-error' | 'evaluation-error';

export class DependencyError extends Error {
  constructor(
    readonly failure: DependencyFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DependencyError';
  }
}

export interface Authorizer {
  /** Throws DependencyError when the answer cannot be had; never guesses. */
  authorize(user: UserInfo, access: RestoreAccess, deadline: Deadline): Promise<AuthorizationAnswer>;
}

/** The objects restores name (PodCheckpoints, PodSnapshots, ...), read as their source says. */
export interface CheckpointSource {
  /**
   * undefined when the object does not exist. Throws DependencyError on API failure. The answer may
   * lack the captured template (a cached record): `withTemplate` completes it.
   */
  get(namespace: string, name: string, deadline: Deadline, source: RestoreSource): Promise<PodCheckpoint | undefined>;
  /**
   * The checkpoint with its captured template, as of now or later than `checkpoint` (it may come from a
   * newer read, whose other fields then win); undefined when it no longer exists. Absent: `get` always
   * answers with the template.
   */
  withTemplate?(checkpoint: PodCheckpoint, deadline: Deadline, source: RestoreSource): Promise<PodCheckpoint | undefined>;
}

export interface RuntimeClassSource {
  /** undefined when the RuntimeClass does not exist. Throws DependencyError on API failure. */
  get(name: string, deadline: Deadline): Promise<RuntimeClassInfo | undefined>;
}

export interface NamespaceSource {
  /** The namespace's labels; undefined when it does not exist. Throws DependencyError on API failure. */
  labels(namespace: string, deadline: Deadline): Promise<Record<string, string> | undefined>;
}

/** Workload objects, read whole, to follow a controller's ownerReference to the template it copies. */
export interface OwnerSource {
  /** undefined when the object does not exist. Throws DependencyError on API failure. */
  get(kind: WorkloadKind, namespace: string, name: string, deadline: Deadline): Promise<JsonObject | undefined>;
}
