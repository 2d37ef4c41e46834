/**
 * Schedule checks that need the operator's settings or a cron parser, so a schedule that passes
 * `rotor validate` is one Temporal accepts and runs: cron fields within Temporal's ranges (parsed
 * by croner, in the subset of the syntax Temporal's own parser takes), an expression that fires at
 * all, and no interval (given or implied by a cron) shorter than the operator's minimum or longer
 * than ten years.
 */
import { Cron } from 'croner';
import { formatDuration, MAX_DURATION, MAX_DURATION_MS, parseDuration } from './duration.js';
import type { OperatorSettings } from './operator.js';

/**
 * One cron field as Temporal parses it (service/worker/scheduler/calendar.go): `*`, a value, a
 * range `a-b`, each with an optional `/step`, in a comma list. Values are numbers or three-letter
 * month and day names; croner then checks the ranges. Croner's extensions (L, W, #, ?) are refused
 * because Temporal has none of them.
 */
const CRON_VALUE = '(?:\\d{1,2}|[A-Za-z]{3})';
const CRON_ITEM = `(?:\\*|${CRON_VALUE}(?:-${CRON_VALUE})?)(?:/\\d{1,2})?`;
const CRON_FIELD = new RegExp(`^${CRON_ITEM}(?:,${CRON_ITEM})*$`);
const FIELD_NAMES = ['minute', 'hour', 'day of month', 'month', 'day of week'];

/** How many upcoming runs of a cron are compared to find its shortest gap. */
const CRON_RUNS_CHECKED = 60;

export type ScheduleProblem = [path: string[], message: string];

function tooOften(ms: number, what: string, settings: OperatorSettings): string | undefined {
  if (ms >= settings.minInterval.ms) return undefined;
  return `${what} ${formatDuration(ms)}, shorter than the minimum interval ${settings.minInterval.text} (${settings.minInterval.source}; the operator can lower it, e.g. for tests)`;
}

/** Problems of an interval cadence (`every`), given as policy text (its format and ten-year bound are DurationSchema's). */
export function everyProblems(every: string, settings: OperatorSettings): string | undefined {
  const ms = parseDuration(every);
  return ms === undefined ? undefined : tooOften(ms, 'runs every', settings);
}

/** Problems of a five-field cron expression, or undefined when Temporal will run it as meant. */
export function cronProblems(cron: string, settings: OperatorSettings): string | undefined {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5) return `must be a five-field cron expression like "0 3 * * 1" (minute hour day-of-month month day-of-week), not ${fields.length} fields`;
  const bad = fields.findIndex((f) => !CRON_FIELD.test(f));
  if (bad >= 0) return `must be a five-field cron expression like "0 3 * * 1": the ${FIELD_NAMES[bad]} field "${fields[bad]}" is not *, a value, a range or a step`;
  let job: Cron;
  try {
    // Temporal matches a calendar when every field matches (day of month AND day of week).
    job = new Cron(fields.join(' '), { timezone: 'UTC', paused: true, mode: '5-part', domAndDow: true });
  } catch (error) {
    return `is not a valid cron expression: ${(error as Error).message.replace(/^CronPattern: /, '')}`;
  }
  const runs = job.nextRuns(CRON_RUNS_CHECKED, new Date(Date.UTC(2000, 0, 1)));
  job.stop();
  if (runs.length === 0) return 'never fires (no such date, e.g. the 30th of February)';
  let [shortest, longest] = [Infinity, 0];
  for (let i = 1; i < runs.length; i++) {
    const gap = runs[i]!.getTime() - runs[i - 1]!.getTime();
    [shortest, longest] = [Math.min(shortest, gap), Math.max(longest, gap)];
  }
  if (longest > MAX_DURATION_MS) return `fires more than ${MAX_DURATION} (ten years) apart`;
  return Number.isFinite(shortest) ? tooOften(shortest, 'fires as often as every', settings) : undefined;
}
