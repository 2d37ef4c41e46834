/**
 * The `rotor` command. Exit codes: 0 ok, 1 the operation failed, 2 bad input (arguments, policies,
 * unknown credential).
 */
import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { Client } from '@temporalio/client';
import { incidentPolicy, inspectPolicyDirectory, loadPolicies, loadPolicyDirectory, PolicyLoadError, formatProblem, type PolicyInspection } from '../config/load.js';
import { loadDiscoveryConfig } from '../config/discovery-load.js';
import { OperatorSettingError, secretRefAllowlist } from '../config/secret-ref.js';
import { applyPolicyDirectory } from '../daemon/apply.js';
import { expiryInstant } from '../config/policy.js';
import { daysBetween } from '../audit/types.js';
import { createLogger } from '../lib/logger.js';
import { registry } from '../providers/registry.js';
import { RotorStore } from '../store/index.js';
import { PolicySet } from '../daemon/policies.js';
import { createSecretResolver } from '../daemon/secrets.js';
import { SECRET_REF_SETTINGS, settingsFromEnv } from '../daemon/settings.js';
import { parseDuration } from '../config/duration.js';
import { isSecretRef } from '../config/secret-ref.js';
import { ApiTokenTooShort } from '../daemon/http.js';
import { createRotorWorkers, DEFAULT_SHUTDOWN_GRACE_MS, writeWorkflowBundle } from '../daemon/worker.js';
import { closeProviderConnections } from '../providers/connection-pools.js';
import { startDaemon } from '../daemon/run.js';
import { rotationHistory } from '../daemon/history.js';
import { preflightPolicy } from '../daemon/preflight.js';
import type { Policy } from '../config/policy.js';
import { inventoryEntry } from '../daemon/inventory.js';
import { desiredSchedules, listRotorSchedules, planScheduleChanges, type ScheduleChange } from '../daemon/schedules.js';
import { refuseRetired, RotationAlreadyRunning, RotationRefused, startRotation } from '../daemon/rotations.js';
import { printJson, printRows } from './output.js';
import { fingerprintValue } from '../lib/material.js';
import { revokedMaterial } from '../store/leaks.js';
import { registerAuditCommands, type GlobalOptions } from './audit.js';
import { registerDecisionCommands } from './decisions.js';
import { registerStatusCommand, waitWithProgress } from './status.js';
import { connectTemporalWorker, resolveTemporalTarget, TemporalConfigError, withTemporalClient, type TemporalTarget } from '../daemon/temporal-connection.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const settings = settingsFromEnv();

export function buildProgram(): Command {
  const program = new Command('rotor')
    .description('Rotates the secrets of non-human identities on Temporal')
    .option('--policies <dir>', 'policy file or directory', settings.policyDir)
    // No default shown: the URL may carry a password. Unset: ROTOR_DATABASE_URL, else the local default.
    .option('--database-url <url>', 'Rotor store (PostgreSQL) (default: $ROTOR_DATABASE_URL, else postgres://rotor@127.0.0.1:5432/rotor)')
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

  const global = (): GlobalOptions => {
    const opts = program.opts<Omit<GlobalOptions, 'databaseUrl'> & { databaseUrl?: string }>();
    return { ...opts, databaseUrl: opts.databaseUrl ?? settings.databaseUrl };
  };

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
      // An emergency needs only its own credential's document to be valid (issue: an unrelated broken file must not block it).
      const policy = opts.emergency
        ? incidentPolicyOrWarn(await inspectPolicyDirectory(g.policies, registry.catalog), credentialId)
        : (await loadPolicies(g.policies, registry.catalog)).find((p) => p.id === credentialId);
      if (!policy) throw new UsageError(`no policy for credential ${credentialId} in ${g.policies}`);
      await refuseRetired(g.databaseUrl, credentialId, { actor: 'cli', trigger: opts.emergency ? 'emergency' : 'manual', reason: opts.reason });
      await withTemporalClient(temporalTarget(g), async (client) => {
        const { handle, runId } = await startRotation(client, registry, policy, {
          taskQueue: g.taskQueue,
          trigger: opts.emergency ? 'emergency' : 'manual',
          reason: opts.reason,
          revokeFirst: opts.revokeFirst,
        });
        const started = { credential: credentialId, workflowId: handle.workflowId, runId };
        if (!opts.wait) return opts.json ? printJson(started) : void process.stdout.write(`started ${handle.workflowId} (run ${started.runId})\n`);
        // Progress on stderr, so `--json` keeps stdout to the result.
        const result = await waitWithProgress(handle, process.stderr);
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
      try {
        // The value's fingerprint first: it names the very material (a public id names its newest use).
        const matches = [...(await store.findMaterial(fingerprintValue(leaked))), ...(await store.findMaterial(leaked))];
        const credentialIds = [...new Set(matches.map((m) => m.credentialId))];
        if (credentialIds.length === 0) throw new UsageError('no managed credential has this value or id (nothing started)');
        // An emergency needs only its own credential's document to be valid.
        const inspection = await inspectPolicyDirectory(g.policies, registry.catalog);
        const results: Array<{ credential: string; started: boolean; workflowId?: string; runId?: string; alreadyRevoked?: { material: string; how: string; at: Date } }> = [];
        for (const id of credentialIds) {
          const policy = incidentPolicyOrWarn(inspection, id, id !== credentialIds[0]);
          if (!policy) throw new UsageError(`credential ${id} matches but has no policy any more: decommission it by hand`);
          // A value that is dead already needs no emergency: say so, start nothing, record it.
          const dead = await revokedMaterial(store, matches.find((m) => m.credentialId === id)!);
          if (dead) {
            results.push({ credential: id, started: false, alreadyRevoked: { material: dead.materialId, how: dead.how, at: dead.at } });
            if (!opts.dryRun) {
              await store.appendAudit({
                credentialId: id,
                actor: 'operator',
                event: 'leak.already-revoked',
                detail: { source: 'rotor leak', reason: opts.reason, material: dead.materialId, how: dead.how, revokedAt: dead.at.toISOString() },
              });
            }
            continue;
          }
          if (opts.dryRun) {
            results.push({ credential: id, started: false });
            continue;
          }
          const run = await withTemporal(g, (client) =>
            startRotation(client, registry, policy, { taskQueue: g.taskQueue, trigger: 'emergency', reason: opts.reason, revokeFirst: opts.revokeFirst }),
          );
          results.push({ credential: id, started: true, workflowId: run.handle.workflowId, runId: run.runId });
        }
        if (opts.json) return printJson(results);
        for (const r of results) {
          process.stdout.write(
            r.alreadyRevoked
              ? `${r.credential}: this value is already dead (material ${r.alreadyRevoked.material} ${r.alreadyRevoked.how} at ${r.alreadyRevoked.at.toISOString()}): nothing started. If it still works somewhere, rotate it: rotor rotate ${r.credential} --emergency\n`
              : `${r.credential}: ${r.started ? `emergency rotation started (${r.workflowId})` : 'matches (dry run)'}\n`,
          );
        }
      } finally {
        await store.close();
      }
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

  registerStatusCommand(program, global, (run) => withTemporal(global(), run), (message) => new UsageError(message));
  registerDecisionCommands(program, global, (run) => withTemporal(global(), run));

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
      const shutdownGraceMs = shutdownGrace();
      for (const name of SECRET_REF_SETTINGS) {
        const value = process.env[name];
        if (value && !isSecretRef(value)) throw new UsageError(`${name} is not a secret reference (env:NAME, file:/path or vault:mount/path#key); its value is not shown`);
      }
      const resolveSecret = createSecretResolver({ vaultAddress: settings.vaultAddress, vaultTokenRef: settings.vaultToken });
      // Policies' references are resolved only where the operator's allowlist allows (Rotor's own above are not policies').
      const resolvePolicySecret = createSecretResolver({ vaultAddress: settings.vaultAddress, vaultTokenRef: settings.vaultToken, allow: secretRefAllowlist() });
      const daemon = await startDaemon({
        databaseUrl: g.databaseUrl,
        temporal: temporalTarget(g),
        taskQueue: g.taskQueue,
        policyDir: g.policies,
        http: { host: settings.httpHost, port: settings.httpPort },
        apiToken: await resolveSecret(settings.apiTokenRef),
        githubWebhookSecret: settings.githubWebhookSecretRef ? await resolveSecret(settings.githubWebhookSecretRef) : undefined,
        httpLimits: {
          ...(settings.httpMaxConnections ? { maxConnections: settings.httpMaxConnections } : {}),
          ...(settings.httpRequestsPerMinute ? { requestsPerMinute: settings.httpRequestsPerMinute } : {}),
        },
        providers: registry,
        logger: createLogger(),
        resolveSecret: resolvePolicySecret,
        shutdownGraceMs,
        workflowBundle: prebuiltBundle(),
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
    .description('the demo without Docker: embedded PostgreSQL, Vault emulator, the Temporal dev server with its Web UI, and the daemon; state kept in --dir')
    .option('--dir <dir>', 'where the demo keeps its state and files', '.rotor-dev')
    .option('--temporal-port <port>', 'port of the Temporal dev server', '7233')
    .option('--ui-port <port>', 'port of the Temporal Web UI', '8233')
    .option('--http-port <port>', 'port of the HTTP API', String(settings.httpPort))
    .option('--postgres-port <port>', 'port of the embedded PostgreSQL (default: the last run\'s, else a free one)')
    .option('--vault-port <port>', 'port of the Vault emulator (default: the last run\'s, else a free one)')
    .option('--every <duration>', 'rotation cadence of the demo credential', '2m')
    .action(async (opts: { dir: string; temporalPort: string; uiPort: string; httpPort: string; postgresPort?: string; vaultPort?: string; every: string }) => {
      const port = (value: string | undefined, flag: string): number | undefined => {
        if (value === undefined) return undefined;
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${flag} must be a port number (1-65535), got ${value.slice(0, 20)}`);
        return n;
      };
      const runDev = await loadDevStack();
      await runDev(
        {
          dir: opts.dir,
          temporalPort: port(opts.temporalPort, '--temporal-port')!,
          uiPort: port(opts.uiPort, '--ui-port')!,
          httpPort: port(opts.httpPort, '--http-port')!,
          postgresPort: port(opts.postgresPort, '--postgres-port'),
          vaultPort: port(opts.vaultPort, '--vault-port'),
          every: opts.every,
        },
        untilSignalled(),
      );
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
        resolveSecret: createSecretResolver({ vaultAddress: settings.vaultAddress, vaultTokenRef: settings.vaultToken, allow: secretRefAllowlist() }),
        policyDir: g.policies,
        workflowBundle: prebuiltBundle(),
        shutdownGraceMs: shutdownGrace() ?? DEFAULT_SHUTDOWN_GRACE_MS,
      });
      logger.info({ taskQueue: g.taskQueue, policies: policies.all().length }, 'worker started');
      try {
        await Promise.all(workers.map((w) => w.run()));
      } finally {
        await connection.close();
        await store.close();
        await closeProviderConnections();
      }
    });

  program
    .command('bundle-workflows')
    .description('write the workflow bundle to a file, for ROTOR_WORKFLOW_BUNDLE (e.g. at image build)')
    .argument('<file>', 'where to write it')
    .action(async (file: string) => {
      const bytes = await writeWorkflowBundle(file);
      process.stdout.write(`wrote ${file} (${bytes} bytes); run the daemon with ROTOR_WORKFLOW_BUNDLE=${file}\n`);
    });

  registerAuditCommands(program, global);
  return program;
}

/**
 * The policy of one credential for an incident: its own document must be valid; broken other
 * files are listed as a warning (once) and do not stop it. Everything that changes schedules stays
 * all-or-nothing.
 */
function incidentPolicyOrWarn(inspection: PolicyInspection, credentialId: string, warned = false): Policy | undefined {
  const { policy, otherProblems } = incidentPolicy(inspection, credentialId);
  if (policy && otherProblems.length > 0 && !warned) {
    process.stderr.write(
      `warning: other policy files are refused (acting on ${credentialId} anyway; schedules are unchanged until they are fixed):\n${otherProblems.map((p) => `  ${formatProblem(p)}`).join('\n')}\n`,
    );
  }
  return policy;
}

/** ROTOR_SHUTDOWN_GRACE in ms (refused unless a duration), or undefined: the default. */
function shutdownGrace(): number | undefined {
  if (settings.shutdownGrace === undefined) return undefined;
  const ms = parseDuration(settings.shutdownGrace);
  if (ms === undefined) throw new UsageError('ROTOR_SHUTDOWN_GRACE must be a duration like 30s or 2m');
  return ms;
}

/** The bundle named by ROTOR_WORKFLOW_BUNDLE (refused when absent), or undefined: bundle at start. */
function prebuiltBundle(): { codePath: string } | undefined {
  if (!settings.workflowBundle) return undefined;
  if (!existsSync(settings.workflowBundle)) {
    throw new UsageError(`ROTOR_WORKFLOW_BUNDLE: no file at ${settings.workflowBundle} (write it with \`rotor bundle-workflows ${settings.workflowBundle}\`)`);
  }
  return { codePath: settings.workflowBundle };
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** What `rotor dev` (dev/run.ts) is started with. */
export interface DevOptions {
  dir: string;
  temporalPort: number;
  uiPort: number;
  httpPort: number;
  /** PostgreSQL and Vault emulator ports; the ones of the last run (else free ones) when absent. */
  postgresPort?: number;
  vaultPort?: number;
  every: string;
}

type RunDev = (options: DevOptions, untilStopped: Promise<void>) => Promise<void>;

/**
 * The dev-only stack (dev/), loaded by a computed path so that neither the production build nor the
 * production image carries it; where it or its dev dependencies are missing, a clear refusal.
 */
async function loadDevStack(): Promise<RunDev> {
  const specifier = ['..', 'dev', 'run.js'].join('/');
  let dev: { runDev: RunDev; DevStackMissing: new (message: string) => Error };
  try {
    dev = (await import(specifier)) as typeof dev;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new UsageError(
      `rotor dev is the development demo and is not part of this installation (${(error as Error).message.split('\n')[0]}): ` +
        'run it from a checkout of Rotor after `npm ci` and `npm run setup`',
    );
  }
  return async (options, untilStopped) => {
    try {
      await dev.runDev(options, untilStopped);
    } catch (error) {
      if (error instanceof dev.DevStackMissing) throw new UsageError(error.message);
      throw error;
    }
  };
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
    if (error instanceof UsageError || error instanceof OperatorSettingError || error instanceof TemporalConfigError || error instanceof ApiTokenTooShort) {
      process.stderr.write(`rotor: ${error.message}\n`);
      return 2;
    }
    if (error instanceof RotationRefused) {
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
