/**
 * The Temporal Schedule `rotor/discovery`, which runs the discoverCredentials workflow. It exists
 * while the policy directory holds a `kind: discovery` document (its `every` is the cadence), so a
 * setup without one runs exactly as before. Like the rotation schedules, a hash of its shape in the
 * memo means an unchanged document causes no write.
 */
import { createHash } from 'node:crypto';
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { DiscoveryConfig } from '../config/discovery.js';

/** Also the id a policy named `discovery` would get: such a policy id is not available. */
export const DISCOVERY_SCHEDULE_ID = 'rotor/discovery';
/** One discovery at a time: `rotor discover` and the schedule share it. */
export const DISCOVERY_WORKFLOW_ID = 'rotor-discovery';

export type DiscoveryScheduleChange = 'create' | 'update' | 'delete' | 'unchanged' | 'absent';

/** Makes the discovery schedule match the discovery documents (none: no schedule). */
export async function reconcileDiscoverySchedule(client: Client, config: DiscoveryConfig | null, taskQueue: string): Promise<DiscoveryScheduleChange> {
  const handle = client.schedule.getHandle(DISCOVERY_SCHEDULE_ID);
  const existing = await handle.describe().catch((error: unknown) => {
    if (error instanceof ScheduleNotFoundError) return undefined;
    throw error;
  });
  if (!config) {
    if (!existing) return 'absent';
    await handle.delete();
    return 'delete';
  }
  const hash = createHash('sha256').update(JSON.stringify({ every: config.every, taskQueue })).digest('hex').slice(0, 16);
  if (existing?.memo?.rotorDiscoveryHash === hash) return 'unchanged';
  if (existing) await handle.delete();
  await client.schedule.create({
    scheduleId: DISCOVERY_SCHEDULE_ID,
    spec: { intervals: [{ every: config.every as Duration }] },
    action: { type: 'startWorkflow', workflowType: 'discoverCredentials', workflowId: DISCOVERY_WORKFLOW_ID, taskQueue, args: [] },
    policies: { overlap: 'SKIP', catchupWindow: '1d' },
    memo: { rotorDiscoveryHash: hash },
  });
  return existing ? 'update' : 'create';
}
