// Bounded readers of the API server's streams: watch lines, and list pages read item by item. Neither
// ever holds more than one line or one item (plus a small head of an oversized one) in memory.

/** What is kept of a line or item over the bound: its first bytes, enough to name the object. */
export const HEAD_BYTES = 64 * 1024;

/** Splits a byte stream into newline-terminated lines of at most `maxBytes` each. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private head: Buffer | undefined;

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: Buffer) => void,
    /** A line over the bound: its first HEAD_BYTES and its whole length; the rest was never kept. */
    private readonly onOversized: (head: Buffer, bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start <= chunk.length) {
      const newline = chunk.indexOf(10, start);
      if (newline === -1) {
        if (start < chunk.length) this.append(chunk.subarray(start));
        return;
      }
      this.append(chunk.subarray(start, newline));
      this.emit();
      start = newline + 1;
    }
  }

  /** The stream ended: a last line without a newline still counts. */
  end(): void {
    if (this.size > 0) this.emit();
  }

  private append(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.head === undefined && this.size + piece.length > this.maxBytes) {
      this.head = Buffer.concat([...this.parts, piece]).subarray(0, HEAD_BYTES);
      this.parts = [];
    } else if (this.head === undefined) {
      this.parts.push(piece);
    }
    this.size += piece.length;
  }

  private emit(): void {
    const { head, parts, size } = this;
    this.parts = [];
    this.size = 0;
    this.head = undefined;
    if (head !== undefined) this.onOversized(Buffer.from(head), size);
    else if (size > 0) this.onLine(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size));
  }
}

const QUOTE = 34;
const BACKSLASH = 92;

/**
 * Reads a Kubernetes list answer (`{"metadata":{...},"items":[{...},...]}`) as it streams in: each
 * item of `items` is handed over on its own (or, over `maxItemBytes`, only its head), and the
 * top-level `metadata` is kept for resourceVersion and continue. Only structure is scanned here; each
 * item is parsed by the caller, so a page never exists as one parsed tree.
 */
export class ListScanner {
  private depth = 0;
  private inString = false;
  private escape = false;
  private expectKey = false;
  private key: Buffer[] | undefined;
  private topKey = '';
  private inItems = false;
  private capture: 'item' | 'metadata' | undefined;
  private captureFrom = 0;
  private parts: Buffer[] = [];
  private size = 0;
  private head: Buffer | undefined;
  private metadataText: string | undefined;
  private total = 0;

  constructor(
    private readonly maxItemBytes: number,
    private readonly onItem: (item: Buffer) => void,
    private readonly onOversized: (head: Buffer, bytes: number) => void,
    /** The whole answer may not be longer than this (a page is bounded even though it is never held). */
    private readonly maxTotalBytes = Number.MAX_SAFE_INTEGER,
  ) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.total > this.maxTotalBytes) throw new Error(`the list page is larger than ${this.maxTotalBytes} bytes`);
    const n = chunk.length;
    let i = 0;
    this.captureFrom = 0;
    while (i < n) {
      if (this.inString) {
        i = this.skipString(chunk, i);
        continue;
      }
      const c = chunk[i] as number;
      switch (c) {
        case QUOTE:
          this.inString = true;
          if (this.depth === 1 && this.expectKey) this.key = [];
          i++;
          if (this.key) this.captureFrom = i;
          continue;
        case 123: // {
        case 91: // [
          if (c === 123 && this.depth === 2 && this.inItems) this.startCapture('item', i);
          else if (c === 123 && this.depth === 1 && this.topKey === 'metadata') this.startCapture('metadata', i);
          if (c === 91 && this.depth === 1 && this.topKey === 'items') this.inItems = true;
          this.depth++;
          if (this.depth === 1) this.expectKey = true;
          break;
        case 125: // }
        case 93: // ]
          this.depth--;
          if (this.capture && this.depth === (this.capture === 'item' ? 2 : 1)) this.endCapture(chunk, i + 1);
          if (c === 93 && this.depth === 1) this.inItems = false;
          break;
        case 44: // ,
          if (this.depth === 1) this.expectKey = true;
          break;
        case 58: // :
          if (this.depth === 1) this.expectKey = false;
          break;
        default:
          break;
      }
      i++;
    }
    if (this.capture) this.append(chunk.subarray(this.captureFrom, n));
  }

  /** The answer ended; returns its parsed top-level metadata. Throws when it was cut short. */
  end(): { resourceVersion: string; continue: string | undefined } {
    if (this.depth !== 0 || this.inString || this.metadataText === undefined) throw new SyntaxError('the list answer ended before it was complete');
    const metadata: unknown = JSON.parse(this.metadataText);
    const field = (name: string): string | undefined => {
      const value = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)[name] : undefined;
      return typeof value === 'string' && value !== '' ? value : undefined;
    };
    return { resourceVersion: field('resourceVersion') ?? '', continue: field('continue') };
  }

  /** Inside a string from `i`: returns where scanning resumes (after its closing quote, or the chunk's end). */
  private skipString(chunk: Buffer, from: number): number {
    let i = from;
    if (this.escape) {
      this.escape = false;
      i++;
    }
    const start = i;
    for (;;) {
      const quote = chunk.indexOf(QUOTE, i);
      if (quote === -1) {
        this.escape = trailingBackslashes(chunk, chunk.length, start) % 2 === 1;
        if (this.key) this.key.push(chunk.subarray(this.captureFrom));
        return chunk.length;
      }
      if (trailingBackslashes(chunk, quote, start) % 2 === 1) {
        i = quote + 1;
        continue;
      }
      this.inString = false;
      if (this.key) {
        this.key.push(chunk.subarray(this.captureFrom, quote));
        this.topKey = Buffer.concat(this.key).toString('utf8');
        this.key = undefined;
        this.captureFrom = this.capture ? this.captureFrom : 0;
      }
      return quote + 1;
    }
  }

  private startCapture(what: 'item' | 'metadata', at: number): void {
    this.capture = what;
    this.captureFrom = at;
    this.parts = [];
    this.size = 0;
    this.head = undefined;
  }

  private endCapture(chunk: Buffer, end: number): void {
    this.append(chunk.subarray(this.captureFrom, end));
    const { parts, size, head, capture } = this;
    this.capture = undefined;
    this.parts = [];
    this.size = 0;
    this.head = undefined;
    if (capture === 'metadata') {
      if (head !== undefined) throw new Error('the list metadata is larger than the bound of one object');
      this.metadataText = Buffer.concat(parts, size).toString('utf8');
    } else if (head !== undefined) this.onOversized(Buffer.from(head), size);
    else this.onItem(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size));
  }

  private append(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.head === undefined && this.size + piece.length > this.maxItemBytes) {
      this.head = Buffer.concat([...this.parts, piece]).subarray(0, HEAD_BYTES);
      this.parts = [];
    } else if (this.head === undefined) {
      this.parts.push(piece);
    }
    this.size += piece.length;
  }
}

/** How many backslashes directly precede `end` (not looking before `start`). */
function trailingBackslashes(chunk: Buffer, end: number, start: number): number {
  let count = 0;
  for (let j = end - 1; j >= start && chunk[j] === BACKSLASH; j--) count++;
  return count;
}

/**
 * Reads string values at the given dotted paths (e.g. `object.metadata.name`) from the start of a JSON
 * document that may be cut anywhere: enough to name an object whose whole text was too large to keep.
 */
export function peekStrings(head: Buffer, paths: readonly string[]): Map<string, string> {
  const text = head.toString('utf8');
  const found = new Map<string, string>();
  const wanted = new Set(paths);
  const stack: { array: boolean; key: string | undefined; expectKey: boolean }[] = [];
  let i = 0;
  while (i < text.length && found.size < wanted.size) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) break;
      let value: string;
      try {
        value = JSON.parse(text.slice(i, j + 1)) as string;
      } catch {
        break;
      }
      const top = stack[stack.length - 1];
      if (top && !top.array && top.expectKey) top.key = value;
      else {
        const path = stack.map((s) => (s.array ? '[]' : (s.key ?? ''))).join('.');
        if (wanted.has(path) && !found.has(path)) found.set(path, value);
      }
      i = j + 1;
      continue;
    }
    const top = stack[stack.length - 1];
    if (c === '{') stack.push({ array: false, key: undefined, expectKey: true });
    else if (c === '[') stack.push({ array: true, key: undefined, expectKey: false });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ':' && top) top.expectKey = false;
    else if (c === ',' && top && !top.array) top.expectKey = true;
    i++;
  }
  return found;
}
