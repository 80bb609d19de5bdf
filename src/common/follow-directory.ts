import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';

/** Watches one directory, calling `onEvent` for anything that happens in it. */
export type WatchDirectory = (dir: string, onEvent: () => void) => FSWatcher;

/** node:fs watch, without keeping the process alive. */
export const watchDirectory: WatchDirectory = (dir, onEvent) => watch(dir, { persistent: false }, () => onEvent());

export interface DirectoryFollowerOptions<T> {
  /** The files followed: the directories that hold them are watched. */
  files: readonly string[];
  /** Reads the files and acts on what changed. Never runs twice at once; a run should not reject (runs on events and polls are not awaited). */
  check: () => Promise<T>;
  /** Poll as well as watch. */
  pollIntervalMs: number;
  /** Told once when a directory cannot be watched (again after it could be meanwhile): polling covers it, each poll tries to watch again. */
  onWatchFailure?: (dir: string, error: Error) => void;
  watch?: WatchDirectory;
}

/**
 * Follows files the way a mounted Secret or ConfigMap needs: the kubelet updates one by swapping the `..data`
 * symlink in the volume's directory, which a watch on a file misses and a watch on its directory sees. So it
 * watches the directories that hold the files (any event there asks for a check) and polls as a backstop:
 * a change no watch can see (a directory reached through a swapped symlink) is found by the next poll, and
 * each poll watches again a directory whose watch failed or that did not exist yet. Checks coalesce: one runs
 * at a time, and a check asked for while one runs gets one more run after it, so a change in the middle of a
 * read is never missed.
 */
export class DirectoryFollower<T> {
  private readonly directories: string[];
  private readonly watchers = new Map<string, FSWatcher>();
  /** Directories whose watch failed and was reported, until one succeeds again. */
  private readonly failing = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: DirectoryFollowerOptions<T>) {
    this.directories = [...new Set(options.files.map((file) => dirname(file)))];
  }

  /** Watches and polls until stop(). Starting twice is starting once. */
  start(): void {
    if (this.timer) return;
    this.stopped = false;
    this.timer = setInterval(() => {
      this.ensureWatches();
      void this.check();
    }, this.options.pollIntervalMs);
    this.timer.unref();
    this.ensureWatches();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  /** Runs the check now, or once more after the one running. Resolves with the result of the last run. */
  check(): Promise<T> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = async (): Promise<T> => {
      let result: T;
      do {
        this.again = false;
        result = await this.options.check();
      } while (this.again && !this.stopped);
      return result;
    };
    this.running = run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The directories watched right now. */
  watched(): string[] {
    return [...this.watchers.keys()];
  }

  private ensureWatches(): void {
    if (!this.timer) return;
    const watchDir = this.options.watch ?? watchDirectory;
    for (const dir of this.directories) {
      if (this.watchers.has(dir)) continue;
      let watcher: FSWatcher;
      try {
        watcher = watchDir(dir, () => void this.check());
      } catch (error) {
        // Missing right now, say: polling covers it, and the next poll tries to watch again.
        this.failed(dir, error as Error);
        continue;
      }
      const forget = () => {
        if (this.watchers.get(dir) === watcher) this.watchers.delete(dir);
      };
      watcher.on('error', (error) => {
        forget();
        watcher.close();
        this.failed(dir, error);
      });
      watcher.on('close', forget);
      this.watchers.set(dir, watcher);
      this.failing.delete(dir);
    }
  }

  private failed(dir: string, error: Error): void {
    if (this.failing.has(dir)) return;
    this.failing.add(dir);
    this.options.onWatchFailure?.(dir, error);
  }
}
