/**
 * Text from outside (file names, YAML values, error messages quoting them) made safe to print on a
 * terminal: control characters (C0, DEL, C1, which carry ANSI escape sequences), line and paragraph
 * separators and bidirectional overrides are shown as escapes (`\n`, `\x1b`, `\u202e`), so a file
 * name cannot move the cursor, recolour the screen or fake another line of output.
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => NAMED[c] ?? (c.charCodeAt(0) <= 0xff ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
