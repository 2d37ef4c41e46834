import { describe, expect, it } from 'vitest';
import { parsePolicyText, type PolicyProblem } from '../../config/load.js';
import { desiredSchedule, planScheduleChanges } from '../../daemon/schedules.js';
import { registry } from '../../providers/registry.js';

function policy(id: string, extra = ''): string {
  return `
id: ${id}
owner: team-a
purpose: schedule planning test
environment: test
credential: { type: postgres-password, host: 127.0.0.1, database: d, admin: { user: u, password: env:P }, role: r }
store: { type: vault-kv, address: "http://127.0.0.1:1", token: env:T, path: p/${id} }
${extra}`;
}

function desired(yaml: string) {
  const problems: PolicyProblem[] = [];
  const policies = parsePolicyText(yaml, 'f.yaml', registry.catalog, problems);
  expect(problems).toEqual([]);
  return policies.map((p) => desiredSchedule(p, registry, 'rotor'));
}

describe('schedule planning', () => {
  it('creates what is missing, leaves what matches, deletes what no policy wants', () => {
    const [a, b] = desired(`${policy('a')}\n---\n${policy('b')}`);
    const plan = planScheduleChanges([a!, b!], [
      { scheduleId: 'rotor/a', hash: a!.hash, paused: false },
      { scheduleId: 'rotor/gone', hash: 'x', paused: false },
    ]);
    expect(plan.map((c) => [c.scheduleId, c.kind])).toEqual([
      ['rotor/a', 'unchanged'],
      ['rotor/b', 'create'],
      ['rotor/gone', 'delete'],
    ]);
  });

  it('a changed cadence changes the hash; the same policy twice gives the same hash', () => {
    const [before] = desired(policy('a', 'schedule: { every: 30d }'));
    const [same] = desired(policy('a', 'schedule: { every: 30d }'));
    const [after] = desired(policy('a', 'schedule: { every: 7d }'));
    expect(same!.hash).toBe(before!.hash);
    expect(after!.hash).not.toBe(before!.hash);
    expect(planScheduleChanges([after!], [{ scheduleId: 'rotor/a', hash: before!.hash, paused: false }])[0]!.kind).toBe('update');
  });

  it('enabled: false pauses without replacing; enabling again unpauses', () => {
    const [off] = desired(policy('a', 'enabled: false'));
    const [on] = desired(policy('a'));
    expect(off!.hash).toBe(on!.hash);
    expect(planScheduleChanges([off!], [{ scheduleId: 'rotor/a', hash: on!.hash, paused: false }])[0]!.kind).toBe('pause');
    expect(planScheduleChanges([on!], [{ scheduleId: 'rotor/a', hash: on!.hash, paused: true }])[0]!.kind).toBe('unpause');
  });

  it('uses the type default cadence, cron when given, jitter and overlap SKIP', () => {
    const [d] = desired(policy('a', 'schedule: { cron: "0 3 * * 1", jitter: 1h }'));
    expect(d!.options.spec).toEqual({ cronExpressions: ['0 3 * * 1'], jitter: '1h' });
    expect(d!.options.policies?.overlap).toBe('SKIP');
    const [dflt] = desired(policy('b'));
    expect(dflt!.options.spec.intervals).toEqual([{ every: '30d' }]);
  });
});

describe('group staggering', () => {
  it('spreads the schedules of one group across the cadence, deterministically', async () => {
    const { desiredSchedules } = await import('../../daemon/schedules.js');
    const problems: PolicyProblem[] = [];
    const yaml = ['c', 'a', 'b', 'solo'].map((id) => policy(id, id === 'solo' ? 'schedule: { every: 30d }' : 'group: payments\nschedule: { every: 30d }')).join('\n---\n');
    const policies = parsePolicyText(yaml, 'f.yaml', registry.catalog, problems);
    expect(problems).toEqual([]);
    const offsets = Object.fromEntries(desiredSchedules(policies, registry, 'rotor').map((d) => [d.credentialId, d.options.spec.intervals?.[0]?.offset ?? 0]));
    const day = 86_400_000;
    expect(offsets).toEqual({ a: 0, b: 10 * day, c: 20 * day, solo: 0 });
    const again = Object.fromEntries(desiredSchedules([...policies].reverse(), registry, 'rotor').map((d) => [d.credentialId, d.hash]));
    expect(again).toEqual(Object.fromEntries(desiredSchedules(policies, registry, 'rotor').map((d) => [d.credentialId, d.hash])));
  });
});
