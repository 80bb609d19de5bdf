import { parseDuration } from '../common/duration.js';

/**
 * The time a review may still spend on outbound calls. It travels from the server to every port,
 * so an answer always reaches kube-apiserver before its own timeout.
 */
export interface Deadline {
  readonly signal: AbortSignal;
  remainingMs(): number;
}

// kube-apiserver's default webhook timeout, and its maximum.
const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 30_000;

/**
 * The outbound budget of one review: kube-apiserver's `?timeout=` minus a reserve for deciding, encoding
 * and the trip back (10 %, at least 100 ms, at most 1 s), so the answer arrives while it still counts.
 */
export function outboundBudgetMs(timeoutParam: unknown): number {
  const parsed = typeof timeoutParam === 'string' ? parseDuration(timeoutParam) : undefined;
  const timeout = Math.min(parsed && parsed > 0 ? parsed : DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS);
  const reserve = Math.min(Math.max(timeout * 0.1, 100), 1_000);
  return Math.max(timeout - reserve, 0);
}

/** A deadline whose AbortSignal (and its timer) exists only if an outbound call asks for it. */
export function deadlineAfter(budgetMs: number, now: () => number = performance.now.bind(performance)): Deadline {
  const expiresAt = now() + budgetMs;
  let signal: AbortSignal | undefined;
  return {
    get signal() {
      signal ??= AbortSignal.timeout(Math.max(Math.ceil(expiresAt - now()), 0));
      return signal;
    },
    remainingMs: () => Math.max(expiresAt - now(), 0),
  };
}
