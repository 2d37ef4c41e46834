import type { Severity } from './types.js';
import type { AuditResult } from './index.js';

const ANSI: Record<Severity, string> = { critical: '\x1b[1;31m', high: '\x1b[31m', medium: '\x1b[33m', low: '\x1b[36m', info: '\x1b[2m' };
const RESET = '\x1b[0m';

/** The findings as an aligned terminal table; colour only when asked (stdout is a TTY). */
export function renderTable(result: AuditResult, options: { colour: boolean }): string {
  const paint = (severity: Severity, text: string) => (options.colour ? `${ANSI[severity]}${text}${RESET}` : text);
  const summary = `${result.credentials} credentials, ${result.findings.length} findings: ` +
    Object.entries(result.bySeverity).filter(([, n]) => n > 0).map(([s, n]) => paint(s as Severity, `${n} ${s}`)).join(', ');
  if (result.findings.length === 0) return `${result.credentials} credentials, no findings\n`;
  const columns = ['SEVERITY', 'CREDENTIAL', 'OWNER', 'FINDING'];
  const rows = result.findings.map((f) => [f.severity, f.subject, f.owner ?? '-', f.title]);
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const lines = [line(columns)];
  result.findings.forEach((f, i) => {
    const cells = line(rows[i]!);
    lines.push(paint(f.severity, cells.slice(0, widths[0]!)) + cells.slice(widths[0]!));
    lines.push(`${' '.repeat(widths[0]! + 2)}${f.message}`);
  });
  return `${lines.join('\n')}\n\n${summary}\n`;
}
