/**
 * Schedule specs: cron strings turned into structured calendars (as the real server stores them), and
 * the next matching time of a spec (intervals with phase, structured calendars in a time zone,
 * exclusions, start/end bounds) plus a deterministic jitter.
 */
import { createHash } from 'node:crypto';
import { invalidArgument } from './grpc-service.js';
import { durationMs, timestampMs, type Plain, type temporal } from './proto.js';

export type ScheduleSpec = Plain<temporal.api.schedule.v1.IScheduleSpec>;
type Calendar = Plain<temporal.api.schedule.v1.IStructuredCalendarSpec>;
type Range = Plain<temporal.api.schedule.v1.IRange>;

// ---- cron → structured calendar -----------------------------------------------------------------

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const PREDEFINED: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

function cronField(text: string, min: number, max: number, names: string[] = [], nameBase = 0): Range[] {
  const value = (v: string) => {
    const named = names.indexOf(v.toUpperCase());
    const n = named >= 0 ? named + nameBase : Number(v);
    if (!Number.isInteger(n)) throw invalidArgument(`invalid cron field "${text}"`);
    return n;
  };
  return text.split(',').map((part) => {
    const [span, stepText] = part.split('/');
    const step = stepText ? Number(stepText) : 1;
    if (span === '*' || span === '?') return { start: min, end: max, step };
    const [a, b] = span.split('-');
    const start = value(a);
    return { start, end: b !== undefined ? value(b) : stepText ? max : start, step };
  });
}

/** "m h dom mon dow" (or with seconds first, and optionally a year last), or @daily-style names. */
export function cronToCalendar(cron: string): Calendar {
  const text = PREDEFINED[cron.trim().toLowerCase()] ?? cron.trim();
  const fields = text.split(/\s+/);
  if (fields.length < 5 || fields.length > 7) throw invalidArgument(`invalid cron string "${cron}"`);
  const [second, rest] = fields.length >= 6 ? [fields[0], fields.slice(1)] : ['0', fields];
  const dayOfWeek = cronField(rest[4], 0, 6, DAYS).map((r) => ({ ...r, end: r.end === 7 ? 6 : r.end, start: r.start === 7 ? 0 : r.start }));
  return {
    second: cronField(second, 0, 59),
    minute: cronField(rest[0], 0, 59),
    hour: cronField(rest[1], 0, 23),
    dayOfMonth: cronField(rest[2], 1, 31),
    month: cronField(rest[3], 1, 12, MONTHS, 1),
    year: rest[5] ? cronField(rest[5], 1970, 2999) : [],
    dayOfWeek,
    comment: cron,
  };
}

/** The spec as the real server stores it: cron strings become structured calendars. */
export function normalizeSpec(spec: ScheduleSpec | null | undefined): ScheduleSpec {
  const normalized: ScheduleSpec = { ...spec };
  const crons = normalized.cronString ?? [];
  normalized.structuredCalendar = [...(normalized.structuredCalendar ?? []), ...crons.map(cronToCalendar)];
  normalized.cronString = [];
  return normalized;
}

// ---- matching times -----------------------------------------------------------------------------

interface CompiledCalendar {
  seconds: number[];
  minutes: number[];
  hours: number[];
  daysOfMonth: Set<number>;
  months: Set<number>;
  years: Set<number> | undefined;
  daysOfWeek: Set<number>;
}

function expand(ranges: Range[] | null | undefined, min: number, max: number, fallback: 'all' | 'zero'): number[] {
  if (!ranges?.length) return fallback === 'all' ? Array.from({ length: max - min + 1 }, (_, i) => min + i) : [min];
  const out = new Set<number>();
  for (const r of ranges) {
    const start = r.start ?? 0;
    const end = Math.max(r.end ?? 0, start);
    const step = r.step && r.step > 0 ? r.step : 1;
    for (let v = start; v <= end; v += step) if (v >= min && v <= max) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

function compile(c: Calendar): CompiledCalendar {
  return {
    seconds: expand(c.second, 0, 59, 'zero'),
    minutes: expand(c.minute, 0, 59, 'zero'),
    hours: expand(c.hour, 0, 23, 'zero'),
    daysOfMonth: new Set(expand(c.dayOfMonth, 1, 31, 'all')),
    months: new Set(expand(c.month, 1, 12, 'all')),
    years: c.year?.length ? new Set(expand(c.year, 1970, 9999, 'all')) : undefined,
    daysOfWeek: new Set(expand(c.dayOfWeek, 0, 6, 'all')),
  };
}

/** Offset of a time zone from UTC at an instant, in ms (0 for UTC or no zone). */
function zoneOffset(instant: number, zone: string): number {
  if (!zone || zone === 'UTC') return 0;
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
      .formatToParts(new Date(instant))
      .map((p) => [p.type, Number(p.value)]),
  );
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return wall - Math.floor(instant / 1000) * 1000;
}

function wallToInstant(wallAsUtc: number, zone: string): number {
  const guess = wallAsUtc - zoneOffset(wallAsUtc, zone);
  return wallAsUtc - zoneOffset(guess, zone);
}

const DAY_MS = 24 * 3600_000;
/** How far ahead a calendar is searched (a spec matching nothing in this span has no next time). */
const SEARCH_DAYS = 366 * 5;

function nextCalendarTime(c: CompiledCalendar, after: number, zone: string): number | undefined {
  const startWall = after + zoneOffset(after, zone);
  const firstDay = Math.floor(startWall / DAY_MS) * DAY_MS;
  for (let d = 0; d < SEARCH_DAYS; d++) {
    const day = new Date(firstDay + d * DAY_MS);
    if (c.years && !c.years.has(day.getUTCFullYear())) continue;
    if (!c.months.has(day.getUTCMonth() + 1) || !c.daysOfMonth.has(day.getUTCDate()) || !c.daysOfWeek.has(day.getUTCDay())) continue;
    for (const h of c.hours) {
      for (const m of c.minutes) {
        for (const s of c.seconds) {
          const instant = wallToInstant(day.getTime() + ((h * 60 + m) * 60 + s) * 1000, zone);
          if (instant > after) return instant;
        }
      }
    }
  }
  return undefined;
}

function matchesCalendar(c: CompiledCalendar, instant: number, zone: string): boolean {
  const wall = new Date(instant + zoneOffset(instant, zone));
  return (
    (!c.years || c.years.has(wall.getUTCFullYear())) &&
    c.months.has(wall.getUTCMonth() + 1) &&
    c.daysOfMonth.has(wall.getUTCDate()) &&
    c.daysOfWeek.has(wall.getUTCDay()) &&
    c.hours.includes(wall.getUTCHours()) &&
    c.minutes.includes(wall.getUTCMinutes()) &&
    c.seconds.includes(wall.getUTCSeconds())
  );
}

export class CompiledSpec {
  private readonly calendars: CompiledCalendar[];
  private readonly excluded: CompiledCalendar[];
  private readonly intervals: { every: number; phase: number }[];
  private readonly startTime: number | undefined;
  private readonly endTime: number | undefined;
  private readonly zone: string;
  readonly jitterMs: number;

  constructor(spec: ScheduleSpec) {
    this.calendars = (spec.structuredCalendar ?? []).map(compile);
    this.excluded = (spec.excludeStructuredCalendar ?? []).map(compile);
    this.intervals = (spec.interval ?? [])
      .map((i) => ({ every: durationMs(i.interval), phase: durationMs(i.phase) }))
      .filter((i) => i.every > 0);
    this.startTime = timestampMs(spec.startTime);
    this.endTime = timestampMs(spec.endTime);
    this.zone = spec.timezoneName ?? '';
    this.jitterMs = durationMs(spec.jitter);
    if (this.zone) zoneOffset(0, this.zone); // throws RangeError on an unknown zone
  }

  /** The first nominal time strictly after `after`, or undefined if there is none. */
  next(after: number): number | undefined {
    let from = this.startTime !== undefined ? Math.max(after, this.startTime - 1) : after;
    for (let guard = 0; guard < 10_000; guard++) {
      const candidates = [
        ...this.intervals.map((i) => i.phase + (Math.floor((from - i.phase) / i.every) + 1) * i.every),
        ...this.calendars.map((c) => nextCalendarTime(c, from, this.zone)),
      ].filter((t): t is number => t !== undefined);
      if (!candidates.length) return undefined;
      const next = Math.min(...candidates);
      if (this.endTime !== undefined && next > this.endTime) return undefined;
      if (!this.excluded.some((c) => matchesCalendar(c, next, this.zone))) return next;
      from = next;
    }
    return undefined;
  }

  /** A deterministic delay in [0, jitter) for one nominal time of one schedule. */
  jitter(scheduleId: string, nominal: number): number {
    if (this.jitterMs <= 0) return 0;
    const hash = createHash('sha256').update(`${scheduleId}@${nominal}`).digest();
    return Math.floor((hash.readUInt32BE(0) / 2 ** 32) * this.jitterMs);
  }
}
