/**
 * Where a running rotation stands, for `rotor status`: the workflow's own status query (needs a
 * worker) and, from Temporal's describe (needs none), each step it is running or retrying — the
 * attempt number and the last failure — so a step whose worker died shows as being retried.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { statusQuery } from '../workflows/messages.js';
import type { MaterialStages, RotationStatus } from '../workflows/types.js';
import { humanDuration } from '../lib/human-duration.js';
import type { CredentialRow } from '../store/index.js';
import { rotationWorkflowId } from './rotations.js';

export interface PendingStep {
  activity: string;
  state: 'scheduled' | 'started' | 'cancel requested' | 'paused' | 'unknown';
  attempt: number;
  /** Why the previous attempt failed (e.g. "activity Heartbeat timeout": its worker died). */
  lastFailure?: string;
  lastHeartbeat?: Date;
  nextAttemptAt?: Date;
}

export interface LiveStatus {
  /** The workflow's answer; undefined when no worker answers (e.g. all of them are down). */
  status?: RotationStatus;
  steps: PendingStep[];
}

const STATES: Record<number, PendingStep['state']> = {
  [proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED]: 'scheduled',
  [proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED]: 'started',
  [proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED]: 'cancel requested',
  [proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED]: 'paused',
};

/** How long `rotor status` waits for a worker to answer the status query. */
const QUERY_TIMEOUT_MS = 5000;

export async function liveRotationStatus(client: Client, credentialId: string): Promise<LiveStatus> {
  const handle = client.workflow.getHandle(rotationWorkflowId(credentialId));
  const [status, described] = await Promise.all([
    client.connection.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () => handle.query(statusQuery)).catch(() => undefined),
    handle.describe().catch(() => undefined),
  ]);
  const steps = (described?.raw.pendingActivities ?? []).map(
    (a): PendingStep => ({
      activity: a.activityType?.name ?? 'unknown',
      state: STATES[a.state ?? 0] ?? 'unknown',
      attempt: a.attempt ?? 1,
      ...(a.lastFailure ? { lastFailure: failureText(a.lastFailure) } : {}),
      ...(a.lastHeartbeatTime ? { lastHeartbeat: timestampDate(a.lastHeartbeatTime) } : {}),
      ...(a.nextAttemptScheduleTime ? { nextAttemptAt: timestampDate(a.nextAttemptScheduleTime) } : {}),
    }),
  );
  return { status, steps };
}

/** One line per step: "propagateToDependent: attempt 2 (started), last failure: activity Heartbeat timeout". */
export function describePendingStep(s: PendingStep): string {
  return `${s.activity}: attempt ${s.attempt} (${s.state})${s.lastFailure ? `, last failure: ${s.lastFailure}` : ''}`;
}

function failureText(f: proto.temporal.api.failure.v1.IFailure): string {
  const timeout = f.timeoutFailureInfo?.timeoutType;
  if (timeout !== undefined && timeout !== null) {
    const name = proto.temporal.api.enums.v1.TimeoutType[timeout]?.replace('TIMEOUT_TYPE_', '').toLowerCase().replace(/_/g, '-') ?? 'unknown';
    return `${name} timeout${name === 'heartbeat' ? ' (its worker stopped answering)' : ''}`;
  }
  return f.message ?? 'unknown failure';
}

function timestampDate(t: { seconds?: unknown; nanos?: number | null }): Date {
  return new Date(Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6));
}

/** "grace period since 12:00:05Z (5s ago): waiting 55s more for the old material's grace (…)". */
export function describeLive(live: RotationStatus, now: Date): string {
  const since = new Date(live.since);
  const time = since.toISOString().replace(/\.\d{3}Z$/, 'Z');
  let text = `${live.step} since ${time} (${humanDuration(now.getTime() - since.getTime())} ago)`;
  if (live.waitingFor) {
    const left = live.until ? new Date(live.until).getTime() - now.getTime() : undefined;
    text += left !== undefined ? `: waiting ${humanDuration(left)} more for ${live.waitingFor}` : `: waiting for ${live.waitingFor}`;
  }
  return text;
}

/** Which material is pending, current and previous: the live rotation's view, else the inventory's. */
export function materialStages(credential: CredentialRow, live: RotationStatus | undefined): MaterialStages {
  if (live) return live.materials;
  return { pending: null, current: credential.currentMaterial, previous: null };
}
