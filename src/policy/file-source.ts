import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { PolicyStore } from './store.js';

/**
 * Follows a policy file: a directory watch for quick reaction, and a poll because the kubelet updates a
 * mounted ConfigMap by swapping a symlinked directory, which file watches do not survive.
 */
export class PolicyFileSource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastText: string | undefined | null = null;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly path: string,
    private readonly store: PolicyStore,
    private readonly logger: Logger,
    private readonly pollMs = 2_000,
  ) {}

  /** Reads the file once (so the first review already sees it), then keeps following it. */
  async start(): Promise<void> {
    await this.check();
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
        if (!file || file === basename(this.path) || file.startsWith('..')) void this.check();
      });
      this.watcher.on('error', (err) => this.logger.warn({ err, path: this.path }, 'policy file watch failed; polling only'));
    } catch (err) {
      this.logger.warn({ err, path: this.path }, 'cannot watch the policy file directory; polling only');
    }
    this.timer = setInterval(() => void this.check(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
  }

  /** Reads the file and applies it when its text changed; a missing file means the defaults. */
  check(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
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
