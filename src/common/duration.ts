const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
export const DURATION_PATTERN = '^(\\d+(\\.\\d+)?(ms|s|m|h))+$';

// Compiled once: parseDuration reads kube-apiserver's `?timeout=` of every review.
const DURATION = new RegExp(DURATION_PATTERN);

/** Parses a Go-style duration ("10s", "1m30s", "250ms") to milliseconds. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, value = '0', unit = 's'] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(value) * (UNIT_MS[unit] ?? 0);
  }
  return Math.round(total);
}
