/**
 * Durations in the words an operator reads: `1m`, `1h 30m`, `2d 4h` (never "60000 ms"). Pure, so
 * workflow code (status texts) and the CLI share it.
 */
const UNITS: Array<[string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
];

/** The two largest non-zero units, rounded down; under a second reads `0s` (or `<1s` when not zero). */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  if (ms < 1_000) return '<1s';
  const parts: string[] = [];
  let rest = Math.floor(ms);
  for (const [unit, size] of UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      parts.push(`${count}${unit}`);
      rest -= count * size;
    }
    if (parts.length === 2) break;
    // Once a unit is written, only the next one down may follow (1d 2h, never 1d 2m).
    if (parts.length === 1 && count === 0) break;
  }
  return parts.join(' ');
}
