/** Workflows run by the in-memory Temporal server's own tests (bundled by the real worker). */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  executeChild,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  ActivityFailure,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type * as activities from './activities.js';

const quick = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

export async function greet(name: string): Promise<string> {
  return quick.greetActivity(name);
}

/** Returns the attempt on which the flaky activity finally succeeded. */
export async function retrying(failures: number): Promise<number> {
  const { flakyActivity } = proxyActivities<typeof activities>({
    startToCloseTimeout: '10s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 10 },
  });
  return flakyActivity(failures);
}

/** Returns how the activity failed: its cause's type and the attempts made. */
export async function failing(kind: 'non-retryable' | 'start-to-close' | 'heartbeat' | 'max-attempts'): Promise<{ cause: string; message: string }> {
  const options: ActivityOptions =
    kind === 'start-to-close'
      ? { startToCloseTimeout: '300ms', retry: { maximumAttempts: 2, initialInterval: '10ms' } }
      : kind === 'heartbeat'
        ? { startToCloseTimeout: '20s', heartbeatTimeout: '300ms', retry: { maximumAttempts: 1 } }
        : { startToCloseTimeout: '10s', retry: { maximumAttempts: 3, initialInterval: '10ms' } };
  const acts = proxyActivities<typeof activities>(options);
  try {
    if (kind === 'non-retryable') await acts.nonRetryableActivity();
    else if (kind === 'max-attempts') await acts.alwaysFailingActivity();
    else await acts.hangingActivity();
    return { cause: 'none', message: 'succeeded' };
  } catch (err) {
    if (err instanceof ActivityFailure) {
      return { cause: err.cause?.constructor.name ?? 'none', message: `${err.cause?.message ?? ''} retryState=${err.retryState}` };
    }
    throw err;
  }
}

export async function sleeper(duration: Duration): Promise<{ before: number; after: number }> {
  const before = Date.now();
  await sleep(duration);
  return { before, after: Date.now() };
}

export const addSignal = defineSignal<[number]>('add');
export const finishSignal = defineSignal('finish');
export const totalQuery = defineQuery<number>('total');

/** Sums `add` signals until `finish`, meanwhile answering `total` queries. */
export async function accumulator(timeout: Duration): Promise<number> {
  let total = 0;
  let finished = false;
  setHandler(addSignal, (n) => {
    total += n;
  });
  setHandler(finishSignal, () => {
    finished = true;
  });
  setHandler(totalQuery, () => total);
  await condition(() => finished, timeout);
  return total;
}

/** Sleeps long; on cancellation runs a cleanup activity and reports being cancelled. */
export async function cancellable(): Promise<string> {
  try {
    await sleep('30d');
    return 'slept';
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => quick.greetActivity('cleanup'));
      throw err;
    }
    throw err;
  }
}

export async function child(n: number): Promise<number> {
  await sleep('1h');
  return n * 2;
}

export async function parent(n: number): Promise<{ result: number; childWorkflowId: string }> {
  const childWorkflowId = `${workflowInfo().workflowId}-child`;
  const result = await executeChild(child, { args: [n], workflowId: childWorkflowId });
  return { result, childWorkflowId };
}

/** Continues as new `remaining` times, carrying the run count. */
export async function countdown(remaining: number, runs = 1): Promise<{ runs: number; continuedFrom?: string }> {
  if (remaining > 0) await continueAsNew<typeof countdown>(remaining - 1, runs + 1);
  return { runs, continuedFrom: workflowInfo().continuedFromExecutionRunId };
}

/** Tags itself with a custom search attribute, then waits for `finish`. */
export async function tagged(tag: string): Promise<string> {
  let finished = false;
  setHandler(finishSignal, () => {
    finished = true;
  });
  upsertSearchAttributes({ RotorTag: [tag] });
  await condition(() => finished);
  return tag;
}

/** A step activity, a long sleep, another step: used to restart the worker in between. */
export async function twoSteps(name: string): Promise<string[]> {
  const first = await quick.greetActivity(`${name}-1`);
  await sleep('2h');
  const second = await quick.greetActivity(`${name}-2`);
  return [first, second];
}

export async function failsWith(message: string): Promise<never> {
  throw ApplicationFailure.nonRetryable(message, 'TestFailure');
}

/** Target of schedules: records when it ran. */
export async function scheduled(label: string): Promise<string> {
  return `${label} at ${new Date().toISOString()}`;
}

/** Target of overlap tests: blocks until `finish`. */
export async function blocking(): Promise<void> {
  let finished = false;
  setHandler(finishSignal, () => {
    finished = true;
  });
  await condition(() => finished);
}
