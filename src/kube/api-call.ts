import { STATUS_CODES } from 'node:http';
import { DependencyError } from '../restore/ports.js';
import type { Deadline } from '../admission/deadline.js';
import { ApiStatusError } from './api-client.js';

// setTimeout cannot wait longer than this; longer waits are re-armed.
const MAX_TIMER_MS = 2_147_483_647;

export interface DeadlineScope {
  /** Aborts when the deadline's signal aborts or its remainingMs() reaches 0. */
  readonly signal: AbortSignal;
  dispose(): void;
}

/**
 * Follows a Deadline both ways: its signal, and a timer on remainingMs() that is re-checked when it
 * fires, so a deadline that grows (a merged call whose waiters come and go) is followed too.
 */
export function deadlineScope(deadline: Deadline): DeadlineScope {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const dispose = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    deadline.signal.removeEventListener('abort', expire);
  };
  function expire(): void {
    dispose();
    if (!controller.signal.aborted) {
      controller.abort(new DOMException('the deadline has passed', 'TimeoutError'));
    }
  }
  const check = (): void => {
    timer = undefined;
    const left = deadline.remainingMs();
    if (!(left > 0)) expire();
    else timer = setTimeout(check, Math.min(Math.ceil(left), MAX_TIMER_MS));
  };
  if (deadline.signal.aborted) expire();
  else {
    deadline.signal.addEventListener('abort', expire, { once: true });
    check();
  }
  return { signal: controller.signal, dispose };
}

/** Settles with `promise`, or rejects with the signal's reason as soon as it aborts. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      // The abandoned promise still settles later; nobody waits for it.
      promise.catch(() => undefined);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Runs one API call bounded by the deadline: the signal aborts the HTTP request, and the race also
 * covers the time before it is sent (token files, exec plugins). Every failure comes out as a
 * DependencyError.
 */
export async function callWithDeadline<T>(deadline: Deadline, what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const scope = deadlineScope(deadline);
  try {
    if (scope.signal.aborted) throw timeoutError(what);
    return await raceAbort(call(scope.signal), scope.signal);
  } catch (err) {
    if (scope.signal.aborted && !(err instanceof ApiStatusError)) throw timeoutError(what, err);
    throw toDependencyError(err, what);
  } finally {
    scope.dispose();
  }
}

export function timeoutError(what: string, cause?: unknown): DependencyError {
  return new DependencyError('timeout', `${what}: no answer from the Kubernetes API server before the deadline`, {
    cause,
  });
}

/** The HTTP status of a failed call, when the server answered at all. */
export function httpStatusOf(err: unknown): number | undefined {
  return err instanceof ApiStatusError ? err.status : undefined;
}

/** Maps any failure of an API call onto the port's DependencyError. */
export function toDependencyError(err: unknown, what: string): DependencyError {
  if (err instanceof DependencyError) return err;
  const status = httpStatusOf(err);
  if (status !== undefined) {
    const detail = err instanceof ApiStatusError ? err.statusMessage : undefined;
    const text = STATUS_CODES[status] ?? 'error';
    return new DependencyError('server-error', `${what}: the Kubernetes API server answered HTTP ${status} ${text}${detail ? `: ${detail}` : ''}`, {
      cause: err,
    });
  }
  if (isAbort(err)) return timeoutError(what, err);
  if (err instanceof SyntaxError) {
    return new DependencyError('server-error', `${what}: the Kubernetes API server sent an unreadable answer`, {
      cause: err,
    });
  }
  const code = networkCode(err);
  const message = err instanceof Error ? err.message : String(err);
  return new DependencyError('unreachable', `${what}: the Kubernetes API server could not be reached (${code ?? message})`, { cause: err });
}

export function isAbort(err: unknown): boolean {
  return (err instanceof Error || err instanceof DOMException) && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

/** The first errno-style code (ECONNREFUSED, ENOTFOUND, UND_ERR_SOCKET...) in an error's cause chain. */
export function networkCode(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0) {
    const current = queue.shift();
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    if ('code' in current && typeof current.code === 'string') return current.code;
    if ('cause' in current) queue.push(current.cause);
    // Happy eyeballs reports one error per address.
    if (current instanceof AggregateError) queue.push(...(current.errors as unknown[]));
  }
  return undefined;
}
