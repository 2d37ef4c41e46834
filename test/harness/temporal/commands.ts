/**
 * RespondWorkflowTaskCompleted: turns the worker's commands into history events and side effects.
 * Effects on other runs (child start, external signal/cancel, continue-as-new) run after all the
 * command events are written, so their result events always come later in history.
 */
import { ActivityTask, normalizeActivityTimeouts } from './activity.js';
import type { Execution } from './execution.js';
import { unimplemented } from './grpc-service.js';
import { api, durationMs, type Payload, type Plain, type temporal } from './proto.js';

const EventType = api.enums.v1.EventType;
const Status = api.enums.v1.WorkflowExecutionStatus;
const CommandType = api.enums.v1.CommandType;
const FailedCause = api.enums.v1.WorkflowTaskFailedCause;

export type CompleteRequest = Plain<temporal.api.workflowservice.v1.IRespondWorkflowTaskCompletedRequest>;
type Command = Plain<temporal.api.command.v1.ICommand>;

const CLOSING_COMMANDS = new Set<number>([
  CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
  CommandType.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION,
  CommandType.COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION,
  CommandType.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
]);

/** Empty or null payloads (e.g. `[]`) remove a search attribute or memo field, as on the real server. */
export function mergePayloadMap(target: Record<string, Payload>, updates: Record<string, Payload> | null | undefined): void {
  for (const [key, payload] of Object.entries(updates ?? {})) {
    const text = payload.data ? Buffer.from(payload.data).toString('utf8') : '';
    if (text === '' || text === 'null' || text === '[]') delete target[key];
    else target[key] = payload;
  }
}

class BadCommand extends Error {
  constructor(
    readonly failedCause: number,
    message: string,
  ) {
    super(message);
  }
}

export function applyWorkflowTaskCompletion(exec: Execution, request: CompleteRequest, identity: string, scheduledEventId: number): void {
  const task = exec.runningWorkflowTask(scheduledEventId);
  const commands = request.commands ?? [];
  // The real server refuses to close a run that has unseen events: the worker must look at them first.
  if (commands.some((c) => CLOSING_COMMANDS.has(c.commandType ?? 0)) && exec.hasBufferedEvents) {
    exec.failWorkflowTask(task, FailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND, undefined, identity);
    return;
  }
  const invalid = commands.map(validate).find((message) => message !== undefined);
  if (invalid) {
    exec.failWorkflowTask(task, invalid.failedCause, { message: invalid.message, applicationFailureInfo: {} }, identity);
    return;
  }
  exec.completeWorkflowTask(task);
  const completedEventId = exec.append({
    eventType: EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    workflowTaskCompletedEventAttributes: {
      scheduledEventId: task.scheduledEventId,
      startedEventId: task.startedEventId,
      identity,
      binaryChecksum: request.binaryChecksum,
      workerVersion: request.workerVersionStamp,
      sdkMetadata: request.sdkMetadata,
      meteringMetadata: request.meteringMetadata,
    },
  }).eventId as number;
  const after: (() => void)[] = [];
  for (const command of commands) {
    if (!exec.isRunning()) break;
    applyCommand(exec, command, completedEventId, identity, after);
  }
  const hadBuffered = exec.hasBufferedEvents;
  exec.flushBuffered();
  if (exec.isRunning() && (hadBuffered || request.forceCreateNewWorkflowTask)) exec.scheduleWorkflowTask();
  for (const action of after) action();
  exec.engine.changed();
}

function validate(command: Command): BadCommand | undefined {
  if (command.commandType === CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK) {
    const a = command.scheduleActivityTaskCommandAttributes;
    if (!a?.activityId || !a.activityType?.name) {
      return new BadCommand(FailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES, 'activity id and type are required');
    }
    if (!normalizeActivityTimeouts(activityTimeouts(a))) {
      return new BadCommand(
        FailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES,
        'A valid StartToClose or ScheduleToCloseTimeout is not set on ScheduleActivityTaskCommand.',
      );
    }
  }
  return undefined;
}

function activityTimeouts(a: Plain<temporal.api.command.v1.IScheduleActivityTaskCommandAttributes>) {
  return {
    scheduleToCloseMs: durationMs(a.scheduleToCloseTimeout),
    scheduleToStartMs: durationMs(a.scheduleToStartTimeout),
    startToCloseMs: durationMs(a.startToCloseTimeout),
    heartbeatMs: durationMs(a.heartbeatTimeout),
  };
}

function applyCommand(exec: Execution, command: Command, completedEventId: number, identity: string, after: (() => void)[]): void {
  const engine = exec.engine;
  switch (command.commandType) {
    case CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK: {
      const a = command.scheduleActivityTaskCommandAttributes!;
      const timeouts = normalizeActivityTimeouts(activityTimeouts(a))!;
      const event = exec.append({
        eventType: EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        activityTaskScheduledEventAttributes: {
          activityId: a.activityId,
          activityType: a.activityType,
          taskQueue: { name: a.taskQueue?.name || exec.taskQueue, kind: api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          header: a.header,
          input: a.input,
          scheduleToCloseTimeout: a.scheduleToCloseTimeout,
          scheduleToStartTimeout: a.scheduleToStartTimeout,
          startToCloseTimeout: a.startToCloseTimeout,
          heartbeatTimeout: a.heartbeatTimeout,
          workflowTaskCompletedEventId: completedEventId,
          retryPolicy: a.retryPolicy,
          useWorkflowBuildId: a.useWorkflowBuildId,
          priority: a.priority,
        },
      });
      const scheduledEventId = event.eventId as number;
      // Dispatch once the whole completion is written, so a fast worker never races the history.
      after.push(() => {
        if (!exec.isRunning()) return;
        const activity = new ActivityTask(exec, scheduledEventId, a, timeouts);
        exec.activities.set(scheduledEventId, activity);
        activity.schedule();
      });
      return;
    }
    case CommandType.COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK: {
      const scheduledEventId = command.requestCancelActivityTaskCommandAttributes?.scheduledEventId ?? 0;
      const event = exec.append({
        eventType: EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
        activityTaskCancelRequestedEventAttributes: { scheduledEventId, workflowTaskCompletedEventId: completedEventId },
      });
      after.push(() => exec.activities.get(scheduledEventId)?.requestCancel(event.eventId as number));
      return;
    }
    case CommandType.COMMAND_TYPE_START_TIMER: {
      const a = command.startTimerCommandAttributes!;
      const timerId = a.timerId ?? '';
      const event = exec.append({
        eventType: EventType.EVENT_TYPE_TIMER_STARTED,
        timerStartedEventAttributes: { timerId, startToFireTimeout: a.startToFireTimeout, workflowTaskCompletedEventId: completedEventId },
      });
      exec.timers.set(timerId, {
        startedEventId: event.eventId as number,
        timer: exec.clock.after(durationMs(a.startToFireTimeout), `timer ${timerId}`, () => exec.fireTimer(timerId)),
      });
      return;
    }
    case CommandType.COMMAND_TYPE_CANCEL_TIMER: {
      const timerId = command.cancelTimerCommandAttributes?.timerId ?? '';
      const state = exec.timers.get(timerId);
      if (!state) return;
      state.timer.cancel();
      if (state.firedPending) state.firedPending.dropped = true;
      exec.timers.delete(timerId);
      exec.append({
        eventType: EventType.EVENT_TYPE_TIMER_CANCELED,
        timerCanceledEventAttributes: { timerId, startedEventId: state.startedEventId, workflowTaskCompletedEventId: completedEventId, identity },
      });
      return;
    }
    case CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION:
      exec.close(Status.WORKFLOW_EXECUTION_STATUS_COMPLETED, {
        eventType: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        workflowExecutionCompletedEventAttributes: {
          result: command.completeWorkflowExecutionCommandAttributes?.result,
          workflowTaskCompletedEventId: completedEventId,
        },
      });
      return;
    case CommandType.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION:
      exec.close(Status.WORKFLOW_EXECUTION_STATUS_FAILED, {
        eventType: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        workflowExecutionFailedEventAttributes: {
          failure: command.failWorkflowExecutionCommandAttributes?.failure,
          retryState: api.enums.v1.RetryState.RETRY_STATE_RETRY_POLICY_NOT_SET,
          workflowTaskCompletedEventId: completedEventId,
        },
      });
      return;
    case CommandType.COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION:
      exec.close(Status.WORKFLOW_EXECUTION_STATUS_CANCELED, {
        eventType: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        workflowExecutionCanceledEventAttributes: {
          details: command.cancelWorkflowExecutionCommandAttributes?.details,
          workflowTaskCompletedEventId: completedEventId,
        },
      });
      return;
    case CommandType.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION: {
      const a = command.continueAsNewWorkflowExecutionCommandAttributes!;
      const newRunId = engine.newRunId();
      exec.close(Status.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW, {
        eventType: EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        workflowExecutionContinuedAsNewEventAttributes: {
          newExecutionRunId: newRunId,
          workflowType: { name: a.workflowType?.name || exec.workflowType },
          taskQueue: { name: a.taskQueue?.name || exec.taskQueue, kind: api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          input: a.input,
          workflowRunTimeout: a.workflowRunTimeout,
          workflowTaskTimeout: a.workflowTaskTimeout,
          workflowTaskCompletedEventId: completedEventId,
          backoffStartInterval: a.backoffStartInterval,
          initiator: a.initiator,
          failure: a.failure,
          lastCompletionResult: a.lastCompletionResult,
          header: a.header,
          memo: a.memo,
          searchAttributes: a.searchAttributes,
        },
      });
      after.push(() => engine.continueAsNew(exec, a, newRunId));
      return;
    }
    case CommandType.COMMAND_TYPE_RECORD_MARKER: {
      const a = command.recordMarkerCommandAttributes!;
      exec.append({
        eventType: EventType.EVENT_TYPE_MARKER_RECORDED,
        markerRecordedEventAttributes: {
          markerName: a.markerName,
          details: a.details,
          header: a.header,
          failure: a.failure,
          workflowTaskCompletedEventId: completedEventId,
        },
      });
      return;
    }
    case CommandType.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION: {
      const a = command.startChildWorkflowExecutionCommandAttributes!;
      const namespace = a.namespace || exec.namespace;
      const event = exec.append({
        eventType: EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
        startChildWorkflowExecutionInitiatedEventAttributes: {
          namespace,
          workflowId: a.workflowId,
          workflowType: a.workflowType,
          taskQueue: { name: a.taskQueue?.name || exec.taskQueue, kind: api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          input: a.input,
          workflowExecutionTimeout: a.workflowExecutionTimeout,
          workflowRunTimeout: a.workflowRunTimeout,
          workflowTaskTimeout: a.workflowTaskTimeout,
          parentClosePolicy: a.parentClosePolicy,
          control: a.control,
          workflowTaskCompletedEventId: completedEventId,
          workflowIdReusePolicy: a.workflowIdReusePolicy,
          retryPolicy: a.retryPolicy,
          cronSchedule: a.cronSchedule,
          header: a.header,
          memo: a.memo,
          searchAttributes: a.searchAttributes,
          priority: a.priority,
        },
      });
      const initiatedEventId = event.eventId as number;
      exec.children.set(initiatedEventId, {
        namespace,
        workflowId: a.workflowId ?? '',
        workflowType: a.workflowType?.name ?? '',
        startedEventId: 0,
        parentClosePolicy: a.parentClosePolicy ?? 0,
      });
      after.push(() => engine.startChild(exec, initiatedEventId, a));
      return;
    }
    case CommandType.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION: {
      const a = command.signalExternalWorkflowExecutionCommandAttributes!;
      const event = exec.append({
        eventType: EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        signalExternalWorkflowExecutionInitiatedEventAttributes: {
          workflowTaskCompletedEventId: completedEventId,
          namespace: a.namespace || exec.namespace,
          workflowExecution: a.execution,
          signalName: a.signalName,
          input: a.input,
          control: a.control,
          childWorkflowOnly: a.childWorkflowOnly,
          header: a.header,
        },
      });
      after.push(() => engine.signalExternal(exec, event.eventId as number, a));
      return;
    }
    case CommandType.COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION: {
      const a = command.requestCancelExternalWorkflowExecutionCommandAttributes!;
      const event = exec.append({
        eventType: EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        requestCancelExternalWorkflowExecutionInitiatedEventAttributes: {
          workflowTaskCompletedEventId: completedEventId,
          namespace: a.namespace || exec.namespace,
          workflowExecution: { workflowId: a.workflowId, runId: a.runId },
          control: a.control,
          childWorkflowOnly: a.childWorkflowOnly,
          reason: a.reason,
        },
      });
      after.push(() => engine.cancelExternal(exec, event.eventId as number, a));
      return;
    }
    case CommandType.COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
      const searchAttributes = command.upsertWorkflowSearchAttributesCommandAttributes?.searchAttributes;
      exec.append({
        eventType: EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        upsertWorkflowSearchAttributesEventAttributes: { workflowTaskCompletedEventId: completedEventId, searchAttributes },
      });
      mergePayloadMap(exec.searchAttributes, searchAttributes?.indexedFields);
      return;
    }
    case CommandType.COMMAND_TYPE_MODIFY_WORKFLOW_PROPERTIES: {
      const upsertedMemo = command.modifyWorkflowPropertiesCommandAttributes?.upsertedMemo;
      exec.append({
        eventType: EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
        workflowPropertiesModifiedEventAttributes: { workflowTaskCompletedEventId: completedEventId, upsertedMemo },
      });
      mergePayloadMap(exec.memo, upsertedMemo?.fields);
      return;
    }
    case CommandType.COMMAND_TYPE_PROTOCOL_MESSAGE:
      // Workflow updates are not supported (UpdateWorkflowExecution answers UNIMPLEMENTED).
      return;
    default:
      throw unimplemented(`command type ${CommandType[command.commandType ?? 0] ?? command.commandType} is not supported by the Rotor Temporal test server`);
  }
}
