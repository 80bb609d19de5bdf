import type { JsonObject } from './json.js';

/** The requester of the Pod operation, copied whole from `request.userInfo`. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/** `spec.restoreFrom`, normalised from either upstream shape. */
export interface RestoreRef {
  name: string;
  /** Per-restore options; values are never echoed in messages. */
  options: Record<string, string>;
}

/** What restore-guard needs of a PodCheckpoint, read from the raw object. */
export interface PodCheckpoint {
  namespace: string;
  name: string;
  /** `status.nodeName`: the only record of where the checkpoint data lives. */
  nodeName?: string;
  ready: boolean;
  /** Why it is not ready (condition reason or legacy phase), for messages to authorized requesters. */
  notReadyReason?: string;
  /** `status.checkpointedPodTemplate` (a PodTemplateSpec). */
  template?: JsonObject;
  completionTime?: string;
}

export interface RuntimeClassInfo {
  name: string;
  allowedRestoreOptions: string[];
}

/** The attributes of the SubjectAccessReview restore-guard asks for. */
export interface RestoreAccess {
  verb: string;
  group: string;
  version: string;
  resource: string;
  namespace: string;
  name: string;
}

export interface AuthorizationAnswer {
  allowed: boolean;
  /** The authorizer's reason, if any. */
  reason: string;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** The part of an AdmissionReview request the rules read, already checked for shape. */
export interface AdmissionRequest {
  uid: string;
  group: string;
  version: string;
  resource: string;
  subResource: string;
  namespace: string;
  name: string;
  operation: Operation;
  userInfo: UserInfo;
  object?: JsonObject;
  oldObject?: JsonObject;
  dryRun: boolean;
}
