import { readFile } from 'node:fs/promises';
import { DirectoryFollower, type WatchDirectory } from '../common/follow-directory.js';
import type { Logger } from '../observability/logger.js';
import type { PolicyStore } from './store.js';

/**
 * Follows a policy file with a DirectoryFollower: a watch of its directory for quick reaction, and a poll
 * because the kubelet updates a mounted ConfigMap by swapping a symlinked directory, which file watches do
 * not survive.
 */
export class PolicyFileSource {
  private readonly follower: DirectoryFollower<void>;
  private lastText: string | undefined | null = null;

  constructor(
    private readonly path: string,
    private readonly store: PolicyStore,
    private readonly logger: Logger,
    pollMs = 2_000,
    watch?: WatchDirectory,
  ) {
    this.follower = new DirectoryFollower({
      files: [path],
      check: () => this.read(),
      pollIntervalMs: pollMs,
      onWatchFailure: (dir, err) => logger.warn({ err, path, dir }, 'cannot watch the policy file directory; polling only'),
      ...(watch ? { watch } : {}),
    });
  }

  /** Starts following the file and reads it once (so the first review already sees it). */
  async start(): Promise<void> {
    this.follower.start();
    await this.follower.check();
  }

  stop(): void {
    this.follower.stop();
  }

  /** Reads the file and applies it when its text changed; a missing file means the defaults. */
  check(): Promise<void> {
    return this.follower.check();
  }

  private async read(): Promise<void> {
    let text: string | undefined;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.error({ err, path: this.path }, 'cannot read the policy file; the last good policy stays');
        this.store.readFailed(`it cannot be read: ${(err as Error).message}`);
        return;
      }
      if (this.lastText !== undefined) this.logger.warn({ path: this.path }, 'no policy file: using the defaults');
    }
    if (text === this.lastText) return;
    this.lastText = text;
    this.store.apply(text, 'file', this.path);
  }
}
