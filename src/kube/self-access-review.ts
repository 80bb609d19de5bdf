import type { Deadline } from '../admission/deadline.js';
import type { UserInfo } from '../admission/request.js';
import { arrayAt, dictionary, objectAt, stringAt } from '../common/json.js';
import type { AuthorizationAnswer, RestoreAccess } from '../restore/model.js';
import type { Authorizer } from '../restore/ports.js';
import { callWithDeadline } from './api-call.js';
import type { ApiClient } from './api-client.js';
import { readAccessReviewAnswer, resourceAttributes } from './sar-authorizer.js';

const WHAT = 'SelfSubjectAccessReview';
const PATH = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';

/**
 * Asks the API server whether the caller (whoever the client's credentials authenticate) may restore: the
 * answer the webhook's SubjectAccessReview would get for that caller, without the right to ask about others.
 * The `user` passed in is not sent: the API server knows who is asking.
 */
export class SelfSubjectAccessReviewAuthorizer implements Authorizer {
  constructor(private readonly client: ApiClient) {}

  async authorize(_user: UserInfo, access: RestoreAccess, deadline: Deadline): Promise<AuthorizationAnswer> {
    const body = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: {
        resourceAttributes: resourceAttributes(access),
      },
    };
    const review = await callWithDeadline(deadline, WHAT, (signal) => this.client.request('POST', PATH, { body, signal }));
    return readAccessReviewAnswer(review, WHAT);
  }
}

/** Who the client's credentials authenticate as (SelfSubjectReview, authentication.k8s.io/v1, Kubernetes 1.28+). */
export async function whoAmI(client: ApiClient, deadline: Deadline): Promise<UserInfo> {
  const body = { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' };
  const review = await callWithDeadline(deadline, 'SelfSubjectReview', (signal) =>
    client.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { body, signal }),
  );
  const info = objectAt(review, 'status', 'userInfo');
  const user: UserInfo = {
    username: stringAt(info, 'username') ?? '',
    groups: (arrayAt(info, 'groups') ?? []).filter((g): g is string => typeof g === 'string'),
    extra: dictionary<string[]>(),
  };
  const uid = stringAt(info, 'uid');
  if (uid) user.uid = uid;
  for (const [key, values] of Object.entries(objectAt(info, 'extra') ?? {})) {
    if (Array.isArray(values)) user.extra[key] = values.filter((v): v is string => typeof v === 'string');
  }
  return user;
}
