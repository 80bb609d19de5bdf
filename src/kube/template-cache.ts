import type { PodCheckpoint } from '../restore/model.js';

/**
 * Recently used checkpoints with their captured templates, bounded in bytes (least recently used go
 * first). An entry answers only for the resourceVersion it was read at, and the watch drops it when
 * its checkpoint changes or is deleted.
 */
export class TemplateCache {
  private readonly entries = new Map<string, { resourceVersion: string; checkpoint: PodCheckpoint; bytes: number }>();
  private total = 0;

  constructor(readonly maxBytes: number) {}

  /** The checkpoint with its template, when one was read at exactly this resourceVersion. */
  get(key: string, resourceVersion: string | undefined): PodCheckpoint | undefined {
    const entry = this.entries.get(key);
    if (!entry || resourceVersion === undefined || entry.resourceVersion !== resourceVersion) return undefined;
    // Most recently used last.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.checkpoint;
  }

  /** `bytes` is the template's size as JSON; one larger than a quarter of the bound is not kept. */
  set(key: string, checkpoint: PodCheckpoint, bytes: number): void {
    this.delete(key);
    if (checkpoint.resourceVersion === undefined || bytes > this.maxBytes / 4) return;
    this.entries.set(key, { resourceVersion: checkpoint.resourceVersion, checkpoint, bytes });
    this.total += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.total -= entry.bytes;
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.total -= entry.bytes;
  }

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.size;
  }
}
