import type { Deadline } from '../admission/deadline.js';
import { memoizedPer } from '../common/memo.js';
import type { RestoreSource } from '../policy/sources.js';
import type { PodCheckpoint } from '../restore/model.js';
import type { CheckpointSource } from '../restore/ports.js';

/** What SourceWatches needs of one watched resource (KubeCheckpointSource in production). */
export interface WatchedObjects extends Required<CheckpointSource> {
  start(): void;
  stop(): void;
  isFresh(): boolean;
}

/** Sources that read the same objects the same way share one watch (the key is made once per source: every review asks). */
const watchKey = memoizedPer(({ resource, ready, placement, template, preset }: RestoreSource): string =>
  JSON.stringify([resource.group, resource.version, resource.resource, ready, placement.nodePath, template?.path, preset === 'kep-5823']),
);

/**
 * One watch cache per enabled source, following the live policy: a source added starts its watch before
 * a source removed stops its own, so a policy change never leaves a review without a reader. A review of
 * a source whose watch is not (yet) running reads with a direct GET through a watch started for it.
 */
export class SourceWatches implements CheckpointSource {
  private watches = new Map<string, WatchedObjects>();

  constructor(private readonly create: (source: RestoreSource) => WatchedObjects) {}

  /** Starts the watches of `sources` that are not running, then stops those no source needs any more. */
  follow(sources: readonly RestoreSource[]): void {
    const next = new Map<string, WatchedObjects>();
    for (const source of sources) {
      const key = watchKey(source);
      if (next.has(key)) continue;
      const running = this.watches.get(key);
      if (running) next.set(key, running);
      else {
        const started = this.create(source);
        started.start();
        next.set(key, started);
      }
    }
    const previous = this.watches;
    this.watches = next;
    for (const [key, watch] of previous) if (!next.has(key)) watch.stop();
  }

  get(namespace: string, name: string, deadline: Deadline, source: RestoreSource): Promise<PodCheckpoint | undefined> {
    return this.watchOf(source).get(namespace, name, deadline, source);
  }

  withTemplate(checkpoint: PodCheckpoint, deadline: Deadline, source: RestoreSource): Promise<PodCheckpoint | undefined> {
    return this.watchOf(source).withTemplate(checkpoint, deadline, source);
  }

  /** Every watch has synced and is keeping up. */
  isFresh(): boolean {
    for (const watch of this.watches.values()) if (!watch.isFresh()) return false;
    return true;
  }

  stop(): void {
    for (const watch of this.watches.values()) watch.stop();
    this.watches.clear();
  }

  // A review read the policy before a change that removed its source: its watch is started again
  // rather than answering from nothing (follow() stops it with the next change that leaves it out).
  private watchOf(source: RestoreSource): WatchedObjects {
    const key = watchKey(source);
    let watch = this.watches.get(key);
    if (!watch) {
      watch = this.create(source);
      watch.start();
      this.watches.set(key, watch);
    }
    return watch;
  }
}
