import { describe, expect, it } from 'vitest';
import { msUntilWindowOpens, type MaintenanceWindow } from '../../lib/windows.js';

const at = (iso: string) => new Date(iso);
const HOUR = 3_600_000;

describe('maintenance windows', () => {
  const nightly: MaintenanceWindow = { days: [], start: '02:00', end: '04:00' };

  it('no windows: any time is fine', () => {
    expect(msUntilWindowOpens([], at('2026-11-22T12:00:00Z'))).toBe(0);
  });

  it('inside a window is 0; before it, the time until it opens', () => {
    expect(msUntilWindowOpens([nightly], at('2026-11-22T03:00:00Z'))).toBe(0);
    expect(msUntilWindowOpens([nightly], at('2026-11-22T01:00:00Z'))).toBe(HOUR);
    expect(msUntilWindowOpens([nightly], at('2026-11-22T04:00:00Z'))).toBe(22 * HOUR);
  });

  it('honours days of the week (2026-11-22 is a Sunday)', () => {
    const mondays: MaintenanceWindow = { days: ['mon'], start: '02:00', end: '04:00' };
    expect(msUntilWindowOpens([mondays], at('2026-11-22T03:00:00Z'))).toBe(23 * HOUR);
    expect(msUntilWindowOpens([mondays], at('2026-11-23T03:00:00Z'))).toBe(0);
  });

  it('a window past midnight stays open after midnight', () => {
    const late: MaintenanceWindow = { days: ['sat'], start: '23:00', end: '01:00' };
    expect(msUntilWindowOpens([late], at('2026-11-22T00:30:00Z'))).toBe(0); // Sunday 00:30, opened Saturday
    expect(msUntilWindowOpens([late], at('2026-11-22T01:30:00Z'))).toBe(6 * 24 * HOUR + 21.5 * HOUR);
  });
});
