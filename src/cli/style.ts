/** Terminal styling: ANSI colors only when writing to a terminal (and NO_COLOR is not set), plain text otherwise. */
export interface Style {
  ok(text: string): string;
  bad(text: string): string;
  warn(text: string): string;
  bold(text: string): string;
  dim(text: string): string;
}

const paint = (code: number) => (text: string) => `\u001b[${code}m${text}\u001b[0m`;

export const PLAIN: Style = { ok: (t) => t, bad: (t) => t, warn: (t) => t, bold: (t) => t, dim: (t) => t };
export const COLOR: Style = { ok: paint(32), bad: paint(31), warn: paint(33), bold: paint(1), dim: paint(2) };

/** Color when the stream is a terminal and the environment does not ask for none (https://no-color.org). */
export function styleFor(stream: { isTTY?: boolean }, env: Record<string, string | undefined> = process.env): Style {
  return stream.isTTY === true && !env.NO_COLOR ? COLOR : PLAIN;
}

/** Rows as columns padded to their widest cell (the styling goes on after padding, so widths stay right). */
export function table(rows: string[][], styleCell: (row: number, column: number, text: string) => string = (_r, _c, t) => t): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row, r) =>
    row
      .map((cell, c) => styleCell(r, c, c === row.length - 1 ? cell : cell.padEnd(widths[c] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}
