/**
 * The real Temporal server for `rotor dev`: the Temporal CLI's dev server (`temporal server
 * start-dev`, server and Web UI in one Go binary) on loopback, its state kept in a SQLite file so a
 * restart finds every earlier run. The CLI is built by the set-up step (scripts/setup-tools.mjs).
 *
 * It runs in a process group of its own: a Ctrl-C or a hang-up of the terminal reaches `rotor dev`
 * only, which stops the daemon first (its workers need the server to shut down cleanly) and then
 * the server with SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { connectTemporalClient, loopbackTemporalTarget } from '../daemon/temporal-connection.js';
import { LOOPBACK } from './ports.js';
import { toolsDir } from './tools.js';

export interface DevTemporal {
  /** `127.0.0.1:PORT` */
  address: string;
  namespace: string;
  /** The Web UI, `http://127.0.0.1:PORT` */
  uiUrl: string;
  /** e.g. `1.29.1`, as the server reports itself. */
  serverVersion: string;
  pid: number;
  stop(): Promise<void>;
}

export interface DevTemporalOptions {
  port: number;
  uiPort: number;
  /** SQLite file holding every namespace, workflow and history. */
  dbFile: string;
  namespace?: string;
}

/**
 * Dynamic config every dev server Rotor starts runs with (`rotor dev`, the tests, the bench; the
 * compose file repeats it): what a production cluster should set too (README, "Temporal").
 */
export const DEV_SERVER_DYNAMIC_CONFIG = [
  // Newly registered search attributes are queryable at once (the UI filter and `rotor history`).
  'system.forceSearchAttributesCacheRefreshOnRead=true',
  // A workflow task that schedules an activity hands it back to its own worker in the reply,
  // skipping a trip through matching per step (off by default in the server).
  'system.enableActivityEagerExecution=true',
  // The dev server has one history shard, and each shard reads its new tasks at most this often a
  // second (default 20): every step of every run waits up to 50 ms once the shard is busy, which
  // made back-to-back emergency rotations take 950 ms each (about 330 ms with this and eager activities).
  'history.transferProcessorMaxPollRPS=1000',
];

/** DEV_SERVER_DYNAMIC_CONFIG as `temporal server start-dev` takes it. */
export const DEV_SERVER_DYNAMIC_CONFIG_FLAGS = DEV_SERVER_DYNAMIC_CONFIG.flatMap((value) => ['--dynamic-config-value', value]);

/** Why `rotor dev` cannot start: a missing dev-only part, with the command that installs it. */
export class DevStackMissing extends Error {}

export function temporalCliPath(): string {
  const path = join(toolsDir, 'bin', 'temporal');
  if (!existsSync(path)) {
    throw new DevStackMissing(
      `rotor dev runs the Temporal dev server from ${path}, which is not installed. ` +
        'Run `npm run setup` (or `node scripts/setup-tools.mjs temporal-cli`): it builds the pinned Temporal CLI ' +
        'with Go (1.22 or newer on PATH) into .tools/ (or ROTOR_TOOLS_DIR).',
    );
  }
  return path;
}

export async function startDevTemporal(options: DevTemporalOptions): Promise<DevTemporal> {
  const namespace = options.namespace ?? 'default';
  const args = [
    'server', 'start-dev',
    '--ip', LOOPBACK,
    '--port', String(options.port),
    '--ui-port', String(options.uiPort),
    '--db-filename', options.dbFile,
    '--namespace', namespace,
    '--log-level', 'error',
    ...DEV_SERVER_DYNAMIC_CONFIG_FLAGS,
  ];
  const child = spawn(temporalCliPath(), args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString('utf8'));
    if (output.length > 50) output.shift();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(`exited (${signal ?? code})`)));
  const address = `${LOOPBACK}:${options.port}`;
  const uiUrl = `http://${LOOPBACK}:${options.uiPort}`;
  const stop = () => stopChild(child, exited);
  try {
    const serverVersion = await Promise.race([
      untilServing(address, uiUrl),
      exited.then((how) => Promise.reject(new Error(`the Temporal dev server ${how}:\n${output.join('').slice(-2000)}`))),
    ]);
    return { address, namespace, uiUrl, serverVersion, pid: child.pid!, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Waits until the frontend answers and the Web UI serves its page; the server's version. */
async function untilServing(address: string, uiUrl: string): Promise<string> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const connection = await connectTemporalClient(loopbackTemporalTarget(address), { connectTimeout: 2_000 });
      try {
        const info = await connection.workflowService.getSystemInfo({});
        const ui = await fetch(uiUrl, { signal: AbortSignal.timeout(2_000) });
        if (ui.ok) return info.serverVersion ?? 'unknown';
      } finally {
        await connection.close();
      }
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`the Temporal dev server did not answer on ${address} and ${uiUrl} within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** SIGTERM, then SIGKILL if it has not exited within 20 s. */
async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(killer);
}
