import { describe, expect, it } from 'vitest';
import { callWithDeadline, deadlineScope, networkCode, toDependencyError } from '../../src/kube/api-call.js';
import { ApiStatusError } from '../../src/kube/api-client.js';
import type { Deadline } from '../../src/admission/deadline.js';
import { DependencyError } from '../../src/restore/ports.js';
import { manualDeadline } from '../support/deadlines.js';

describe('toDependencyError', () => {
  it('maps HTTP answers to server-error with the status and the Status message', () => {
    const err = toDependencyError(new ApiStatusError(503, 'etcd is sad'), 'reading x');
    expect(err.failure).toBe('server-error');
    expect(err.message).toBe('reading x: the Kubernetes API server answered HTTP 503 Service Unavailable: etcd is sad');
  });

  it('maps network failures to unreachable, naming the code', () => {
    const refused = new TypeError('fetch failed', {
      cause: new AggregateError([Object.assign(new Error('connect'), { code: 'ECONNREFUSED' })]),
    });
    expect(networkCode(refused)).toBe('ECONNREFUSED');
    const err = toDependencyError(refused, 'SubjectAccessReview');
    expect(err.failure).toBe('unreachable');
    expect(err.message).toContain('ECONNREFUSED');
    expect(toDependencyError(new TypeError('fetch failed'), 'x').failure).toBe('unreachable');
  });

  it('maps aborts to timeout and unreadable bodies to server-error', () => {
    expect(toDependencyError(new DOMException('late', 'TimeoutError'), 'x').failure).toBe('timeout');
    expect(toDependencyError(new SyntaxError('Unexpected token'), 'x').failure).toBe('server-error');
  });

  it('passes DependencyErrors through', () => {
    const original = new DependencyError('evaluation-error', 'rbac broke');
    expect(toDependencyError(original, 'x')).toBe(original);
  });
});

describe('deadlineScope', () => {
  it('follows the deadline signal', () => {
    const manual = manualDeadline();
    const scope = deadlineScope(manual.deadline);
    expect(scope.signal.aborted).toBe(false);
    manual.expire();
    expect(scope.signal.aborted).toBe(true);
    scope.dispose();
  });

  it('is aborted at once when no time remains, even if the signal has not fired', () => {
    const deadline: Deadline = { signal: new AbortController().signal, remainingMs: () => 0 };
    const scope = deadlineScope(deadline);
    expect(scope.signal.aborted).toBe(true);
    scope.dispose();
  });
});

describe('callWithDeadline', () => {
  it('rejects with timeout when the deadline ends before the call does, and passes the signal on', async () => {
    const manual = manualDeadline();
    let seen: AbortSignal | undefined;
    const never = callWithDeadline(manual.deadline, 'reading x', (signal) => {
      seen = signal;
      return new Promise<never>(() => undefined);
    });
    manual.expire();
    await expect(never).rejects.toMatchObject({ failure: 'timeout' });
    expect(seen?.aborted).toBe(true);
  });
});
