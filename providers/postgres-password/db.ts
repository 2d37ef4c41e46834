/**
 * Connections and role statements for the postgres-password provider. The admin login is pooled,
 * one small pool per admin identity (server, database, user, password and TLS settings: never
 * shared between two), closed at shutdown (providers/connection-pools.ts); a login as the rotated
 * role (verify) is always a fresh connection, closed in `finally`, since logging in is what it
 * proves. Every error is rebuilt from the role, database and SQLSTATE, with any secret the call
 * handled scrubbed out, and never carries the SQL text (ALTER ROLE holds the password).
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { onShutdownClose } from '../connection-pools.js';
import { explainTlsFailure, pgSsl } from '../../lib/postgres-tls.js';
import { ProviderRefusal, type ProviderContext } from '../contracts.js';
import { scramSecret } from './scram.js';
import type { PostgresPasswordSpec } from './spec.js';
import { redactSecrets } from '../../lib/redact.js';

/** SQLSTATEs a retry cannot fix: refused login, missing privilege, unknown database. */
const REFUSALS = new Set(['28P01', '28000', '42501', '3D000']);
const DUPLICATE_OBJECT = '42710';

export function where(spec: PostgresPasswordSpec): string {
  return `database "${spec.database}" at ${spec.host}:${spec.port}`;
}

/** The pg error's message and SQLSTATE, with every secret replaced; never the statement. */
export function describeError(error: unknown, secrets: string[]): string {
  let message = error instanceof Error ? error.message : String(error);
  message = redactSecrets(message, secrets);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${message} (SQLSTATE ${code})` : message;
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

interface Session {
  client: pg.ClientBase;
  /** Remember a secret so that errors of this session are scrubbed of it. */
  secret(value: string): void;
}

function clientConfig(spec: PostgresPasswordSpec, login: { user: string; password: string }, action: string): pg.ClientConfig {
  let ssl: pg.ClientConfig['ssl'];
  try {
    ssl = pgSsl({ sslmode: spec.sslmode, caFile: spec.sslrootcert });
  } catch (error) {
    throw new ProviderRefusal(`${action} (${where(spec)}): ${error instanceof Error ? error.message : String(error)}`);
  }
  return {
    host: spec.host,
    port: spec.port,
    database: spec.database,
    user: login.user,
    password: login.password,
    ssl,
    application_name: 'rotor',
    connectionTimeoutMillis: 10_000,
    statement_timeout: 30_000,
  };
}

/** The error of a call, as the activity reports it (see the file header). */
function callError(error: unknown, spec: PostgresPasswordSpec, action: string, secrets: string[], refuse: boolean): Error {
  if (error instanceof ProviderRefusal) return error;
  // A certificate that does not verify is not fixed by a retry.
  const tls = explainTlsFailure(error);
  if (tls) return new ProviderRefusal(`${action} (${where(spec)}): ${tls}`);
  const message = `${action} (${where(spec)}): ${describeError(error, secrets)}`;
  const code = sqlState(error);
  return refuse && code && REFUSALS.has(code) ? new ProviderRefusal(message) : new Error(message);
}

/**
 * Runs `work` on one fresh connection as `login`, closed afterwards. Errors become `<action>
 * (<database>): <reason>`; with `refuse`, the SQLSTATEs no retry can fix become ProviderRefusal.
 */
export async function withConnection<T>(
  ctx: ProviderContext,
  spec: PostgresPasswordSpec,
  login: { user: string; password: string },
  action: string,
  options: { refuse: boolean },
  work: (session: Session) => Promise<T>,
): Promise<T> {
  ctx.signal?.throwIfAborted();
  const secrets = [login.password];
  const client = new pg.Client(clientConfig(spec, login, action));
  // A dropped connection emits 'error' on the client; the pending query rejects anyway.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work({ client, secret: (value) => secrets.push(value) });
  } catch (error) {
    throw callError(error, spec, action, secrets, options.refuse);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Admin connections kept per admin identity: a rotation's steps reuse one login instead of a SCRAM handshake each. */
const adminPools = new Map<string, pg.Pool>();
/** Connections per admin identity: the steps of concurrent rotations share them. */
const ADMIN_POOL_SIZE = 4;
/** An idle admin connection is closed after this long. */
const ADMIN_IDLE_MS = 30_000;

onShutdownClose(async () => {
  const pools = [...adminPools.values()];
  adminPools.clear();
  await Promise.allSettled(pools.map((p) => p.end()));
});

function adminPool(config: pg.ClientConfig): pg.Pool {
  // The identity: everything that decides who logs in where. The password is hashed, not kept as a key.
  const key = JSON.stringify([config.host, config.port, config.database, config.user, createHash('sha256').update(String(config.password)).digest('hex'), config.ssl ?? null]);
  let pool = adminPools.get(key);
  if (!pool) {
    pool = new pg.Pool({ ...config, max: ADMIN_POOL_SIZE, idleTimeoutMillis: ADMIN_IDLE_MS, allowExitOnIdle: true });
    // An idle connection the server drops must not crash the worker; the next call connects afresh.
    pool.on('error', () => undefined);
    adminPools.set(key, pool);
  }
  return pool;
}

/** Runs `work` as the spec's admin login, on a pooled connection of that admin identity. */
export async function withAdmin<T>(ctx: ProviderContext, spec: PostgresPasswordSpec, action: string, work: (session: Session) => Promise<T>): Promise<T> {
  ctx.signal?.throwIfAborted();
  const password = await ctx.resolveSecret(spec.admin.password);
  const secrets = [password];
  let client: pg.PoolClient | undefined;
  let broken: Error | undefined;
  try {
    client = await adminPool(clientConfig(spec, { user: spec.admin.user, password }, action)).connect();
    return await work({ client, secret: (value) => secrets.push(value) });
  } catch (error) {
    // A connection that failed a statement may be in any state: it is closed, not reused.
    broken = error instanceof Error ? error : new Error(String(error));
    throw callError(error, spec, action, secrets, true);
  } finally {
    client?.release(broken);
  }
}

export async function roleExists(client: pg.ClientBase, role: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  return (rowCount ?? 0) > 0;
}

export async function canRoleLogin(client: pg.ClientBase, role: string): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT rolcanlogin AND (rolvaliduntil IS NULL OR rolvaliduntil > now()) AS ok FROM pg_roles WHERE rolname = $1`,
    [role],
  );
  return rows[0]?.ok === true;
}

/** Creates a role that cannot log in yet, optionally as a member of a group role; a no-op if it exists. */
export async function ensureRole(client: pg.ClientBase, role: string, memberOf?: string): Promise<void> {
  // Whether it exists and whether it is a member, in one round trip (no row: no such role).
  const { rows } = await client.query<{ member: boolean | null }>(`SELECT pg_has_role(oid, $2::text, 'MEMBER') AS member FROM pg_roles WHERE rolname = $1`, [role, memberOf ?? null]);
  if (rows.length === 0) {
    const inRole = memberOf ? ` IN ROLE ${client.escapeIdentifier(memberOf)}` : '';
    try {
      await client.query(`CREATE ROLE ${client.escapeIdentifier(role)} NOLOGIN INHERIT${inRole}`);
      return;
    } catch (error) {
      // Another attempt created it in between: carry on as if it had been there.
      if (sqlState(error) !== DUPLICATE_OBJECT) throw error;
    }
  }
  if (!memberOf) return;
  const member = rows.length > 0 ? rows[0]!.member : (await client.query<{ member: boolean }>(`SELECT pg_has_role($1, $2, 'MEMBER') AS member`, [role, memberOf])).rows[0]?.member;
  if (!member) await client.query(`GRANT ${client.escapeIdentifier(memberOf)} TO ${client.escapeIdentifier(role)}`);
}

/** Lets the role log in with this password (and lifts any expiry). */
export async function setPassword(session: Session, role: string, password: string): Promise<void> {
  const { client } = session;
  session.secret(password);
  // PostgreSQL stores a SCRAM secret as given: the plain password never reaches the server.
  const secret = (await scramSecret(password)) ?? password;
  session.secret(secret);
  await client.query(
    `ALTER ROLE ${client.escapeIdentifier(role)} WITH LOGIN PASSWORD ${client.escapeLiteral(secret)} VALID UNTIL 'infinity'`,
  );
}

/** The role can no longer log in: no password and NOLOGIN. Sessions already open are left alone. */
export async function disableLogin(client: pg.ClientBase, role: string): Promise<void> {
  await client.query(`ALTER ROLE ${client.escapeIdentifier(role)} WITH NOLOGIN PASSWORD NULL`);
}
