/**
 * Every activity heartbeats while it runs (the activity factories wrap what they return), and every workflow gives its activities a short heartbeat
 * timeout (workflows/timeouts.ts): a worker that dies mid-step stops heartbeating, and Temporal hands
 * the step to another worker within seconds instead of when its start-to-close timeout ends.
 */
import { Context } from '@temporalio/activity';

/** How often a running activity heartbeats (the SDK batches them to ~80% of the heartbeat timeout). */
export const HEARTBEAT_EVERY_MS = 1000;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Activities = Record<string, (...args: any[]) => Promise<unknown>>;

/** The same activities, each heartbeating every HEARTBEAT_EVERY_MS until it returns or throws. */
export function heartbeating<T extends Activities>(activities: T): T {
  const wrapped: Activities = {};
  for (const [name, run] of Object.entries(activities)) {
    wrapped[name] = async (...args: unknown[]) => {
      const context = currentContext();
      const timer = context && setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
      try {
        return await run(...args);
      } finally {
        clearInterval(timer);
      }
    };
  }
  return wrapped as T;
}

/** The running activity's cancellation signal (worker shutdown after its grace, or the workflow cancelling it), for provider calls. */
export function activityCancellation(): AbortSignal | undefined {
  return currentContext()?.cancellationSignal;
}

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (tests of a single step): nothing to heartbeat to
  }
}
