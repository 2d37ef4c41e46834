/**
 * The client side of the workflow API: start, signal, signal-with-start, query, cancel, terminate,
 * describe, history (paged, long polls) and visibility (list/count).
 */
import type { Engine } from './engine.js';
import { workflowTaskTimeoutMs } from './engine.js';
import type { Execution, StartParams } from './execution.js';
import { invalidArgument, notFound, type Handler } from './grpc-service.js';
import { api, duration, durationMs, jsonPayload, timestamp, type Plain, type temporal } from './proto.js';
import type { QueryRouter } from './queries.js';
import { parseVisibilityQuery, statusName, type VisibilityRecord } from './visibility.js';

const Status = api.enums.v1.WorkflowExecutionStatus;

/** How long a history long poll waits before answering empty (the client polls again). */
const HISTORY_POLL_MS = 15_000;

type StartLike = Plain<temporal.api.workflowservice.v1.IStartWorkflowExecutionRequest> | Plain<temporal.api.workflowservice.v1.ISignalWithStartWorkflowExecutionRequest>;

export function startParams(engine: Engine, request: StartLike): Omit<StartParams, 'runId' | 'firstRunId'> {
  const namespace = engine.namespace(request.namespace).name;
  if (!request.workflowId) throw invalidArgument('WorkflowId is not set on request.');
  if (!request.workflowType?.name) throw invalidArgument('WorkflowType is not set on request.');
  if (!request.taskQueue?.name) throw invalidArgument('TaskQueue is not set on request.');
  const runTimeoutMs = durationMs(request.workflowRunTimeout);
  const executionTimeoutMs = durationMs(request.workflowExecutionTimeout);
  return {
    namespace,
    workflowId: request.workflowId,
    workflowType: request.workflowType.name,
    taskQueue: request.taskQueue.name,
    input: request.input,
    header: request.header,
    executionTimeoutMs,
    runTimeoutMs: executionTimeoutMs > 0 && (runTimeoutMs === 0 || runTimeoutMs > executionTimeoutMs) ? executionTimeoutMs : runTimeoutMs,
    taskTimeoutMs: workflowTaskTimeoutMs(durationMs(request.workflowTaskTimeout), runTimeoutMs),
    expirationTime: executionTimeoutMs > 0 ? engine.clock.now() + executionTimeoutMs : undefined,
    memo: { ...request.memo?.fields },
    searchAttributes: { ...request.searchAttributes?.indexedFields },
    retryPolicy: request.retryPolicy,
    cronSchedule: request.cronSchedule || undefined,
    identity: request.identity ?? '',
    requestId: request.requestId || undefined,
    startDelayMs: durationMs(request.workflowStartDelay),
  };
}

export function visibilityRecord(exec: Execution): VisibilityRecord {
  return {
    builtins: {
      WorkflowId: exec.workflowId,
      RunId: exec.runId,
      WorkflowType: exec.workflowType,
      ExecutionStatus: statusName(exec.status),
      StartTime: exec.startTime,
      ExecutionTime: exec.executionTime,
      CloseTime: exec.closeTime,
      TaskQueue: exec.taskQueue,
      HistoryLength: exec.history.length,
      ParentWorkflowId: exec.params.parent?.workflowId,
    },
    searchAttributes: exec.searchAttributes,
  };
}

interface HistoryPageToken {
  runId: string;
  next: number;
}

export function workflowHandlers(engine: Engine, queries: QueryRouter): Record<string, Handler> {
  /** The run a client request names; NOT_FOUND "already completed" when it must be running. */
  function target(namespace: string | null | undefined, execution: { workflowId?: string | null; runId?: string | null } | null | undefined, mustRun = false): Execution {
    const ns = engine.namespace(namespace).name;
    const exec = engine.findRun(ns, execution?.workflowId, execution?.runId);
    if (mustRun && !exec.isRunning()) throw notFound('workflow execution already completed');
    return exec;
  }

  function matching(namespace: string | null | undefined, query: string | null | undefined): { runs: Execution[]; groupBy?: string } {
    const ns = engine.namespace(namespace).name;
    const parsed = parseVisibilityQuery(query);
    const runs = engine
      .allRuns(ns)
      .filter((exec) => parsed.matches(visibilityRecord(exec)))
      // Newest first, like the real visibility store.
      .sort((a, b) => b.startTime - a.startTime);
    return { runs, groupBy: parsed.groupBy };
  }

  return {
    async StartWorkflowExecution(request: Plain<temporal.api.workflowservice.v1.IStartWorkflowExecutionRequest>) {
      const { exec, started } = engine.startWorkflow(startParams(engine, request), {
        reusePolicy: request.workflowIdReusePolicy ?? undefined,
        conflictPolicy: request.workflowIdConflictPolicy ?? undefined,
      });
      return { runId: exec.runId, started };
    },

    async SignalWithStartWorkflowExecution(request: Plain<temporal.api.workflowservice.v1.ISignalWithStartWorkflowExecutionRequest>) {
      const params = startParams(engine, request);
      const runs = engine.runsOf(params.namespace, params.workflowId);
      const latest = runs[runs.length - 1];
      if (latest?.isRunning()) {
        latest.signal(request.signalName ?? '', request.signalInput, request.header, request.identity ?? '');
        return { runId: latest.runId, started: false };
      }
      const signal = { name: request.signalName ?? '', input: request.signalInput, header: request.header, identity: request.identity ?? '' };
      const { exec } = engine.startWorkflow({ ...params, requestId: undefined, signal }, { reusePolicy: request.workflowIdReusePolicy ?? undefined });
      return { runId: exec.runId, started: true };
    },

    async SignalWorkflowExecution(request: Plain<temporal.api.workflowservice.v1.ISignalWorkflowExecutionRequest>) {
      const exec = target(request.namespace, request.workflowExecution, true);
      exec.signal(request.signalName ?? '', request.input, request.header, request.identity ?? '');
      return {};
    },

    async QueryWorkflow(request: Plain<temporal.api.workflowservice.v1.IQueryWorkflowRequest>, { signal }) {
      const exec = target(request.namespace, request.execution);
      const reject = request.queryRejectCondition ?? 0;
      const rejected =
        (reject === api.enums.v1.QueryRejectCondition.QUERY_REJECT_CONDITION_NOT_OPEN && !exec.isRunning()) ||
        (reject === api.enums.v1.QueryRejectCondition.QUERY_REJECT_CONDITION_NOT_COMPLETED_CLEANLY &&
          !exec.isRunning() &&
          exec.status !== Status.WORKFLOW_EXECUTION_STATUS_COMPLETED);
      if (rejected) return { queryRejected: { status: exec.status } };
      return queries.query(exec, request.query ?? {}, signal);
    },

    async RequestCancelWorkflowExecution(request: Plain<temporal.api.workflowservice.v1.IRequestCancelWorkflowExecutionRequest>) {
      const exec = target(request.namespace, request.workflowExecution, true);
      exec.requestCancel(request.reason ?? '', request.identity ?? '');
      return {};
    },

    async TerminateWorkflowExecution(request: Plain<temporal.api.workflowservice.v1.ITerminateWorkflowExecutionRequest>) {
      const exec = target(request.namespace, request.workflowExecution, true);
      exec.terminate(request.reason ?? '', request.details, request.identity ?? '');
      return {};
    },

    async DescribeWorkflowExecution(request: Plain<temporal.api.workflowservice.v1.IDescribeWorkflowExecutionRequest>) {
      const exec = target(request.namespace, request.execution);
      const task = exec.workflowTask;
      return {
        executionConfig: {
          taskQueue: { name: exec.taskQueue, kind: api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          workflowExecutionTimeout: duration(exec.params.executionTimeoutMs),
          workflowRunTimeout: duration(exec.params.runTimeoutMs),
          defaultWorkflowTaskTimeout: duration(exec.params.taskTimeoutMs),
        },
        workflowExecutionInfo: exec.info(),
        pendingActivities: [...exec.activities.values()].map((a) => ({
          activityId: a.activityId,
          activityType: { name: a.activityType },
          state: a.cancelRequested
            ? api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED
            : a.state === 'started'
              ? api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
              : api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED,
          heartbeatDetails: a.heartbeatDetails,
          lastHeartbeatTime: a.lastHeartbeatTime ? timestamp(a.lastHeartbeatTime) : undefined,
          lastStartedTime: a.startedTime ? timestamp(a.startedTime) : undefined,
          attempt: a.attempt,
          maximumAttempts: a.retryPolicy.maximumAttempts,
          scheduledTime: timestamp(a.currentAttemptScheduledTime),
          expirationTime: a.expirationTime ? timestamp(a.expirationTime) : undefined,
          lastFailure: a.lastFailure,
          lastWorkerIdentity: a.lastWorkerIdentity,
        })),
        pendingChildren: [...exec.children.entries()].map(([initiatedId, child]) => ({
          workflowId: child.workflowId,
          runId: child.runId,
          workflowTypeName: child.workflowType,
          initiatedId,
          parentClosePolicy: child.parentClosePolicy,
        })),
        pendingWorkflowTask: task
          ? {
              state:
                task.state === 'started'
                  ? api.enums.v1.PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED
                  : api.enums.v1.PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED,
              scheduledTime: timestamp(task.scheduledTime),
              originalScheduledTime: timestamp(task.scheduledTime),
              startedTime: task.startedTime ? timestamp(task.startedTime) : undefined,
              attempt: task.attempt,
            }
          : undefined,
      };
    },

    async GetWorkflowExecutionHistory(request: Plain<temporal.api.workflowservice.v1.IGetWorkflowExecutionHistoryRequest>, { signal }) {
      const page = request.nextPageToken?.length ? (JSON.parse(Buffer.from(request.nextPageToken).toString()) as HistoryPageToken) : undefined;
      const exec = target(request.namespace, { workflowId: request.execution?.workflowId, runId: page?.runId || request.execution?.runId });
      const token = (next: number) => Buffer.from(JSON.stringify({ runId: exec.runId, next } satisfies HistoryPageToken));

      if (request.historyEventFilterType === api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT) {
        if (exec.isRunning() && request.waitNewEvent) {
          // A client waiting for the result is what lets virtual time skip ahead.
          const endWait = engine.clock.beginResultWait();
          try {
            await engine.waitFor(exec, () => !exec.isRunning(), signal, HISTORY_POLL_MS);
          } finally {
            endWait();
          }
        }
        if (!exec.isRunning()) return { history: { events: [exec.history[exec.history.length - 1]] } };
        return { history: { events: [] }, nextPageToken: request.waitNewEvent ? token(0) : undefined };
      }

      const first = page?.next ?? 1;
      if (request.waitNewEvent && exec.isRunning() && exec.history.length < first) {
        await engine.waitFor(exec, () => exec.history.length >= first || !exec.isRunning(), signal, HISTORY_POLL_MS);
      }
      const pageSize = request.maximumPageSize && request.maximumPageSize > 0 ? request.maximumPageSize : 1000;
      const events = exec.history.slice(first - 1, first - 1 + pageSize);
      const next = first + events.length;
      const more = next <= exec.history.length || (!!request.waitNewEvent && exec.isRunning());
      return { history: { events }, nextPageToken: more ? token(next) : undefined };
    },

    async ListWorkflowExecutions(request: Plain<temporal.api.workflowservice.v1.IListWorkflowExecutionsRequest>) {
      const { runs } = matching(request.namespace, request.query);
      const offset = request.nextPageToken?.length ? Number(Buffer.from(request.nextPageToken).toString()) : 0;
      const pageSize = request.pageSize && request.pageSize > 0 ? request.pageSize : 1000;
      const page = runs.slice(offset, offset + pageSize);
      const next = offset + page.length;
      return { executions: page.map((e) => e.info()), nextPageToken: next < runs.length ? Buffer.from(String(next)) : undefined };
    },

    async CountWorkflowExecutions(request: Plain<temporal.api.workflowservice.v1.ICountWorkflowExecutionsRequest>) {
      const { runs, groupBy } = matching(request.namespace, request.query);
      if (!groupBy) return { count: runs.length };
      if (groupBy !== 'ExecutionStatus') throw invalidArgument(`GROUP BY is only supported on ExecutionStatus, not ${groupBy}`);
      const counts = new Map<string, number>();
      for (const run of runs) counts.set(statusName(run.status), (counts.get(statusName(run.status)) ?? 0) + 1);
      return {
        count: runs.length,
        groups: [...counts].map(([status, count]) => ({ groupValues: [jsonPayload(status, 'Keyword')], count })),
      };
    },

    async GetSearchAttributes() {
      // Any custom search attribute is accepted without registration; only the built-ins are listed.
      const Type = api.enums.v1.IndexedValueType;
      return {
        keys: {
          WorkflowId: Type.INDEXED_VALUE_TYPE_KEYWORD,
          RunId: Type.INDEXED_VALUE_TYPE_KEYWORD,
          WorkflowType: Type.INDEXED_VALUE_TYPE_KEYWORD,
          ExecutionStatus: Type.INDEXED_VALUE_TYPE_KEYWORD,
          TaskQueue: Type.INDEXED_VALUE_TYPE_KEYWORD,
          StartTime: Type.INDEXED_VALUE_TYPE_DATETIME,
          CloseTime: Type.INDEXED_VALUE_TYPE_DATETIME,
          ExecutionTime: Type.INDEXED_VALUE_TYPE_DATETIME,
          TemporalScheduledById: Type.INDEXED_VALUE_TYPE_KEYWORD,
          TemporalScheduledStartTime: Type.INDEXED_VALUE_TYPE_DATETIME,
        },
      };
    },
  };
}
