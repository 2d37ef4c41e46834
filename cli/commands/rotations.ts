/** `rotor rotate`, `rotor leak` and `rotor history`: starting rotations (manual and emergency) and reading their history. */
import type { Command } from 'commander';
import { formatProblem, incidentPolicy, inspectPolicyDirectory, loadPolicies, type PolicyInspection } from '../../config/load.js';
import type { Policy } from '../../config/policy.js';
import { rotationHistory } from '../../daemon/history.js';
import { actorId, actorRecord } from '../../daemon/auth/actor.js';
import { localActor } from '../actor.js';
import { refuseRetired, startRotation } from '../../daemon/rotations.js';
import { withTemporalClient } from '../../daemon/temporal-connection.js';
import { fingerprintValue } from '../../lib/material.js';
import { registry } from '../../providers/registry.js';
import { RotorStore } from '../../store/index.js';
import { revokedMaterial } from '../../store/leaks.js';
import { temporalTarget, UsageError, withTemporal, type GlobalOptions } from '../context.js';
import { printJson, printRows } from '../output.js';
import { waitWithProgress } from '../status.js';

export function registerRotationCommands(program: Command, global: () => GlobalOptions): void {
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
      const actor = localActor();
      await refuseRetired(g.databaseUrl, credentialId, { actor, trigger: opts.emergency ? 'emergency' : 'manual', reason: opts.reason });
      await withTemporalClient(temporalTarget(g), async (client) => {
        // The request is audited with its actor; without a reachable store it still starts (the workflow records its run).
        const store = await RotorStore.connect(g.databaseUrl, { migrate: false }).catch(() => undefined);
        const { handle, runId } = await startRotation(client, registry, policy, {
          taskQueue: g.taskQueue,
          trigger: opts.emergency ? 'emergency' : 'manual',
          reason: opts.reason,
          revokeFirst: opts.revokeFirst,
          actor,
          ...(store ? { audit: store } : {}),
        }).finally(() => store?.close());
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
                actor: actorId(localActor()),
                actorInfo: actorRecord(localActor()),
                reason: opts.reason,
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
            startRotation(client, registry, policy, { taskQueue: g.taskQueue, trigger: 'emergency', reason: opts.reason, revokeFirst: opts.revokeFirst, actor: localActor(), audit: store }),
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
        printRows(rows as unknown as Array<Record<string, unknown>>, { json: opts.json, columns: ['started', 'trigger', 'requestedBy', 'reason', 'decisions', 'status', 'outcome', 'step', 'error', 'runId'] });
      } finally {
        await store.close();
      }
    });
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

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
