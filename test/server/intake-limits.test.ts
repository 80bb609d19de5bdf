import { describe, expect, it } from 'vitest';
import { parseServeOptions, UsageError } from '../../src/cli/options.js';
import {
  BodyBudget,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_INFLIGHT_BODY_BYTES,
  HEADERS_TIMEOUT_MS,
  parseByteSize,
  parseCost,
  REQUEST_TIMEOUT_MS,
  SMALL_BODY_BYTES,
  STALLED_UPLOAD_MS,
  type Upload,
} from '../../src/server/intake-limits.js';
import { BODY_LIMIT_BYTES, KEEP_ALIVE_TIMEOUT_MS } from '../../src/server/webhook-server.js';

const MiB = 1024 * 1024;

describe('BodyBudget', () => {
  const clock = () => {
    let now = 0;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it('charges up to the budget, keeps the last quarter for small bodies, and returns charges once', () => {
    const budget = new BodyBudget(4 * MiB);
    expect(budget.largeShare).toBe(3 * MiB);
    const big = budget.open(2 * MiB);
    expect(big.large).toBe(true);
    expect(budget.chargeUpTo(big, 2 * MiB)).toBe(true);
    const second = budget.open(MiB + 1);
    expect(budget.chargeUpTo(second, MiB + 1)).toBe(false); // past the large share
    const small = budget.open(SMALL_BODY_BYTES);
    expect(small.large).toBe(false);
    expect(budget.chargeUpTo(small, 1.5 * MiB)).toBe(true); // small bodies may use the reserved quarter
    expect(budget.inUse).toBe(3.5 * MiB);
    budget.release(big);
    budget.release(big);
    expect(budget.inUse).toBe(1.5 * MiB);
    expect(budget.chargeUpTo(second, MiB + 1)).toBe(true);
  });

  it('refuses for good what could never fit, and a chunked body counts as large', () => {
    const budget = new BodyBudget(4 * MiB);
    const chunked = budget.open(undefined);
    expect(chunked.large).toBe(true);
    expect(budget.canEverHold(chunked, 3 * MiB)).toBe(true);
    expect(budget.canEverHold(chunked, 3 * MiB + 1)).toBe(false);
    expect(budget.chargeUpTo(chunked, 3 * MiB + 1)).toBe(false);
    expect(budget.inUse).toBe(0);
  });

  it('cuts uploads arriving for STALLED_UPLOAD_MS or more, oldest first, only as many as needed, never ones already received', () => {
    const time = clock();
    const cut: Upload[] = [];
    const budget = new BodyBudget(8 * MiB, (u) => cut.push(u), STALLED_UPLOAD_MS, time.now);
    const uploads = [1, 2, 3].map(() => {
      const u = budget.open(2 * MiB);
      expect(budget.chargeUpTo(u, 2 * MiB)).toBe(true);
      time.advance(10);
      return u;
    });
    const [oldest, middle, youngest] = uploads as [Upload, Upload, Upload];
    let cutCalls = 0;
    for (const u of uploads) u.cut = () => cutCalls++;
    oldest.receiving = false; // its body is in: it is being decided, not stalled
    const newcomer = budget.open(2 * MiB);
    expect(budget.chargeUpTo(newcomer, 2 * MiB)).toBe(false); // nobody stalled yet
    time.advance(STALLED_UPLOAD_MS);
    expect(budget.chargeUpTo(newcomer, 2 * MiB)).toBe(true);
    expect(cut).toEqual([middle]);
    expect(cutCalls).toBe(1);
    expect(middle.charged).toBe(0);
    expect(youngest.charged).toBe(2 * MiB);
    expect(budget.inUse).toBe(6 * MiB);
  });

  it('does not cut small uploads for a large newcomer that only the large share holds back', () => {
    const time = clock();
    const budget = new BodyBudget(8 * MiB, () => {}, STALLED_UPLOAD_MS, time.now);
    const small = budget.open(1024);
    expect(budget.chargeUpTo(small, 24 * 1024)).toBe(true);
    const large = budget.open(6 * MiB);
    expect(budget.chargeUpTo(large, 6 * MiB)).toBe(true);
    time.advance(STALLED_UPLOAD_MS + 1);
    large.receiving = false;
    const newcomer = budget.open(MiB);
    expect(budget.chargeUpTo(newcomer, MiB)).toBe(false);
    expect(small.charged).toBe(24 * 1024);
  });
});

describe('parseCost', () => {
  it('is at least the length, and grows with containers and members, not with string contents', () => {
    const flat = Buffer.from(JSON.stringify({ blob: 'x'.repeat(10_000) }));
    expect(parseCost(flat)).toBe(flat.length + 64 + 16);
    const structure = Buffer.from(`[${Array.from({ length: 1000 }, () => '{}').join(',')}]`);
    expect(parseCost(structure)).toBe(structure.length + 1001 * 64 + 999 * 16);
    // Brackets, commas and colons inside strings (escaped quotes too) are text, not structure.
    const quoted = Buffer.from(JSON.stringify({ a: '{[,:]} \\" {[,:]}', b: 'x\\' }));
    expect(parseCost(quoted)).toBe(quoted.length + 64 + 3 * 16);
  });

  it('counts the structure JSON.parse finds, whatever quotes and backslash runs the strings hold, short or long', () => {
    // Strings built from long plain runs, quotes and backslashes (JSON.stringify escapes them: runs of 1-3
    // backslashes before a quote, escaped or not), and JSON kept inside a string, at every length around
    // the point where a string stops being read byte by byte.
    let seed = 7;
    const random = (below: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed / 2147483648) * below); // the high bits: the low ones of this generator cycle
    };
    const text = (): string => {
      const parts: string[] = [];
      for (let k = random(6); k >= 0; k--) {
        parts.push(['"', '\\', '\\"', '{[,:]}', 'é', 'a'.repeat(random(80))][random(6)] as string);
      }
      return parts.join('');
    };
    const value = (depth: number): unknown => {
      const kind = depth > 3 ? random(3) : random(6);
      if (kind === 0) return text();
      if (kind === 1) return random(1000);
      if (kind === 2) return JSON.stringify({ [text()]: [text(), random(10)] });
      if (kind === 3) return Array.from({ length: random(4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: random(4) }, () => [text(), value(depth + 1)]));
    };
    const structure = (v: unknown): { containers: number; separators: number } => {
      if (typeof v !== 'object' || v === null) return { containers: 0, separators: 0 };
      const members = Array.isArray(v) ? v : Object.values(v);
      // Between n elements n - 1 commas; an object also has a colon per member.
      let separators = Math.max(0, members.length - 1) + (Array.isArray(v) ? 0 : members.length);
      let containers = 1;
      for (const m of members) {
        const inner = structure(m);
        containers += inner.containers;
        separators += inner.separators;
      }
      return { containers, separators };
    };
    for (let round = 0; round < 300; round++) {
      const body = Buffer.from(JSON.stringify(value(0)));
      const { containers, separators } = structure(JSON.parse(body.toString()));
      expect(parseCost(body)).toBe(body.length + containers * 64 + separators * 16);
    }
    // A string never closed, short or long, is text to the end, as JSON.parse would refuse it.
    for (const unclosed of ['{"a":"x{[,:', `{"a":"${'x'.repeat(100)}{[,:`, `{"a":"${'x'.repeat(100)}\\"{[,:`]) {
      expect(parseCost(Buffer.from(unclosed))).toBe(unclosed.length + 64 + 16);
    }
  });

  it('estimates at or above what V8 takes for the shapes that expand most', () => {
    // Measured on Node 24 for 7 MiB bodies: [{},...] 21.7x, [[],...] 13.7x, [0,...] 4.3x.
    const n = 100_000;
    expect(parseCost(Buffer.from(`[${Array(n).fill('{}').join(',')}]`)) / (3 * n)).toBeGreaterThan(21.7);
    expect(parseCost(Buffer.from(`[${Array(n).fill('[]').join(',')}]`)) / (3 * n)).toBeGreaterThan(13.7);
    expect(parseCost(Buffer.from(`[${Array(n).fill('0').join(',')}]`)) / (2 * n)).toBeGreaterThan(4.3);
  });

  it('lets a ~7 MiB UPDATE with 100,000 env entries fit the default large share, and not a 7 MiB [{},...] one', () => {
    const share = (DEFAULT_MAX_INFLIGHT_BODY_BYTES * 3) / 4;
    const env = Array.from({ length: 50_000 }, (_, i) => ({ name: `VAR_${i}`, value: `value-${i}` }));
    const review = Buffer.from(JSON.stringify({ request: { object: { env, pad: 'x'.repeat(2.9 * MiB) }, oldObject: { env } } }));
    expect(review.length).toBeLessThanOrEqual(BODY_LIMIT_BYTES);
    expect(review.length).toBeGreaterThan(6 * MiB);
    expect(parseCost(review)).toBeLessThan(share);
    const bomb = Buffer.from(
      `[${Array(Math.floor((BODY_LIMIT_BYTES - 2) / 3))
        .fill('{}')
        .join(',')}]`,
    );
    expect(parseCost(bomb)).toBeGreaterThan(share);
  });
});

describe('intake flags and timeouts', () => {
  it('parses sizes with Ki, Mi, Gi', () => {
    expect(parseByteSize('48Mi')).toBe(48 * MiB);
    expect(parseByteSize('65536')).toBe(65536);
    expect(parseByteSize('1Gi')).toBe(1024 * MiB);
    for (const bad of ['', '48MB', '-1', '1.5Mi', 'Mi']) expect(parseByteSize(bad)).toBeUndefined();
  });

  it('--max-connections and --max-inflight-body-bytes: defaults, values, refusals', () => {
    expect(parseServeOptions([])).toMatchObject({ maxConnections: DEFAULT_MAX_CONNECTIONS, maxInflightBodyBytes: DEFAULT_MAX_INFLIGHT_BODY_BYTES });
    expect(parseServeOptions(['--max-connections', '100', '--max-inflight-body-bytes', '32Mi'])).toMatchObject({
      maxConnections: 100,
      maxInflightBodyBytes: 32 * MiB,
    });
    for (const args of [
      ['--max-connections', '0'],
      ['--max-connections', 'x'],
      ['--max-inflight-body-bytes', '8Mi'],
      ['--max-inflight-body-bytes', 'lots'],
    ]) {
      expect(() => parseServeOptions(args)).toThrow(UsageError);
    }
  });

  it('bounds requests by kube-apiserver’s longest wait and leaves idle connections to the keep-alive timeout', () => {
    expect(REQUEST_TIMEOUT_MS).toBe(30_000); // timeoutSeconds is at most 30
    expect(HEADERS_TIMEOUT_MS).toBeLessThanOrEqual(REQUEST_TIMEOUT_MS);
    expect(KEEP_ALIVE_TIMEOUT_MS).toBeGreaterThan(90_000); // kube-apiserver keeps idle connections 90 s
  });
});
