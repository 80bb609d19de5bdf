import type { PodCheckpoint } from '../restore/model.js';
import type { CacheStore } from './watch-cache.js';

/** Seconds-precision RFC 3339 in UTC, as the API server writes metav1.Time: kept as a number when it is one. */
const RFC3339_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
/** A resourceVersion that a double holds exactly and gives back unchanged (etcd's revisions are). */
const CANONICAL_INTEGER = /^(0|[1-9]\d{0,14})$/;

/**
 * The cached checkpoint records, one row per checkpoint in typed columns instead of one object (and its
 * strings) each: at 100,000 checkpoints the garbage collector then marks one key string per checkpoint and
 * a few large arrays, not half a million small objects, and its pauses stop growing with the count.
 * Namespace and name come back from the key; node and reason are the interned strings compactCheckpoint
 * gave; completion time and resourceVersion are numbers, or text when they do not read back unchanged.
 */
export class CheckpointTable implements CacheStore<PodCheckpoint> {
  private readonly rows = new Map<string, number>();
  private readonly freeRows: number[] = [];
  private used = 0;
  private readonly nodes: (string | undefined)[] = [];
  private readonly reasons: (string | undefined)[] = [];
  private ready: Uint8Array;
  private completedAt: Float64Array;
  private versions: Float64Array;
  /** Rows whose completion time or resourceVersion is not in the numeric form, with their text. */
  private readonly texts = new Map<number, { completionTime?: string; resourceVersion?: string }>();

  constructor(initialCapacity = 64) {
    const capacity = Math.max(1, initialCapacity);
    this.ready = new Uint8Array(capacity);
    this.completedAt = new Float64Array(capacity);
    this.versions = new Float64Array(capacity);
  }

  get size(): number {
    return this.rows.size;
  }

  get(key: string): PodCheckpoint | undefined {
    const row = this.rows.get(key);
    if (row === undefined) return undefined;
    const slash = key.indexOf('/');
    const text = this.texts.get(row);
    const completedAt = this.completedAt[row] as number;
    const version = this.versions[row] as number;
    // The shape compactCheckpoint gives: the same fields in the same order, absent ones undefined.
    return {
      namespace: key.slice(0, slash),
      name: key.slice(slash + 1),
      nodeName: this.nodes[row],
      ready: this.ready[row] === 1,
      notReadyReason: this.reasons[row],
      completionTime: Number.isNaN(completedAt) ? text?.completionTime : secondsText(completedAt),
      resourceVersion: Number.isNaN(version) ? text?.resourceVersion : String(version),
    };
  }

  /** `key` is keyOf(namespace, name) of the record. */
  set(key: string, checkpoint: PodCheckpoint): void {
    let row = this.rows.get(key);
    if (row === undefined) {
      row = this.freeRows.pop() ?? this.newRow();
      this.rows.set(key, row);
    }
    this.nodes[row] = checkpoint.nodeName;
    this.reasons[row] = checkpoint.notReadyReason;
    this.ready[row] = checkpoint.ready ? 1 : 0;
    const completedAt = secondsOf(checkpoint.completionTime);
    const version = integerOf(checkpoint.resourceVersion);
    this.completedAt[row] = completedAt;
    this.versions[row] = version;
    const completionTime = Number.isNaN(completedAt) ? checkpoint.completionTime : undefined;
    const resourceVersion = Number.isNaN(version) ? checkpoint.resourceVersion : undefined;
    if (completionTime !== undefined || resourceVersion !== undefined) this.texts.set(row, { completionTime, resourceVersion });
    else this.texts.delete(row);
  }

  delete(key: string): void {
    const row = this.rows.get(key);
    if (row === undefined) return;
    this.rows.delete(key);
    // set() overwrites every column of a reused row; this only lets go of the strings now.
    this.nodes[row] = undefined;
    this.reasons[row] = undefined;
    this.texts.delete(row);
    this.freeRows.push(row);
  }

  private newRow(): number {
    if (this.used === this.ready.length) {
      this.ready = doubled(this.ready, new Uint8Array(this.used * 2));
      this.completedAt = doubled(this.completedAt, new Float64Array(this.used * 2));
      this.versions = doubled(this.versions, new Float64Array(this.used * 2));
    }
    return this.used++;
  }
}

/** `into` (twice as long) with `from` copied to its start. */
function doubled<A extends Uint8Array | Float64Array>(from: A, into: A): A {
  into.set(from);
  return into;
}

/** Milliseconds since the epoch of a time that secondsText gives back unchanged, else NaN. */
function secondsOf(time: string | undefined): number {
  if (time === undefined || !RFC3339_SECONDS.test(time)) return Number.NaN;
  const ms = Date.parse(time);
  return Number.isFinite(ms) && secondsText(ms) === time ? ms : Number.NaN;
}

function secondsText(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

function integerOf(version: string | undefined): number {
  return version !== undefined && CANONICAL_INTEGER.test(version) ? Number(version) : Number.NaN;
}
