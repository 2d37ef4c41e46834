/**
 * The worker side of the API: long polls for workflow and activity tasks, their completions,
 * heartbeats, query answers and ShutdownWorker. Sticky queues are accepted but never fed: every
 * workflow task goes to the normal queue with the full history, so sticky polls just time out empty.
 */
import type { ActivityTask } from './activity.js';
import { applyWorkflowTaskCompletion, type CompleteRequest } from './commands.js';
import type { Engine } from './engine.js';
import type { Execution } from './execution.js';
import { notFound, type Handler } from './grpc-service.js';
import type { Failure, Payloads, Plain, temporal } from './proto.js';
import type { QueryRouter } from './queries.js';
import { decodeToken } from './tokens.js';


interface ActivityRef {
  namespace?: string | null;
  workflowId?: string | null;
  runId?: string | null;
  activityId?: string | null;
}

export function taskHandlers(engine: Engine, queries: QueryRouter): Record<string, Handler> {
  /** The running activity a token designates, or NOT_FOUND (stale attempt, closed run...). */
  function activityByToken(bytes: Uint8Array | null | undefined): ActivityTask {
    const token = decodeToken(bytes, 'activity');
    const exec = engine.runById(token.runId);
    const activity = exec?.activities.get(token.eventId);
    if (!exec?.isRunning() || !activity?.acceptsToken(token.attempt)) throw notFound('activity task not found');
    return activity;
  }

  function activityById(ref: ActivityRef): ActivityTask {
    engine.namespace(ref.namespace);
    const exec = engine.findRun(ref.namespace ?? '', ref.workflowId, ref.runId);
    const activity = [...exec.activities.values()].find((a) => a.activityId === ref.activityId);
    if (!exec.isRunning() || !activity?.acceptsToken(undefined)) throw notFound(`activity ${ref.activityId} not found or not running`);
    return activity;
  }

  function workflowTaskRun(bytes: Uint8Array | null | undefined): { exec: Execution; eventId: number } {
    const token = decodeToken(bytes, 'workflow');
    const exec = engine.runById(token.runId);
    if (!exec) throw notFound('workflow execution not found');
    return { exec, eventId: token.eventId };
  }

  return {
    async PollWorkflowTaskQueue(request: Plain<temporal.api.workflowservice.v1.IPollWorkflowTaskQueueRequest>, { signal }) {
      engine.namespace(request.namespace);
      const task = await engine.workflowTasks.poll(request.namespace ?? '', request.taskQueue?.name ?? '', request.identity ?? '', anySignal(signal, engine));
      return task ?? {};
    },

    async RespondWorkflowTaskCompleted(request: CompleteRequest) {
      const { exec, eventId } = workflowTaskRun(request.taskToken);
      applyWorkflowTaskCompletion(exec, request, request.identity ?? '', eventId);
      return {};
    },

    async RespondWorkflowTaskFailed(request: Plain<temporal.api.workflowservice.v1.IRespondWorkflowTaskFailedRequest>) {
      const { exec, eventId } = workflowTaskRun(request.taskToken);
      const task = exec.runningWorkflowTask(eventId);
      exec.failWorkflowTask(task, request.cause ?? 0, request.failure, request.identity ?? '');
      return {};
    },

    async RespondQueryTaskCompleted(request: Plain<temporal.api.workflowservice.v1.IRespondQueryTaskCompletedRequest>) {
      const token = decodeToken(request.taskToken, 'query');
      if (!queries.complete(token.queryId, request)) throw notFound('query not found or already timed out');
      return {};
    },

    async PollActivityTaskQueue(request: Plain<temporal.api.workflowservice.v1.IPollActivityTaskQueueRequest>, { signal }) {
      engine.namespace(request.namespace);
      const task = await engine.activityTasks.poll(request.namespace ?? '', request.taskQueue?.name ?? '', request.identity ?? '', anySignal(signal, engine));
      return task ?? {};
    },

    async RecordActivityTaskHeartbeat(request: Plain<temporal.api.workflowservice.v1.IRecordActivityTaskHeartbeatRequest>) {
      const cancelRequested = activityByToken(request.taskToken).heartbeat(request.details as Payloads | undefined);
      return { cancelRequested, activityPaused: false, activityReset: false };
    },
    async RecordActivityTaskHeartbeatById(request: Plain<temporal.api.workflowservice.v1.IRecordActivityTaskHeartbeatByIdRequest>) {
      const cancelRequested = activityById(request).heartbeat(request.details as Payloads | undefined);
      return { cancelRequested, activityPaused: false, activityReset: false };
    },

    async RespondActivityTaskCompleted(request: Plain<temporal.api.workflowservice.v1.IRespondActivityTaskCompletedRequest>) {
      activityByToken(request.taskToken).completed(request.result as Payloads | undefined, request.identity ?? '');
      return {};
    },
    async RespondActivityTaskCompletedById(request: Plain<temporal.api.workflowservice.v1.IRespondActivityTaskCompletedByIdRequest>) {
      activityById(request).completed(request.result as Payloads | undefined, request.identity ?? '');
      return {};
    },

    async RespondActivityTaskFailed(request: Plain<temporal.api.workflowservice.v1.IRespondActivityTaskFailedRequest>) {
      activityByToken(request.taskToken).failed(request.failure as Failure, request.identity ?? '', request.lastHeartbeatDetails as Payloads | undefined);
      return { failures: [] };
    },
    async RespondActivityTaskFailedById(request: Plain<temporal.api.workflowservice.v1.IRespondActivityTaskFailedByIdRequest>) {
      activityById(request).failed(request.failure as Failure, request.identity ?? '', request.lastHeartbeatDetails as Payloads | undefined);
      return { failures: [] };
    },

    async RespondActivityTaskCanceled(request: Plain<temporal.api.workflowservice.v1.IRespondActivityTaskCanceledRequest>) {
      activityByToken(request.taskToken).canceled(request.details as Payloads | undefined, request.identity ?? '');
      return {};
    },
    async RespondActivityTaskCanceledById(request: Plain<temporal.api.workflowservice.v1.IRespondActivityTaskCanceledByIdRequest>) {
      activityById(request).canceled(request.details as Payloads | undefined, request.identity ?? '');
      return {};
    },

    async ShutdownWorker(request: Plain<temporal.api.workflowservice.v1.IShutdownWorkerRequest>) {
      // Answer this worker's pending polls now so its shutdown never waits for a long poll.
      engine.workflowTasks.releasePollers(request.identity ?? '');
      engine.activityTasks.releasePollers(request.identity ?? '');
      return {};
    },

    async ResetStickyTaskQueue() {
      return {};
    },
  };
}

/** A signal aborted by the caller going away or by the server closing. */
function anySignal(signal: AbortSignal, engine: Engine): AbortSignal {
  return AbortSignal.any([signal, engine.closing.signal]);
}
