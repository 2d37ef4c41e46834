/**
 * Rotor's own recurring jobs as Temporal Schedules, beside the per-credential rotation schedules:
 * `rotor/discovery` runs the discoverCredentials workflow while the policy directory holds a
 * `kind: discovery` document (its `every` is the cadence); `rotor/reminders` runs
 * remindManualCredentials daily while it holds a `kind: manual-credential` document. A setup
 * without either runs exactly as before. Like the rotation schedules, a hash of the schedule's
 * shape in its memo means an unchanged directory causes no write.
 */
import { createHash } from 'node:crypto';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { DiscoveryConfig } from '../config/discovery.js';
import { memoString } from './memo.js';

interface Job {
  scheduleId: string;
  workflowType: string;
  /** One run at a time: a manual start (e.g. `rotor discover`) and the schedule share this id. */
  workflowId: string;
}

export const DISCOVERY_JOB: Job = { scheduleId: 'rotor/discovery', workflowType: 'discoverCredentials', workflowId: 'rotor-discovery' };
export const REMINDERS_JOB: Job = { scheduleId: 'rotor/reminders', workflowType: 'remindManualCredentials', workflowId: 'rotor-reminders' };

/** Schedule ids of the jobs: a policy whose id would give the same schedule id is refused. */
export const JOB_SCHEDULE_IDS: readonly string[] = [DISCOVERY_JOB.scheduleId, REMINDERS_JOB.scheduleId];

/** How often the reminders job looks for manual credentials nearing expiry. */
export const REMINDERS_EVERY = '24h';

export type JobScheduleChange = 'create' | 'update' | 'delete' | 'unchanged' | 'absent';

/** Makes a job's schedule run every `every`, or removes it when `every` is null. */
export async function reconcileJobSchedule(client: Client, job: Job, every: string | null, taskQueue: string): Promise<JobScheduleChange> {
  const handle = client.schedule.getHandle(job.scheduleId);
  // The raw call: only the memo is read, so a schedule the SDK could not decode is still replaced.
  const existing = await client.workflowService.describeSchedule({ namespace: client.options.namespace, scheduleId: job.scheduleId }).then(
    (d) => ({ hash: memoString(d.memo?.fields?.rotorJobHash) }),
    (error: unknown) => {
      if (isGrpcServiceError(error) && error.code === grpcStatus.NOT_FOUND) return undefined;
      throw error;
    },
  );
  if (every === null) {
    if (!existing) return 'absent';
    await handle.delete();
    return 'delete';
  }
  const hash = createHash('sha256').update(JSON.stringify({ every, taskQueue, workflowType: job.workflowType })).digest('hex').slice(0, 16);
  if (existing?.hash === hash) return 'unchanged';
  if (existing) await handle.delete();
  await client.schedule.create({
    scheduleId: job.scheduleId,
    spec: { intervals: [{ every: every as Duration }] },
    action: { type: 'startWorkflow', workflowType: job.workflowType, workflowId: job.workflowId, taskQueue, args: [] },
    policies: { overlap: 'SKIP', catchupWindow: '1d' },
    memo: { rotorJobHash: hash },
  });
  return existing ? 'update' : 'create';
}

/** The discovery schedule matches the discovery documents (none: no schedule). */
export function reconcileDiscoverySchedule(client: Client, config: DiscoveryConfig | null, taskQueue: string): Promise<JobScheduleChange> {
  return reconcileJobSchedule(client, DISCOVERY_JOB, config?.every ?? null, taskQueue);
}

/** The reminders schedule exists while there is a manual credential to remind of. */
export function reconcileReminderSchedule(client: Client, manualCredentials: number, taskQueue: string): Promise<JobScheduleChange> {
  return reconcileJobSchedule(client, REMINDERS_JOB, manualCredentials > 0 ? REMINDERS_EVERY : null, taskQueue);
}
