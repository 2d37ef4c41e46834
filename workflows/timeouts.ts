/**
 * The heartbeat timeout of every activity: activities heartbeat every second while they run
 * (activities/heartbeat.ts), so one silent for this long is on a dead worker, and Temporal retries
 * it on another. Workflow code only: a plain constant.
 */
export const ACTIVITY_HEARTBEAT_TIMEOUT = '10s';

/** Provider calls of a workflow step: a few retries with backoff; refusals are not retried (non-retryable failures). */
export const STEP_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '2m',
  heartbeatTimeout: ACTIVITY_HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 6 },
} as const;

/** Bookkeeping (store and audit writes) must not fail a workflow for long: it retries harder than provider calls. */
export const BOOKKEEPING_ACTIVITY_OPTIONS = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: ACTIVITY_HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 20 },
} as const;
