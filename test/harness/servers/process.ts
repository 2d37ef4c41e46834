/**
 * What the real-server harnesses (MariaDB, Redis, slapd) share: a Debian binary that must be
 * installed, a child process whose output is kept for the error when it does not come up, waiting on
 * a condition (never a fixed sleep) and a stop that waits for the process to exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The absolute path of a binary a Debian package installs, or an error naming the set-up step. */
export function debianBinary(path: string, tool: string): string {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`node scripts/setup-tools.mjs ${tool}\` (npm test runs it; it installs the Debian package)`);
  }
  return path;
}

export interface ServerProcess {
  child: ChildProcess;
  /** Everything the process wrote so far, for error messages. */
  output(): string;
  /** Ends the process (SIGTERM, then SIGKILL after 10 s) and waits for it to exit. */
  stop(): Promise<void>;
}

export function startProcess(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ServerProcess {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  child.stdout?.on('data', (d: Buffer) => chunks.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => chunks.push(d.toString()));
  child.on('error', (e) => chunks.push(String(e)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => chunks.join('').slice(-4000),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls `ready` until it returns true; fails with `describe()` when the process exits or after `timeoutMs`. */
export async function waitUntil(ready: () => Promise<boolean>, server: ServerProcess, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.child.exitCode !== null) throw new Error(`${what} exited with ${server.child.exitCode}:\n${server.output()}`);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
