/**
 * Task queues with long polls. A queued task is a `dispatch` function: called when a poller takes
 * it, it marks the task started and returns the poll response, or undefined if the task went stale
 * meanwhile (workflow closed, activity cancelled...), in which case the next task is tried.
 */

export type Dispatch<R> = (identity: string) => R | undefined;

interface Poller<R> {
  identity: string;
  resolve(response: R | undefined): void;
}

interface Queue<R> {
  backlog: Dispatch<R>[];
  pollers: Poller<R>[];
}

/** How long a poll waits before answering empty; the SDK simply polls again. */
export const LONG_POLL_MS = 15_000;

export class TaskQueues<R> {
  private queues = new Map<string, Queue<R>>();

  private queue(namespace: string, name: string): Queue<R> {
    const key = `${namespace}\u0000${name}`;
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { backlog: [], pollers: [] };
      this.queues.set(key, queue);
    }
    return queue;
  }

  offer(namespace: string, name: string, dispatch: Dispatch<R>): void {
    const queue = this.queue(namespace, name);
    const poller = queue.pollers.shift();
    if (!poller) {
      queue.backlog.push(dispatch);
      return;
    }
    const response = dispatch(poller.identity);
    // A stale task is dropped; the poller keeps waiting.
    if (response === undefined) queue.pollers.unshift(poller);
    else poller.resolve(response);
  }

  poll(namespace: string, name: string, identity: string, signal: AbortSignal, timeoutMs = LONG_POLL_MS): Promise<R | undefined> {
    const queue = this.queue(namespace, name);
    while (queue.backlog.length) {
      const response = queue.backlog.shift()!(identity);
      if (response !== undefined) return Promise.resolve(response);
    }
    return new Promise((resolve) => {
      const finish = (response: R | undefined) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        queue.pollers = queue.pollers.filter((p) => p !== poller);
        resolve(response);
      };
      const poller: Poller<R> = { identity, resolve: finish };
      const onAbort = () => finish(undefined);
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      signal.addEventListener('abort', onAbort);
      queue.pollers.push(poller);
    });
  }

  /** Answers the pending polls of one worker (ShutdownWorker) or of everybody (server close) empty. */
  releasePollers(identity?: string): void {
    for (const queue of this.queues.values()) {
      for (const poller of [...queue.pollers]) if (identity === undefined || poller.identity === identity) poller.resolve(undefined);
    }
  }

  /** Number of tasks waiting for a poller (for describe/idle accounting). */
  backlogSize(namespace: string, name: string): number {
    return this.queue(namespace, name).backlog.length;
  }
}
