/**
 * Maintenance windows on the official time-skipping server: the launcher a policy's Schedule starts
 * (`scheduledRotation`, started here with the input the Schedule carries) waits on a durable timer
 * until the window opens, then starts exactly one rotation; `outsideWindow: skip` starts none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml, login, servedLogin } from '../harness/db-rotation.js';
import { desiredSchedule } from '../../daemon/schedules.js';
import { registry } from '../../providers/registry.js';
import type { ScheduledRotationResult } from '../../workflows/scheduled.js';

let env: RotorEnv;

beforeAll(async () => {
  env = await startRotorEnv();
  await env.startWorker();
});
afterAll(async () => {
  await env?.close();
});

const hhmm = (d: Date) => d.toISOString().slice(11, 16);

/** The launcher's input exactly as the policy's Schedule would carry it. */
async function launcherInput(id: string, opensAt: Date, outsideWindow: 'delay' | 'skip') {
  const closesAt = new Date(opensAt.getTime() + 3_600_000);
  const extra = `schedule:\n  every: 30d\n  outsideWindow: ${outsideWindow}\n  windows:\n    - start: "${hhmm(opensAt)}"\n      end: "${hhmm(closesAt)}"`;
  const [policy] = await env.usePolicies(dbPolicyYaml(env, id, { role: id.replace(/-/g, '_'), extra }).replace('after: 24h', 'after: 0s'));
  const action = desiredSchedule(policy!, registry, env.taskQueue).options.action;
  if (action.type !== 'startWorkflow') throw new Error('unexpected schedule action');
  return action.args![0];
}

describe('maintenance windows', () => {
  it('a rotation due outside its window waits for the window to open, then runs once', async () => {
    const opensAt = new Date((await env.temporal.now()) + 2 * 3_600_000);
    const input = await launcherInput('window-db', opensAt, 'delay');
    const handle = await env.client.workflow.start('scheduledRotation', { taskQueue: env.taskQueue, workflowId: 'scheduled/window-db', args: [input] });

    const outcome = (await handle.result()) as ScheduledRotationResult;
    expect(outcome.started).toBe(true);
    const runs = await env.store.listRuns('window-db');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ trigger: 'scheduled', outcome: 'succeeded' });
    // Minute precision: the window opens at the start of its minute, not before (server time).
    const rotation = await env.client.workflow.getHandle('rotate/window-db').describe();
    expect(rotation.startTime.getTime()).toBeGreaterThanOrEqual(opensAt.getTime() - 60_000);
    expect(await login(env, await servedLogin(env, 'window-db'))).toBe(true);
  });

  it('outsideWindow: skip starts nothing outside the window', async () => {
    const opensAt = new Date((await env.temporal.now()) + 2 * 3_600_000);
    const input = await launcherInput('window-skip', opensAt, 'skip');
    const outcome = (await env.client.workflow.execute('scheduledRotation', { taskQueue: env.taskQueue, workflowId: 'scheduled/window-skip', args: [input] })) as ScheduledRotationResult;
    expect(outcome).toEqual({ started: false, reason: 'outside the maintenance window' });
    expect(await env.store.listRuns('window-skip')).toHaveLength(0);
  });
});
