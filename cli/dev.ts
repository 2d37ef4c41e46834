/**
 * `rotor dev`: the docker-compose demo without Docker. Starts, on loopback only, an embedded
 * PostgreSQL (Rotor's store and the demo database), the Vault emulator and the in-memory Temporal
 * server, writes a demo policy that rotates a PostgreSQL role into Vault every two minutes, and runs
 * the daemon against them. Everything lives in .rotor-dev/ and stops on Ctrl-C.
 *
 * The pieces come from test/harness (dev dependencies), so they are imported only here.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { createLogger } from '../lib/logger.js';
import { writePrivateFile } from '../lib/private-file.js';
import { registry } from '../providers/registry.js';
import { createSecretResolver } from '../daemon/secrets.js';
import { startDaemon } from '../daemon/run.js';

export interface DevOptions {
  dir: string;
  temporalPort: number;
  httpPort: number;
  every: string;
}

export async function runDev(options: DevOptions, untilStopped: Promise<void>): Promise<void> {
  const { startPostgres } = await import('../test/harness/postgres.js');
  const { startVaultEmulator } = await import('../test/harness/vault/index.js');
  const { startTestServer } = await import('../test/harness/temporal/index.js');
  const dir = resolve(options.dir);
  await mkdir(join(dir, 'policies'), { recursive: true });

  const postgres = await startPostgres();
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query('CREATE DATABASE demo');
  await admin.end();
  const vault = await startVaultEmulator();
  const temporal = await startTestServer({ port: options.temporalPort });
  const apiToken = randomBytes(24).toString('base64url');
  await writePrivateFile(join(dir, 'api-token'), `${apiToken}\n`);
  const env = { ...process.env, DEMO_DB_ADMIN_PASSWORD: postgres.adminPassword, VAULT_TOKEN: vault.token };
  await writeFile(join(dir, 'policies', 'demo.yaml'), demoPolicy(postgres, vault.address, options.every));

  const logger = createLogger();
  const daemon = await startDaemon({
    databaseUrl: postgres.url,
    temporalAddress: temporal.address,
    namespace: temporal.namespace,
    taskQueue: 'rotor',
    policyDir: join(dir, 'policies'),
    http: { host: '127.0.0.1', port: options.httpPort },
    apiToken,
    providers: registry,
    logger,
    resolveSecret: createSecretResolver({ env }),
  });
  // Settings for other `rotor` commands, in a file only the user can read (it holds the DB password).
  const envFile = join(dir, 'env');
  await writePrivateFile(
    envFile,
    `ROTOR_DATABASE_URL=${postgres.url}\nTEMPORAL_ADDRESS=${temporal.address}\nROTOR_POLICIES=${join(dir, 'policies')}\nROTOR_HTTP_PORT=${options.httpPort}\n`,
  );
  process.stderr.write(
    [
      '',
      'rotor dev is running (Ctrl-C stops it):',
      `  Temporal (in-memory) ${temporal.address}   PostgreSQL ${postgres.host}:${postgres.port}   Vault emulator ${vault.address}`,
      `  HTTP API ${daemon.httpAddress}  (token in ${join(dir, 'api-token')})   metrics ${daemon.httpAddress}/metrics`,
      `  policy ${join(dir, 'policies', 'demo.yaml')}: demo-db-app rotates every ${options.every}`,
      '',
      `  in another shell:  set -a; . ${envFile}; set +a`,
      '    npx rotor status demo-db-app          # live step and recent runs',
      '    npx rotor rotate demo-db-app --wait   # rotate now',
      '    npx rotor history demo-db-app',
      '',
    ].join('\n'),
  );
  await untilStopped;
  await daemon.stop();
  await temporal.close();
  await vault.close();
  await postgres.stop();
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
