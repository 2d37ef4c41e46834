/** Pure parts of the test server: the visibility query language, schedule specs, the virtual clock. */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../harness/temporal/clock.js';
import { jsonPayload, timestamp } from '../harness/temporal/proto.js';
import { CompiledSpec, cronToCalendar, normalizeSpec } from '../harness/temporal/schedule-spec.js';
import { parseVisibilityQuery, type VisibilityRecord } from '../harness/temporal/visibility.js';

const record = (fields: Record<string, unknown>, attrs: Record<string, unknown> = {}): VisibilityRecord => ({
  builtins: { WorkflowId: 'wf-1', WorkflowType: 'rotate', ExecutionStatus: 'Running', StartTime: Date.parse('2030-01-02T00:00:00Z'), ...fields },
  searchAttributes: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, jsonPayload(v)])),
});

describe('visibility queries', () => {
  const run = record({}, { Env: 'prod', Tags: ['a', 'b'], Count: 3 });
  it.each([
    [`WorkflowId = 'wf-1'`, true],
    [`WorkflowId != 'wf-1'`, false],
    [`WorkflowType = "rotate" AND ExecutionStatus = 'Running'`, true],
    [`ExecutionStatus = 'Completed' OR Env = 'prod'`, true],
    [`(ExecutionStatus = 'Completed' OR Env = 'dev') AND WorkflowId = 'wf-1'`, false],
    [`Env IN ('dev', 'prod')`, true],
    [`Env NOT IN ('dev', 'prod')`, false],
    [`Tags = 'b'`, true],
    [`Count >= 3 AND Count < 4`, true],
    [`StartTime > '2030-01-01T00:00:00Z'`, true],
    [`StartTime BETWEEN '2029-01-01T00:00:00Z' AND '2029-12-31T00:00:00Z'`, false],
    [`Missing IS NULL AND Env IS NOT NULL`, true],
    [`WorkflowId STARTS_WITH 'wf-'`, true],
    [`NOT Env = 'prod'`, false],
    [`Env = 'prod' ORDER BY StartTime DESC`, true],
    [``, true],
  ])('%s → %s', (query, expected) => {
    expect(parseVisibilityQuery(query).matches(run)).toBe(expected);
  });

  it('rejects malformed queries', () => {
    expect(() => parseVisibilityQuery(`WorkflowId =`)).toThrow(/invalid query/);
    expect(() => parseVisibilityQuery(`(WorkflowId = 'a'`)).toThrow(/expected '\)'/);
  });

  it('reports GROUP BY', () => {
    expect(parseVisibilityQuery(`GROUP BY ExecutionStatus`).groupBy).toBe('ExecutionStatus');
  });
});

describe('schedule specs', () => {
  const at = (iso: string) => Date.parse(iso);

  it('intervals count from the epoch plus the phase', () => {
    const spec = new CompiledSpec({ interval: [{ interval: { seconds: 3600 }, phase: { seconds: 60 } }] });
    expect(new Date(spec.next(at('2030-01-01T00:30:00Z'))!).toISOString()).toBe('2030-01-01T01:01:00.000Z');
  });

  it('cron strings: fields, steps, names and @daily', () => {
    const weekdays = new CompiledSpec(normalizeSpec({ cronString: ['0 9 * * MON-FRI'] }));
    // 2030-01-05 is a Saturday.
    expect(new Date(weekdays.next(at('2030-01-05T10:00:00Z'))!).toISOString()).toBe('2030-01-07T09:00:00.000Z');
    const every15 = new CompiledSpec(normalizeSpec({ cronString: ['*/15 * * * *'] }));
    expect(new Date(every15.next(at('2030-01-01T00:16:00Z'))!).toISOString()).toBe('2030-01-01T00:30:00.000Z');
    expect(cronToCalendar('@daily').hour).toEqual([{ start: 0, end: 0, step: 1 }]);
  });

  it('calendars honour a time zone, start/end bounds and exclusions', () => {
    const paris = new CompiledSpec({ structuredCalendar: [{ hour: [{ start: 9 }] }], timezoneName: 'Europe/Paris' });
    expect(new Date(paris.next(at('2030-07-01T00:00:00Z'))!).toISOString()).toBe('2030-07-01T07:00:00.000Z');
    const bounded = new CompiledSpec({ interval: [{ interval: { seconds: 86400 } }], endTime: timestamp(at('2030-01-02T12:00:00Z')) });
    expect(bounded.next(at('2030-01-02T00:00:00Z'))).toBeUndefined();
    const noSundays = new CompiledSpec({
      structuredCalendar: [{ hour: [{ start: 12 }] }],
      excludeStructuredCalendar: [{ dayOfWeek: [{ start: 0 }], hour: [{ start: 0, end: 23 }], minute: [{ start: 0, end: 59 }], second: [{ start: 0, end: 59 }] }],
    });
    // 2030-01-06 is a Sunday.
    expect(new Date(noSundays.next(at('2030-01-05T13:00:00Z'))!).toISOString()).toBe('2030-01-07T12:00:00.000Z');
  });

  it('jitter is deterministic and below the bound', () => {
    const spec = new CompiledSpec({ interval: [{ interval: { seconds: 3600 } }], jitter: { seconds: 60 } });
    const j = spec.jitter('s', 1000);
    expect(j).toBe(spec.jitter('s', 1000));
    expect(j).toBeGreaterThanOrEqual(0);
    expect(j).toBeLessThan(60_000);
  });
});

describe('virtual clock', () => {
  it('advance fires timers in order, each at its own time', async () => {
    const clock = new VirtualClock(false, 0, () => true);
    const fired: [string, number][] = [];
    clock.at(2000, 'b', () => fired.push(['b', clock.now()]));
    clock.at(1000, 'a', () => fired.push(['a', clock.now()]));
    clock.at(10_000, 'later', () => fired.push(['later', clock.now()])).cancel();
    await clock.advance(5000);
    expect(fired.map(([name]) => name)).toEqual(['a', 'b']);
    expect(fired[0][1]).toBeGreaterThanOrEqual(1000);
    expect(fired[0][1]).toBeLessThan(2000);
    expect(clock.now()).toBeGreaterThanOrEqual(5000);
    clock.close();
  });

  it('skips only when unlocked and idle', async () => {
    let idle = false;
    const clock = new VirtualClock(true, 0, () => idle);
    let fired = false;
    clock.after(3600_000, 'timer', () => (fired = true));
    clock.unlock();
    await new Promise((resolve) => setImmediate(resolve));
    expect(fired).toBe(false); // busy
    idle = true;
    clock.lock();
    clock.poke();
    await new Promise((resolve) => setImmediate(resolve));
    expect(fired).toBe(false); // locked
    const endWait = clock.beginResultWait();
    await new Promise((resolve) => setImmediate(resolve));
    expect(fired).toBe(true);
    expect(clock.now()).toBeGreaterThanOrEqual(3600_000);
    endWait();
    expect(() => {
      clock.unlock();
      clock.unlock();
    }).toThrow(/more often/);
    clock.close();
  });
});
