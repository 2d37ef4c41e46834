/** Shared set-up for the test server's own tests: a server, a client, one workflow bundle per file. */
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { startTestServer, type TestServer, type TestServerOptions } from '../harness/temporal/index.js';
import * as activities from './activities.js';

export const workflowsPath = fileURLToPath(new URL('./workflows.ts', import.meta.url));

let runtimeInstalled = false;
let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN', () => undefined) });
  return bundle;
}

export interface ServerEnv {
  server: TestServer;
  client: Client;
  connection: Connection;
  /** Creates a worker on its own NativeConnection (closed by close()). */
  worker(taskQueue: string, options?: { identity?: string }): Promise<Worker>;
  close(): Promise<void>;
}

export async function startServerEnv(options: TestServerOptions = {}): Promise<ServerEnv> {
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  }
  const server = await startTestServer(options);
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: server.namespace });
  const natives: NativeConnection[] = [];
  return {
    server,
    client,
    connection,
    async worker(taskQueue, workerOptions = {}) {
      const native = await NativeConnection.connect({ address: server.address });
      natives.push(native);
      return Worker.create({
        connection: native,
        namespace: server.namespace,
        taskQueue,
        workflowBundle: await workflowBundle(),
        activities,
        ...(workerOptions.identity ? { identity: workerOptions.identity } : {}),
      });
    },
    async close() {
      await connection.close();
      for (const native of natives) await native.close().catch(() => undefined);
      await server.close();
    },
  };
}

/** Retries an assertion until it passes (a condition, not a sleep): for state that settles asynchronously. */
export async function eventually(assertion: () => Promise<void> | void, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Terminates every run still open, so one test's leftovers never hold virtual time for the next. */
export async function terminateRunning(env: ServerEnv): Promise<void> {
  for await (const run of env.client.workflow.list({ query: `ExecutionStatus = 'Running'` })) {
    await env.client.workflow.getHandle(run.workflowId, run.runId).terminate('test cleanup').catch(() => undefined);
  }
}
