/**
 * Maintenance windows: weekly time ranges in UTC during which scheduled rotations may start.
 * Pure functions, used by the scheduled-rotation workflow (deterministic: it passes workflow time).
 */
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface MaintenanceWindow {
  /** Days the window opens on; all days when empty. */
  days: Weekday[];
  /** 'HH:MM' UTC. */
  start: string;
  /** 'HH:MM' UTC; earlier than start means the window runs past midnight. */
  end: string;
}

const DAY_MS = 86_400_000;

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

/** 0 when `now` is inside a window (or there are none); otherwise ms until the next one opens. */
export function msUntilWindowOpens(windows: MaintenanceWindow[], now: Date): number {
  if (windows.length === 0) return 0;
  let best = Infinity;
  const dayStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  // Look from yesterday (a window past midnight may still be open) to a week ahead.
  for (let offset = -1; offset <= 7; offset++) {
    const day = dayStart + offset * DAY_MS;
    const weekday = WEEKDAYS[new Date(day).getUTCDay()]!;
    for (const w of windows) {
      if (w.days.length > 0 && !w.days.includes(weekday)) continue;
      const open = day + minutes(w.start) * 60_000;
      let close = day + minutes(w.end) * 60_000;
      if (close <= open) close += DAY_MS;
      const t = now.getTime();
      if (t >= open && t < close) return 0;
      if (open > t) best = Math.min(best, open - t);
    }
  }
  return best;
}
