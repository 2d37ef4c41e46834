/**
 * What every command group of the `rotor` command shares: the global flags, the operator's settings,
 * the usage error (exit 2), how to reach Temporal, and the process helpers of the long-running commands.
 */
import { existsSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { parseDuration } from '../config/duration.js';
import { settingsFromEnv } from '../daemon/settings.js';
import { resolveTemporalTarget, withTemporalClient, type TemporalFlags, type TemporalTarget } from '../daemon/temporal-connection.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const settings = settingsFromEnv();

/** The global flags; the Temporal ones are TemporalFlags, with `--temporal` for the address. */
export interface GlobalOptions extends Omit<TemporalFlags, 'address'> {
  policies: string;
  databaseUrl: string;
  temporal?: string;
  taskQueue: string;
}

/** Where and how this invocation connects to Temporal: flags over TEMPORAL_* over the profile. */
export function temporalTarget(g: GlobalOptions): TemporalTarget {
  const { temporal, ...flags } = g;
  return resolveTemporalTarget({ ...flags, address: temporal });
}

/** Runs `run` with a Temporal client of this invocation, closing it after. */
export function withTemporal<T>(g: GlobalOptions, run: (client: Client) => Promise<T>): Promise<T> {
  return withTemporalClient(temporalTarget(g), run);
}

/** Resolves on SIGINT or SIGTERM: the daemon then stops its workers cleanly. */
export function untilSignalled(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** ROTOR_SHUTDOWN_GRACE in ms (refused unless a duration), or undefined: the default. */
export function shutdownGrace(): number | undefined {
  if (settings.shutdownGrace === undefined) return undefined;
  const ms = parseDuration(settings.shutdownGrace);
  if (ms === undefined) throw new UsageError('ROTOR_SHUTDOWN_GRACE must be a duration like 30s or 2m');
  return ms;
}

/** ROTOR_WORKFLOW_CACHE_SIZE (refused unless a whole number from 2 to 100,000), or undefined: the default. */
export function workflowCacheSize(): number | undefined {
  const text = settings.workflowCacheSize;
  if (text === undefined || text === '') return undefined;
  const n = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  // The SDK needs 2 at least (or 0, no cache, which would replay every run's history on every task).
  if (!(n >= 2 && n <= 100_000)) throw new UsageError(`ROTOR_WORKFLOW_CACHE_SIZE must be a whole number from 2 to 100000, got ${JSON.stringify(text.slice(0, 20))}`);
  return n;
}

/** The bundle named by ROTOR_WORKFLOW_BUNDLE (refused when absent), or undefined: bundle at start. */
export function prebuiltBundle(): { codePath: string } | undefined {
  if (!settings.workflowBundle) return undefined;
  if (!existsSync(settings.workflowBundle)) {
    throw new UsageError(`ROTOR_WORKFLOW_BUNDLE: no file at ${settings.workflowBundle} (write it with \`rotor bundle-workflows ${settings.workflowBundle}\`)`);
  }
  return { codePath: settings.workflowBundle };
}
