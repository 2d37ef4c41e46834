/**
 * The in-memory Temporal server driven by the real SDK: worker (Rust core) and client. Time skipping
 * is on, so only a client waiting for a result lets virtual time jump.
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { CancelledFailure, TerminatedFailure } from '@temporalio/common';
import { api } from '../harness/temporal/proto.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { calls } from './activities.js';
import { eventually, startServerEnv, terminateRunning, type ServerEnv } from './setup.js';
import { accumulator, addSignal, cancellable, countdown, failing, finishSignal, greet, parent, retrying, sleeper, tagged, totalQuery, twoSteps } from './workflows.js';

const EventType = api.enums.v1.EventType;

let env: ServerEnv;
let queue = 0;
/** A fresh task queue per test keeps leftovers of one test away from the next. */
const nextQueue = () => `core-${++queue}`;

beforeAll(async () => {
  env = await startServerEnv({ timeSkipping: true });
});
afterEach(async () => {
  await terminateRunning(env);
});
afterAll(async () => {
  await env?.close();
});

async function historyOf(workflowId: string, runId?: string) {
  return (await env.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
}

describe('workflows and activities', () => {
  it('runs a workflow with an activity to its result, with consecutive event ids', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    const result = await worker.runUntil(env.client.workflow.execute(greet, { taskQueue, workflowId: 'greet-1', args: ['Rotor'] }));
    expect(result).toBe('Hello, Rotor!');
    const events = await historyOf('greet-1');
    expect(events.map((e) => Number(e.eventId))).toEqual(events.map((_, i) => i + 1));
    expect(events[0].eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
    expect(events.at(-1)!.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
    expect(events.map((e) => e.eventType)).toContain(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
  });

  it('retries a failing activity with backoff until it succeeds', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    const attempt = await worker.runUntil(env.client.workflow.execute(retrying, { taskQueue, workflowId: 'retry-1', args: [2] }));
    expect(attempt).toBe(3);
    const started = (await historyOf('retry-1')).find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED);
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(3);
    expect(started?.activityTaskStartedEventAttributes?.lastFailure?.message).toBe('flaky failure on attempt 2');
  });

  it('does not retry a non-retryable failure', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    calls.length = 0;
    const outcome = await worker.runUntil(env.client.workflow.execute(failing, { taskQueue, workflowId: 'nonretry-1', args: ['non-retryable'] }));
    expect(outcome).toEqual({ cause: 'ApplicationFailure', message: 'this cannot work retryState=NON_RETRYABLE_FAILURE' });
    expect(calls).toEqual(['non-retryable attempt 1']);
  });

  it('stops after maximumAttempts', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    calls.length = 0;
    const outcome = await worker.runUntil(env.client.workflow.execute(failing, { taskQueue, workflowId: 'maxattempts-1', args: ['max-attempts'] }));
    expect(outcome).toEqual({ cause: 'ApplicationFailure', message: 'still broken retryState=MAXIMUM_ATTEMPTS_REACHED' });
    expect(calls).toEqual(['always-failing attempt 1', 'always-failing attempt 2', 'always-failing attempt 3']);
  });

  it('times out an activity past its start-to-close timeout, retrying it first', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    calls.length = 0;
    const outcome = await worker.runUntil(env.client.workflow.execute(failing, { taskQueue, workflowId: 'stc-1', args: ['start-to-close'] }));
    expect(outcome).toEqual({ cause: 'TimeoutFailure', message: 'activity StartToClose timeout retryState=MAXIMUM_ATTEMPTS_REACHED' });
    expect(calls).toEqual(['hanging attempt 1', 'hanging attempt 2']);
  });

  it('times out an activity that stops heartbeating', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    const outcome = await worker.runUntil(env.client.workflow.execute(failing, { taskQueue, workflowId: 'hb-1', args: ['heartbeat'] }));
    expect(outcome).toEqual({ cause: 'TimeoutFailure', message: 'activity Heartbeat timeout retryState=MAXIMUM_ATTEMPTS_REACHED' });
  });
});

describe('time skipping', () => {
  it('finishes a 24h sleep at once when a client waits for the result', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    const before = env.server.now();
    const slept = await worker.runUntil(env.client.workflow.execute(sleeper, { taskQueue, workflowId: 'sleep-1', args: ['24h'] }));
    expect(slept.after - slept.before).toBeGreaterThanOrEqual(24 * 3600_000);
    expect(env.server.now() - before).toBeGreaterThanOrEqual(24 * 3600_000);
  });

  it('keeps time still while nobody waits, so signals and queries reach a workflow in a long timer', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    await worker.runUntil(async () => {
      const before = env.server.now();
      const handle = await env.client.workflow.start(accumulator, { taskQueue, workflowId: 'acc-1', args: ['7d'] });
      await handle.signal(addSignal, 2);
      await handle.signal(addSignal, 3);
      await eventually(async () => expect(await handle.query(totalQuery)).toBe(5));
      await handle.signal(addSignal, 4);
      await eventually(async () => expect(await handle.query(totalQuery)).toBe(9));
      expect(env.server.now() - before).toBeLessThan(3600_000);
      await handle.signal(finishSignal);
      expect(await handle.result()).toBe(9);
    });
  });

  it('lockTimeSkipping holds time even while a client waits; advance() moves it explicitly', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    env.server.lockTimeSkipping();
    try {
      await worker.runUntil(async () => {
        const handle = await env.client.workflow.start(sleeper, { taskQueue, workflowId: 'locked-1', args: ['1h'] });
        const result = handle.result();
        await eventually(async () => {
          const events = await historyOf('locked-1');
          expect(events.map((e) => e.eventType)).toContain(EventType.EVENT_TYPE_TIMER_STARTED);
        });
        expect((await handle.describe()).status.name).toBe('RUNNING');
        await env.server.advance('1h');
        const slept = await result;
        expect(slept.after - slept.before).toBeGreaterThanOrEqual(3600_000);
      });
    } finally {
      // Back to the initial state: skipping only while results are awaited.
      env.server.unlockTimeSkipping();
    }
  });
});

describe('client operations', () => {
  it('cancels a workflow, which cleans up and reports CancelledFailure', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    calls.length = 0;
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(cancellable, { taskQueue, workflowId: 'cancel-1' });
      await eventually(async () => expect((await historyOf('cancel-1')).map((e) => e.eventType)).toContain(EventType.EVENT_TYPE_TIMER_STARTED));
      await handle.cancel();
      const error = await handle.result().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      expect((await handle.describe()).status.name).toBe('CANCELLED');
    });
    expect(calls).toEqual(['cleanup']);
  });

  it('terminates a workflow', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(accumulator, { taskQueue, workflowId: 'term-1', args: ['1d'] });
      await handle.terminate('enough');
      const error = await handle.result().catch((e: unknown) => e);
      expect((error as WorkflowFailedError).cause).toBeInstanceOf(TerminatedFailure);
      expect((error as WorkflowFailedError).message).toBe('enough');
      expect((await handle.describe()).status.name).toBe('TERMINATED');
      await expect(handle.signal(finishSignal)).rejects.toBeInstanceOf(WorkflowNotFoundError);
    });
  });

  it('refuses a second start with the same id while running; the same request id returns the same run', async () => {
    const taskQueue = nextQueue();
    const first = await env.client.workflow.start(accumulator, { taskQueue, workflowId: 'dup-1', args: ['1d'] });
    await expect(env.client.workflow.start(accumulator, { taskQueue, workflowId: 'dup-1', args: ['1d'] })).rejects.toBeInstanceOf(
      WorkflowExecutionAlreadyStartedError,
    );
    const request = {
      namespace: env.server.namespace,
      workflowId: 'dup-2',
      workflowType: { name: 'accumulator' },
      taskQueue: { name: taskQueue },
      requestId: 'same-request',
    };
    const a = await env.connection.workflowService.startWorkflowExecution(request);
    const b = await env.connection.workflowService.startWorkflowExecution(request);
    expect(b.runId).toBe(a.runId);
    expect(first.firstExecutionRunId).not.toBe(a.runId);
  });

  it('reports an unknown workflow as WorkflowNotFoundError', async () => {
    await expect(env.client.workflow.getHandle('no-such-workflow').describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('signal-with-start starts a workflow, then signals the running one', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.signalWithStart(accumulator, { taskQueue, workflowId: 'sws-1', args: ['1d'], signal: addSignal, signalArgs: [10] });
      const again = await env.client.workflow.signalWithStart(accumulator, { taskQueue, workflowId: 'sws-1', args: ['1d'], signal: addSignal, signalArgs: [5] });
      expect(again.signaledRunId).toBe(handle.signaledRunId);
      await handle.signal(finishSignal);
      expect(await handle.result()).toBe(15);
    });
  });

  it('fails fast with UNIMPLEMENTED on an RPC the server does not implement', async () => {
    const error = await env.connection.workflowService.listBatchOperations({ namespace: env.server.namespace }).catch((e: unknown) => e);
    expect((error as { code: number }).code).toBe(grpcStatus.UNIMPLEMENTED);
    expect((error as Error).message).toMatch(/ListBatchOperations is not implemented/);
  });
});

describe('child workflows, continue-as-new, visibility', () => {
  it('runs a child workflow and hands its result to the parent', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    const result = await worker.runUntil(env.client.workflow.execute(parent, { taskQueue, workflowId: 'parent-1', args: [21] }));
    expect(result).toEqual({ result: 42, childWorkflowId: 'parent-1-child' });
    const child = await env.client.workflow.getHandle('parent-1-child').describe();
    expect(child.status.name).toBe('COMPLETED');
    expect(child.parentExecution?.workflowId).toBe('parent-1');
    const types = (await historyOf('parent-1')).map((e) => e.eventType);
    expect(types).toContain(EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED);
    expect(types).toContain(EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED);
  });

  it('continues as new, and the client follows the chain of runs', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    const result = await worker.runUntil(env.client.workflow.execute(countdown, { taskQueue, workflowId: 'can-1', args: [3] }));
    expect(result.runs).toBe(4);
    expect(result.continuedFrom).toBeTruthy();
    const runs = [];
    for await (const run of env.client.workflow.list({ query: `WorkflowId = 'can-1'` })) runs.push(run.status.name);
    expect(runs.sort()).toEqual(['COMPLETED', 'CONTINUED_AS_NEW', 'CONTINUED_AS_NEW', 'CONTINUED_AS_NEW']);
  });

  it('lists workflows by a custom search attribute', async () => {
    const taskQueue = nextQueue();
    const worker = await env.worker(taskQueue);
    await worker.runUntil(async () => {
      const blue = await env.client.workflow.start(tagged, { taskQueue, workflowId: 'tag-blue', args: ['blue'] });
      const green = await env.client.workflow.start(tagged, { taskQueue, workflowId: 'tag-green', args: ['green'] });
      const ids = async (query: string) => {
        const found: string[] = [];
        for await (const run of env.client.workflow.list({ query })) found.push(run.workflowId);
        return found.sort();
      };
      await eventually(async () => expect(await ids(`RotorTag IN ('blue', 'green')`)).toEqual(['tag-blue', 'tag-green']));
      expect(await ids(`RotorTag = 'blue' AND ExecutionStatus = 'Running'`)).toEqual(['tag-blue']);
      expect(await ids(`WorkflowType = 'tagged' AND (RotorTag = 'green' OR RotorTag = 'nope')`)).toEqual(['tag-green']);
      expect(await ids(`RotorTag != 'blue' AND WorkflowType = 'tagged'`)).toEqual(['tag-green']);
      expect((await env.client.workflow.count(`RotorTag = 'blue'`)).count).toBe(1);
      await blue.signal(finishSignal);
      await green.signal(finishSignal);
      await Promise.all([blue.result(), green.result()]);
      expect(await ids(`RotorTag = 'blue' AND ExecutionStatus = 'Completed' AND CloseTime > '2000-01-01T00:00:00Z'`)).toEqual(['tag-blue']);
    });
  });
});

describe('durability', () => {
  it('a new worker on a fresh connection resumes a workflow after the first one shut down', async () => {
    const taskQueue = nextQueue();
    calls.length = 0;
    const first = await env.worker(taskQueue);
    const handle = await first.runUntil(async () => {
      const started = await env.client.workflow.start(twoSteps, { taskQueue, workflowId: 'durable-1', args: ['step'] });
      await eventually(async () => expect((await historyOf('durable-1')).map((e) => e.eventType)).toContain(EventType.EVENT_TYPE_TIMER_STARTED));
      return started;
    });
    expect(first.getState()).toBe('STOPPED');
    expect(calls).toEqual(['step-1']);
    const second = await env.worker(taskQueue);
    const result = await second.runUntil(handle.result());
    expect(result).toEqual(['Hello, step-1!', 'Hello, step-2!']);
    expect(calls).toEqual(['step-1', 'step-2']);
  });
});
