import ms from 'ms';
import { z } from 'zod';

/** Parses a duration like `30d`, `24h`, `90m`, `0s` to milliseconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (!/^\d+(\.\d+)?\s*(ms|s|m|h|d|w)$/.test(text.trim())) return undefined;
  const value = ms(text.trim() as ms.StringValue);
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** A duration field of a policy: kept as the text the user wrote (Temporal accepts it as is). */
export const DurationSchema = z.string().refine((text) => parseDuration(text) !== undefined, {
  message: 'must be a duration like 90s, 15m, 24h, 30d or 2w',
  abort: true,
});

export const PositiveDurationSchema = DurationSchema.refine((text) => (parseDuration(text) ?? 0) > 0, {
  message: 'must be longer than zero',
});

export function durationMs(text: string): number {
  const value = parseDuration(text);
  if (value === undefined) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  return value;
}
