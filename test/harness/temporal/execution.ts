/**
 * Mutable state of one workflow run: its history (consecutive event ids), the workflow task state
 * machine, timers, activities and children. Events caused from outside (signals, activity results,
 * fired timers...) while a workflow task is running are buffered and written after its completion,
 * as the real server does, so the worker never sees history change under a running task.
 */
import { randomUUID } from 'node:crypto';
import { ActivityTask } from './activity.js';
import type { ClockTimer } from './clock.js';
import type { Engine } from './engine.js';
import { notFound } from './grpc-service.js';
import {
  api,
  duration,
  timestamp,
  type Failure,
  type Header,
  type HistoryEvent,
  type Memo,
  type Payload,
  type Payloads,
  type Plain,
  type RetryPolicy,
  type temporal,
  type WorkflowExecutionInfo,
} from './proto.js';
import { encodeToken } from './tokens.js';

const EventType = api.enums.v1.EventType;
const Status = api.enums.v1.WorkflowExecutionStatus;

export type WorkflowTaskResponse = Plain<temporal.api.workflowservice.v1.IPollWorkflowTaskQueueResponse>;

export interface ExecutionRef {
  namespace: string;
  workflowId: string;
  runId: string;
}

export interface ParentRef extends ExecutionRef {
  initiatedEventId: number;
}

export interface StartParams {
  namespace: string;
  workflowId: string;
  runId: string;
  firstRunId: string;
  workflowType: string;
  taskQueue: string;
  input?: Payloads | null;
  header?: Header | null;
  executionTimeoutMs: number;
  runTimeoutMs: number;
  taskTimeoutMs: number;
  /** Absolute end of the whole chain of runs (execution timeout), if any. */
  expirationTime?: number;
  memo?: Record<string, Payload>;
  searchAttributes?: Record<string, Payload>;
  retryPolicy?: RetryPolicy | null;
  cronSchedule?: string;
  identity?: string;
  requestId?: string;
  parent?: ParentRef;
  parentClosePolicy?: number;
  rootExecution?: ExecutionRef;
  continuedExecutionRunId?: string;
  initiator?: number;
  lastCompletionResult?: Payloads | null;
  continuedFailure?: Failure | null;
  startDelayMs?: number;
  /** SignalWithStart: the signal written right after the started event. */
  signal?: { name: string; input?: Payloads | null; header?: Header | null; identity?: string };
}

interface WorkflowTaskState {
  state: 'scheduled' | 'started';
  attempt: number;
  scheduledTime: number;
  scheduledEventId: number;
  startedEventId: number;
  startedTime: number;
  timeout?: ClockTimer;
}

interface TimerState {
  startedEventId: number;
  timer: ClockTimer;
  /** Fired while a workflow task ran: the TimerFired event waits in the buffer (and a cancel can still drop it). */
  firedPending?: { dropped: boolean };
}

export interface ChildState {
  namespace: string;
  workflowId: string;
  workflowType: string;
  runId?: string;
  startedEventId: number;
  parentClosePolicy: number;
}

export class Execution {
  readonly namespace: string;
  readonly workflowId: string;
  readonly runId: string;
  readonly firstRunId: string;
  readonly workflowType: string;
  readonly taskQueue: string;
  readonly startTime: number;
  readonly executionTime: number;
  readonly params: StartParams;
  readonly history: HistoryEvent[] = [];
  readonly requestIds = new Set<string>();
  readonly activities = new Map<number, ActivityTask>();
  readonly timers = new Map<string, TimerState>();
  readonly children = new Map<number, ChildState>();
  memo: Record<string, Payload>;
  searchAttributes: Record<string, Payload>;
  status: number = Status.WORKFLOW_EXECUTION_STATUS_RUNNING;
  closeTime: number | undefined;
  cancelRequested = false;
  /** Started event id of the last completed workflow task (`previousStartedEventId`). */
  lastCompletedStartedEventId = 0;
  workflowTask: WorkflowTaskState | undefined;
  private workflowTaskAttempt = 1;
  private buffered: (() => void)[] = [];
  private runTimer: ClockTimer | undefined;
  private startDelayTimer: ClockTimer | undefined;
  /** A start delay (workflowStartDelay) holds back the first workflow task. */
  private delayedStart = false;
  private listeners = new Set<() => void>();

  constructor(
    readonly engine: Engine,
    params: StartParams,
  ) {
    this.params = params;
    this.namespace = params.namespace;
    this.workflowId = params.workflowId;
    this.runId = params.runId;
    this.firstRunId = params.firstRunId;
    this.workflowType = params.workflowType;
    this.taskQueue = params.taskQueue;
    this.memo = { ...params.memo };
    this.searchAttributes = { ...params.searchAttributes };
    this.startTime = this.clock.now();
    this.executionTime = this.startTime + (params.startDelayMs ?? 0);
    if (params.requestId) this.requestIds.add(params.requestId);
    this.append({
      eventType: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
      workflowExecutionStartedEventAttributes: {
        workflowType: { name: params.workflowType },
        parentWorkflowNamespace: params.parent?.namespace,
        parentWorkflowExecution: params.parent ? { workflowId: params.parent.workflowId, runId: params.parent.runId } : undefined,
        parentInitiatedEventId: params.parent?.initiatedEventId,
        taskQueue: { name: params.taskQueue, kind: api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        input: params.input,
        workflowExecutionTimeout: duration(params.executionTimeoutMs),
        workflowRunTimeout: duration(params.runTimeoutMs),
        workflowTaskTimeout: duration(params.taskTimeoutMs),
        continuedExecutionRunId: params.continuedExecutionRunId,
        initiator: params.initiator,
        continuedFailure: params.continuedFailure,
        lastCompletionResult: params.lastCompletionResult,
        originalExecutionRunId: params.runId,
        identity: params.identity,
        firstExecutionRunId: params.firstRunId,
        retryPolicy: params.retryPolicy,
        attempt: 1,
        workflowExecutionExpirationTime: params.expirationTime ? timestamp(params.expirationTime) : undefined,
        cronSchedule: params.cronSchedule,
        firstWorkflowTaskBackoff: params.startDelayMs ? duration(params.startDelayMs) : undefined,
        memo: { fields: this.memo },
        searchAttributes: { indexedFields: this.searchAttributes },
        header: params.header,
        workflowId: params.workflowId,
        rootWorkflowExecution: params.rootExecution
          ? { workflowId: params.rootExecution.workflowId, runId: params.rootExecution.runId }
          : { workflowId: params.workflowId, runId: params.runId },
      },
    });
    if (params.signal) {
      this.append({
        eventType: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        workflowExecutionSignaledEventAttributes: {
          signalName: params.signal.name,
          input: params.signal.input,
          header: params.signal.header,
          identity: params.signal.identity,
        },
      });
    }
    const runEnd = [
      params.runTimeoutMs > 0 ? this.startTime + params.runTimeoutMs : Infinity,
      params.expirationTime ?? Infinity,
    ].reduce((a, b) => Math.min(a, b));
    if (runEnd !== Infinity) this.runTimer = this.clock.at(runEnd, 'workflow run timeout', () => this.timedOut());
    if (params.startDelayMs) {
      this.delayedStart = true;
      this.startDelayTimer = this.clock.after(params.startDelayMs, 'workflow start delay', () => {
        this.delayedStart = false;
        this.scheduleWorkflowTask();
      });
    } else {
      this.scheduleWorkflowTask();
    }
  }

  get clock() {
    return this.engine.clock;
  }

  get ref(): ExecutionRef {
    return { namespace: this.namespace, workflowId: this.workflowId, runId: this.runId };
  }

  isRunning(): boolean {
    return this.status === Status.WORKFLOW_EXECUTION_STATUS_RUNNING;
  }

  /** Whether this run has a workflow or activity task scheduled or running (time skipping waits for none). */
  isBusy(): boolean {
    if (!this.isRunning()) return false;
    if (this.workflowTask) return true;
    for (const activity of this.activities.values()) if (activity.state !== 'backoff') return true;
    return false;
  }

  /** Appends an event now, with the next event id. */
  append(event: HistoryEvent): HistoryEvent {
    const full: HistoryEvent = { ...event, eventId: this.history.length + 1, eventTime: timestamp(this.clock.now()), taskId: this.engine.nextTaskId() };
    this.history.push(full);
    for (const listener of [...this.listeners]) listener();
    return full;
  }

  /** Calls `listener` on every new event until the returned function is called. */
  onEvent(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Records something that happened outside the workflow task: written now (and a workflow task
   * scheduled), or buffered until the running workflow task finishes.
   */
  recordExternal(write: () => void): void {
    if (!this.isRunning()) return;
    if (this.workflowTask?.state === 'started') {
      this.buffered.push(write);
      return;
    }
    write();
    this.scheduleWorkflowTask();
    this.engine.changed();
  }

  get hasBufferedEvents(): boolean {
    return this.buffered.length > 0;
  }

  flushBuffered(): void {
    const writes = this.buffered;
    this.buffered = [];
    for (const write of writes) write();
  }

  // ---- workflow tasks -------------------------------------------------------------------------

  scheduleWorkflowTask(): void {
    if (!this.isRunning() || this.workflowTask || this.delayedStart) return;
    const task: WorkflowTaskState = {
      state: 'scheduled',
      attempt: this.workflowTaskAttempt,
      scheduledTime: this.clock.now(),
      scheduledEventId: 0,
      startedEventId: 0,
      startedTime: 0,
    };
    this.workflowTask = task;
    this.engine.workflowTasks.offer(this.namespace, this.taskQueue, (identity) => this.startWorkflowTask(task, identity));
    this.engine.changed();
  }

  /**
   * A poller took the task. The scheduled and started events are written together here, so any
   * event that arrived while the task waited lands before them and is seen by this task.
   */
  private startWorkflowTask(task: WorkflowTaskState, identity: string): WorkflowTaskResponse | undefined {
    if (!this.isRunning() || this.workflowTask !== task || task.state !== 'scheduled') return undefined;
    const scheduled = this.append({
      eventType: EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
      workflowTaskScheduledEventAttributes: {
        taskQueue: { name: this.taskQueue, kind: api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        startToCloseTimeout: duration(this.params.taskTimeoutMs),
        attempt: task.attempt,
      },
    });
    const started = this.append({
      eventType: EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
      workflowTaskStartedEventAttributes: {
        scheduledEventId: scheduled.eventId,
        identity,
        requestId: randomUUID(),
        historySizeBytes: this.history.length * 200,
      },
    });
    task.state = 'started';
    task.scheduledEventId = scheduled.eventId as number;
    task.startedEventId = started.eventId as number;
    task.startedTime = this.clock.now();
    task.timeout = this.clock.after(this.params.taskTimeoutMs, 'workflow task timeout', () => this.workflowTaskTimedOut(task));
    return {
      taskToken: encodeToken({ kind: 'workflow', namespace: this.namespace, workflowId: this.workflowId, runId: this.runId, eventId: task.scheduledEventId, attempt: task.attempt }),
      workflowExecution: { workflowId: this.workflowId, runId: this.runId },
      workflowType: { name: this.workflowType },
      previousStartedEventId: this.lastCompletedStartedEventId,
      startedEventId: task.startedEventId,
      attempt: task.attempt,
      history: { events: [...this.history] },
      workflowExecutionTaskQueue: { name: this.taskQueue, kind: api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      scheduledTime: timestamp(task.scheduledTime),
      startedTime: timestamp(task.startedTime),
      queries: {},
      messages: [],
    };
  }

  /** The running workflow task named by a token, or NOT_FOUND as the real server answers stale tokens. */
  runningWorkflowTask(scheduledEventId: number): WorkflowTaskState {
    if (!this.isRunning()) throw notFound('workflow execution already completed');
    const task = this.workflowTask;
    if (!task || task.state !== 'started' || task.scheduledEventId !== scheduledEventId) throw notFound('workflow task not found');
    return task;
  }

  /** The worker finished the task (successfully): the caller then writes the command events. */
  completeWorkflowTask(task: WorkflowTaskState): void {
    task.timeout?.cancel();
    this.workflowTask = undefined;
    this.workflowTaskAttempt = 1;
    this.lastCompletedStartedEventId = task.startedEventId;
  }

  /** Ends the running task without progress (failed or timed out) and schedules the next attempt. */
  private abandonWorkflowTask(task: WorkflowTaskState, event: HistoryEvent): void {
    task.timeout?.cancel();
    this.append(event);
    this.workflowTask = undefined;
    this.workflowTaskAttempt = task.attempt + 1;
    this.flushBuffered();
    this.scheduleWorkflowTask();
    this.engine.changed();
  }

  failWorkflowTask(task: WorkflowTaskState, cause: number, failure: Failure | null | undefined, identity: string): void {
    this.abandonWorkflowTask(task, {
      eventType: EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
      workflowTaskFailedEventAttributes: { scheduledEventId: task.scheduledEventId, startedEventId: task.startedEventId, cause, failure, identity },
    });
  }

  private workflowTaskTimedOut(task: WorkflowTaskState): void {
    if (this.workflowTask !== task || !this.isRunning()) return;
    this.abandonWorkflowTask(task, {
      eventType: EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
      workflowTaskTimedOutEventAttributes: {
        scheduledEventId: task.scheduledEventId,
        startedEventId: task.startedEventId,
        timeoutType: api.enums.v1.TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE,
      },
    });
  }

  // ---- things that happen to a run from outside ----------------------------------------------

  signal(name: string, input: Payloads | null | undefined, header: Header | null | undefined, identity: string): void {
    this.recordExternal(() =>
      this.append({
        eventType: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        workflowExecutionSignaledEventAttributes: { signalName: name, input, header, identity },
      }),
    );
  }

  requestCancel(reason: string, identity: string, external?: { initiatedEventId: number; execution: ExecutionRef }): void {
    if (this.cancelRequested) return;
    this.cancelRequested = true;
    this.recordExternal(() =>
      this.append({
        eventType: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
        workflowExecutionCancelRequestedEventAttributes: {
          cause: reason,
          identity,
          externalInitiatedEventId: external?.initiatedEventId,
          externalWorkflowExecution: external ? { workflowId: external.execution.workflowId, runId: external.execution.runId } : undefined,
        },
      }),
    );
  }

  terminate(reason: string, details: Payloads | null | undefined, identity: string): void {
    this.close(Status.WORKFLOW_EXECUTION_STATUS_TERMINATED, {
      eventType: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
      workflowExecutionTerminatedEventAttributes: { reason, details, identity },
    });
  }

  private timedOut(): void {
    if (!this.isRunning()) return;
    this.close(Status.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, {
      eventType: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
      workflowExecutionTimedOutEventAttributes: { retryState: api.enums.v1.RetryState.RETRY_STATE_TIMEOUT },
    });
  }

  fireTimer(timerId: string): void {
    const state = this.timers.get(timerId);
    if (!state || !this.isRunning()) return;
    const pending = { dropped: false };
    state.firedPending = pending;
    this.recordExternal(() => {
      if (pending.dropped) return;
      this.timers.delete(timerId);
      this.append({
        eventType: EventType.EVENT_TYPE_TIMER_FIRED,
        timerFiredEventAttributes: { timerId, startedEventId: state.startedEventId },
      });
    });
  }

  childStarted(initiatedEventId: number, runId: string): void {
    const child = this.children.get(initiatedEventId);
    if (!child) return;
    child.runId = runId;
    this.recordExternal(() => {
      child.startedEventId = this.append({
        eventType: EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED,
        childWorkflowExecutionStartedEventAttributes: {
          namespace: child.namespace,
          initiatedEventId,
          workflowExecution: { workflowId: child.workflowId, runId },
          workflowType: { name: child.workflowType },
        },
      }).eventId as number;
    });
  }

  /** A child run closed: the parent gets the matching ChildWorkflowExecution* event. */
  childClosed(initiatedEventId: number, child: Execution): void {
    const state = this.children.get(initiatedEventId);
    if (!state) return;
    this.children.delete(initiatedEventId);
    const close = child.history[child.history.length - 1];
    this.recordExternal(() => {
      const common = {
        namespace: state.namespace,
        workflowExecution: { workflowId: child.workflowId, runId: child.runId },
        workflowType: { name: child.workflowType },
        initiatedEventId,
        startedEventId: state.startedEventId,
      };
      switch (child.status) {
        case Status.WORKFLOW_EXECUTION_STATUS_COMPLETED:
          this.append({
            eventType: EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
            childWorkflowExecutionCompletedEventAttributes: { ...common, result: close.workflowExecutionCompletedEventAttributes?.result },
          });
          break;
        case Status.WORKFLOW_EXECUTION_STATUS_FAILED:
          this.append({
            eventType: EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
            childWorkflowExecutionFailedEventAttributes: {
              ...common,
              failure: close.workflowExecutionFailedEventAttributes?.failure,
              retryState: close.workflowExecutionFailedEventAttributes?.retryState,
            },
          });
          break;
        case Status.WORKFLOW_EXECUTION_STATUS_CANCELED:
          this.append({
            eventType: EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED,
            childWorkflowExecutionCanceledEventAttributes: { ...common, details: close.workflowExecutionCanceledEventAttributes?.details },
          });
          break;
        case Status.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
          this.append({
            eventType: EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
            childWorkflowExecutionTimedOutEventAttributes: { ...common, retryState: api.enums.v1.RetryState.RETRY_STATE_TIMEOUT },
          });
          break;
        default:
          this.append({
            eventType: EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED,
            childWorkflowExecutionTerminatedEventAttributes: common,
          });
      }
    });
  }

  // ---- closing --------------------------------------------------------------------------------

  /** Writes the close event and releases everything the run held. */
  close(status: number, event: HistoryEvent): void {
    if (!this.isRunning()) return;
    // Status first: readers woken by the close event must already see the run closed.
    this.status = status;
    this.closeTime = this.clock.now();
    this.append(event);
    this.workflowTask?.timeout?.cancel();
    this.workflowTask = undefined;
    this.buffered = [];
    this.runTimer?.cancel();
    this.startDelayTimer?.cancel();
    for (const timer of this.timers.values()) timer.timer.cancel();
    for (const activity of this.activities.values()) activity.dispose();
    this.engine.executionClosed(this);
  }

  // ---- visibility -----------------------------------------------------------------------------

  info(): WorkflowExecutionInfo {
    return {
      execution: { workflowId: this.workflowId, runId: this.runId },
      type: { name: this.workflowType },
      startTime: timestamp(this.startTime),
      closeTime: this.closeTime !== undefined ? timestamp(this.closeTime) : undefined,
      status: this.status,
      historyLength: this.history.length,
      parentNamespaceId: this.params.parent?.namespace,
      parentExecution: this.params.parent ? { workflowId: this.params.parent.workflowId, runId: this.params.parent.runId } : undefined,
      executionTime: timestamp(this.executionTime),
      memo: { fields: this.memo } as Memo,
      searchAttributes: { indexedFields: this.searchAttributes },
      taskQueue: this.taskQueue,
      stateTransitionCount: this.history.length,
      historySizeBytes: this.history.length * 200,
      rootExecution: this.params.rootExecution
        ? { workflowId: this.params.rootExecution.workflowId, runId: this.params.rootExecution.runId }
        : { workflowId: this.workflowId, runId: this.runId },
      firstRunId: this.firstRunId,
      executionDuration: this.closeTime !== undefined ? duration(this.closeTime - this.executionTime) : undefined,
    };
  }
}
