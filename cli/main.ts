/**
 * The `rotor` command. Exit codes: 0 ok, 1 the operation failed, 2 bad input (arguments, policies,
 * unknown credential).
 */
import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { Client } from '@temporalio/client';
import { loadPolicies, loadPolicyDirectory, PolicyLoadError, formatProblem } from '../config/load.js';
import { loadDiscoveryConfig } from '../config/discovery-load.js';
import { applyPolicyDirectory } from '../daemon/apply.js';
import { expiryInstant } from '../config/policy.js';
import { daysBetween } from '../audit/types.js';
import { createLogger } from '../lib/logger.js';
import { registry } from '../providers/registry.js';
import { RotorStore } from '../store/index.js';
import { PolicySet } from '../daemon/policies.js';
import { createSecretResolver } from '../daemon/secrets.js';
import { settingsFromEnv } from '../daemon/settings.js';
import { createRotorWorkers } from '../daemon/worker.js';
import { startDaemon } from '../daemon/run.js';
import { rotationHistory } from '../daemon/history.js';
import { preflightPolicy } from '../daemon/preflight.js';
import type { Policy } from '../config/policy.js';
import { inventoryEntry } from '../daemon/inventory.js';
import { desiredSchedules, listRotorSchedules, planScheduleChanges, type ScheduleChange } from '../daemon/schedules.js';
import { RotationAlreadyRunning, rotationResult, rotationWorkflowId, startRotation } from '../daemon/rotations.js';
import { statusQuery } from '../workflows/protocol.js';
import { printJson, printRows } from './output.js';
import { fingerprintValue } from '../lib/material.js';
import { registerAuditCommands, type GlobalOptions } from './audit.js';
import { connectTemporalWorker, resolveTemporalTarget, TemporalConfigError, withTemporalClient, type TemporalTarget } from '../daemon/temporal-connection.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const settings = settingsFromEnv();

export function buildProgram(): Command {
  const program = new Command('rotor')
    .description('Rotates the secrets of non-human identities on Temporal')
    .option('--policies <dir>', 'policy file or directory', settings.policyDir)
    .option('--database-url <url>', 'Rotor store (PostgreSQL)', settings.databaseUrl)
    // Temporal: as the `temporal` CLI (TEMPORAL_* variables and temporal.toml profiles; these flags win).
    // No --api-key flag: a key on the command line is visible to every user of the host (ps).
    .option('--temporal <address>', 'Temporal frontend host:port (TEMPORAL_ADDRESS; default 127.0.0.1:7233)')
    .option('--namespace <name>', 'Temporal namespace (TEMPORAL_NAMESPACE; default "default")')
    .option('--profile <name>', 'profile of the Temporal config file (TEMPORAL_PROFILE)')
    .option('--config-file <path>', 'Temporal config file (TEMPORAL_CONFIG_FILE; default ~/.config/temporalio/temporal.toml)')
    .option('--tls', 'connect to Temporal over TLS (TEMPORAL_TLS)')
    .option('--tls-cert-path <path>', 'client certificate for mTLS (TEMPORAL_TLS_CLIENT_CERT_PATH)')
    .option('--tls-key-path <path>', 'its private key (TEMPORAL_TLS_CLIENT_KEY_PATH)')
    .option('--tls-ca-path <path>', 'CA that signed the server certificate (TEMPORAL_TLS_SERVER_CA_CERT_PATH)')
    .option('--tls-server-name <name>', 'server name the certificate must carry (TEMPORAL_TLS_SERVER_NAME)')
    .option('--task-queue <name>', 'Temporal task queue', settings.taskQueue)
    .version(packageVersion(), '--version', 'print Rotor\'s version')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  const global = () => program.opts<GlobalOptions>();

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
    .command('rotate')
    .description('start a rotation of one credential now')
    .argument('<credential>', 'credential id')
    .option('--wait', 'wait for the rotation to finish and exit 1 unless it succeeded')
    .option('--reason <text>', 'why, recorded in the audit log')
    .option('--emergency', 'no grace period: revoke the old material as soon as dependents serve the new one')
    .option('--revoke-first', 'with --emergency: revoke the old material before propagating (dependents fail meanwhile)')
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string, opts: { wait?: boolean; reason?: string; emergency?: boolean; revokeFirst?: boolean; json?: boolean }) => {
      if (opts.revokeFirst && !opts.emergency) throw new UsageError('--revoke-first needs --emergency');
      const g = global();
      const policies = await loadPolicies(g.policies, registry.catalog);
      const policy = policies.find((p) => p.id === credentialId);
      if (!policy) throw new UsageError(`no policy for credential ${credentialId} in ${g.policies}`);
      await withTemporalClient(temporalTarget(g), async (client) => {
        const { handle, runId } = await startRotation(client, registry, policy, {
          taskQueue: g.taskQueue,
          trigger: opts.emergency ? 'emergency' : 'manual',
          reason: opts.reason,
          revokeFirst: opts.revokeFirst,
        });
        const started = { credential: credentialId, workflowId: handle.workflowId, runId };
        if (!opts.wait) return opts.json ? printJson(started) : void process.stdout.write(`started ${handle.workflowId} (run ${started.runId})\n`);
        const result = await rotationResult(handle);
        if (opts.json) printJson({ ...started, ...result });
        else process.stdout.write(`${credentialId}: ${result.outcome}${result.error ? ` — ${result.error}` : ''}\n`);
        if (result.outcome !== 'succeeded') process.exitCode = 1;
      });
    });

  program
    .command('leak')
    .description('a secret leaked: find its credential by public id or value fingerprint and rotate it as an emergency')
    .argument('[value]', 'the leaked value or public id (AWS key id, key id); omit or "-" to read it from stdin (keeps it out of shell history)')
    .option('--reason <text>', 'why, recorded in the audit log', 'leak reported')
    .option('--revoke-first', 'confirmed compromise: revoke the old material before propagating')
    .option('--dry-run', 'only say which credential matches')
    .option('--json', 'machine-readable output')
    .action(async (value: string | undefined, opts: { reason: string; revokeFirst?: boolean; dryRun?: boolean; json?: boolean }) => {
      const g = global();
      const leaked = value && value !== '-' ? value : (await readStdin()).trim();
      if (!leaked) throw new UsageError('give the leaked value or id, or pipe it on stdin');
      const store = await RotorStore.connect(g.databaseUrl);
      let matches;
      try {
        matches = [...(await store.findMaterial(leaked)), ...(await store.findMaterial(fingerprintValue(leaked)))];
      } finally {
        await store.close();
      }
      const credentialIds = [...new Set(matches.map((m) => m.credentialId))];
      if (credentialIds.length === 0) throw new UsageError('no managed credential has this value or id (nothing started)');
      const policies = await loadPolicies(g.policies, registry.catalog);
      const started = [];
      for (const id of credentialIds) {
        const policy = policies.find((p) => p.id === id);
        if (!policy) throw new UsageError(`credential ${id} matches but has no policy any more: decommission it by hand`);
        if (opts.dryRun) {
          started.push({ credential: id, started: false });
          continue;
        }
        const run = await withTemporal(g, (client) =>
          startRotation(client, registry, policy, { taskQueue: g.taskQueue, trigger: 'emergency', reason: opts.reason, revokeFirst: opts.revokeFirst }),
        );
        started.push({ credential: id, started: true, workflowId: run.handle.workflowId, runId: run.runId });
      }
      if (opts.json) return printJson(started);
      for (const s of started) process.stdout.write(`${s.credential}: ${s.started ? `emergency rotation started (${s.workflowId})` : 'matches (dry run)'}\n`);
    });

  program
    .command('history')
    .description('past rotations of a credential, from Temporal and the store')
    .argument('<credential>', 'credential id')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string, opts: { limit: string; json?: boolean }) => {
      const g = global();
      const store = await RotorStore.connect(g.databaseUrl);
      try {
        const rows = await withTemporal(g, (client) => rotationHistory(client, store, credentialId, Number(opts.limit)));
        printRows(rows as unknown as Array<Record<string, unknown>>, { json: opts.json, columns: ['started', 'trigger', 'status', 'outcome', 'step', 'error', 'runId'] });
      } finally {
        await store.close();
      }
    });

  program
    .command('status')
    .description('inventory and rotation state; with a credential, its recent runs and live step')
    .argument('[credential]', 'credential id')
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string | undefined, opts: { json?: boolean }) => {
      const store = await RotorStore.connect(global().databaseUrl);
      try {
        if (!credentialId) {
          const rows = await store.listCredentials();
          return printRows(
            rows.map((c) => ({ id: c.id, type: c.type, status: c.status, owner: c.owner, lastRotated: c.lastRotatedAt, nextDue: c.nextDueAt, current: c.currentMaterial })),
            { json: opts.json, columns: ['id', 'type', 'status', 'owner', 'lastRotated', 'nextDue', 'current'] },
          );
        }
        const credential = await store.getCredential(credentialId);
        if (!credential) throw new UsageError(`credential ${credentialId} is not in the inventory`);
        const runs = await store.listRuns(credentialId, 10);
        const live = runs[0]?.outcome === 'running' ? await liveStatus(global(), credentialId) : undefined;
        if (opts.json) return printJson({ credential, live, runs });
        printRows([{ ...credential }], { columns: ['id', 'type', 'status', 'owner', 'lastRotatedAt', 'nextDueAt', 'currentMaterial'] });
        if (live) process.stdout.write(`\nnow: ${live.step} since ${live.since}${live.waitingFor ? `, waiting for ${live.waitingFor}` : ''}${live.lastError ? `\nlast error: ${live.lastError}` : ''}\n`);
        process.stdout.write('\n');
        printRows(
          runs.map((r) => ({ started: r.startedAt, trigger: r.trigger, outcome: r.outcome, step: r.step, error: r.error, run: r.rotationId })),
          { columns: ['started', 'trigger', 'outcome', 'step', 'error', 'run'] },
        );
      } finally {
        await store.close();
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

  program
    .command('daemon')
    .description('run the workers, the schedule reconciler (on start, SIGHUP and file change) and the HTTP API')
    .action(async () => {
      const g = global();
      if (!settings.apiTokenRef) throw new UsageError('ROTOR_API_TOKEN_REF must name the HTTP API token (env:NAME or file:/path)');
      const resolveSecret = createSecretResolver({ vaultAddress: settings.vaultAddress, vaultTokenRef: settings.vaultToken });
      const daemon = await startDaemon({
        databaseUrl: g.databaseUrl,
        temporal: temporalTarget(g),
        taskQueue: g.taskQueue,
        policyDir: g.policies,
        http: { host: settings.httpHost, port: settings.httpPort },
        apiToken: await resolveSecret(settings.apiTokenRef),
        githubWebhookSecret: settings.githubWebhookSecretRef ? await resolveSecret(settings.githubWebhookSecretRef) : undefined,
        providers: registry,
        logger: createLogger(),
        resolveSecret,
      });
      await untilSignalled();
      await daemon.stop();
    });

  program
    .command('migrate')
    .description('bring the store\'s schema up to date (the daemon does it at start; other commands only check it)')
    .action(async () => {
      const store = await RotorStore.connect(global().databaseUrl, { migrate: true });
      await store.close();
      process.stdout.write('store schema up to date\n');
    });

  program
    .command('dev')
    .description('the demo without Docker: embedded PostgreSQL, Vault emulator, in-memory Temporal and the daemon')
    .option('--dir <dir>', 'where the demo keeps its files', '.rotor-dev')
    .option('--temporal-port <port>', 'port of the in-memory Temporal server', '7233')
    .option('--http-port <port>', 'port of the HTTP API', String(settings.httpPort))
    .option('--every <duration>', 'rotation cadence of the demo credential', '2m')
    .action(async (opts: { dir: string; temporalPort: string; httpPort: string; every: string }) => {
      // The demo runs the test harness (embedded PostgreSQL, emulators): a source checkout's, never the image's.
      if (!existsSync(new URL('../test/harness/postgres.ts', import.meta.url))) {
        throw new UsageError('rotor dev is a development command: it needs a source checkout with its dev dependencies (git clone, npm ci); this production build does not ship them');
      }
      const { runDev } = await import('./dev.js');
      await runDev({ dir: opts.dir, temporalPort: Number(opts.temporalPort), httpPort: Number(opts.httpPort), every: opts.every }, untilSignalled());
    });

  program
    .command('worker')
    .description('run the Temporal worker that executes rotations')
    .action(async () => {
      const g = global();
      const logger = createLogger();
      const policies = await PolicySet.load(g.policies, registry.catalog);
      const store = await RotorStore.connect(g.databaseUrl);
      await store.upsertCredentials(policies.all().map((p) => inventoryEntry(p)));
      const target = temporalTarget(g);
      const connection = await connectTemporalWorker(target);
      const workers = await createRotorWorkers({
        connection,
        namespace: target.namespace,
        taskQueue: g.taskQueue,
        store,
        policies,
        providers: registry,
        logger,
        resolveSecret: createSecretResolver({ vaultAddress: settings.vaultAddress, vaultTokenRef: settings.vaultToken }),
        policyDir: g.policies,
      });
      logger.info({ taskQueue: g.taskQueue, policies: policies.all().length }, 'worker started');
      try {
        await Promise.all(workers.map((w) => w.run()));
      } finally {
        await connection.close();
        await store.close();
      }
    });

  registerAuditCommands(program, global);
  return program;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Resolves on SIGINT or SIGTERM: the daemon then stops its workers cleanly. */
export function untilSignalled(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** Where and how this invocation connects to Temporal: flags over TEMPORAL_* over the profile. */
export function temporalTarget(g: GlobalOptions): TemporalTarget {
  const { temporal, ...flags } = g;
  return resolveTemporalTarget({ ...flags, address: temporal });
}

function withTemporal<T>(g: GlobalOptions, run: (client: Client) => Promise<T>): Promise<T> {
  return withTemporalClient(temporalTarget(g), run);
}

/** package.json's version: the one `npm pack` and the image carry. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
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

async function liveStatus(g: GlobalOptions, credentialId: string) {
  try {
    return await withTemporal(g, (client) => client.workflow.getHandle(rotationWorkflowId(credentialId)).query(statusQuery));
  } catch {
    return undefined; // Temporal unreachable: the store's view is still worth printing
  }
}


/** Runs the CLI and returns the exit code instead of exiting (tests call this). */
export async function runCli(argv: string[]): Promise<number> {
  process.exitCode = undefined;
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof PolicyLoadError) {
      process.stderr.write(`policies refused, nothing changed:\n${error.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}\n`);
      return 2;
    }
    if (error instanceof UsageError || error instanceof TemporalConfigError) {
      process.stderr.write(`rotor: ${error.message}\n`);
      return 2;
    }
    if (error instanceof RotationAlreadyRunning) {
      process.stderr.write(`rotor: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`rotor: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
