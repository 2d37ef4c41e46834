/**
 * `rotor discover`, `rotor audit` (report and verify-log) and `rotor decommission`: the NHI
 * inventory, posture and lifecycle commands. Exit codes as in main.ts, plus 3 from `rotor audit`
 * when findings at or above `--fail-on` exist.
 */
import { writeFile } from 'node:fs/promises';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Command } from 'commander';
import { loadDiscoveryConfig } from '../config/discovery-load.js';
import { loadPolicies } from '../config/load.js';
import { createDiscoveryActivities } from '../activities/discovery.js';
import { collectFacts } from '../audit/facts.js';
import { findingsAtOrAbove, runAudit } from '../audit/index.js';
import { allowedOwners } from '../audit/owners.js';
import { renderHtmlReport } from '../audit/report-html.js';
import { renderTable } from '../audit/report-table.js';
import { DEFAULT_THRESHOLDS, SEVERITIES, type Severity, type Thresholds } from '../audit/types.js';
import type { Policy } from '../config/policy.js';
import { isExpired, runDecommission, type DecommissionReport } from '../daemon/decommission.js';
import { DISCOVERY_JOB } from '../daemon/job-schedules.js';
import { createSecretResolver } from '../daemon/secrets.js';
import { settingsFromEnv } from '../daemon/settings.js';
import { createLogger } from '../lib/logger.js';
import { registry } from '../providers/registry.js';
import { listDiscovered, verifyAuditChain, type ChainAnchor } from '../store/discovery.js';
import { RotorStore } from '../store/index.js';
import type { DiscoveryResult } from '../workflows/discovery.js';
import { withTemporalClient, type TemporalFlags } from '../daemon/temporal-connection.js';
import { temporalTarget, UsageError } from './main.js';
import { printJson, printRows } from './output.js';
import { localActor } from './actor.js';
import { actorId } from '../daemon/auth/actor.js';

/** The global flags; the Temporal ones are TemporalFlags, with `--temporal` for the address. */
export interface GlobalOptions extends Omit<TemporalFlags, 'address'> {
  policies: string;
  databaseUrl: string;
  temporal?: string;
  taskQueue: string;
}

/** CLI diagnostics go to stderr: stdout carries the report. */
const cliLogger = () => createLogger({ level: process.env.ROTOR_LOG_LEVEL ?? 'warn', destination: process.stderr });

function secretResolver() {
  const settings = settingsFromEnv();
  return createSecretResolver({ vaultAddress: settings.vaultAddress, vaultTokenRef: settings.vaultToken });
}

async function withStore<T>(url: string, run: (store: RotorStore) => Promise<T>): Promise<T> {
  const store = await RotorStore.connect(url);
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

function parseAnchor(text: string): ChainAnchor {
  const match = /^(\d+):([0-9a-f]{64})$/.exec(text.trim());
  if (!match) throw new UsageError('--anchor must be <seq>:<64 hex digits>, as verify-log prints the head');
  return { seq: Number(match[1]), hash: match[2]! };
}

function parseSeverity(text: string): Severity {
  if (!(SEVERITIES as readonly string[]).includes(text)) throw new UsageError(`--fail-on must be one of ${SEVERITIES.join(', ')}`);
  return text as Severity;
}

function parseDays(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a whole number of days`);
  return n;
}

/** `--max-age aws-iam-access-key=60` (repeatable) over the defaults. */
function maxAges(values: string[]): Thresholds['maxAgeDays'] {
  const out = { ...DEFAULT_THRESHOLDS.maxAgeDays };
  for (const v of values) {
    const [type, days] = v.split('=');
    if (!type || !days) throw new UsageError(`--max-age takes <type>=<days>, e.g. aws-iam-access-key=90 (got "${v}")`);
    out[type] = parseDays(days, '--max-age');
  }
  return out;
}

export function registerAuditCommands(program: Command, globalOptions: () => GlobalOptions): void {
  program
    .command('discover')
    .description('list the credentials that exist in every system the policies reach (and kind: discovery targets); find unmanaged ones')
    .option('--local', 'scan from this process instead of running the discoverCredentials workflow on the workers')
    .option('--json', 'machine-readable output')
    .action(async (opts: { local?: boolean; json?: boolean }) => {
      const g = globalOptions();
      const result = opts.local ? await discoverLocally(g) : await discoverOnTemporal(g);
      const rows = await withStore(g.databaseUrl, async (store) => (await listDiscovered(store)).filter((r) => r.status !== 'gone'));
      if (opts.json) return printJson({ ...result, credentials: rows });
      printRows(
        rows.map((r) => ({ type: r.sourceType, principal: r.principal, credential: r.credentialId, status: r.status, managedBy: r.managedBy ?? 'UNMANAGED', created: r.createdAt, lastUsed: r.lastUsedAt })),
        { columns: ['type', 'principal', 'credential', 'status', 'managedBy', 'created', 'lastUsed'] },
      );
      process.stdout.write(`\n${result.targets} targets scanned, ${result.found} credentials: ${result.managed} managed, ${result.unmanaged} unmanaged, ${result.fresh.length} new\n`);
      for (const f of result.failed) process.stdout.write(`scan failed: ${f.target}: ${f.error}\n`);
      if (result.failed.length > 0) process.exitCode = 1;
    });

  const audit = program.command('audit').description('posture audit of every managed and discovered credential; verify-log checks the audit trail');
  audit
    .command('report', { isDefault: true })
    .description('findings by severity, with what to do (the default)')
    .option('--json', 'machine-readable output')
    .option('--html <file>', 'also write a self-contained HTML report')
    .option('--fail-on <severity>', 'exit 3 when findings at or above this severity exist (critical, high, medium, low, info)')
    .option('--allowed-owners <file>', 'owners allowed to hold credentials, one a line (else ROTOR_ALLOWED_OWNERS[_FILE])')
    .option('--unused-days <n>', 'unused this long while active is stale', String(DEFAULT_THRESHOLDS.unusedDays))
    .option('--max-age <type=days...>', 'longest a credential of a type may live (default cloud keys 90; postgres-password, mysql-password, redis-acl-password 30)', [])
    .action(async (opts: { json?: boolean; html?: string; failOn?: string; allowedOwners?: string; unusedDays: string; maxAge: string[] }) => {
      const g = globalOptions();
      const failOn = opts.failOn ? parseSeverity(opts.failOn) : undefined;
      const thresholds: Thresholds = { ...DEFAULT_THRESHOLDS, unusedDays: parseDays(opts.unusedDays, '--unused-days'), maxAgeDays: maxAges(opts.maxAge) };
      const policies = await loadPolicies(g.policies, registry.catalog);
      const now = new Date();
      const facts = await withStore(g.databaseUrl, (store) => collectFacts(store, { now, failureWindowDays: thresholds.failureWindowDays }));
      const result = runAudit(facts, { now, policies, allowedOwners: await allowedOwners({ file: opts.allowedOwners }), thresholds });
      if (opts.html) await writeFile(opts.html, renderHtmlReport(result), { mode: 0o644 });
      if (opts.json) printJson(result);
      else process.stdout.write(renderTable(result, { colour: process.stdout.isTTY === true && !process.env.NO_COLOR }));
      if (failOn && findingsAtOrAbove(result.findings, failOn).length > 0) process.exitCode = 3;
    });
  audit
    .command('verify-log')
    .description('recompute the audit log hash chain; exit 1 at the first modified or missing row')
    .option('--anchor <seq:hash>', 'a head printed by an earlier check: also finds newest rows cut off or the whole chain rewritten')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean; anchor?: string }) => {
      const anchor = opts.anchor === undefined ? undefined : parseAnchor(opts.anchor);
      const report = await withStore(globalOptions().databaseUrl, (store) => verifyAuditChain(store, anchor));
      if (opts.json) printJson(report);
      else if (report.ok) {
        const head = report.head ? `; head ${report.head.seq}:${report.head.hash} (keep it outside Rotor, pass it as --anchor next time)` : '';
        process.stdout.write(`audit log intact: ${report.rows} rows, hash chain verified${anchor ? `, anchor ${anchor.seq} held` : ''}${head}\n`);
      } else process.stdout.write(`audit log TAMPERED: ${report.problem!.kind} at seq ${report.problem!.seq}: ${report.problem!.detail}\n`);
      if (!report.ok) process.exitCode = 1;
    });

  program
    .command('decommission')
    .description('retire a credential for good: revoke its material, remove it from dependents (policy decommission.removeFromDependents), mark it retired')
    .argument('[credential]', 'credential id')
    .option('--expired', 'every credential whose policy expires date has passed')
    .option('--reason <text>', 'why, recorded in the audit log')
    .option('--dry-run', 'only list what would be decommissioned')
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string | undefined, opts: { expired?: boolean; reason?: string; dryRun?: boolean; json?: boolean }) => {
      if (!credentialId === !opts.expired) throw new UsageError('give a credential id or --expired (not both)');
      const g = globalOptions();
      const policies = await loadPolicies(g.policies, registry.catalog);
      const now = new Date();
      const chosen = opts.expired ? policies.filter((p) => isExpired(p, now)) : policies.filter((p) => p.id === credentialId);
      if (!opts.expired && chosen.length === 0) {
        // Its policy file is gone (the workload was retired): use the last policy the store recorded.
        const snapshot = await withStore(g.databaseUrl, (store) => store.policySnapshot(credentialId!));
        if (!snapshot) throw new UsageError(`no policy for credential ${credentialId} in ${g.policies}, and none recorded in the store`);
        chosen.push(snapshot as Policy);
      }
      if (opts.dryRun) {
        if (opts.json) return printJson(chosen.map((p) => ({ credential: p.id, expires: p.expires ?? null })));
        for (const p of chosen) process.stdout.write(`would decommission ${p.id}${p.expires ? ` (expired ${p.expires})` : ''}\n`);
        if (chosen.length === 0) process.stdout.write('nothing to decommission\n');
        return;
      }
      // The decommissionCredential workflow on the workers does it: durable, in the Temporal UI.
      const reports: DecommissionReport[] = await withTemporalClient(temporalTarget(g), async (client) => {
        const out: DecommissionReport[] = [];
        for (const policy of chosen) {
          const reason = opts.reason ?? (opts.expired ? `expired ${policy.expires}` : undefined);
          out.push(await runDecommission(client, policy, { taskQueue: g.taskQueue, actor: actorId(localActor()), reason }));
        }
        return out;
      });
      if (opts.json) printJson(reports);
      else {
        for (const r of reports) {
          const done = r.material.map((m) => `${m.which} ${m.id} ${m.how}`).join(', ') || 'no material invalidated';
          process.stdout.write(`${r.credential}: ${r.problems.length ? 'INCOMPLETE' : 'decommissioned'} (${done})\n`);
          for (const p of r.problems) process.stdout.write(`  to do by hand: ${p}\n`);
        }
        if (reports.length === 0) process.stdout.write('nothing to decommission\n');
        else process.stdout.write('Remove the policy files of decommissioned credentials: until then their schedules stay in place.\n');
      }
      if (reports.some((r) => r.problems.length > 0)) process.exitCode = 1;
    });
}

/** Starts (or joins) the discovery workflow on the workers and waits for it. */
async function discoverOnTemporal(g: GlobalOptions): Promise<DiscoveryResult> {
  return withTemporalClient(temporalTarget(g), async (client) => {
    try {
      await client.workflow.start('discoverCredentials', { workflowId: DISCOVERY_JOB.workflowId, taskQueue: g.taskQueue, args: [] });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error; // one is running: wait for it
    }
    return (await client.workflow.getHandle(DISCOVERY_JOB.workflowId).result()) as DiscoveryResult;
  });
}

/** The same steps as the workflow, run in this process (no workers needed). */
async function discoverLocally(g: GlobalOptions): Promise<DiscoveryResult> {
  const policies = await loadPolicies(g.policies, registry.catalog);
  const discovery = await loadDiscoveryConfig(g.policies, registry.catalog);
  return withStore(g.databaseUrl, async (store) => {
    const activities = createDiscoveryActivities({
      store,
      policies: () => policies,
      discoveryTargets: async () => discovery?.targets ?? [],
      providers: registry,
      logger: cliLogger(),
      resolveSecret: secretResolver(),
    });
    const targets = await activities.listScanTargets();
    const failed: DiscoveryResult['failed'] = [];
    const outcomes = [];
    for (const t of targets) {
      try {
        outcomes.push(await activities.scanTarget({ key: t.key }));
      } catch (error) {
        failed.push({ target: `${t.type} (${t.from})`, error: error instanceof Error ? error.message : String(error) });
      }
    }
    const fresh = outcomes.flatMap((o) => o.fresh);
    const match = await activities.matchDiscovered({ scanned: outcomes.length, failed: failed.map((f) => f.target), fresh });
    return { targets: targets.length, found: outcomes.reduce((n, o) => n + o.found, 0), fresh, failed, ...match };
  });
}
