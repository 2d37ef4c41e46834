/**
 * The heartbeat timeout of every activity: activities heartbeat every second while they run
 * (activities/heartbeat.ts), so one silent for this long is on a dead worker, and Temporal retries
 * it on another. Workflow code only: a plain constant.
 */
export const ACTIVITY_HEARTBEAT_TIMEOUT = '10s';
