/**
 * Schedules on the in-memory server, through the real client: they fire on the virtual clock
 * (advance()), honour pause, trigger, overlap SKIP, update and delete.
 */
import { ScheduleNotFoundError, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startServerEnv, terminateRunning, type ServerEnv } from './setup.js';
import { blocking, scheduled } from './workflows.js';

const START = Date.parse('2030-01-01T00:00:00Z');
const DAY = 24 * 3600_000;

let env: ServerEnv;
beforeAll(async () => {
  env = await startServerEnv({ startTime: START });
});
afterEach(async () => {
  for await (const s of env.client.schedule.list()) await env.client.schedule.getHandle(s.scheduleId).delete();
  await terminateRunning(env);
});
afterAll(async () => {
  await env?.close();
});

function action(workflowId: string, taskQueue = 'schedules'): ScheduleOptionsStartWorkflowAction<typeof scheduled> {
  return { type: 'startWorkflow', workflowType: scheduled, workflowId, taskQueue, args: [workflowId] };
}

async function runsOf(scheduleId: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const run of env.client.workflow.list({ query: `TemporalScheduledById = '${scheduleId}'` })) ids.push(run.workflowId);
  return ids.sort();
}

describe('schedules', () => {
  it('an interval schedule fires on the virtual clock, starting `<workflowId>-<time>` with the schedule search attributes', async () => {
    const handle = await env.client.schedule.create({
      scheduleId: 'every-30d',
      spec: { intervals: [{ every: '30d' }] },
      action: action('monthly'),
      memo: { owner: 'team-a' },
    });
    const described = await handle.describe();
    const due = described.info.nextActionTimes[0];
    expect(due.getTime() - env.server.now()).toBeLessThanOrEqual(30 * DAY);
    expect(described.memo).toEqual({ owner: 'team-a' });
    expect(await runsOf('every-30d')).toEqual([]);

    await env.server.advance('30d');
    const workflowId = `monthly-${due.toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
    expect(await runsOf('every-30d')).toEqual([workflowId]);
    const worker = await env.worker('schedules');
    const result = await worker.runUntil(env.client.workflow.getHandle(workflowId).result());
    expect(result).toMatch(/^monthly at /);
    const run = await env.client.workflow.getHandle(workflowId).describe();
    expect(run.searchAttributes.TemporalScheduledStartTime?.[0]).toEqual(due);
    const after = await handle.describe();
    expect(after.info.numActionsTaken).toBe(1);
    expect(after.info.recentActions[0].action).toMatchObject({ workflow: { workflowId } });
  });

  it('a paused schedule does not fire until unpaused', async () => {
    const handle = await env.client.schedule.create({
      scheduleId: 'paused',
      spec: { intervals: [{ every: '1d' }] },
      action: action('paused-wf'),
      state: { paused: true, note: 'not yet' },
    });
    expect((await handle.describe()).state).toMatchObject({ paused: true, note: 'not yet' });
    await env.server.advance('3d');
    expect(await runsOf('paused')).toEqual([]);
    await handle.unpause('go');
    await env.server.advance('1d');
    expect(await runsOf('paused')).toHaveLength(1);
    const listed = [];
    for await (const s of env.client.schedule.list()) listed.push({ id: s.scheduleId, paused: s.state.paused });
    expect(listed).toEqual([{ id: 'paused', paused: false }]);
  });

  it('trigger starts a workflow at once; overlap SKIP refuses a second while the first runs', async () => {
    const handle = await env.client.schedule.create({
      scheduleId: 'overlap',
      spec: { intervals: [{ every: '1h' }] },
      action: { type: 'startWorkflow', workflowType: blocking, workflowId: 'blocker', taskQueue: 'schedules' },
      policies: { overlap: 'SKIP' },
    });
    await handle.trigger();
    expect(await runsOf('overlap')).toHaveLength(1);
    // The workflow never finishes (no worker, no signal): the next hourly fires are skipped.
    await env.server.advance('2h');
    expect(await runsOf('overlap')).toHaveLength(1);
    const described = await handle.describe();
    expect(described.info.numActionsSkippedOverlap).toBe(2);
    expect(described.info.runningActions).toHaveLength(1);
    // ALLOW_ALL on a manual trigger starts one anyway (a second later, so its id differs).
    await env.server.advance('1s');
    await handle.trigger('ALLOW_ALL');
    expect(await runsOf('overlap')).toHaveLength(2);
  });

  it('update changes the spec; delete stops it', async () => {
    const handle = await env.client.schedule.create({
      scheduleId: 'changing',
      spec: { intervals: [{ every: '30d' }] },
      action: action('changing-wf'),
    });
    await handle.update((previous) => ({ ...previous, spec: { intervals: [{ every: '1d' }] } }));
    const described = await handle.describe();
    expect(described.spec.intervals?.map((i) => i.every)).toEqual([DAY]);
    await env.server.advance('1d');
    expect(await runsOf('changing')).toHaveLength(1);
    await handle.delete();
    await expect(handle.describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    await env.server.advance('2d');
    expect(await runsOf('changing')).toHaveLength(1);
  });

  it('cron strings become calendars and fire at the calendar time', async () => {
    const handle = await env.client.schedule.create({
      scheduleId: 'cron',
      spec: { cronExpressions: ['30 12 * * *'] },
      action: action('cron-wf'),
    });
    const described = await handle.describe();
    expect(described.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 12, end: 12, step: 1 }], minute: [{ start: 30, end: 30, step: 1 }] });
    const due = described.info.nextActionTimes[0];
    expect(due.toISOString()).toMatch(/T12:30:00\.000Z$/);
    await env.server.advance(due.getTime() - env.server.now());
    await eventually(async () => expect(await runsOf('cron')).toEqual([`cron-wf-${due.toISOString().replace(/\.\d{3}Z$/, 'Z')}`]));
  });
});
