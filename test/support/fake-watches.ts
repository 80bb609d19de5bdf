import { EventEmitter } from 'node:events';
import type { FSWatcher } from 'node:fs';
import type { WatchDirectory } from '../../src/common/follow-directory.js';

export class FakeWatcher extends EventEmitter {
  closed = false;
  constructor(
    readonly dir: string,
    readonly fire: () => void,
  ) {
    super();
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}

/** A watch function whose watchers are fakes; `failNext` makes the next calls throw as fs.watch does for a missing directory. */
export function fakeWatches() {
  const watchers: FakeWatcher[] = [];
  let failNext = 0;
  const watch: WatchDirectory = (dir, onEvent) => {
    if (failNext > 0) {
      failNext--;
      throw Object.assign(new Error(`ENOENT: no such file or directory, watch '${dir}'`), { code: 'ENOENT' });
    }
    const watcher = new FakeWatcher(dir, onEvent);
    watchers.push(watcher);
    return watcher as unknown as FSWatcher;
  };
  return { watch, watchers, failNext: (count: number) => (failNext = count) };
}

export function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
