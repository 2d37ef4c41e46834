/**
 * The `rotor` command: its global flags, and one file per command group (cli/commands/, plus
 * status.ts, decisions.ts and audit.ts). Exit codes: 0 ok, 1 the operation failed, 2 bad input
 * (arguments, policies, unknown credential).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { formatProblem, PolicyLoadError } from '../config/load.js';
import { OperatorSettingError } from '../config/secret-ref.js';
import { ApiTokenTooShort } from '../daemon/http.js';
import { RotationAlreadyRunning, RotationRefused } from '../daemon/rotations.js';
import { TemporalConfigError } from '../daemon/temporal-connection.js';
import { registerAuditCommands } from './audit.js';
import { registerDevCommand } from './commands/dev.js';
import { registerPolicyCommands } from './commands/policies.js';
import { registerRotationCommands } from './commands/rotations.js';
import { registerRunCommands } from './commands/run.js';
import { settings, UsageError, withTemporal, type GlobalOptions } from './context.js';
import { registerDecisionCommands } from './decisions.js';
import { registerStatusCommand } from './status.js';

export { UsageError } from './context.js';

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

  registerPolicyCommands(program, global);
  registerRotationCommands(program, global);
  registerStatusCommand(program, global, (run) => withTemporal(global(), run), (message) => new UsageError(message));
  registerDecisionCommands(program, global, (run) => withTemporal(global(), run));
  registerRunCommands(program, global);
  registerDevCommand(program);
  registerAuditCommands(program, global);
  return program;
}

/** package.json's version: the one `npm pack` and the image carry. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
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
