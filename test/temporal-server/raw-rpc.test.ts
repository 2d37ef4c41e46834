/**
 * Server behaviour checked below the SDK, with raw WorkflowService calls: workflow task timeout and
 * re-dispatch, stale task tokens, history paging, queries held behind workflow tasks, error codes.
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Duration } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../harness/temporal/proto.js';
import { startServerEnv, type ServerEnv } from './setup.js';

const EventType = api.enums.v1.EventType;

let env: ServerEnv;
beforeAll(async () => {
  env = await startServerEnv();
});
afterAll(async () => {
  await env?.close();
});

const service = () => env.connection.workflowService;

async function start(workflowId: string, taskQueue: string, workflowTaskTimeout: Duration = '10s') {
  return service().startWorkflowExecution({
    namespace: env.server.namespace,
    workflowId,
    workflowType: { name: 'raw' },
    taskQueue: { name: taskQueue },
    requestId: `${workflowId}-request`,
    workflowTaskTimeout: msToTs(workflowTaskTimeout),
  });
}

async function poll(taskQueue: string) {
  return service().pollWorkflowTaskQueue({ namespace: env.server.namespace, taskQueue: { name: taskQueue }, identity: 'raw-test' });
}

describe('raw WorkflowService behaviour', () => {
  it('re-dispatches a workflow task that timed out, and refuses the stale token', async () => {
    await start('wft-timeout', 'raw-1', '1s');
    const first = await poll('raw-1');
    expect(first.attempt).toBe(1);
    expect(first.history?.events?.map((e) => e.eventType)).toEqual([
      EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
      EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
      EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    ]);
    // Not answering: after the 1s task timeout the task comes back as attempt 2.
    const second = await poll('raw-1');
    expect(second.attempt).toBe(2);
    const types = second.history?.events?.map((e) => e.eventType);
    expect(types?.slice(3)).toEqual([
      EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
      EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
      EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    ]);
    const stale = await service()
      .respondWorkflowTaskCompleted({ namespace: env.server.namespace, taskToken: first.taskToken, commands: [] })
      .catch((e: unknown) => e);
    expect((stale as { code: number }).code).toBe(grpcStatus.NOT_FOUND);
    await service().respondWorkflowTaskCompleted({
      namespace: env.server.namespace,
      taskToken: second.taskToken,
      commands: [
        {
          commandType: api.enums.v1.CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
          completeWorkflowExecutionCommandAttributes: {},
        },
      ],
    });
    const described = await service().describeWorkflowExecution({ namespace: env.server.namespace, execution: { workflowId: 'wft-timeout' } });
    expect(described.workflowExecutionInfo?.status).toBe(api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED);
  });

  it('pages history with consecutive event ids', async () => {
    await start('paged', 'raw-2');
    const task = await poll('raw-2');
    await service().respondWorkflowTaskCompleted({
      namespace: env.server.namespace,
      taskToken: task.taskToken,
      commands: Array.from({ length: 5 }, (_, i) => ({
        commandType: api.enums.v1.CommandType.COMMAND_TYPE_START_TIMER,
        startTimerCommandAttributes: { timerId: `t${i}`, startToFireTimeout: msToTs('1h') },
      })),
    });
    const ids: number[] = [];
    let nextPageToken: Uint8Array | undefined;
    let pages = 0;
    do {
      const page = await service().getWorkflowExecutionHistory({
        namespace: env.server.namespace,
        execution: { workflowId: 'paged' },
        maximumPageSize: 3,
        nextPageToken,
      });
      ids.push(...(page.history?.events ?? []).map((e) => Number(e.eventId)));
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
      pages++;
    } while (nextPageToken);
    expect(ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(pages).toBe(3);
  });

  it('holds a query back while a workflow task of the run is scheduled or running, then hands it out', async () => {
    const ns = env.server.namespace;
    await start('held-query', 'raw-3');
    const first = await poll('raw-3');
    await service().signalWorkflowExecution({ namespace: ns, workflowExecution: { workflowId: 'held-query' }, signalName: 'poke', requestId: 'poke-1' });
    const answered = service().queryWorkflow({ namespace: ns, execution: { workflowId: 'held-query' }, query: { queryType: 'state' } });
    // Completing the first task schedules a second one for the signal: that task, not the query, comes next.
    const next = poll('raw-3');
    await service().respondWorkflowTaskCompleted({ namespace: ns, taskToken: first.taskToken, commands: [] });
    const second = await next;
    expect(second.query).toBeFalsy();
    expect(second.history?.events?.map((e) => e.eventType)).toContain(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
    // While the second task runs, a poller gets nothing.
    const early = await env.connection.withDeadline(Date.now() + 300, () => poll('raw-3')).catch((e: unknown) => e);
    expect((early as { code: number }).code).toBe(grpcStatus.DEADLINE_EXCEEDED);
    const queryTask = poll('raw-3');
    await service().respondWorkflowTaskCompleted({ namespace: ns, taskToken: second.taskToken, commands: [] });
    const task = await queryTask;
    expect(task.query?.queryType).toBe('state');
    // The query task carries the history the worker has fully processed.
    expect(task.history?.events?.at(-1)?.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    await service().respondQueryTaskCompleted({
      namespace: ns,
      taskToken: task.taskToken,
      completedType: api.enums.v1.QueryResultType.QUERY_RESULT_TYPE_ANSWERED,
      queryResult: { payloads: [{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"idle"') }] },
    });
    expect(Buffer.from((await answered).queryResult!.payloads![0]!.data!).toString()).toBe('"idle"');
  });

  it('answers unknown namespaces with NOT_FOUND and bad queries with INVALID_ARGUMENT', async () => {
    const unknown = await service()
      .describeWorkflowExecution({ namespace: 'nope', execution: { workflowId: 'x' } })
      .catch((e: unknown) => e);
    expect((unknown as { code: number }).code).toBe(grpcStatus.NOT_FOUND);
    const bad = await service()
      .listWorkflowExecutions({ namespace: env.server.namespace, query: `WorkflowId = ` })
      .catch((e: unknown) => e);
    expect((bad as { code: number }).code).toBe(grpcStatus.INVALID_ARGUMENT);
  });
});
