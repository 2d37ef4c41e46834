/**
 * What the operator reads about where rotations stand: `rotor status` (inventory, and for one
 * credential its material stages, live step and recent runs) and the progress `rotor rotate --wait`
 * prints. One column vocabulary for list and detail views; durations in words, never milliseconds.
 */
import type { Command } from 'commander';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { describeLive, describePendingStep, liveRotationStatus, materialStages, type LiveStatus } from '../daemon/live-status.js';
import { humanDuration } from '../lib/human-duration.js';
import type { CredentialRow, RotorStore } from '../store/index.js';
import { RotorStore as Store } from '../store/index.js';
import { triggerText, upgradedRuns } from '../daemon/history.js';
import { statusQuery } from '../workflows/messages.js';
import { isOutcome, type RotationResult, type RotationStatus } from '../workflows/types.js';
import { printJson, printRows } from './output.js';

/** The credential columns, the same in the list and the detail view. */
export const CREDENTIAL_COLUMNS = ['id', 'type', 'status', 'owner', 'lastRotated', 'nextDue', 'current'] as const;

export function credentialRow(c: CredentialRow): Record<(typeof CREDENTIAL_COLUMNS)[number], unknown> {
  return { id: c.id, type: c.type, status: c.status, owner: c.owner, lastRotated: c.lastRotatedAt, nextDue: c.nextDueAt, current: c.currentMaterial };
}

/** Runs `run` with a client of Rotor's Temporal (daemon/temporal-connection.ts), closing it after. */
export type WithTemporalClient = <T>(run: (client: Client) => Promise<T>) => Promise<T>;

/** The status query's answer and the steps Temporal is running or retrying; undefined when Temporal is unreachable. */
export async function liveStatus(withClient: WithTemporalClient, credentialId: string): Promise<LiveStatus | undefined> {
  try {
    return await withClient((client) => liveRotationStatus(client, credentialId));
  } catch {
    return undefined; // Temporal unreachable: the store's view is still worth printing
  }
}

export function registerStatusCommand(
  program: Command,
  global: () => { databaseUrl: string },
  withClient: WithTemporalClient,
  usageError: (message: string) => Error,
): void {
  program
    .command('status')
    .description('inventory and rotation state; with a credential, its material stages, live step and recent runs')
    .argument('[credential]', 'credential id')
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string | undefined, opts: { json?: boolean }) => {
      const store = await Store.connect(global().databaseUrl);
      try {
        if (!credentialId) {
          const rows = await store.listCredentials();
          return printRows(rows.map(credentialRow), { json: opts.json, columns: [...CREDENTIAL_COLUMNS] });
        }
        const credential = await store.getCredential(credentialId);
        if (!credential) throw usageError(`credential ${credentialId} is not in the inventory`);
        await printDetail(store, withClient, credential, opts.json === true);
      } finally {
        await store.close();
      }
    });
}

async function printDetail(store: RotorStore, withClient: WithTemporalClient, credential: CredentialRow, json: boolean): Promise<void> {
  const runs = await store.listRuns(credential.id, 10);
  const current = runs[0]?.outcome === 'running' ? await liveStatus(withClient, credential.id) : undefined;
  const live = current?.status;
  const upgraded = await upgradedRuns(store, credential.id);
  const runRows = runs.map((r) => ({
    started: r.startedAt,
    trigger: triggerText(r.trigger, upgraded.has(r.rotationId)),
    outcome: r.outcome,
    step: r.step,
    error: r.error,
    runId: r.rotationId,
  }));
  const materials = materialStages(credential, live);
  if (json) {
    printJson({
      credential: { ...credentialRow(credential), purpose: credential.purpose, environment: credential.environment, expires: credential.expires },
      materials,
      live: live ? { ...live, text: describeLive(live, new Date()) } : undefined,
      steps: current?.steps,
      runs: runRows,
    });
    return;
  }
  printRows([credentialRow(credential)], { columns: [...CREDENTIAL_COLUMNS] });
  process.stdout.write('\n');
  printRows(
    (['pending', 'current', 'previous'] as const).map((stage) => ({ stage, material: materials[stage] })),
    { columns: ['stage', 'material'] },
  );
  if (live) {
    process.stdout.write(`\nnow: ${describeLive(live, new Date())}\n`);
    if (live.upgradedFrom) process.stdout.write(`trigger: ${live.upgradedFrom} → emergency (upgraded while running)\n`);
    if (live.lastError) process.stdout.write(`last error: ${live.lastError}\n`);
  } else if (current) {
    process.stdout.write('\nnow: no worker answers (the step below waits for one)\n');
  }
  // Steps Temporal is running or retrying: a retried one shows its attempt and why the last failed.
  for (const step of current?.steps ?? []) process.stdout.write(`${step.attempt > 1 ? 'retrying' : 'running'}: ${describePendingStep(step)}\n`);
  process.stdout.write('\n');
  printRows(runRows, { columns: ['started', 'trigger', 'outcome', 'step', 'error', 'runId'] });
}

/**
 * Waits for a rotation's result and shows its progress on `out`: the step and what it waits for,
 * rewritten in place on a TTY, one line per change otherwise. Polls the status query.
 */
export async function waitWithProgress(
  handle: WorkflowHandle,
  out: { write(text: string): unknown; isTTY?: boolean },
  pollMs = 500,
): Promise<RotationResult> {
  let done = false;
  const result = (handle.result() as Promise<RotationResult>).finally(() => (done = true));
  let last = '';
  let drawn = false;
  while (!done) {
    const live = await handle.query(statusQuery).catch(() => undefined);
    // The outcome itself is printed by the caller, with its error.
    if (live && !done && !isOutcome(live.step)) {
      // A line per step and wait: the countdown moves only on a TTY.
      const key = `${live.step}|${live.waitingFor ?? ''}`;
      const text = describeProgress(live, new Date());
      if (out.isTTY) {
        out.write(`\r\x1b[2K${text}`);
        drawn = true;
      } else if (key !== last) {
        out.write(`${text}\n`);
      }
      last = key;
    }
    await Promise.race([result.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, pollMs))]);
  }
  if (drawn) out.write('\r\x1b[2K');
  return result;
}

function describeProgress(live: RotationStatus, now: Date): string {
  if (!live.waitingFor) return `… ${live.step}`;
  const left = live.until ? new Date(live.until).getTime() - now.getTime() : undefined;
  return `… ${live.step}: waiting ${left !== undefined ? `${humanDuration(left)} more ` : ''}for ${live.waitingFor}`;
}
