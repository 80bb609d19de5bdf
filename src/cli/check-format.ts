import type { Operation as PatchOperation } from 'fast-json-patch';
import type { CheckReport, DecisionReport } from './check-report.js';
import { table, type Style } from './style.js';

function patchLine(op: PatchOperation): string {
  const value = 'value' in op ? ` ${JSON.stringify(op.value)}` : '';
  const from = 'from' in op ? ` from ${op.from}` : '';
  return `${op.op} ${op.path}${from}${value}`;
}

function decisionWord(report: DecisionReport | null, style: Style): string {
  if (!report) return style.dim('not reached');
  return report.allowed ? style.ok('allowed') : style.bad('denied');
}

/** The report for a terminal: a short table, then the details each webhook gave. */
export function formatCheckText(report: CheckReport, style: Style): string {
  const lines: string[] = [];
  const via = report.user.via === 'SubjectAccessReview' ? '--as, SubjectAccessReview' : 'you, SelfSubjectAccessReview';
  lines.push(
    `${style.bold(report.pod.kind)} ${report.pod.namespace}/${report.pod.name}   ${style.bold('user')} ${report.user.username || '(unknown)'} (${via})`,
  );
  lines.push(`${style.bold('policy')} ${report.policy}`);
  lines.push('');
  const rows = [['WEBHOOK', 'DECISION', 'OUTCOME', 'STATUS']];
  const entries: Array<[string, DecisionReport | null]> = [
    ['mutating', report.mutate],
    ['validating', report.validate],
  ];
  for (const [name, decision] of entries) {
    rows.push([
      name,
      decision ? (decision.allowed ? 'allowed' : 'denied') : 'not reached',
      decision?.outcome ?? '-',
      decision?.code ? `${decision.code} ${decision.reason ?? ''}` : '-',
    ]);
  }
  lines.push(
    ...table(rows, (r, c, text) =>
      r === 0 ? style.bold(text) : c === 1 ? decisionWord(entries[r - 1]?.[1] ?? null, style) + text.slice(text.trimEnd().length) : text,
    ),
  );
  for (const [name, decision] of entries) {
    if (!decision) continue;
    if (decision.message) lines.push('', `${style.bold(`${name}:`)} ${decision.message}`);
    if (decision.patch) {
      lines.push('', style.bold(`${name} patch (JSON Patch, as the API server applies it):`));
      for (const op of decision.patch) lines.push(`  ${patchLine(op)}`);
    }
    for (const warning of decision.warnings) lines.push('', `${style.warn('Warning:')} ${warning}`);
  }
  if (report.differingFields.length > 0) {
    lines.push('', style.bold(`differing fields (${report.differingFields.length}):`));
    for (const path of report.differingFields) lines.push(`  ${path}`);
  }
  lines.push('');
  const result = report.verdict === 'allowed' ? style.ok('ALLOWED') : report.verdict === 'denied' ? style.bad('DENIED') : style.warn('COULD NOT DECIDE');
  lines.push(`${style.bold('result:')} ${result} (exit ${report.exitCode})${report.why ? `: ${report.why}` : ''}`);
  return `${lines.join('\n')}\n`;
}

export function formatCheckJson(report: CheckReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
