import type { JsonObject } from '../common/json.js';

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
  /** metadata.resourceVersion: which version of the checkpoint this is (ties a template to its record). */
  resourceVersion?: string;
}

export interface RuntimeClassInfo {
  name: string;
  allowedRestoreOptions: string[];
}

/** The attributes of the SubjectAccessReview restore-guard asks for: a restore's, or a capture's (see capture-rules). */
export interface RestoreAccess {
  verb: string;
  group: string;
  version: string;
  resource: string;
  /** Only a capture asks for one (`exec` on the source Pod); a restore's grant is on the object itself. */
  subresource?: string;
  namespace: string;
  name: string;
}

export interface AuthorizationAnswer {
  allowed: boolean;
  /** The authorizer's reason, if any. */
  reason: string;
  /** Allowed by delegation: the owner (`Kind/name`) whose checked template the requester, a controller, copies. */
  delegatedBy?: string;
}
