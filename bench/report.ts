// The table `npm run bench` prints.

export interface Row {
  scenario: string;
  metric: string;
  baseline: string;
  webhook: string;
  ratio: string;
}

export interface TargetCheck {
  name: string;
  measured: string;
  limit: string;
  met: boolean;
}

function table(header: string[], lines: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const row = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [row(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(row)].join('\n');
}

export function printTable(rows: Row[], targets: TargetCheck[]): void {
  const out = [
    '',
    table(
      ['scenario', 'metric (median of repeats)', 'baseline', 'restore-guard', 'ratio'],
      rows.map((r) => [r.scenario, r.metric, r.baseline, r.webhook, r.ratio]),
    ),
    '',
    table(
      ['target', 'measured', 'met'],
      targets.map((t) => [t.name, t.measured, t.met ? 'yes' : 'NO']),
    ),
    '',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}
