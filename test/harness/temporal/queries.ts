/**
 * Workflow queries, routed the legacy way: a query task (a workflow task response carrying `query`
 * and the history so far) goes to a poller of the run's task queue, and the worker answers with
 * RespondQueryTaskCompleted. Nothing is written to history.
 */
import { randomUUID } from 'node:crypto';
import type { Engine } from './engine.js';
import type { Execution } from './execution.js';
import { RpcError } from './grpc-service.js';
import { api, type Plain, type temporal } from './proto.js';
import { encodeToken } from './tokens.js';

type QueryResponse = Plain<temporal.api.workflowservice.v1.IQueryWorkflowResponse>;
type QueryCompletion = Plain<temporal.api.workflowservice.v1.IRespondQueryTaskCompletedRequest>;

/** How long a query waits for a worker before failing with DEADLINE_EXCEEDED. */
const QUERY_TIMEOUT_MS = 20_000;

export class QueryRouter {
  private pending = new Map<string, (completion: QueryCompletion) => void>();

  constructor(private readonly engine: Engine) {}

  async query(exec: Execution, query: Plain<temporal.api.query.v1.IWorkflowQuery>, signal: AbortSignal): Promise<QueryResponse> {
    await this.betweenWorkflowTasks(exec, signal);
    const queryId = randomUUID();
    const answer = new Promise<QueryCompletion | undefined>((resolve) => {
      const timer = setTimeout(() => done(undefined), QUERY_TIMEOUT_MS);
      const done = (completion: QueryCompletion | undefined) => {
        clearTimeout(timer);
        this.pending.delete(queryId);
        signal.removeEventListener('abort', onAbort);
        this.engine.closing.signal.removeEventListener('abort', onAbort);
        resolve(completion);
      };
      const onAbort = () => done(undefined);
      signal.addEventListener('abort', onAbort);
      this.engine.closing.signal.addEventListener('abort', onAbort);
      this.pending.set(queryId, done);
    });
    this.engine.workflowTasks.offer(exec.namespace, exec.taskQueue, () => {
      if (!this.pending.has(queryId)) return undefined;
      // The worker must not see the events of a workflow task still in flight.
      const inFlight = exec.workflowTask?.state === 'started' ? exec.workflowTask.scheduledEventId - 1 : exec.history.length;
      return {
        taskToken: encodeToken({ kind: 'query', namespace: exec.namespace, workflowId: exec.workflowId, runId: exec.runId, eventId: 0, attempt: 1, queryId }),
        workflowExecution: { workflowId: exec.workflowId, runId: exec.runId },
        workflowType: { name: exec.workflowType },
        previousStartedEventId: exec.lastCompletedStartedEventId,
        startedEventId: exec.lastCompletedStartedEventId,
        attempt: 1,
        history: { events: exec.history.slice(0, inFlight) },
        query,
        workflowExecutionTaskQueue: { name: exec.taskQueue, kind: api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        queries: {},
        messages: [],
      };
    });
    const completion = await answer;
    if (!completion) throw new RpcError(4, 'query timed out: no worker answered');
    if (completion.completedType === api.enums.v1.QueryResultType.QUERY_RESULT_TYPE_ANSWERED) {
      return { queryResult: completion.queryResult };
    }
    const message = completion.errorMessage || completion.failure?.message || 'query failed';
    throw new RpcError(3, message, [{ typeName: 'temporal.api.errordetails.v1.QueryFailedFailure', value: { failure: completion.failure } }]);
  }

  /**
   * Waits until the run has been looked at once (before that it has no state to query) and has no
   * workflow task scheduled or running. Like the real server, which holds such a query back, a
   * query task never reaches the worker beside a workflow task of the same run: the SDK core would
   * park it behind that task and, handed an older history than the one it just processed, never
   * answer it.
   */
  private async betweenWorkflowTasks(exec: Execution, signal: AbortSignal): Promise<void> {
    const ready = () => !exec.isRunning() || (exec.lastCompletedStartedEventId > 0 && !exec.workflowTask);
    const deadline = Date.now() + QUERY_TIMEOUT_MS;
    // Re-checked after each wake-up: the completion that woke us may have scheduled the next task.
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0 || signal.aborted) {
        throw new RpcError(4, exec.lastCompletedStartedEventId === 0 ? 'query timed out: no worker has processed the workflow yet' : 'query timed out: the workflow task did not finish');
      }
      await this.engine.waitFor(exec, ready, signal, left);
    }
    if (exec.lastCompletedStartedEventId === 0) throw new RpcError(4, 'query timed out: no worker has processed the workflow yet');
  }

  /** The worker answered a query task; false when nobody waits any more. */
  complete(queryId: string | undefined, completion: QueryCompletion): boolean {
    const done = this.pending.get(queryId ?? '');
    if (!done) return false;
    done(completion);
    return true;
  }
}
