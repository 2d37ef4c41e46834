/**
 * Rotor workers in child processes (worker-process.ts), for the tests that SIGKILL one mid-step:
 * started against a test environment, their output kept for the leak scan, all killed at the end
 * whatever a test did.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { workflowBundle, type RotorEnv } from '../harness/env.js';
import { rotorProcessEnv } from '../harness/daemon-process.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./worker-process.ts', import.meta.url));

export interface WorkerProcesses {
  /** Starts a worker for the policies in `policyFile`; resolves once its workers poll. */
  start(policyFile: string): Promise<ChildProcess>;
  /** SIGKILLs a worker and resolves, with the signal it died of, once it has exited. */
  kill(child: ChildProcess): Promise<NodeJS.Signals | null>;
  /** Everything the workers printed (stdout and stderr), for the leak scan. */
  readonly output: string[];
  /** Kills every worker still alive (afterAll). */
  killAll(): void;
}

/** Workers of `env`'s task queue; the workflow bundle is built once and written into `dir`. */
export async function workerProcesses(env: RotorEnv, dir: string): Promise<WorkerProcesses> {
  // The parent's bundle, written to a file: bundling in each child would cost seconds per start.
  const bundlePath = join(dir, 'workflows.js');
  await writeFile(bundlePath, (await workflowBundle()).code);
  const children = new Set<ChildProcess>();
  const output: string[] = [];
  return {
    output,
    async start(policyFile) {
      const own: string[] = [];
      const child = spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT], {
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: {
          ...rotorProcessEnv(env),
          ROTOR_POLICY_FILE: policyFile,
          ROTOR_WORKFLOW_BUNDLE: bundlePath,
          VAULT_TOKEN: env.env.VAULT_TOKEN,
          PG_ADMIN_PASSWORD: env.env.PG_ADMIN_PASSWORD,
        },
      });
      children.add(child);
      child.once('exit', () => children.delete(child));
      const collect = (chunk: unknown) => {
        own.push(String(chunk));
        output.push(String(chunk));
      };
      child.stdout!.on('data', collect);
      child.stderr!.on('data', collect);
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`worker process exited (${code}) before it was ready:\n${own.join('').slice(-2000)}`)));
      });
      return child;
    },
    async kill(child) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      return child.signalCode;
    },
    killAll() {
      for (const child of children) child.kill('SIGKILL');
    },
  };
}
