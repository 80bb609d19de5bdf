import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DirectoryFollower } from '../../src/common/follow-directory.js';
import { deferred, fakeWatches } from '../support/fake-watches.js';
import { SecretVolume } from '../support/secret-volume.js';

/** Polls are driven by fake intervals (advanced by hand); watches are real directories or fakes that fire on demand. */

const POLL_MS = 60_000;

const followers: Array<{ stop(): void }> = [];
afterEach(() => {
  for (const follower of followers.splice(0)) follower.stop();
  vi.useRealTimers();
});

function follow(options: Partial<ConstructorParameters<typeof DirectoryFollower<number>>[0]> & { files: string[] }) {
  let runs = 0;
  const failures: string[] = [];
  const follower = new DirectoryFollower<number>({
    check: async () => ++runs,
    pollIntervalMs: POLL_MS,
    onWatchFailure: (dir) => failures.push(dir),
    ...options,
  });
  followers.push(follower);
  return { follower, runs: () => runs, failures };
}

describe('DirectoryFollower', () => {
  it('watches each directory that holds a file, once, and nothing before start', () => {
    const fake = fakeWatches();
    const { follower } = follow({ files: ['/x/tls.crt', '/x/tls.key', '/y/ca.crt'], watch: fake.watch });
    expect(fake.watchers).toEqual([]);
    follower.start();
    follower.start();
    expect(fake.watchers.map((w) => w.dir)).toEqual(['/x', '/y']);
    expect(follower.watched()).toEqual(['/x', '/y']);
  });

  it('checks on an event in a watched directory', async () => {
    const fake = fakeWatches();
    const { follower, runs } = follow({ files: ['/x/policy.yaml'], watch: fake.watch });
    follower.start();
    fake.watchers[0]?.fire();
    await vi.waitFor(() => expect(runs()).toBe(1));
  });

  it('runs one check at a time: asked again during a run, it runs once more after it, not once per ask', async () => {
    let active = 0;
    let most = 0;
    const gates: Array<ReturnType<typeof deferred>> = [];
    const follower = new DirectoryFollower<number>({
      files: ['/x/f'],
      pollIntervalMs: POLL_MS,
      check: async () => {
        active++;
        most = Math.max(most, active);
        const gate = deferred();
        gates.push(gate);
        await gate.promise;
        active--;
        return gates.length;
      },
    });
    const first = follower.check();
    const second = follower.check();
    const third = follower.check();
    expect(gates).toHaveLength(1);
    gates[0]?.resolve();
    await vi.waitFor(() => expect(gates).toHaveLength(2));
    gates[1]?.resolve();
    // Every caller gets the result of the run that started after it asked.
    expect(await Promise.all([first, second, third])).toEqual([2, 2, 2]);
    expect(most).toBe(1);
    // Asked once nothing runs: one run of its own.
    const fourth = follower.check();
    gates[2]?.resolve();
    expect(await fourth).toBe(3);
  });

  it('polls: every interval checks and retries the watches, with no event at all', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const fake = fakeWatches();
    const { follower, runs } = follow({ files: ['/x/f'], watch: fake.watch });
    follower.start();
    expect(runs()).toBe(0);
    await vi.advanceTimersByTimeAsync(3 * POLL_MS);
    expect(runs()).toBe(3);
    expect(fake.watchers).toHaveLength(1); // a working watch is kept, not made again
  });

  it('watches a directory again on the next poll after its watch failed, and tells of a failure once until a watch works again', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const fake = fakeWatches();
    const { follower, failures, runs } = follow({ files: ['/x/f'], watch: fake.watch });
    follower.start();
    const [first] = fake.watchers;
    first?.emit('error', new Error('watch failed'));
    expect(first?.closed).toBe(true);
    expect(follower.watched()).toEqual([]);
    expect(failures).toEqual(['/x']);

    fake.failNext(2);
    await vi.advanceTimersByTimeAsync(2 * POLL_MS);
    expect(follower.watched()).toEqual([]);
    expect(failures).toEqual(['/x']); // told once, however many polls fail
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(follower.watched()).toEqual(['/x']);
    expect(fake.watchers).toHaveLength(2);
    fake.watchers[1]?.fire();
    await vi.waitFor(() => expect(runs()).toBe(4));

    fake.watchers[1]?.emit('error', new Error('watch failed again'));
    expect(failures).toEqual(['/x', '/x']);
  });

  it('stop closes the watches and ends the polls, and a run asked for during the last one does not happen', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const fake = fakeWatches();
    const gate = deferred();
    let runs = 0;
    const follower = new DirectoryFollower<number>({
      files: ['/x/f', '/y/f'],
      pollIntervalMs: POLL_MS,
      watch: fake.watch,
      check: async () => {
        runs++;
        await gate.promise;
        return runs;
      },
    });
    follower.start();
    const running = follower.check();
    void follower.check();
    follower.stop();
    gate.resolve();
    expect(await running).toBe(1);
    expect(fake.watchers.map((w) => w.closed)).toEqual([true, true]);
    expect(follower.watched()).toEqual([]);
    await vi.advanceTimersByTimeAsync(3 * POLL_MS);
    expect(runs).toBe(1);
  });

  it("sees the kubelet's swap of ..data in a mounted volume through the directory watch, with no poll", async () => {
    const volume = new SecretVolume(mkdtempSync(join(tmpdir(), 'rg-follow-')));
    volume.write({ 'tls.crt': 'one' });
    const seen: string[] = [];
    const follower = new DirectoryFollower({
      files: [volume.file('tls.crt')],
      pollIntervalMs: 3_600_000,
      check: async () => void seen.push(readFileSync(volume.file('tls.crt'), 'utf8')),
    });
    followers.push(follower);
    follower.start();
    volume.write({ 'tls.crt': 'two' });
    await vi.waitFor(() => expect(seen.at(-1)).toBe('two'));
  });

  it('watches a directory that did not exist at start once a poll finds it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const dir = join(mkdtempSync(join(tmpdir(), 'rg-follow-')), 'later');
    const { follower, failures } = follow({ files: [join(dir, 'f')] });
    follower.start();
    expect(follower.watched()).toEqual([]);
    expect(failures).toEqual([dir]);
    mkdirSync(dir);
    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(follower.watched()).toEqual([dir]);
  });
});

/** The policy file source follows its file as the certificate reloader does (it used to watch once, and never again). */
