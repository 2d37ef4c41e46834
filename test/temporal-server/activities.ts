/** Activities for the in-memory Temporal server's own tests; attempts are observed through Context. */
import { ApplicationFailure, Context, CancelledFailure } from '@temporalio/activity';

export const calls: string[] = [];

export async function greetActivity(name: string): Promise<string> {
  calls.push(name);
  return `Hello, ${name}!`;
}

/** Fails `failures` times, then returns the attempt number it succeeded on. */
export async function flakyActivity(failures: number): Promise<number> {
  const { attempt } = Context.current().info;
  if (attempt <= failures) throw new Error(`flaky failure on attempt ${attempt}`);
  return attempt;
}

export async function nonRetryableActivity(): Promise<never> {
  calls.push(`non-retryable attempt ${Context.current().info.attempt}`);
  throw ApplicationFailure.nonRetryable('this cannot work', 'Fatal');
}

export async function alwaysFailingActivity(): Promise<never> {
  calls.push(`always-failing attempt ${Context.current().info.attempt}`);
  throw ApplicationFailure.retryable('still broken', 'Broken');
}

/** Never finishes on its own; ends when the worker tells it it was cancelled or timed out. */
export async function hangingActivity(): Promise<never> {
  calls.push(`hanging attempt ${Context.current().info.attempt}`);
  try {
    await Context.current().sleep(60_000);
  } catch (err) {
    if (err instanceof CancelledFailure) throw err;
    throw err;
  }
  throw new Error('unreachable');
}
