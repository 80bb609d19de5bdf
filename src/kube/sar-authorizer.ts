import type { V1SubjectAccessReview } from '@kubernetes/client-node';
import type { Metrics } from '../observability/metrics.js';
import { objectAt, stringAt } from '../common/json.js';
import type { AuthorizationAnswer, RestoreAccess } from '../restore/model.js';
import type { UserInfo } from '../admission/request.js';
import type { Deadline } from '../admission/deadline.js';
import { DependencyError, type Authorizer } from '../restore/ports.js';
import { callWithDeadline } from './api-call.js';
import type { ApiClient } from './api-client.js';
import { silentLogger, type KubeLogger } from './logger.js';

export interface SubjectAccessReviewAuthorizerOptions {
  client: ApiClient;
  metrics?: Metrics;
  logger?: KubeLogger;
}

const WHAT = 'SubjectAccessReview';
const PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

/** The resource attributes of a restore's access review (Subject- and SelfSubjectAccessReview alike). */
export function resourceAttributes(access: RestoreAccess): Record<string, string> {
  const { namespace, verb, group, version, resource, subresource, name } = access;
  return { namespace, verb, group, version, resource, ...(subresource ? { subresource } : {}), name };
}

/** Asks the API server, with the requester's full identity, whether it may restore the checkpoint. */
export class SubjectAccessReviewAuthorizer implements Authorizer {
  private readonly client: ApiClient;
  private readonly metrics: Metrics | undefined;
  private readonly logger: KubeLogger;

  constructor(options: SubjectAccessReviewAuthorizerOptions) {
    this.client = options.client;
    this.metrics = options.metrics;
    this.logger = options.logger ?? silentLogger;
  }

  async authorize(user: UserInfo, access: RestoreAccess, deadline: Deadline): Promise<AuthorizationAnswer> {
    const body: V1SubjectAccessReview = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: user.username,
        groups: user.groups,
        extra: user.extra,
        // A restore names no subresource: the grant is on podcheckpoints itself, as in the in-tree plugin.
        resourceAttributes: resourceAttributes(access),
      },
    };
    if (user.uid && body.spec) body.spec.uid = user.uid;

    const started = performance.now();
    try {
      const review = await callWithDeadline(deadline, WHAT, (signal) => this.client.request('POST', PATH, { body, signal }));
      const answer = readAccessReviewAnswer(review, WHAT);
      this.metrics?.sarCalls.inc({ result: answer.allowed ? 'allowed' : 'denied' });
      return answer;
    } catch (err) {
      this.metrics?.sarCalls.inc({ result: 'error' });
      if (err instanceof DependencyError) {
        this.logger.warn({ failure: err.failure, err: err.message }, 'SubjectAccessReview failed');
      }
      throw err;
    } finally {
      this.metrics?.sarDuration.observe((performance.now() - started) / 1000);
    }
  }
}

/** The answer of a (Self)SubjectAccessReview; `what` names the review in errors. */
export function readAccessReviewAnswer(review: unknown, what: string): AuthorizationAnswer {
  const status = objectAt(review, 'status');
  if (!status || typeof status.allowed !== 'boolean') {
    throw new DependencyError('server-error', `${what}: the API server answered without a status`);
  }
  // Both set is contradictory; kube's webhook authorizer treats it as a denial, so do we.
  const allowed = status.allowed && status.denied !== true;
  const evaluationError = stringAt(status, 'evaluationError');
  // An allowed answer stands despite an evaluation error (some authorizer failed, another allowed);
  // otherwise "not allowed" may only mean "could not tell", which must not read as a denial.
  if (!allowed && evaluationError) {
    throw new DependencyError('evaluation-error', `${what}: the authorizer could not evaluate the request: ${evaluationError}`);
  }
  return { allowed, reason: stringAt(status, 'reason') ?? '' };
}
