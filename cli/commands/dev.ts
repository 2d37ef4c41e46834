/** `rotor dev`: the demo without Docker, on the dev-only stack (dev/), which the production image does not carry. */
import type { Command } from 'commander';
import { settings, untilSignalled, UsageError } from '../context.js';

export function registerDevCommand(program: Command): void {
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
  const specifier = ['..', '..', 'dev', 'run.js'].join('/');
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
