import ms from 'ms';
import { z } from 'zod';

/** The longest duration a policy may give (ten years): longer ones are typos, and overflow Temporal's calendar. */
export const MAX_DURATION = '3650d';
export const MAX_DURATION_MS = 3650 * 86_400_000;

/** Parses a duration like `30d`, `24h`, `90m`, `0s` to milliseconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (!/^\d+(\.\d+)?\s*(ms|s|m|h|d|w)$/.test(text.trim())) return undefined;
  const value = ms(text.trim() as ms.StringValue);
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** A duration field of a policy: kept as the text the user wrote (Temporal accepts it as is). */
export const DurationSchema = z
  .string()
  .refine((text) => parseDuration(text) !== undefined, {
    message: 'must be a duration like 90s, 15m, 24h, 30d or 2w',
    abort: true,
  })
  .refine((text) => parseDuration(text)! <= MAX_DURATION_MS, { message: `must be at most ${MAX_DURATION} (ten years)`, abort: true })
  .refine((text) => Number.isInteger(parseDuration(text)), { message: 'must be a whole number of milliseconds', abort: true });

export const PositiveDurationSchema = DurationSchema.refine((text) => (parseDuration(text) ?? 0) > 0, {
  message: 'must be longer than zero',
});

export function durationMs(text: string): number {
  const value = parseDuration(text);
  if (value === undefined) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  return value;
}

/** A duration in the largest unit that divides it: 3600000 → 1h, 90000 → 90s. */
export function formatDuration(msValue: number): string {
  for (const [unit, size] of [['w', 604_800_000], ['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (msValue >= size && msValue % size === 0) return `${msValue / size}${unit}`;
  }
  return `${msValue}ms`;
}
