/**
 * The official Temporal dev server (`temporal server start-dev`, built into .tools/bin by
 * `node scripts/setup-tools.mjs temporal-cli`) on free loopback ports, in memory, no UI: for tests
 * that need what our in-memory server lacks (Workflow Updates). Real time only: `advance()` refuses.
 * Shaped like the in-memory server's TestServer so `startRotorEnv({ temporal })` takes either.
 */
import { spawn } from 'node:child_process';
import { Connection } from '@temporalio/client';
import type { TestServer } from './temporal/index.js';
import { freePort, LOOPBACK } from './ports.js';
import { toolPath } from './tools.js';

export interface DevServer extends TestServer {
  /** The server's own output (warnings and errors only), for a failing test's message. */
  output(): string;
}

export async function startDevServer(options: { namespace?: string } = {}): Promise<DevServer> {
  const namespace = options.namespace ?? 'default';
  const [port, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const args = [
    'server', 'start-dev',
    '--ip', LOOPBACK,
    '--port', String(port),
    '--http-port', String(httpPort),
    '--metrics-port', String(metricsPort),
    '--headless',
    '--namespace', namespace,
    '--log-level', 'warn',
  ];
  const child = spawn(toolPath('temporal'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => void (output = (output + chunk.toString('utf8')).slice(-20_000));
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const address = `${LOOPBACK}:${port}`;

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(force);
  };

  try {
    await untilReady(address, namespace, exited);
  } catch (error) {
    await stop();
    throw new Error(`temporal dev server did not start on ${address}: ${(error as Error).message}\n${output}`);
  }

  let closed: Promise<void> | undefined;
  return {
    address,
    namespace,
    output: () => output,
    now: () => Date.now(),
    advance: () => Promise.reject(new Error('the dev server runs in real time: advance() is for the time-skipping server')),
    lockTimeSkipping: () => undefined,
    unlockTimeSkipping: () => undefined,
    close: () => (closed ??= stop()),
  };
}

/** Until the frontend answers and the namespace exists (the dev server creates it at start). */
async function untilReady(address: string, namespace: string, exited: Promise<number | null>): Promise<void> {
  const deadline = Date.now() + 60_000;
  let gone = false;
  void exited.then(() => (gone = true));
  let last: unknown;
  while (Date.now() < deadline) {
    if (gone) throw new Error('the server exited');
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await connection.close();
      }
    } catch (error) {
      last = error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  throw new Error(`not ready within 60 s: ${String(last)}`);
}
