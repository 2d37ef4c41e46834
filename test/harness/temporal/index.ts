/**
 * An in-memory Temporal server for tests: the WorkflowService gRPC API on loopback, enough for the
 * real `@temporalio/worker` and `@temporalio/client`, with a virtual clock that can skip time.
 * See README.md for what is implemented and how it differs from a real server.
 */
import * as grpc from '@grpc/grpc-js';
import ms from 'ms';
import { Engine } from './engine.js';
import { serveWorkflowService } from './grpc-service.js';
import { workflowServiceHandlers } from './service.js';

export interface TestServer {
  address: string;            // '127.0.0.1:PORT'
  namespace: string;          // 'default' unless given
  /** Virtual time in ms since epoch (equals wall time in real-time mode). */
  now(): number;
  /** Advance the virtual clock by a duration (ms number or ms-style string like '1d'), firing everything due in order. */
  advance(duration: number | string): Promise<void>;
  /** Allow/forbid automatic time skipping (only meaningful with timeSkipping: true). Counted, like Java's lock/unlock. */
  lockTimeSkipping(): void;
  unlockTimeSkipping(): void;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Jump virtual time to the next timer whenever nothing runs and skipping is unlocked. */
  timeSkipping?: boolean;
  namespace?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Virtual time at start, ms since epoch (default: now). */
  startTime?: number;
}

function toMs(duration: number | string): number {
  if (typeof duration === 'number') return duration;
  const parsed = ms(duration as ms.StringValue);
  if (typeof parsed !== 'number' || Number.isNaN(parsed)) throw new Error(`invalid duration: ${duration}`);
  return parsed;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const namespace = options.namespace ?? 'default';
  const engine = new Engine({ timeSkipping: options.timeSkipping ?? false, startTime: options.startTime, namespace });
  const server = new grpc.Server();
  const port = await serveWorkflowService(server, workflowServiceHandlers(engine), options.port ?? 0);
  let closed: Promise<void> | undefined;
  return {
    address: `127.0.0.1:${port}`,
    namespace,
    now: () => engine.clock.now(),
    advance: (duration) => engine.clock.advance(toMs(duration)),
    lockTimeSkipping: () => engine.clock.lock(),
    unlockTimeSkipping: () => engine.clock.unlock(),
    close() {
      closed ??= (async () => {
        engine.close();
        await new Promise<void>((resolve) => {
          // Polls were answered above; give in-flight calls a moment, then cut the rest.
          const force = setTimeout(() => server.forceShutdown(), 1000);
          server.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
      })();
      return closed;
    },
  };
}
