import type { Metrics } from '../observability/metrics.js';
import type { AuthorizationAnswer, RestoreAccess } from '../restore/model.js';
import type { UserInfo } from '../admission/request.js';
import { deadlineAfter, type Deadline } from '../admission/deadline.js';
import type { Authorizer } from '../restore/ports.js';
import { deadlineScope, raceAbort, timeoutError } from './api-call.js';

export interface AuthorizationCacheSettings {
  /** How long an allowed answer is reused; 0 disables caching of allowed answers. */
  allowedTtlMs: number;
  /** How long a denied answer is reused; kept shorter so a new grant takes effect quickly. */
  deniedTtlMs: number;
  maxEntries: number;
}

export interface CachedAuthorizerOptions extends Partial<AuthorizationCacheSettings> {
  now?: () => number;
  metrics?: Metrics;
}

interface Entry {
  answer: AuthorizationAnswer;
  storedAt: number;
}

/** The deadline of a shared call: it lasts as long as the longest waiter still waiting. */
class SharedDeadline implements Deadline {
  private readonly controller = new AbortController();
  private readonly waiters = new Set<Deadline>();

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  remainingMs(): number {
    let most = 0;
    for (const waiter of this.waiters) most = Math.max(most, waiter.remainingMs());
    return most;
  }

  join(waiter: Deadline): void {
    this.waiters.add(waiter);
  }

  /** Once nobody waits, the call is abandoned so a hanging API server does not collect requests. */
  leave(waiter: Deadline): void {
    this.waiters.delete(waiter);
    if (this.waiters.size === 0 && !this.controller.signal.aborted) {
      this.controller.abort(new DOMException('no caller waits for this answer any more', 'TimeoutError'));
    }
  }
}

interface Flight {
  promise: Promise<AuthorizationAnswer>;
  deadline: SharedDeadline;
}

/** An allowed answer used in the last fifth of its TTL is asked for again in the background. */
const REFRESH_AFTER = 0.8;
/** How long a background refresh may take (a review's own calls have its deadline). */
const REFRESH_BUDGET_MS = 5_000;

/**
 * Caches SubjectAccessReview answers by everything that can change them, and merges identical
 * concurrent reviews into one call. Errors are never cached. An allowed answer that is still in use near
 * the end of its TTL is refreshed in the background, so a requester who keeps restoring does not wait for
 * a round trip each time it expires (with every review of theirs that arrives meanwhile); a revoked grant
 * is then seen sooner, not later.
 */
export class CachedAuthorizer implements Authorizer {
  private settings: AuthorizationCacheSettings;
  private readonly now: () => number;
  private readonly metrics: Metrics | undefined;
  private readonly entries = new Map<string, Entry>();
  private readonly flights = new Map<string, Flight>();
  private readonly refreshing = new Set<string>();

  constructor(
    private readonly inner: Authorizer,
    options: CachedAuthorizerOptions = {},
  ) {
    this.settings = { allowedTtlMs: 10_000, deniedTtlMs: 5_000, maxEntries: 10_000 };
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics;
    this.setOptions(options);
  }

  /** Changes TTLs and size live; TTLs apply to answers already cached too. */
  setOptions(options: Partial<AuthorizationCacheSettings>): void {
    const next = { ...this.settings };
    if (options.allowedTtlMs !== undefined) next.allowedTtlMs = Math.max(0, options.allowedTtlMs);
    if (options.deniedTtlMs !== undefined) next.deniedTtlMs = Math.max(0, options.deniedTtlMs);
    if (options.maxEntries !== undefined) next.maxEntries = Math.max(0, Math.floor(options.maxEntries));
    this.settings = next;
    this.evict();
  }

  get size(): number {
    return this.entries.size;
  }

  async authorize(user: UserInfo, access: RestoreAccess, deadline: Deadline): Promise<AuthorizationAnswer> {
    // One clock read for the sweep, the lookup and the refresh: this runs on every restore review.
    const now = this.now();
    this.sweep(now);
    const key = cacheKey(user, access);
    const cached = this.lookup(key, now);
    if (cached) {
      this.metrics?.sarCache.inc({ result: 'hit' });
      this.refreshIfOld(key, cached, now, user, access);
      return cached.answer;
    }
    // Nobody would wait for the answer; do not start a review for it.
    if (deadline.signal.aborted || !(deadline.remainingMs() > 0)) throw timeoutError('SubjectAccessReview');
    let flight = this.flights.get(key);
    // A flight every waiter has left is being aborted; joining it would inherit a timeout that is not ours.
    if (flight?.deadline.signal.aborted) flight = undefined;
    if (flight) {
      this.metrics?.sarCache.inc({ result: 'merged' });
    } else {
      this.metrics?.sarCache.inc({ result: 'miss' });
      flight = this.fly(key, user, access);
    }
    return this.wait(flight, deadline);
  }

  private fly(key: string, user: UserInfo, access: RestoreAccess): Flight {
    const deadline = new SharedDeadline();
    // Started on the next microtask: the flight is registered and its first waiter joined before the
    // inner call reads the deadline, even if the inner authorizer throws synchronously.
    const promise = Promise.resolve()
      .then(() => {
        if (deadline.signal.aborted) throw timeoutError('SubjectAccessReview');
        return this.inner.authorize(user, access, deadline);
      })
      .then((answer) => {
        this.store(key, answer);
        return answer;
      })
      .finally(() => {
        if (this.flights.get(key) === flight) this.flights.delete(key);
      });
    const flight: Flight = { promise, deadline };
    this.flights.set(key, flight);
    return flight;
  }

  /** Each waiter keeps its own deadline; leaving early does not stop the call for the others. */
  private async wait(flight: Flight, deadline: Deadline): Promise<AuthorizationAnswer> {
    const scope = deadlineScope(deadline);
    flight.deadline.join(deadline);
    try {
      if (scope.signal.aborted) throw timeoutError('SubjectAccessReview');
      return await raceAbort(flight.promise, scope.signal);
    } catch (err) {
      if (scope.signal.aborted) throw timeoutError('SubjectAccessReview', err);
      throw err;
    } finally {
      scope.dispose();
      flight.deadline.leave(deadline);
    }
  }

  private ttlOf(answer: AuthorizationAnswer): number {
    return answer.allowed ? this.settings.allowedTtlMs : this.settings.deniedTtlMs;
  }

  private lookup(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (now - entry.storedAt < this.ttlOf(entry.answer)) return entry;
    this.entries.delete(key);
    return undefined;
  }

  /**
   * One refresh per answer at a time, and only of allowed answers (denials are short-lived already). A
   * refresh that fails changes nothing: the answer expires when it would have, and a review then asks.
   */
  private refreshIfOld(key: string, entry: Entry, now: number, user: UserInfo, access: RestoreAccess): void {
    if (!entry.answer.allowed || this.refreshing.has(key)) return;
    if (now - entry.storedAt < this.settings.allowedTtlMs * REFRESH_AFTER) return;
    this.refreshing.add(key);
    this.metrics?.sarCache.inc({ result: 'refresh' });
    void Promise.resolve()
      .then(() => this.inner.authorize(user, access, deadlineAfter(REFRESH_BUDGET_MS)))
      .then(
        (answer) => this.store(key, answer),
        () => undefined,
      )
      .finally(() => this.refreshing.delete(key));
  }

  private store(key: string, answer: AuthorizationAnswer): void {
    if (this.ttlOf(answer) <= 0) return;
    // Re-inserting moves the key to the end, so Map order stays oldest first.
    this.entries.delete(key);
    this.entries.set(key, { answer, storedAt: this.now() });
    this.evict();
  }

  /**
   * Drops expired answers from the oldest end (Map order is store order), so after a burst of distinct
   * requesters their answers do not stay in memory until 10,000 newer ones push them out. Stops at the
   * first live answer: O(1) when nothing expired.
   */
  private sweep(now: number): void {
    for (const [key, entry] of this.entries) {
      if (now - entry.storedAt < this.ttlOf(entry.answer)) break;
      this.entries.delete(key);
    }
  }

  private evict(): void {
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.settings.maxEntries) break;
      this.entries.delete(key);
    }
  }
}

/**
 * Every field that can change an answer, in a canonical order. JSON of nested arrays cannot collide
 * the way joined strings can ("a,b" + "c" vs "a" + "b,c").
 */
export function cacheKey(user: UserInfo, access: RestoreAccess): string {
  const extra = Object.entries(user.extra)
    .map(([name, values]): [string, readonly string[]] => [name, sorted(values)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([
    user.username,
    user.uid ?? '',
    sorted(user.groups),
    extra,
    access.verb,
    access.group,
    access.version,
    access.resource,
    access.subresource ?? '',
    access.namespace,
    access.name,
  ]);
}

/**
 * The strings in sort order (the default sort's: UTF-16 code units): the list itself when it already is,
 * as kube-apiserver's group lists usually are (the key is made on every review), else a sorted copy.
 */
function sorted(values: readonly string[]): readonly string[] {
  for (let i = 1; i < values.length; i++) {
    if ((values[i - 1] as string) > (values[i] as string)) return [...values].sort();
  }
  return values;
}
