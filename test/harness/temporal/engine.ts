/**
 * The server's state: namespaces, every workflow run, the task queues and the clock, plus the
 * operations that span runs (starting with id reuse/conflict policies, children, continue-as-new,
 * external signals and cancels, parent notification on close).
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { ActivityTaskResponse } from './activity.js';
import { VirtualClock } from './clock.js';
import { mergePayloadMap } from './commands.js';
import { Execution, type StartParams, type WorkflowTaskResponse } from './execution.js';
import { alreadyExists, notFound, RpcError } from './grpc-service.js';
import { api, durationMs, type Payload, type Plain, type temporal } from './proto.js';
import { TaskQueues } from './task-queues.js';

const EventType = api.enums.v1.EventType;
const Status = api.enums.v1.WorkflowExecutionStatus;
const ReusePolicy = api.enums.v1.WorkflowIdReusePolicy;
const ConflictPolicy = api.enums.v1.WorkflowIdConflictPolicy;
const ParentClosePolicy = api.enums.v1.ParentClosePolicy;

export interface NamespaceRecord {
  name: string;
  id: string;
  description: string;
  retentionMs: number;
  data: Record<string, string>;
}

export interface StartPolicies {
  reusePolicy?: number;
  conflictPolicy?: number;
}

/** Default and ceiling of the workflow task timeout, as on the real server. */
const DEFAULT_WORKFLOW_TASK_TIMEOUT_MS = 10_000;
const MAX_WORKFLOW_TASK_TIMEOUT_MS = 120_000;

export function workflowTaskTimeoutMs(requested: number, runTimeoutMs: number): number {
  let ms = requested > 0 ? Math.min(requested, MAX_WORKFLOW_TASK_TIMEOUT_MS) : DEFAULT_WORKFLOW_TASK_TIMEOUT_MS;
  if (runTimeoutMs > 0) ms = Math.min(ms, runTimeoutMs);
  return ms;
}

export class Engine {
  readonly clock: VirtualClock;
  readonly workflowTasks = new TaskQueues<WorkflowTaskResponse>();
  readonly activityTasks = new TaskQueues<ActivityTaskResponse>();
  readonly namespaces = new Map<string, NamespaceRecord>();
  /** Aborted on close: every long poll and wait returns at once. */
  readonly closing = new AbortController();
  private readonly runsById = new Map<string, Execution>();
  /** namespace → workflow id → its runs, oldest first. */
  private readonly runsByWorkflow = new Map<string, Map<string, Execution[]>>();
  private readonly closeListeners = new Set<(exec: Execution) => void>();
  private taskId = 1;

  constructor(options: { timeSkipping: boolean; startTime?: number; namespace: string }) {
    // Every long poll listens to this signal; dozens at once are normal.
    setMaxListeners(0, this.closing.signal);
    this.clock = new VirtualClock(options.timeSkipping, options.startTime, () => this.isIdle());
    this.registerNamespace(options.namespace, '', 3 * 24 * 3600_000);
  }

  registerNamespace(name: string, description: string, retentionMs: number, data: Record<string, string> = {}): NamespaceRecord {
    const record = { name, id: randomUUID(), description, retentionMs, data };
    this.namespaces.set(name, record);
    return record;
  }

  /** The namespace, or NOT_FOUND with NamespaceNotFoundFailure (the SDK raises NamespaceNotFoundError). */
  namespace(name: string | null | undefined): NamespaceRecord {
    const record = this.namespaces.get(name ?? '');
    if (!record) {
      throw new RpcError(5, `Namespace ${name} is not found.`, [
        { typeName: 'temporal.api.errordetails.v1.NamespaceNotFoundFailure', value: { namespace: name ?? '' } },
      ]);
    }
    return record;
  }

  nextTaskId(): number {
    return this.taskId++;
  }

  newRunId(): string {
    return randomUUID();
  }

  /** Something changed that may let virtual time move. */
  changed(): void {
    this.clock.poke();
  }

  isIdle(): boolean {
    for (const exec of this.runsById.values()) if (exec.isBusy()) return false;
    return true;
  }

  allRuns(namespace: string): Execution[] {
    return [...this.runsById.values()].filter((e) => e.namespace === namespace);
  }

  runsOf(namespace: string, workflowId: string): Execution[] {
    return this.runsByWorkflow.get(namespace)?.get(workflowId) ?? [];
  }

  /** The run named by id, or the latest run of the workflow when runId is empty; NOT_FOUND otherwise. */
  findRun(namespace: string, workflowId: string | null | undefined, runId?: string | null): Execution {
    const runs = this.runsOf(namespace, workflowId ?? '');
    const exec = runId ? runs.find((r) => r.runId === runId) : runs[runs.length - 1];
    if (!exec) throw notFound(`workflow execution not found for workflow ID "${workflowId}" and run ID "${runId ?? ''}"`);
    return exec;
  }

  runById(runId: string): Execution | undefined {
    return this.runsById.get(runId);
  }

  onClose(listener: (exec: Execution) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /**
   * Starts a run unless the workflow id policies forbid it. A request id seen before returns the run it
   * started (retries of the same request are not duplicates).
   */
  startWorkflow(params: Omit<StartParams, 'runId' | 'firstRunId'> & { runId?: string }, policies: StartPolicies = {}): { exec: Execution; started: boolean } {
    const runs = this.runsOf(params.namespace, params.workflowId);
    if (params.requestId) {
      const same = runs.find((r) => r.requestIds.has(params.requestId!));
      if (same) return { exec: same, started: true };
    }
    const latest = runs[runs.length - 1];
    const reuse = policies.reusePolicy || ReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE;
    if (latest?.isRunning()) {
      let conflict = policies.conflictPolicy || ConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_FAIL;
      if (reuse === ReusePolicy.WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING) conflict = ConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING;
      if (conflict === ConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING) {
        if (params.requestId) latest.requestIds.add(params.requestId);
        return { exec: latest, started: false };
      }
      if (conflict === ConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING) {
        latest.terminate('terminated by WorkflowIdConflictPolicy TERMINATE_EXISTING', undefined, params.identity ?? '');
      } else {
        throw this.alreadyStarted(latest, params.requestId, `Workflow execution is already running. WorkflowId: ${latest.workflowId}, RunId: ${latest.runId}.`);
      }
    } else if (latest) {
      const completed = latest.status === Status.WORKFLOW_EXECUTION_STATUS_COMPLETED;
      if (reuse === ReusePolicy.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE) {
        throw this.alreadyStarted(latest, params.requestId, `Workflow execution already finished and Workflow ID reuse policy is REJECT_DUPLICATE. WorkflowId: ${latest.workflowId}, RunId: ${latest.runId}.`);
      }
      if (reuse === ReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY && completed) {
        throw this.alreadyStarted(latest, params.requestId, `Workflow execution already finished successfully and Workflow ID reuse policy allows only failed runs. WorkflowId: ${latest.workflowId}, RunId: ${latest.runId}.`);
      }
    }
    const runId = params.runId ?? this.newRunId();
    return { exec: this.createRun({ ...params, runId, firstRunId: runId }), started: true };
  }

  private alreadyStarted(existing: Execution, requestId: string | undefined, message: string): RpcError {
    return alreadyExists(message, [
      {
        typeName: 'temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure',
        value: { startRequestId: requestId ?? '', runId: existing.runId },
      },
    ]);
  }

  createRun(params: StartParams): Execution {
    let byId = this.runsByWorkflow.get(params.namespace);
    if (!byId) this.runsByWorkflow.set(params.namespace, (byId = new Map()));
    const runs = byId.get(params.workflowId) ?? [];
    byId.set(params.workflowId, runs);
    const exec = new Execution(this, params);
    runs.push(exec);
    this.runsById.set(exec.runId, exec);
    this.changed();
    return exec;
  }

  /** A run closed: wake readers, tell the parent, apply the parent close policy to children. */
  executionClosed(exec: Execution): void {
    const parent = exec.params.parent;
    if (parent && exec.status !== Status.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW) {
      this.runById(parent.runId)?.childClosed(parent.initiatedEventId, exec);
    }
    if (exec.status !== Status.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW) {
      for (const child of exec.children.values()) {
        if (!child.runId) continue;
        const running = this.runsOf(child.namespace, child.workflowId).find((r) => r.isRunning());
        if (!running) continue;
        if (child.parentClosePolicy === ParentClosePolicy.PARENT_CLOSE_POLICY_ABANDON) continue;
        if (child.parentClosePolicy === ParentClosePolicy.PARENT_CLOSE_POLICY_REQUEST_CANCEL) running.requestCancel('by parent close policy', 'server');
        else running.terminate('by parent close policy', undefined, 'server');
      }
    }
    for (const listener of [...this.closeListeners]) listener(exec);
    this.changed();
  }

  startChild(parent: Execution, initiatedEventId: number, a: Plain<temporal.api.command.v1.IStartChildWorkflowExecutionCommandAttributes>): void {
    const namespace = a.namespace || parent.namespace;
    const runTimeoutMs = durationMs(a.workflowRunTimeout);
    const executionTimeoutMs = durationMs(a.workflowExecutionTimeout);
    try {
      const { exec } = this.startWorkflow(
        {
          namespace,
          workflowId: a.workflowId ?? '',
          workflowType: a.workflowType?.name ?? '',
          taskQueue: a.taskQueue?.name || parent.taskQueue,
          input: a.input,
          header: a.header,
          executionTimeoutMs,
          runTimeoutMs,
          taskTimeoutMs: workflowTaskTimeoutMs(durationMs(a.workflowTaskTimeout), runTimeoutMs),
          expirationTime: executionTimeoutMs > 0 ? this.clock.now() + executionTimeoutMs : undefined,
          memo: { ...a.memo?.fields },
          searchAttributes: { ...a.searchAttributes?.indexedFields },
          retryPolicy: a.retryPolicy,
          cronSchedule: a.cronSchedule ?? undefined,
          parent: { ...parent.ref, initiatedEventId },
          parentClosePolicy: a.parentClosePolicy ?? undefined,
          rootExecution: parent.params.rootExecution ?? parent.ref,
          identity: '',
        },
        { reusePolicy: a.workflowIdReusePolicy ?? undefined },
      );
      parent.childStarted(initiatedEventId, exec.runId);
    } catch (error) {
      if (!(error instanceof RpcError)) throw error;
      parent.children.delete(initiatedEventId);
      parent.recordExternal(() =>
        parent.append({
          eventType: EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED,
          startChildWorkflowExecutionFailedEventAttributes: {
            namespace,
            workflowId: a.workflowId,
            workflowType: a.workflowType,
            cause: api.enums.v1.StartChildWorkflowExecutionFailedCause.START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS,
            control: a.control,
            initiatedEventId,
          },
        }),
      );
    }
  }

  continueAsNew(previous: Execution, a: Plain<temporal.api.command.v1.IContinueAsNewWorkflowExecutionCommandAttributes>, runId: string): void {
    const p = previous.params;
    const runTimeoutMs = durationMs(a.workflowRunTimeout) || p.runTimeoutMs;
    const memo = { ...previous.memo };
    const searchAttributes = { ...previous.searchAttributes };
    if (a.memo) mergePayloadMap(memo, a.memo.fields);
    if (a.searchAttributes) mergePayloadMap(searchAttributes, a.searchAttributes.indexedFields);
    this.createRun({
      ...p,
      runId,
      workflowType: a.workflowType?.name || previous.workflowType,
      taskQueue: a.taskQueue?.name || previous.taskQueue,
      input: a.input,
      header: a.header ?? p.header,
      runTimeoutMs,
      taskTimeoutMs: workflowTaskTimeoutMs(durationMs(a.workflowTaskTimeout) || p.taskTimeoutMs, runTimeoutMs),
      memo,
      searchAttributes,
      continuedExecutionRunId: previous.runId,
      initiator: a.initiator || api.enums.v1.ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW,
      lastCompletionResult: a.lastCompletionResult,
      continuedFailure: a.failure,
      startDelayMs: durationMs(a.backoffStartInterval),
      requestId: undefined,
      signal: undefined,
    });
  }

  /** The run a workflow-issued external signal/cancel targets (a child only when childWorkflowOnly). */
  private externalTarget(source: Execution, namespace: string, workflowId: string, runId: string | undefined, childOnly: boolean): Execution | undefined {
    const runs = this.runsOf(namespace, workflowId);
    const target = runId ? runs.find((r) => r.runId === runId) : runs[runs.length - 1];
    if (!target?.isRunning()) return undefined;
    if (childOnly && target.params.parent?.workflowId !== source.workflowId) return undefined;
    return target;
  }

  signalExternal(source: Execution, initiatedEventId: number, a: Plain<temporal.api.command.v1.ISignalExternalWorkflowExecutionCommandAttributes>): void {
    const namespace = a.namespace || source.namespace;
    const execution = { workflowId: a.execution?.workflowId, runId: a.execution?.runId };
    const target = this.externalTarget(source, namespace, execution.workflowId ?? '', execution.runId ?? undefined, !!a.childWorkflowOnly);
    if (target) target.signal(a.signalName ?? '', a.input, a.header, `workflow ${source.workflowId}`);
    source.recordExternal(() =>
      source.append(
        target
          ? {
              eventType: EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
              externalWorkflowExecutionSignaledEventAttributes: { initiatedEventId, namespace, workflowExecution: execution, control: a.control },
            }
          : {
              eventType: EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
              signalExternalWorkflowExecutionFailedEventAttributes: {
                cause: api.enums.v1.SignalExternalWorkflowExecutionFailedCause.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND,
                namespace,
                workflowExecution: execution,
                initiatedEventId,
                control: a.control,
              },
            },
      ),
    );
  }

  cancelExternal(source: Execution, initiatedEventId: number, a: Plain<temporal.api.command.v1.IRequestCancelExternalWorkflowExecutionCommandAttributes>): void {
    const namespace = a.namespace || source.namespace;
    const execution = { workflowId: a.workflowId, runId: a.runId };
    const target = this.externalTarget(source, namespace, a.workflowId ?? '', a.runId ?? undefined, !!a.childWorkflowOnly);
    if (target) target.requestCancel(a.reason ?? '', `workflow ${source.workflowId}`, { initiatedEventId, execution: source.ref });
    source.recordExternal(() =>
      source.append(
        target
          ? {
              eventType: EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
              externalWorkflowExecutionCancelRequestedEventAttributes: { initiatedEventId, namespace, workflowExecution: execution },
            }
          : {
              eventType: EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
              requestCancelExternalWorkflowExecutionFailedEventAttributes: {
                cause: api.enums.v1.CancelExternalWorkflowExecutionFailedCause.CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND,
                namespace,
                workflowExecution: execution,
                initiatedEventId,
                control: a.control,
              },
            },
      ),
    );
  }

  /**
   * Waits until `done()` holds, re-checking on each new event of `exec`, for at most `timeoutMs`;
   * returns early when the caller goes away or the server closes.
   */
  waitFor(exec: Execution, done: () => boolean, signal: AbortSignal, timeoutMs: number): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        stop();
        signal.removeEventListener('abort', finish);
        this.closing.signal.removeEventListener('abort', finish);
        resolve();
      };
      const stop = exec.onEvent(() => {
        if (done()) finish();
      });
      const timer = setTimeout(finish, timeoutMs);
      signal.addEventListener('abort', finish);
      this.closing.signal.addEventListener('abort', finish);
    });
  }

  close(): void {
    this.closing.abort();
    this.workflowTasks.releasePollers();
    this.activityTasks.releasePollers();
    this.clock.close();
  }
}

export type PayloadMap = Record<string, Payload>;
