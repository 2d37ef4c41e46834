/**
 * Issue 14 item 5: schedules Temporal cannot run (or that would rotate in a loop) are refused at
 * `validate` with file:line: cron fields out of range or not cron at all, expressions that never
 * fire, intervals under the operator's minimum (ROTOR_MIN_INTERVAL, default 1h) or over ten years,
 * and durations finer than a millisecond.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatProblem, loadPolicies } from '../../config/load.js';
import { registry } from '../../providers/registry.js';
import { refusal, tempDir, validPolicy } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
const saved = { ...process.env };
beforeEach(async () => ({ dir, remove } = await tempDir('rotor-schedule-')));
afterEach(async () => {
  process.env = { ...saved };
  await remove();
});

async function withSchedule(schedule: string): Promise<string> {
  await writeFile(join(dir, 'p.yaml'), validPolicy('payments-db', `schedule:\n${schedule}\n`));
  return dir;
}

// The schedule block starts at line 18 of validPolicy; its first field is on line 19.
describe('schedule validation', () => {
  it.each([
    ['  cron: "99 99 99 99 99"', /minute/],
    ['  cron: "x y z w v"', /minute field "x"/],
    ['  cron: "0 3 * * 1 2027"', /five-field/],
    ['  cron: "0 3 L * *"', /day of month field "L"/],
    ['  cron: "0 0 30 2 *"', /never fires/],
    ['  cron: "*/5 * * * *"', /fires as often as every 5m, shorter than the minimum interval 1h \(ROTOR_MIN_INTERVAL/],
    ['  every: 1ms', /shorter than the minimum interval 1h/],
    ['  every: 0.0000001s', /whole number of milliseconds/],
    ['  every: 99999999999999999999d', /at most 3650d/],
    ['  every: 3651d', /at most 3650d/],
  ])('refuses %s at its line', async (schedule, reason) => {
    const problems = await refusal(await withSchedule(schedule));
    expect(problems).toEqual([expect.objectContaining({ line: 19, path: schedule.includes('cron') ? 'schedule.cron' : 'schedule.every', message: expect.stringMatching(reason) })]);
    expect(formatProblem(problems[0]!)).toMatch(/p\.yaml:19: schedule\./);
  });

  it.each(['  cron: "0 3 * * 1"', '  cron: "30 2 1-7 jan,jul mon"', '  cron: "0 */6 * * *"', '  cron: "0 3 * * 7"', '  every: 1h', '  every: 3650d'])('accepts %s', async (schedule) => {
    expect(await loadPolicies(await withSchedule(schedule), registry.catalog)).toHaveLength(1);
  });

  it('bounds every other duration too (grace, jitter)', async () => {
    await writeFile(join(dir, 'p.yaml'), validPolicy('payments-db', 'schedule:\n  jitter: 99999999999999999999d\nrevoke:\n  after: 0.5ms\n'));
    const problems = await refusal(dir);
    expect(problems.map((p) => [p.path, p.line])).toEqual([['schedule.jitter', 19], ['revoke.after', 21]]);
  });

  it('lets the operator lower the minimum for tests with ROTOR_MIN_INTERVAL, and refuses a bad setting by name', async () => {
    process.env.ROTOR_MIN_INTERVAL = '1m';
    expect(await loadPolicies(await withSchedule('  every: 2m'), registry.catalog)).toHaveLength(1);
    expect(await loadPolicies(await withSchedule('  cron: "*/5 * * * *"'), registry.catalog)).toHaveLength(1);
    const [problem] = await refusal(await withSchedule('  every: 30s'));
    expect(problem!.message).toMatch(/minimum interval 1m \(ROTOR_MIN_INTERVAL;/);
    process.env.ROTOR_MIN_INTERVAL = 'soon';
    await expect(loadPolicies(dir, registry.catalog)).rejects.toThrow(/ROTOR_MIN_INTERVAL: "soon" must be a duration/);
  });

  it('applies the minimum to the discovery schedule too', async () => {
    await writeFile(join(dir, 'd.yaml'), 'kind: discovery\nevery: 5m\ntargets: []\n');
    expect(await refusal(dir)).toEqual([expect.objectContaining({ path: 'every', line: 2, message: expect.stringMatching(/minimum interval 1h/) })]);
  });

  it('the documented example policies still validate with the default settings', async () => {
    const docs = fileURLToPath(new URL('../../docs/policies/', import.meta.url));
    delete process.env.ROTOR_MIN_INTERVAL;
    delete process.env.ROTOR_SECRET_REFS_ALLOW;
    expect((await loadPolicies(docs, registry.catalog)).length).toBeGreaterThan(3);
  });
});
