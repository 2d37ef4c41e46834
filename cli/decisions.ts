/**
 * `rotor approve|reject|retry|rollback|continue|revoke-now|abort <credential>`: a human decision on
 * the credential's running rotation, sent as a Workflow Update. The command prints whether it was
 * accepted and what it does; a decision that does not apply to the current step is refused (exit 1)
 * and changes nothing. Who decided (`--by`, default the OS user) and why (`--reason`) go to the audit log.
 */
import type { Command } from 'commander';
import type { WithTemporalClient } from './status.js';
import { DecisionRefused, sendDecision } from '../daemon/decisions.js';
import type { Decision } from '../workflows/decisions.js';
import { printJson } from './output.js';
import { RotorStore } from '../store/index.js';
import { localActor } from './actor.js';

const COMMANDS: Array<{ name: string; decision: Decision; description: string }> = [
  { name: 'approve', decision: 'approve', description: 'approve a rotation waiting for approval' },
  { name: 'reject', decision: 'reject', description: 'reject a rotation waiting for approval (nothing is changed)' },
  { name: 'retry', decision: 'retry', description: 'after a failed step (rollback: manual): run it again' },
  { name: 'rollback', decision: 'rollback', description: 'after a failed step (rollback: manual): undo what was done' },
  { name: 'continue', decision: 'continue', description: 'after a failed step (rollback: manual): accept the failure and go on' },
  { name: 'revoke-now', decision: 'revokeNow', description: 'end the grace (or drain wait) and revoke the old material now' },
  { name: 'abort', decision: 'abort', description: 'stop the rotation (before promote it rolls back; after, the old material stays valid)' },
];

export function registerDecisionCommands(program: Command, global: () => { databaseUrl: string }, withClient: WithTemporalClient): void {
  for (const c of COMMANDS) {
    program
      .command(c.name)
      .description(c.description)
      .argument('<credential>', 'credential id')
      .option('--reason <text>', 'why, recorded in the audit log')
      .option('--by <name>', 'your name as recorded next to your OS user in the audit log (default: your OS user)')
      .option('--json', 'machine-readable output')
      .action(async (credentialId: string, opts: { reason?: string; by?: string; json?: boolean }) => {
        const g = global();
        // A refused decision is audited too; without the store it is still refused and printed.
        const store = await RotorStore.connect(g.databaseUrl, { migrate: false }).catch(() => undefined);
        try {
          const input = opts.reason ? { reason: opts.reason } : {};
          const audit = store && { appendAudit: (e: Parameters<RotorStore['appendAudit']>[0]) => store.appendAudit(e).catch(() => undefined) };
          const outcome = await withClient((client) => sendDecision(client, credentialId, c.decision, input, audit, localActor(opts.by)));
          if (opts.json) printJson({ credential: credentialId, accepted: true, ...outcome });
          else process.stdout.write(`${credentialId}: ${c.name} accepted at "${outcome.step}": ${outcome.effect}\n`);
        } catch (error) {
          if (!(error instanceof DecisionRefused)) throw error;
          if (opts.json) printJson({ credential: credentialId, accepted: false, decision: c.decision, refused: error.message });
          else process.stderr.write(`rotor: ${credentialId}: ${error.message}\n`);
          process.exitCode = 1;
        } finally {
          await store?.close();
        }
      });
  }
}
