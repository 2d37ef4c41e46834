/**
 * Run daily by the `rotor/reminders` schedule: reminds owners of manual credentials (ones no API
 * can rotate) before they expire. The workflow's clock decides what is due.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ReminderActivities, ReminderOutcome } from '../activities/reminders.js';
import { ACTIVITY_HEARTBEAT_TIMEOUT } from './timeouts.js';

const activities = proxyActivities<ReminderActivities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: ACTIVITY_HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 5, initialInterval: '1m', backoffCoefficient: 2 },
});

export async function remindManualCredentials(): Promise<ReminderOutcome> {
  return activities.sendDueReminders({ now: Date.now() });
}
