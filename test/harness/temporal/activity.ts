/**
 * One scheduled activity of a workflow run: dispatch to its task queue, heartbeats, timeouts and
 * server-side retries. Like the real server, ActivityTaskStarted is written to history only together
 * with the final outcome (completed/failed/timed out/cancelled), carrying the last attempt number.
 */
import { randomUUID } from 'node:crypto';
import type { ClockTimer } from './clock.js';
import type { Execution } from './execution.js';
import { api, duration, timestamp, type Failure, type Header, type Payloads, type temporal, type Plain } from './proto.js';
import { decideRetry, normalizeRetryPolicy, retryPolicyProto, type NormalizedRetryPolicy } from './retry.js';
import { encodeToken } from './tokens.js';

const EventType = api.enums.v1.EventType;
const TimeoutType = api.enums.v1.TimeoutType;
const RetryState = api.enums.v1.RetryState;

export type ActivityTaskResponse = Plain<temporal.api.workflowservice.v1.IPollActivityTaskQueueResponse>;
type ScheduleAttributes = Plain<temporal.api.command.v1.IScheduleActivityTaskCommandAttributes>;

export interface ActivityTimeouts {
  scheduleToCloseMs: number;
  scheduleToStartMs: number;
  startToCloseMs: number;
  heartbeatMs: number;
}

/** The real server's normalisation: schedule-to-close bounds the others; one of it/start-to-close is required. */
export function normalizeActivityTimeouts(t: ActivityTimeouts): ActivityTimeouts | undefined {
  const { scheduleToCloseMs } = t;
  let { scheduleToStartMs, startToCloseMs, heartbeatMs } = t;
  if (scheduleToCloseMs > 0) {
    scheduleToStartMs = scheduleToStartMs > 0 ? Math.min(scheduleToStartMs, scheduleToCloseMs) : scheduleToCloseMs;
    startToCloseMs = startToCloseMs > 0 ? Math.min(startToCloseMs, scheduleToCloseMs) : scheduleToCloseMs;
  } else if (startToCloseMs <= 0) {
    return undefined;
  }
  if (heartbeatMs > 0 && startToCloseMs > 0) heartbeatMs = Math.min(heartbeatMs, startToCloseMs);
  return { scheduleToCloseMs, scheduleToStartMs, startToCloseMs, heartbeatMs };
}

type State = 'scheduled' | 'started' | 'backoff';

export class ActivityTask {
  readonly activityId: string;
  readonly activityType: string;
  readonly taskQueue: string;
  readonly retryPolicy: NormalizedRetryPolicy;
  readonly firstScheduledTime: number;
  state: State = 'scheduled';
  attempt = 1;
  currentAttemptScheduledTime: number;
  startedTime = 0;
  lastWorkerIdentity = '';
  heartbeatDetails: Payloads | undefined;
  lastHeartbeatTime = 0;
  lastFailure: Failure | undefined;
  cancelRequestedEventId = 0;
  private startRequestId = '';
  private attemptTimers: ClockTimer[] = [];
  private scheduleToCloseTimer: ClockTimer | undefined;
  private heartbeatTimer: ClockTimer | undefined;

  constructor(
    private readonly execution: Execution,
    readonly scheduledEventId: number,
    private readonly attributes: ScheduleAttributes,
    readonly timeouts: ActivityTimeouts,
  ) {
    this.activityId = attributes.activityId ?? '';
    this.activityType = attributes.activityType?.name ?? '';
    this.taskQueue = attributes.taskQueue?.name || execution.taskQueue;
    this.retryPolicy = normalizeRetryPolicy(attributes.retryPolicy);
    this.firstScheduledTime = execution.clock.now();
    this.currentAttemptScheduledTime = this.firstScheduledTime;
    if (timeouts.scheduleToCloseMs > 0) {
      this.scheduleToCloseTimer = execution.clock.after(timeouts.scheduleToCloseMs, 'activity schedule-to-close', () =>
        this.timedOut(TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE),
      );
    }
  }

  /** Puts the first attempt on the task queue (once the run has registered this activity). */
  schedule(): void {
    this.dispatch();
  }

  get cancelRequested(): boolean {
    return this.cancelRequestedEventId > 0;
  }

  get expirationTime(): number | undefined {
    return this.timeouts.scheduleToCloseMs > 0 ? this.firstScheduledTime + this.timeouts.scheduleToCloseMs : undefined;
  }

  /** Puts the current attempt on the task queue. */
  private dispatch(): void {
    this.state = 'scheduled';
    this.currentAttemptScheduledTime = this.execution.clock.now();
    const attempt = this.attempt;
    if (this.timeouts.scheduleToStartMs > 0 && this.timeouts.scheduleToStartMs !== this.timeouts.scheduleToCloseMs) {
      this.attemptTimers.push(
        this.execution.clock.after(this.timeouts.scheduleToStartMs, 'activity schedule-to-start', () => {
          if (this.state === 'scheduled' && this.attempt === attempt) this.timedOut(TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START);
        }),
      );
    }
    this.execution.engine.activityTasks.offer(this.execution.namespace, this.taskQueue, (identity) => this.start(identity, attempt));
  }

  private isCurrent(attempt: number): boolean {
    return this.execution.isRunning() && this.execution.activities.get(this.scheduledEventId) === this && this.attempt === attempt;
  }

  private start(identity: string, attempt: number): ActivityTaskResponse | undefined {
    if (!this.isCurrent(attempt) || this.state !== 'scheduled') return undefined;
    const clock = this.execution.clock;
    this.state = 'started';
    this.startedTime = clock.now();
    this.lastWorkerIdentity = identity;
    this.startRequestId = randomUUID();
    this.clearAttemptTimers();
    if (this.timeouts.startToCloseMs > 0) {
      this.attemptTimers.push(clock.after(this.timeouts.startToCloseMs, 'activity start-to-close', () => this.timedOut(TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE)));
    }
    this.armHeartbeatTimer();
    const exec = this.execution;
    return {
      taskToken: encodeToken({ kind: 'activity', namespace: exec.namespace, workflowId: exec.workflowId, runId: exec.runId, eventId: this.scheduledEventId, attempt }),
      workflowNamespace: exec.namespace,
      workflowType: { name: exec.workflowType },
      workflowExecution: { workflowId: exec.workflowId, runId: exec.runId },
      activityType: { name: this.activityType },
      activityId: this.activityId,
      header: this.attributes.header as Header,
      input: this.attributes.input as Payloads,
      heartbeatDetails: this.heartbeatDetails,
      scheduledTime: timestamp(this.firstScheduledTime),
      currentAttemptScheduledTime: timestamp(this.currentAttemptScheduledTime),
      startedTime: timestamp(this.startedTime),
      attempt,
      scheduleToCloseTimeout: duration(this.timeouts.scheduleToCloseMs),
      startToCloseTimeout: duration(this.timeouts.startToCloseMs),
      heartbeatTimeout: duration(this.timeouts.heartbeatMs),
      retryPolicy: retryPolicyProto(this.retryPolicy),
    };
  }

  private armHeartbeatTimer(): void {
    this.heartbeatTimer?.cancel();
    if (this.timeouts.heartbeatMs <= 0) return;
    const attempt = this.attempt;
    this.heartbeatTimer = this.execution.clock.after(this.timeouts.heartbeatMs, 'activity heartbeat', () => {
      if (this.state === 'started' && this.attempt === attempt) this.timedOut(TimeoutType.TIMEOUT_TYPE_HEARTBEAT);
    });
  }

  /** True when a token (attempt) still designates the running attempt. */
  acceptsToken(attempt: number | undefined): boolean {
    return this.state === 'started' && (attempt === undefined || attempt === this.attempt) && this.isCurrent(this.attempt);
  }

  heartbeat(details: Payloads | undefined): boolean {
    if (details) this.heartbeatDetails = details;
    this.lastHeartbeatTime = this.execution.clock.now();
    this.armHeartbeatTimer();
    return this.cancelRequested;
  }

  completed(result: Payloads | undefined, identity: string): void {
    this.finish((startedEventId) => ({
      eventType: EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
      activityTaskCompletedEventAttributes: { result, scheduledEventId: this.scheduledEventId, startedEventId, identity },
    }));
  }

  canceled(details: Payloads | undefined, identity: string): void {
    this.finish((startedEventId) => ({
      eventType: EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
      activityTaskCanceledEventAttributes: {
        details,
        latestCancelRequestedEventId: this.cancelRequestedEventId,
        scheduledEventId: this.scheduledEventId,
        startedEventId,
        identity,
      },
    }));
  }

  failed(failure: Failure, identity: string, lastHeartbeatDetails: Payloads | undefined): void {
    if (lastHeartbeatDetails) this.heartbeatDetails = lastHeartbeatDetails;
    const decision = decideRetry(this.retryPolicy, this.attempt, failure, this.execution.clock.now(), this.expirationTime);
    if (decision.retry && !this.cancelRequested) return this.retryAfter(decision.delayMs, failure);
    const retryState = decision.retry ? RetryState.RETRY_STATE_CANCEL_REQUESTED : decision.retryState;
    this.finish((startedEventId) => ({
      eventType: EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
      activityTaskFailedEventAttributes: { failure, scheduledEventId: this.scheduledEventId, startedEventId, identity, retryState },
    }));
  }

  /** Workflow asked to cancel: an activity not running is cancelled at once, a running one learns it on heartbeat. */
  requestCancel(cancelRequestedEventId: number): void {
    this.cancelRequestedEventId = cancelRequestedEventId;
    if (this.state !== 'started') this.finish(() => ({
      eventType: EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
      activityTaskCanceledEventAttributes: {
        latestCancelRequestedEventId: cancelRequestedEventId,
        scheduledEventId: this.scheduledEventId,
        startedEventId: 0,
      },
    }), false);
  }

  private timedOut(timeoutType: number): void {
    if (!this.execution.isRunning() || this.execution.activities.get(this.scheduledEventId) !== this) return;
    const name = { [TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE]: 'StartToClose', [TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START]: 'ScheduleToStart', [TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE]: 'ScheduleToClose', [TimeoutType.TIMEOUT_TYPE_HEARTBEAT]: 'Heartbeat' }[timeoutType];
    const failure: Failure = {
      message: `activity ${name} timeout`,
      source: 'Server',
      timeoutFailureInfo: { timeoutType, lastHeartbeatDetails: this.heartbeatDetails },
    };
    const retryable = timeoutType === TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE || timeoutType === TimeoutType.TIMEOUT_TYPE_HEARTBEAT;
    let retryState: number = RetryState.RETRY_STATE_TIMEOUT;
    if (retryable) {
      const decision = decideRetry(this.retryPolicy, this.attempt, failure, this.execution.clock.now(), this.expirationTime);
      if (decision.retry && !this.cancelRequested) return this.retryAfter(decision.delayMs, failure);
      if (!decision.retry) retryState = decision.retryState;
    }
    const wasStarted = this.state === 'started';
    this.finish(
      (startedEventId) => ({
        eventType: EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        activityTaskTimedOutEventAttributes: { failure, scheduledEventId: this.scheduledEventId, startedEventId, retryState },
      }),
      wasStarted,
    );
  }

  private retryAfter(delayMs: number, failure: Failure): void {
    this.clearAttemptTimers();
    this.lastFailure = failure;
    this.attempt++;
    this.state = 'backoff';
    this.attemptTimers.push(this.execution.clock.after(delayMs, 'activity retry backoff', () => this.dispatch()));
    this.execution.engine.changed();
  }

  /** Removes the activity and records its outcome (with the started event first when it ran). */
  private finish(outcome: (startedEventId: number) => Plain<temporal.api.history.v1.IHistoryEvent>, writeStarted = true): void {
    this.clearAttemptTimers();
    this.scheduleToCloseTimer?.cancel();
    this.execution.activities.delete(this.scheduledEventId);
    const identity = this.lastWorkerIdentity;
    const attempt = this.attempt;
    const lastFailure = this.lastFailure;
    const requestId = this.startRequestId;
    this.execution.recordExternal(() => {
      let startedEventId = 0;
      if (writeStarted) {
        startedEventId = this.execution.append({
          eventType: EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
          activityTaskStartedEventAttributes: { scheduledEventId: this.scheduledEventId, identity, requestId, attempt, lastFailure },
        }).eventId as number;
      }
      this.execution.append(outcome(startedEventId));
    });
  }

  private clearAttemptTimers(): void {
    for (const timer of this.attemptTimers) timer.cancel();
    this.attemptTimers = [];
    this.heartbeatTimer?.cancel();
    this.heartbeatTimer = undefined;
  }

  /** Stops every timer (the run closed). */
  dispose(): void {
    this.clearAttemptTimers();
    this.scheduleToCloseTimer?.cancel();
  }
}
