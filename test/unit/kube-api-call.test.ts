import { ApiException, type RequestContext } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  callWithDeadline,
  deadlineScope,
  networkCode,
  SharedDispatcher,
  toDependencyError,
} from '../../src/kube/api-call.js';
import { DependencyError, type Deadline } from '../../src/restore/ports.js';
import { manualDeadline } from '../support/deadlines.js';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

describe('toDependencyError', () => {
  it('maps HTTP answers to server-error with the status and the Status message', () => {
    const body = JSON.stringify({ kind: 'Status', code: 503, message: 'etcd is sad' });
    const err = toDependencyError(new ApiException(503, 'Unknown API Status Code!', body, {}), 'reading x');
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
    const never = callWithDeadline(manual.deadline, 'reading x', (options) => {
      const middleware = options.middleware?.[0];
      const context = {
        setSignal: (signal: AbortSignal) => {
          seen = signal;
        },
      } as unknown as RequestContext;
      void middleware?.pre(context);
      return new Promise<never>(() => undefined);
    });
    manual.expire();
    await expect(never).rejects.toMatchObject({ failure: 'timeout' });
    expect(seen?.aborted).toBe(true);
  });
});

describe('SharedDispatcher', () => {
  function fakeDispatcher(): Dispatcher & { closed: boolean } {
    const d = {
      closed: false,
      close: () => {
        d.closed = true;
        return Promise.resolve();
      },
    };
    return d as unknown as Dispatcher & { closed: boolean };
  }

  it('reuses the first dispatcher and replaces it after maxAge', () => {
    let now = 0;
    const shared = new SharedDispatcher(1_000, () => now);
    const first = fakeDispatcher();
    expect(shared.pick(first)).toBe(first);
    const second = fakeDispatcher();
    expect(shared.pick(second)).toBe(first);
    expect(second.closed).toBe(true);

    now = 1_000;
    const third = fakeDispatcher();
    expect(shared.pick(third)).toBe(third);
    expect(first.closed).toBe(true);
    shared.close();
    expect(third.closed).toBe(true);
  });
});
