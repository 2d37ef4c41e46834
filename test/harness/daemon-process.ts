/**
 * `rotor daemon` as operators run it: `node bin/rotor.js daemon` in its own process, configured
 * only through the environment, against a test environment's PostgreSQL, Temporal and task queue.
 * Tests send it signals, read its JSON log lines and wait for it to exit. Like the chart's pods it
 * runs a prebuilt workflow bundle (ROTOR_WORKFLOW_BUNDLE), written once per test file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, LOOPBACK } from './ports.js';
import { workflowBundle, type RotorEnv } from './env.js';

const ROTOR_BIN = fileURLToPath(new URL('../../bin/rotor.js', import.meta.url));

/** What a Rotor process started by a test connects to: the environment's Temporal, task queue and store. */
export function rotorProcessEnv(env: RotorEnv): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    TEMPORAL_ADDRESS: env.temporal.address,
    TEMPORAL_NAMESPACE: env.temporal.namespace,
    ROTOR_TASK_QUEUE: env.taskQueue,
    ROTOR_DATABASE_URL: env.postgres.url,
  };
}

export interface DaemonProcess {
  child: ChildProcess;
  /** http://127.0.0.1:PORT of its HTTP API. */
  httpAddress: string;
  apiToken: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Its JSON log lines whose `msg` is `message`. */
  logs(message: string): Array<Record<string, unknown>>;
  /** Resolves when a log line with this `msg` has been printed. */
  waitForLog(message: string): Promise<Record<string, unknown>>;
  /** How it ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Processes still running, for `killDaemonProcesses` in an afterAll whatever a test did. */
const alive = new Set<ChildProcess>();

let bundleDir: string | undefined;
let bundleFile: Promise<string> | undefined;

/** The workflow bundle as a file, as `rotor bundle-workflows` writes it. */
function bundleOnDisk(): Promise<string> {
  bundleFile ??= (async () => {
    bundleDir = await mkdtemp(join(tmpdir(), 'rotor-bundle-'));
    const path = join(bundleDir, 'workflows.js');
    await writeFile(path, (await workflowBundle()).code);
    return path;
  })();
  return bundleFile;
}

/** For afterAll: kills the daemons a test left running and removes the bundle file. */
export async function stopDaemonProcesses(): Promise<void> {
  await Promise.all([...alive].map((child) => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGKILL')))));
  if (bundleDir) await rm(bundleDir, { recursive: true, force: true });
}

/**
 * Starts the daemon on the policies in `policyDir` and resolves once /readyz answers 200 (workers
 * polling, store and Temporal answering). `extraEnv` adds settings such as ROTOR_SHUTDOWN_GRACE.
 */
export async function startDaemonProcess(env: RotorEnv, policyDir: string, extraEnv: Record<string, string> = {}): Promise<DaemonProcess> {
  const port = await freePort();
  const apiToken = randomBytes(24).toString('base64url');
  const child = spawn(process.execPath, [ROTOR_BIN, 'daemon'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...rotorProcessEnv(env),
      ROTOR_POLICIES: policyDir,
      ROTOR_HTTP_HOST: LOOPBACK,
      ROTOR_HTTP_PORT: String(port),
      ROTOR_API_TOKEN_REF: 'env:ROTOR_API_TOKEN',
      ROTOR_API_TOKEN: apiToken,
      ROTOR_LOG_LEVEL: 'info',
      ROTOR_WORKFLOW_BUNDLE: await bundleOnDisk(),
      // The values behind the test policies' secret references.
      ...env.env,
      ...extraEnv,
    } as NodeJS.ProcessEnv,
  });
  alive.add(child);
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (chunk: Buffer) => {
    out += String(chunk);
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      alive.delete(child);
      for (const w of waiters.splice(0)) w();
      resolve({ code, signal });
    }),
  );
  const logs = (message: string) =>
    out
      .split('\n')
      .slice(0, -1) // the last piece is a line still being written
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === message);
  const waitForLog = async (message: string) => {
    for (;;) {
      const found = logs(message)[0];
      if (found) return found;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`daemon exited before logging "${message}":\n${out.slice(-3000)}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const httpAddress = `http://${LOOPBACK}:${port}`;
  // Ready means polling: wait on /readyz (it needs the workflow bundle, seconds on a busy machine).
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`daemon exited before it was ready:\n${out.slice(-3000)}`);
    const status = await fetch(`${httpAddress}/readyz`).then((r) => r.status, () => 0);
    if (status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, httpAddress, apiToken, output: () => out, logs, waitForLog, exited };
}
