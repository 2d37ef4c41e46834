import { printable } from '../lib/printable.js';

/** Prints rows as an aligned table, or as JSON when asked: every listing supports --json. */
export function printRows(rows: Array<Record<string, unknown>>, options: { json?: boolean; columns: string[] }): void {
  if (options.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cells = rows.map((row) => options.columns.map((c) => cell(row[c])));
  const widths = options.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`${[line(options.columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n')}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (value instanceof Date) return value.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return printable(String(value));
}
