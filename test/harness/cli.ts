import { vi } from 'vitest';
import { runCli } from '../../cli/main.js';
import type { RotorEnv } from './env.js';

/** Collects what the CLI writes to stdout and stderr during a test (restore with vi.restoreAllMocks). */
export function captureOutput(): { text(): string; clear(): void } {
  let out = '';
  const collect = (chunk: unknown) => ((out += String(chunk)), true);
  vi.spyOn(process.stdout, 'write').mockImplementation(collect);
  vi.spyOn(process.stderr, 'write').mockImplementation(collect);
  return { text: () => out, clear: () => void (out = '') };
}

/** Runs `rotor …` in process against a test environment and a policy directory; returns the exit code. */
export function cliFor(env: RotorEnv, policyDir: string) {
  return (...args: string[]) =>
    runCli([...args, '--policies', policyDir, '--database-url', env.postgres.url, '--temporal', env.temporal.address, '--task-queue', env.taskQueue]);
}
