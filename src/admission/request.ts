import type { JsonObject } from '../common/json.js';

/** The two webhooks restore-guard serves; the mutating one alone may patch. */
export type Webhook = 'mutate' | 'validate';

/** The requester of the operation, copied whole from `request.userInfo`. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  /** A null-prototype record: keys come from the request. */
  extra: Record<string, string[]>;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** The part of an AdmissionReview request the deciders read, already checked for shape. */
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
