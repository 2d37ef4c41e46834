/**
 * How the rotation protocol calls its activities: one proxy per kind of call, each with the
 * timeouts and retries that kind needs. Workflow code only.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { RotationActivities } from '../activities/index.js';
import { ACTIVITY_HEARTBEAT_TIMEOUT, BOOKKEEPING_ACTIVITY_OPTIONS, STEP_ACTIVITY_OPTIONS } from './timeouts.js';

/** Provider calls: a few retries with backoff, then the step fails (and may be rolled back). */
export const steps = proxyActivities<RotationActivities>(STEP_ACTIVITY_OPTIONS);

/** Notifications retry with backoff for a while, then give up: the rotation goes on regardless. */
export const notifications = proxyActivities<RotationActivities>({
  startToCloseTimeout: '15s',
  heartbeatTimeout: ACTIVITY_HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
});

/** Bookkeeping must not fail a rotation for long: it retries harder than provider calls. */
export const bookkeeping = proxyActivities<RotationActivities>(BOOKKEEPING_ACTIVITY_OPTIONS);

/** New material can take a while to work (AWS IAM: seconds): verify retries within the policy's window. */
export function verifyingWithin(timeoutMs: number) {
  return proxyActivities<RotationActivities>({
    startToCloseTimeout: '1m',
    heartbeatTimeout: ACTIVITY_HEARTBEAT_TIMEOUT,
    scheduleToCloseTimeout: timeoutMs,
    retry: { initialInterval: '2s', backoffCoefficient: 1.5, maximumInterval: '30s' },
  });
}
