/** `rotor validate`, `rotor plan` and `rotor apply`: the policy directory and the Temporal Schedules it asks for. */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { preflightPolicy } from '../../activities/preflight.js';
import { daysBetween } from '../../audit/types.js';
import { loadDiscoveryConfig } from '../../config/discovery-load.js';
import { loadPolicyDirectory } from '../../config/load.js';
import { expiryInstant, type Policy } from '../../config/policy.js';
import { applyPolicyDirectory } from '../../daemon/apply.js';
import { desiredSchedules, listRotorSchedules, planScheduleChanges, type ScheduleChange } from '../../daemon/schedules.js';
import { createSecretResolver } from '../../daemon/secrets.js';
import { createLogger } from '../../lib/logger.js';
import { registry } from '../../providers/registry.js';
import { RotorStore } from '../../store/index.js';
import { settings, withTemporal, type GlobalOptions } from '../context.js';
import { printJson, printRows } from '../output.js';

export function registerPolicyCommands(program: Command, global: () => GlobalOptions): void {
  program
    .command('validate')
    .description('check policy files; nothing is changed')
    .argument('[dir]', 'policy file or directory')
    .option('--json', 'machine-readable output')
    .action(async (dir: string | undefined, opts: { json?: boolean }) => {
      const { policies, manual } = await loadPolicyDirectory(dir ?? global().policies, registry.catalog);
      const rows = policies.map((p) => ({
        id: p.id,
        type: p.credential.type,
        strategy: p.strategy,
        every: p.schedule.every ?? p.schedule.cron,
        owner: p.owner,
        environment: p.environment,
        file: p.source.file,
      }));
      printRows(rows, { json: opts.json, columns: ['id', 'type', 'strategy', 'every', 'owner', 'environment', 'file'] });
      if (opts.json) return;
      process.stdout.write(`${policies.length} polic${policies.length === 1 ? 'y' : 'ies'} valid\n`);
      if (manual.length > 0) {
        process.stdout.write(`${manual.length} manual credential${manual.length === 1 ? '' : 's'} (reminded before expiry, not rotated): ${manual.map((m) => m.id).join(', ')}\n`);
      }
    });

  program
    .command('plan')
    .description('show what apply would change in Temporal Schedules, and which credentials are overdue')
    .argument('[dir]', 'policy file or directory')
    .option('--check', 'also run every policy\'s pre-flight (permissions, limits); exit 1 when one fails')
    .option('--json', 'machine-readable output')
    .action(async (dir: string | undefined, opts: { json?: boolean; check?: boolean }) => {
      await withTemporal(global(), async (client) => {
        const { changes, policies, manual } = await planFromPolicies(client, dir ?? global().policies, global().taskQueue);
        const preflight = opts.check ? await preflightAll(policies) : undefined;
        if (preflight && Object.values(preflight).some((p) => p.length > 0)) process.exitCode = 1;
        const due = await dueDates(global().databaseUrl, policies.map((p) => p.id));
        const credentials = changes.map((c) => ({ credential: c.credentialId, schedule: c.kind, ...due.get(c.credentialId) }));
        const now = new Date();
        const manualRows = manual.map((m) => ({ credential: m.id, system: m.system, type: m.type, expires: m.expires, daysLeft: daysBetween(now, new Date(expiryInstant(m.expires))) }));
        if (opts.json) return printJson({ changes, credentials, manual: manualRows, ...(preflight ? { preflight } : {}) });
        printPlan(changes);
        process.stdout.write('\n');
        printRows(credentials, { columns: ['credential', 'schedule', 'lastRotated', 'nextDue', 'overdue'] });
        if (manualRows.length > 0) {
          process.stdout.write('\nmanual credentials (no API rotates them; rotor/reminders reminds their owners):\n');
          printRows(manualRows, { columns: ['credential', 'system', 'type', 'expires', 'daysLeft'] });
        }
        if (preflight) {
          process.stdout.write('\npre-flight:\n');
          for (const [id, problems] of Object.entries(preflight)) {
            process.stdout.write(problems.length ? problems.map((p) => `  ✗ ${id}: ${p}\n`).join('') : `  ✓ ${id}\n`);
          }
        }
      });
    });

  program
    .command('apply')
    .description('make Temporal Schedules match the policies (bad policies: nothing changes)')
    .argument('[dir]', 'policy file or directory')
    .option('--json', 'machine-readable output')
    .action(async (dir: string | undefined, opts: { json?: boolean }) => {
      const g = global();
      await withTemporal(g, async (client) => {
        const target = dir ?? g.policies;
        // Everything is validated before anything changes.
        const directory = await loadPolicyDirectory(target, registry.catalog);
        const discovery = await loadDiscoveryConfig(target, registry.catalog);
        const store = await RotorStore.connect(g.databaseUrl);
        let changes: ScheduleChange[];
        try {
          changes = await applyPolicyDirectory({ client, store, providers: registry, taskQueue: g.taskQueue }, directory, discovery);
        } finally {
          await store.close();
        }
        if (opts.json) return printJson({ changes });
        printPlan(changes);
      });
    });
}

async function planFromPolicies(client: Client, dir: string, taskQueue: string) {
  const { policies, manual } = await loadPolicyDirectory(dir, registry.catalog);
  const desired = desiredSchedules(policies, registry, taskQueue);
  const changes = planScheduleChanges(desired, await listRotorSchedules(client));
  return { policies, manual, desired, changes };
}

const PLAN_SIGNS: Record<ScheduleChange['kind'], string> = { create: '+', update: '~', pause: '‖', unpause: '▶', delete: '-', unchanged: ' ' };

function printPlan(changes: ScheduleChange[]): void {
  for (const c of changes) if (c.kind !== 'unchanged') process.stdout.write(`${PLAN_SIGNS[c.kind]} ${c.scheduleId} (${c.kind})\n`);
  const count = (kind: ScheduleChange['kind']) => changes.filter((c) => c.kind === kind).length;
  process.stdout.write(
    `\n${count('create')} to create, ${count('update')} to change, ${count('pause') + count('unpause')} to pause/unpause, ${count('delete')} to delete, ${count('unchanged')} unchanged\n`,
  );
}

async function preflightAll(policies: Policy[]): Promise<Record<string, string[]>> {
  const resolveSecret = createSecretResolver({ vaultAddress: settings.vaultAddress, vaultTokenRef: settings.vaultToken });
  const logger = createLogger({ level: 'silent' });
  const out: Record<string, string[]> = {};
  for (const p of policies) out[p.id] = await preflightPolicy(p, registry, { rotationId: 'preflight', logger, resolveSecret });
  return out;
}

/** Last rotation, next due date and overdue flag per credential, from the inventory. */
async function dueDates(databaseUrl: string, ids: string[]) {
  const store = await RotorStore.connect(databaseUrl);
  try {
    const now = Date.now();
    const wanted = new Set(ids);
    return new Map(
      (await store.listCredentials())
        .filter((c) => wanted.has(c.id))
        .map((c) => [c.id, { lastRotated: c.lastRotatedAt, nextDue: c.nextDueAt, overdue: c.nextDueAt ? c.nextDueAt.getTime() < now : c.lastRotatedAt === null }]),
    );
  } finally {
    await store.close();
  }
}
