import { describe, expect, it } from 'vitest';
import { CachedAuthorizer, cacheKey } from '../../src/kube/authorization-cache.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { AuthorizationAnswer, RestoreAccess } from '../../src/restore/model.js';
import type { UserInfo } from '../../src/admission/request.js';
import type { Deadline } from '../../src/admission/deadline.js';
import { DependencyError, type Authorizer } from '../../src/restore/ports.js';
import { manualDeadline } from '../support/deadlines.js';
import { restoreAccessTo } from '../support/fixtures.js';

const alice: UserInfo = { username: 'alice', uid: 'u-1', groups: ['dev', 'ops'], extra: { scopes: ['a', 'b'] } };
const access = restoreAccessTo('cp-1');

const far = (): Deadline => manualDeadline().deadline;

/** An inner authorizer whose answers the test releases by hand. */
class FakeInner implements Authorizer {
  calls: { user: UserInfo; access: RestoreAccess; deadline: Deadline }[] = [];
  private pending: { resolve: (a: AuthorizationAnswer) => void; reject: (e: unknown) => void }[] = [];
  constructor(private readonly auto?: (user: UserInfo) => AuthorizationAnswer) {}

  authorize(user: UserInfo, a: RestoreAccess, deadline: Deadline): Promise<AuthorizationAnswer> {
    this.calls.push({ user, access: a, deadline });
    if (this.auto) return Promise.resolve(this.auto(user));
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  answer(answer: AuthorizationAnswer): void {
    const next = this.pending.shift();
    if (!next) throw new Error('no call pending');
    next.resolve(answer);
  }

  fail(err: unknown): void {
    const next = this.pending.shift();
    if (!next) throw new Error('no call pending');
    next.reject(err);
  }
}

/** Lets pending promise callbacks run (a background refresh starts on a microtask). */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Asks through the cache and has the inner authorizer give `answer` to the call that starts. */
async function answeredWith(cache: CachedAuthorizer, inner: FakeInner, answer: AuthorizationAnswer): Promise<AuthorizationAnswer> {
  const pending = cache.authorize(alice, access, far());
  await flush();
  inner.answer(answer);
  return pending;
}

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

async function counter(metrics: ReturnType<typeof createMetrics>, result: string): Promise<number> {
  const metric = await metrics.sarCache.get();
  return metric.values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('CachedAuthorizer', () => {
  it('drops expired answers of past requesters instead of keeping them until the size limit', async () => {
    const time = clock();
    const inner = new FakeInner((user) => ({ allowed: user.username.startsWith('ok'), reason: '' }));
    const cache = new CachedAuthorizer(inner, { allowedTtlMs: 10_000, deniedTtlMs: 5_000, now: time.now });
    for (let i = 0; i < 500; i++) await cache.authorize({ ...alice, username: `no-${i}` }, access, far());
    await cache.authorize({ ...alice, username: 'ok-1' }, access, far());
    expect(cache.size).toBe(501);
    time.advance(5_000);
    // The 500 denied answers have expired, the allowed one has not; alice's is new.
    await cache.authorize(alice, access, far());
    expect(cache.size).toBe(2);
    time.advance(5_000);
    await cache.authorize(alice, access, far());
    expect(cache.size).toBe(1);
  });

  it('reuses an allowed answer until its TTL passes', async () => {
    const time = clock();
    const inner = new FakeInner();
    const cache = new CachedAuthorizer(inner, { allowedTtlMs: 10_000, deniedTtlMs: 5_000, now: time.now });

    expect(await answeredWith(cache, inner, { allowed: true, reason: 'rbac' })).toEqual({ allowed: true, reason: 'rbac' });
    time.advance(9_999);
    // Still the cached answer (its background refresh is left pending).
    expect(await cache.authorize(alice, access, far())).toEqual({ allowed: true, reason: 'rbac' });
    expect(inner.calls).toHaveLength(2);
    time.advance(1);
    const expired = cache.authorize(alice, access, far());
    await flush();
    expect(inner.calls).toHaveLength(3);
    inner.answer({ allowed: true, reason: 'refresh' });
    inner.answer({ allowed: true, reason: 'rbac' });
    expect(await expired).toEqual({ allowed: true, reason: 'rbac' });
  });

  it('refreshes an allowed answer used in the last fifth of its TTL in the background, so its requester does not wait when it expires', async () => {
    const time = clock();
    const inner = new FakeInner();
    const metrics = createMetrics({ defaultMetrics: false });
    const cache = new CachedAuthorizer(inner, { allowedTtlMs: 10_000, deniedTtlMs: 5_000, now: time.now, metrics });
    await answeredWith(cache, inner, { allowed: true, reason: 'first' });

    time.advance(7_999);
    await cache.authorize(alice, access, far());
    await flush();
    expect(inner.calls).toHaveLength(1);
    time.advance(1);
    // Answered from the cache at once while the refresh is pending, and only one refresh for many uses.
    expect(await cache.authorize(alice, access, far())).toEqual({ allowed: true, reason: 'first' });
    expect(await cache.authorize(alice, access, far())).toEqual({ allowed: true, reason: 'first' });
    await flush();
    expect(inner.calls).toHaveLength(2);
    expect(await counter(metrics, 'refresh')).toBe(1);
    inner.answer({ allowed: true, reason: 'refreshed' });
    await flush();

    // 10 s after the first answer: the refreshed one (stored at 8 s) serves without a call.
    time.advance(2_000);
    expect(await cache.authorize(alice, access, far())).toEqual({ allowed: true, reason: 'refreshed' });
    await flush();
    expect(inner.calls).toHaveLength(2);
  });

  it('takes a denial from a refresh at once (a revoked grant is seen before the TTL), never refreshes denials, and lets a failed refresh expire', async () => {
    const time = clock();
    const inner = new FakeInner();
    const cache = new CachedAuthorizer(inner, { allowedTtlMs: 10_000, deniedTtlMs: 5_000, now: time.now });
    const ask = async (): Promise<AuthorizationAnswer> => {
      const pending = cache.authorize(alice, access, far());
      await flush();
      return pending;
    };
    await answeredWith(cache, inner, { allowed: true, reason: 'granted' });
    time.advance(8_000);
    await ask();
    inner.answer({ allowed: false, reason: 'revoked' });
    await flush();
    expect(await ask()).toEqual({ allowed: false, reason: 'revoked' });
    // Denials are not refreshed, however late in their TTL they are used.
    time.advance(4_999);
    expect(await ask()).toEqual({ allowed: false, reason: 'revoked' });
    expect(inner.calls).toHaveLength(2);

    time.advance(1);
    await answeredWith(cache, inner, { allowed: true, reason: 'granted again' });
    time.advance(9_000);
    await ask();
    expect(inner.calls).toHaveLength(4);
    inner.fail(new DependencyError('unreachable', 'the API server is away'));
    await flush();
    // The failed refresh left the answer as it was until its TTL...
    time.advance(999);
    expect(await ask()).toEqual({ allowed: true, reason: 'granted again' });
    expect(inner.calls).toHaveLength(5);
    inner.fail(new DependencyError('unreachable', 'still away'));
    await flush();
    // ...and then a review asks for itself.
    time.advance(1);
    const expired = ask();
    await flush();
    expect(inner.calls).toHaveLength(6);
    inner.answer({ allowed: true, reason: 'back' });
    expect(await expired).toEqual({ allowed: true, reason: 'back' });
  });

  it('keeps denials for the shorter denied TTL', async () => {
    const time = clock();
    const inner = new FakeInner(() => ({ allowed: false, reason: '' }));
    const cache = new CachedAuthorizer(inner, { allowedTtlMs: 10_000, deniedTtlMs: 5_000, now: time.now });

    await cache.authorize(alice, access, far());
    time.advance(4_999);
    await cache.authorize(alice, access, far());
    expect(inner.calls).toHaveLength(1);
    time.advance(1);
    await cache.authorize(alice, access, far());
    expect(inner.calls).toHaveLength(2);
  });

  it('never caches errors', async () => {
    const inner = new FakeInner();
    const cache = new CachedAuthorizer(inner);

    const first = cache.authorize(alice, access, far());
    await waitForCalls(inner, 1);
    inner.fail(new DependencyError('unreachable', 'down'));
    await expect(first).rejects.toMatchObject({ failure: 'unreachable' });

    const second = cache.authorize(alice, access, far());
    await waitForCalls(inner, 2);
    inner.answer({ allowed: true, reason: '' });
    expect(await second).toEqual({ allowed: true, reason: '' });
    expect(cache.size).toBe(1);
  });

  it('merges identical concurrent reviews into one inner call', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const inner = new FakeInner();
    const cache = new CachedAuthorizer(inner, { metrics });

    const waiters = [1, 2, 3].map(() => cache.authorize(alice, access, far()));
    await waitForCalls(inner, 1);
    inner.answer({ allowed: true, reason: 'shared' });
    for (const answer of await Promise.all(waiters)) expect(answer).toEqual({ allowed: true, reason: 'shared' });
    expect(inner.calls).toHaveLength(1);
    expect(await counter(metrics, 'miss')).toBe(1);
    expect(await counter(metrics, 'merged')).toBe(2);

    await cache.authorize(alice, access, far());
    expect(await counter(metrics, 'hit')).toBe(1);
  });

  it('merges with groups and extra values in any order', async () => {
    const inner = new FakeInner(() => ({ allowed: true, reason: '' }));
    const cache = new CachedAuthorizer(inner);
    await cache.authorize(alice, access, far());
    const reordered: UserInfo = { username: 'alice', uid: 'u-1', groups: ['ops', 'dev'], extra: { scopes: ['b', 'a'] } };
    await cache.authorize(reordered, access, far());
    expect(inner.calls).toHaveLength(1);
  });

  it('lets a waiter whose deadline expires leave while the shared call goes on', async () => {
    const inner = new FakeInner();
    const cache = new CachedAuthorizer(inner);
    const impatient = manualDeadline();

    const patient = cache.authorize(alice, access, far());
    const hurried = cache.authorize(alice, access, impatient.deadline);
    await waitForCalls(inner, 1);

    impatient.expire();
    const err: unknown = await hurried.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect(err).toMatchObject({ failure: 'timeout' });

    // The shared call was not aborted: the patient waiter still gets the answer.
    expect(inner.calls[0]?.deadline.signal.aborted).toBe(false);
    inner.answer({ allowed: true, reason: '' });
    expect(await patient).toEqual({ allowed: true, reason: '' });
    expect(inner.calls).toHaveLength(1);
  });

  it('gives the shared call the longest remaining deadline and aborts it when every waiter left', async () => {
    const inner = new FakeInner();
    const cache = new CachedAuthorizer(inner);
    const short = manualDeadline();
    const long = manualDeadline();
    const a = cache.authorize(alice, access, short.deadline).catch((e: unknown) => e);
    const b = cache.authorize(alice, access, long.deadline).catch((e: unknown) => e);
    await waitForCalls(inner, 1);
    const shared = inner.calls[0]?.deadline;
    expect(shared?.remainingMs()).toBeGreaterThan(0);

    short.expire();
    await a;
    expect(shared?.signal.aborted).toBe(false);
    long.expire();
    await b;
    expect(shared?.signal.aborted).toBe(true);
    expect(shared?.remainingMs()).toBe(0);
  });

  it('starts a new call instead of joining one that every waiter has abandoned', async () => {
    const inner = new FakeInner();
    const cache = new CachedAuthorizer(inner);
    const first = manualDeadline();
    const abandoned = cache.authorize(alice, access, first.deadline).catch((e: unknown) => e);
    await waitForCalls(inner, 1);
    first.expire();
    await abandoned;
    expect(inner.calls[0]?.deadline.signal.aborted).toBe(true);

    const fresh = cache.authorize(alice, access, far());
    await waitForCalls(inner, 2);
    inner.fail(new DependencyError('timeout', 'aborted'));
    inner.answer({ allowed: true, reason: '' });
    expect(await fresh).toEqual({ allowed: true, reason: '' });
  });

  it('does not call the inner authorizer when the deadline has already passed', async () => {
    const inner = new FakeInner(() => ({ allowed: true, reason: '' }));
    const cache = new CachedAuthorizer(inner);
    const gone = manualDeadline();
    gone.expire();
    await expect(cache.authorize(alice, access, gone.deadline)).rejects.toMatchObject({ failure: 'timeout' });
    expect(inner.calls).toHaveLength(0);
  });

  it('evicts the oldest entries past maxEntries', async () => {
    const inner = new FakeInner(() => ({ allowed: true, reason: '' }));
    const cache = new CachedAuthorizer(inner, { maxEntries: 2 });
    const named = (name: string): RestoreAccess => ({ ...access, name });

    await cache.authorize(alice, named('one'), far());
    await cache.authorize(alice, named('two'), far());
    await cache.authorize(alice, named('three'), far());
    expect(cache.size).toBe(2);
    expect(inner.calls).toHaveLength(3);

    await cache.authorize(alice, named('three'), far());
    await cache.authorize(alice, named('two'), far());
    expect(inner.calls).toHaveLength(3);
    await cache.authorize(alice, named('one'), far());
    expect(inner.calls).toHaveLength(4);
  });

  it('applies changed TTLs and sizes live, and clear() forgets everything', async () => {
    const time = clock();
    const inner = new FakeInner(() => ({ allowed: true, reason: '' }));
    const cache = new CachedAuthorizer(inner, { now: time.now });
    await cache.authorize(alice, access, far());
    time.advance(2_000);
    cache.setOptions({ allowedTtlMs: 1_000 });
    await cache.authorize(alice, access, far());
    expect(inner.calls).toHaveLength(2);

    cache.setOptions({ allowedTtlMs: 0 });
    await cache.authorize(alice, access, far());
    expect(inner.calls).toHaveLength(3);
    expect(cache.size).toBe(0);

    cache.setOptions({ allowedTtlMs: 10_000, maxEntries: 1 });
    await cache.authorize(alice, access, far());
    await cache.authorize(alice, { ...access, name: 'other' }, far());
    expect(cache.size).toBe(1);
  });

  describe('key', () => {
    const base = cacheKey(alice, access);
    const variants: [string, UserInfo, RestoreAccess][] = [
      ['username', { ...alice, username: 'bob' }, access],
      ['uid', { ...alice, uid: 'u-2' }, access],
      ['groups', { ...alice, groups: ['dev'] }, access],
      ['an extra value', { ...alice, extra: { scopes: ['a', 'c'] } }, access],
      ['an extra key', { ...alice, extra: { scopes: ['a', 'b'], other: [] } }, access],
      ['verb', alice, { ...access, verb: 'get' }],
      ['group', alice, { ...access, group: 'checkpoint.k8s.io' }],
      ['version', alice, { ...access, version: 'v1' }],
      ['resource', alice, { ...access, resource: 'pods' }],
      ['subresource', alice, { ...access, subresource: 'exec' }],
      ['namespace', alice, { ...access, namespace: 'team-b' }],
      ['name', alice, { ...access, name: 'cp-2' }],
    ];
    for (const [field, user, a] of variants) {
      it(`differs when only ${field} differs`, () => {
        expect(cacheKey(user, a)).not.toBe(base);
      });
    }

    it('cannot be forged by moving separators between fields', () => {
      const one: UserInfo = { username: 'a', groups: ['b,c'], extra: {} };
      const two: UserInfo = { username: 'a', groups: ['b', 'c'], extra: {} };
      expect(cacheKey(one, access)).not.toBe(cacheKey(two, access));
      const three: UserInfo = { username: 'x', groups: [], extra: { 'k=v': ['w'] } };
      const four: UserInfo = { username: 'x', groups: [], extra: { k: ['v=w'] } };
      expect(cacheKey(three, access)).not.toBe(cacheKey(four, access));
    });

    it('does not merge two users that differ only in one extra value', async () => {
      const inner = new FakeInner();
      const cache = new CachedAuthorizer(inner);
      const first = cache.authorize(alice, access, far());
      const second = cache.authorize({ ...alice, extra: { scopes: ['a', 'z'] } }, access, far());
      await waitForCalls(inner, 2);
      inner.answer({ allowed: true, reason: '' });
      inner.answer({ allowed: false, reason: 'no' });
      expect(await first).toEqual({ allowed: true, reason: '' });
      expect(await second).toEqual({ allowed: false, reason: 'no' });
    });
  });
});

/** The inner call starts on a microtask; wait for it without time. */
async function waitForCalls(inner: FakeInner, count: number): Promise<void> {
  for (let i = 0; i < 100 && inner.calls.length < count; i++) await Promise.resolve();
  expect(inner.calls).toHaveLength(count);
}
