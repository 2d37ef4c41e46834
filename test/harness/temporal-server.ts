/**
 * The official Temporal servers, started on free loopback ports for one test file:
 *  - `dev`: the Temporal CLI's dev server (`temporal server start-dev`: the real server on
 *    in-memory SQLite, with the Web UI when asked), for everything that runs in real time:
 *    schedules, the daemon, the CLI, the HTTP API.
 *  - `time-skipping`: the Java SDK's test server (io.temporal:temporal-test-server), where a test
 *    needs virtual time: grace timers, drain re-checks, reminders. Virtual time stands still
 *    unless unlocked: while a test awaits a workflow's result (through `client`), inside
 *    `advance()`, or between `unlockTimeSkipping()` and `lockTimeSkipping()`; unlocked, the server
 *    jumps to the next timer whenever no workflow or activity task is outstanding, so the work a
 *    timer triggers runs before time moves on.
 * Both are installed by scripts/setup-tools.mjs (npm test runs it) into .tools/bin.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ms from 'ms';
import { Client, Connection, type ConnectionOptions, type WorkflowClientInterceptor } from '@temporalio/client';
import { InternalConnectionOptionsSymbol } from '@temporalio/client/lib/connection.js';
import type Long from 'long';
import { TimeSkippingWorkflowClient } from '@temporalio/testing';
import { DEV_SERVER_DYNAMIC_CONFIG_FLAGS } from '../../dev/temporal.js';
import { toolPath, toolsDir } from './tools.js';
import { freePort, LOOPBACK } from './ports.js';
import { watched } from './watched.js';

export type TemporalServerKind = 'dev' | 'time-skipping';

export interface TestServer {
  kind: TemporalServerKind;
  /** `127.0.0.1:PORT` */
  address: string;
  namespace: string;
  /** The Temporal server's version as it reports itself (GetSystemInfo), e.g. `1.29.1`. */
  serverVersion: string;
  /** The Web UI's base URL, when started with `ui: true` (dev server only). */
  uiUrl?: string;
  /** A client of the server's namespace; on the time-skipping server, awaiting a result lets time skip. */
  client: Client;
  /**
   * Workflows started through `client`, in order (the time-skipping server cannot list them).
   * On the dev server, list them with `client.workflow.list()`.
   */
  started: Execution[];
  connection: Connection;
  /** Time-skipping server: counted, like the Java server's own lock (no-ops on the dev server). */
  lockTimeSkipping(): Promise<void>;
  unlockTimeSkipping(): Promise<void>;
  /** The server's clock, ms since epoch: virtual on the time-skipping server, wall time on the dev server. */
  now(): Promise<number>;
  /**
   * Time-skipping server only: moves virtual time forward by `duration` (ms or '1d'-style), firing
   * every timer due on the way and running what each triggers before moving on.
   */
  advance(duration: number | string): Promise<void>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  kind?: TemporalServerKind;
  /** Dev server: also serve the Web UI on a free loopback port. */
  ui?: boolean;
  namespace?: string;
}

function toMs(duration: number | string): number {
  if (typeof duration === 'number') return duration;
  const parsed = ms(duration as ms.StringValue);
  if (typeof parsed !== 'number' || Number.isNaN(parsed)) throw new Error(`invalid duration: ${duration}`);
  return parsed;
}

/**
 * The dev server's version as the CLI reports it, e.g. `Temporal CLI v1.5.1 (Server 1.29.1, UI 2.42.1)`
 * (a `go install` build calls itself 0.0.0-DEV, so the pin comes from the set-up step's marker).
 */
export function temporalCliVersion(): string {
  const line = execFileSync(toolPath('temporal'), ['--version'], { encoding: 'utf8' }).trim();
  const parts = /\((.*)\)/.exec(line)?.[1] ?? line;
  const pin = readFileSync(join(toolsDir, 'temporal-cli.version'), 'utf8').trim();
  return `Temporal CLI ${pin} (${parts})`;
}

let announced = false;
/** Once per test process, says on stderr which Temporal server the file runs against. */
function announce(kind: TemporalServerKind, version: string): void {
  if (announced || process.env.ROTOR_QUIET_HARNESS) return;
  announced = true;
  process.stderr.write(`[harness] Temporal ${kind === 'dev' ? 'dev server' : 'time-skipping test server'}: ${version}\n`);
}

/** A server process of ours: its output kept for the error that says why it did not start. */
function spawnServer(command: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => output };
}

/** Connects once the server answers GetSystemInfo; fails with its output if it exits or takes over 90 s. */
async function connectWhenUp(address: string, server: ReturnType<typeof spawnServer>, what: string, testService: boolean): Promise<Connection> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (server.child.exitCode !== null) throw new Error(`${what} exited with ${server.child.exitCode}: ${server.output()}`);
    try {
      // The SDK's own switch for a connection that also speaks the TestService (time skipping).
      const options = { address, connectTimeout: 2_000, [InternalConnectionOptionsSymbol]: { supportsTestService: testService } };
      const connection = await Connection.connect(options as ConnectionOptions);
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what} did not answer on ${address} within 90 s: ${String(error)}\n${server.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(force);
}

export interface Execution {
  workflowId: string;
  runId: string;
}

/** Records every workflow started through a client: the Java test server has no visibility API to list them. */
function recordingInterceptor(started: Execution[]): WorkflowClientInterceptor {
  return {
    async start(input, next) {
      const runId = await next(input);
      started.push({ workflowId: input.options.workflowId, runId });
      return runId;
    },
    async signalWithStart(input, next) {
      const runId = await next(input);
      started.push({ workflowId: input.options.workflowId, runId });
      return runId;
    },
  };
}

/** A client whose `workflow.result()` lets virtual time skip while it waits (as @temporalio/testing's). */
function timeSkippingClient(connection: Connection, namespace: string, started: Execution[]): Client {
  const client = new Client({ connection, namespace, interceptors: { workflow: [recordingInterceptor(started)] } });
  (client as { workflow: Client['workflow'] }).workflow = new TimeSkippingWorkflowClient({ ...client.workflow.options, connection });
  return client;
}

export async function startTemporalServer(options: TestServerOptions = {}): Promise<TestServer> {
  const kind = options.kind ?? 'time-skipping';
  const namespace = options.namespace ?? 'default';
  const port = await freePort();
  const address = `${LOOPBACK}:${port}`;
  let uiUrl: string | undefined;
  let server: ReturnType<typeof spawnServer>;
  if (kind === 'dev') {
    const uiPort = options.ui ? await freePort() : undefined;
    uiUrl = uiPort ? `http://${LOOPBACK}:${uiPort}` : undefined;
    server = spawnServer(toolPath('temporal'), [
      'server', 'start-dev', '--ip', LOOPBACK, '--port', String(port), '--namespace', namespace,
      ...(uiPort ? ['--ui-ip', LOOPBACK, '--ui-port', String(uiPort)] : ['--headless']),
      '--log-level', 'error',
      ...DEV_SERVER_DYNAMIC_CONFIG_FLAGS,
    ]);
  } else {
    server = spawnServer(toolPath('temporal-test-server'), [String(port), '--enable-time-skipping']);
  }
  const what = kind === 'dev' ? 'the Temporal dev server' : 'the Temporal time-skipping test server';
  let connection: Connection;
  try {
    connection = await watched(`starting ${what}`, connectWhenUp(address, server, what, kind === 'time-skipping'));
  } catch (error) {
    await stopServer(server.child);
    throw error;
  }
  // Hold virtual time still from the start: it moves only while a test awaits a result, inside
  // advance(), or between unlock and lock (without this the fresh server skips from the outset,
  // firing a workflow task's own timeout while the worker is still on it).
  if (kind === 'time-skipping') await connection.testService!.lockTimeSkipping({});
  const started: Execution[] = [];
  const client = kind === 'time-skipping' ? timeSkippingClient(connection, namespace, started) : new Client({ connection, namespace });
  const info = await connection.workflowService.getSystemInfo({});
  const serverVersion = info.serverVersion || (kind === 'dev' ? temporalCliVersion() : 'java-test-server');
  announce(kind, kind === 'dev' ? temporalCliVersion() : `io.temporal:temporal-test-server ${readFileSync(join(toolsDir, 'temporal-test-server.version'), 'utf8').trim().split('+')[0]}`);
  const testService = () => {
    if (!connection.testService) throw new Error('no TestService on this connection');
    return connection.testService;
  };
  let closed: Promise<void> | undefined;
  return {
    kind,
    address,
    namespace,
    serverVersion,
    uiUrl,
    client,
    started,
    connection,
    async lockTimeSkipping() {
      if (kind === 'time-skipping') await testService().lockTimeSkipping({});
    },
    async unlockTimeSkipping() {
      if (kind === 'time-skipping') await testService().unlockTimeSkipping({});
    },
    async now() {
      if (kind !== 'time-skipping') return Date.now();
      const { time } = await testService().getCurrentTime({});
      return Number(time?.seconds ?? 0) * 1000 + Math.floor((time?.nanos ?? 0) / 1_000_000);
    },
    async advance(duration) {
      if (kind !== 'time-skipping') throw new Error('advance() needs the time-skipping server: the dev server runs in real time');
      const ms = toMs(duration);
      // protobufjs takes a number where the typings say Long.
      const seconds = Math.floor(ms / 1000) as unknown as Long;
      await testService().unlockTimeSkippingWithSleep({ duration: { seconds, nanos: (ms % 1000) * 1_000_000 } });
    },
    close() {
      closed ??= (async () => {
        await connection.close().catch(() => undefined);
        await stopServer(server.child);
      })();
      return closed;
    },
  };
}
