/**
 * Connections and account statements for the mysql-password provider (MySQL 8, MariaDB 10.6+).
 * Every connection is closed in `finally`; every error is rebuilt from the account, server and error
 * code with every secret the call handled scrubbed out, and never carries the SQL text (ALTER USER
 * holds the password or its hash).
 */
import { createHash, randomBytes } from 'node:crypto';
import type mysql from 'mysql2/promise';
import { ProviderRefusal, type ProviderContext } from '../contracts.js';
import type { MysqlPasswordSpec } from './spec.js';
import { redactSecrets } from '../../lib/redact.js';

/** Server error numbers a retry cannot fix: refused login, missing privilege, unknown account. */
const REFUSALS = new Set([1044, 1045, 1142, 1143, 1227, 1396, 1698, 3530]);

export function where(spec: MysqlPasswordSpec): string {
  return `MySQL server ${spec.host}:${spec.port}`;
}

/** `'user'@'host'`, quoted as a string literal on both sides. */
function account(session: Session, user: string, host: string): string {
  return `${session.conn.escape(user)}@${session.conn.escape(host)}`;
}

export function describeError(error: unknown, secrets: string[]): string {
  let message = error instanceof Error ? error.message : String(error);
  message = redactSecrets(message, secrets);
  const { errno, code } = error as { errno?: unknown; code?: unknown };
  return typeof errno === 'number' && typeof code === 'string' ? `${message} (${code} ${errno})` : message;
}

/** What the server is: MariaDB and MySQL differ in role syntax, default roles and password hashing. */
export interface ServerFlavour {
  mariadb: boolean;
  version: string;
}

export function flavourOf(version: string): ServerFlavour {
  return { mariadb: /mariadb/i.test(version), version };
}

export interface Session {
  conn: mysql.Connection;
  flavour: ServerFlavour;
  /** Remember a secret so that errors of this session are scrubbed of it. */
  secret(value: string): void;
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
}

function sslOption(mode: MysqlPasswordSpec['sslmode']): mysql.ConnectionOptions['ssl'] {
  if (mode === 'disable') return undefined;
  return { rejectUnauthorized: mode === 'verify-full' };
}

/**
 * Runs `work` on one connection as `login`. Errors become `<action> (<server>): <reason>`; with
 * `refuse`, the errors no retry can fix become ProviderRefusal.
 */
export async function withConnection<T>(
  ctx: ProviderContext,
  spec: MysqlPasswordSpec,
  login: { user: string; password: string },
  action: string,
  options: { refuse: boolean },
  work: (session: Session) => Promise<T>,
): Promise<T> {
  ctx.signal?.throwIfAborted();
  const secrets = [login.password];
  let conn: mysql.Connection | undefined;
  try {
    // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
    const { createConnection } = await import('mysql2/promise');
    conn = await createConnection({
      host: spec.host,
      port: spec.port,
      user: login.user,
      password: login.password,
      ssl: sslOption(spec.sslmode),
      connectTimeout: 10_000,
      // Values come back as text or numbers, never evaluated: no multi-statements, no local files.
      multipleStatements: false,
      connectAttributes: { program_name: 'rotor' },
    });
    const c = conn;
    const query = async <R>(sql: string, params: unknown[] = []): Promise<R[]> => (await c.query({ sql, timeout: 30_000 }, params))[0] as R[];
    const [row] = await query<{ v: string }>('SELECT VERSION() AS v');
    const session: Session = { conn: c, flavour: flavourOf(row?.v ?? ''), secret: (value) => secrets.push(value), query };
    return await work(session);
  } catch (error) {
    if (error instanceof ProviderRefusal) throw error;
    const message = `${action} (${where(spec)}): ${describeError(error, secrets)}`;
    const errno = (error as { errno?: unknown }).errno;
    throw options.refuse && typeof errno === 'number' && REFUSALS.has(errno) ? new ProviderRefusal(message) : new Error(message);
  } finally {
    await conn?.end().catch(() => undefined);
  }
}

/** Runs `work` as the spec's admin login. */
export async function withAdmin<T>(ctx: ProviderContext, spec: MysqlPasswordSpec, action: string, work: (session: Session) => Promise<T>): Promise<T> {
  const password = await ctx.resolveSecret(spec.admin.password);
  return withConnection(ctx, spec, { user: spec.admin.user, password }, action, { refuse: true }, work);
}

/** The `mysql_native_password` hash MariaDB stores (`*` + SHA1(SHA1(password))), so the password itself never crosses the wire. */
export function nativeHash(password: string): string {
  const inner = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
}

export async function accountExists(session: Session, user: string, host: string): Promise<boolean> {
  const rows = await session.query('SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?', [user, host]);
  return rows.length > 0;
}

/** Whether the account exists and is not locked (SHOW CREATE USER says ACCOUNT LOCK on both servers). */
export async function canAccountLogin(session: Session, user: string, host: string): Promise<boolean> {
  if (!(await accountExists(session, user, host))) return false;
  const [row] = await session.query<Record<string, string>>(`SHOW CREATE USER ${account(session, user, host)}`);
  const text = row ? Object.values(row)[0] ?? '' : '';
  return !/\bACCOUNT LOCK\b/i.test(text);
}

/** Creates a locked account with an unknowable password when missing. */
export async function ensureAccount(session: Session, user: string, host: string): Promise<void> {
  if (await accountExists(session, user, host)) return;
  await setPassword(session, user, host, randomBytes(24).toString('base64url'), { lock: true, create: true });
}

/** Creates the role when missing, grants it to the login and makes it the login's default role. */
export async function ensureRoleMember(session: Session, role: string, user: string, host: string): Promise<void> {
  const { conn } = session;
  const roleExists = (await session.query(`SELECT 1 FROM mysql.user WHERE User = ? AND Host = ''`, [role])).length > 0 ||
    (!session.flavour.mariadb && (await session.query(`SELECT 1 FROM mysql.user WHERE User = ? AND Host = '%'`, [role])).length > 0);
  if (!roleExists) await session.query(`CREATE ROLE IF NOT EXISTS ${conn.escapeId(role)}`);
  const roleRef = session.flavour.mariadb ? conn.escapeId(role) : account(session, role, '%');
  const grants = await session.query<Record<string, string>>(`SHOW GRANTS FOR ${account(session, user, host)}`);
  const lines = grants.map((g) => Object.values(g)[0] ?? '');
  if (!lines.some((l) => /^GRANT /.test(l) && roleNamed(role).test(l.slice('GRANT '.length)))) await session.query(`GRANT ${roleRef} TO ${account(session, user, host)}`);
  if (!(await hasDefaultRole(session, role, user, host, lines))) {
    await session.query(
      session.flavour.mariadb ? `SET DEFAULT ROLE ${roleRef} FOR ${account(session, user, host)}` : `SET DEFAULT ROLE ${roleRef} TO ${account(session, user, host)}`,
    );
  }
}

/** MariaDB lists the default role in SHOW GRANTS; MySQL 8 keeps it in mysql.default_roles. */
async function hasDefaultRole(session: Session, role: string, user: string, host: string, grants: string[]): Promise<boolean> {
  if (session.flavour.mariadb) return grants.some((l) => /^SET DEFAULT ROLE/i.test(l) && roleNamed(role).test(l.replace(/^SET DEFAULT ROLE /i, '')));
  const rows = await session.query('SELECT 1 FROM mysql.default_roles WHERE USER = ? AND HOST = ? AND DEFAULT_ROLE_USER = ?', [user, host, role]);
  return rows.length > 0;
}

/** A quoted role name at the start of a grant's text: `app` or 'app' (MySQL adds @'%'). */
function roleNamed(role: string): RegExp {
  return new RegExp(`^[\`']${role.replace(/[$]/g, '\\$')}[\`']`);
}

/**
 * Gives the account this password and unlocks it (or locks it, for revoke). MariaDB receives the
 * native hash; MySQL 8 the password (it rewrites the statement in its logs). MySQL's RETAIN CURRENT
 * PASSWORD is not used: see the README (one account with two passwords leaves no drain signal).
 */
export async function setPassword(
  session: Session,
  user: string,
  host: string,
  password: string,
  options: { lock?: boolean; create?: boolean } = {},
): Promise<void> {
  session.secret(password);
  const verb = options.create ? 'CREATE USER IF NOT EXISTS' : 'ALTER USER';
  const lock = options.lock ? 'ACCOUNT LOCK' : 'ACCOUNT UNLOCK';
  if (session.flavour.mariadb) {
    const hash = nativeHash(password);
    session.secret(hash);
    await session.query(`${verb} ${account(session, user, host)} IDENTIFIED BY PASSWORD ${session.conn.escape(hash)} ${lock}`);
    return;
  }
  await session.query(`${verb} ${account(session, user, host)} IDENTIFIED BY ${session.conn.escape(password)} ${lock}`);
}

/** The account can no longer log in: locked, with an unknowable password. Sessions already open are left alone. */
export async function disableAccount(session: Session, user: string, host: string): Promise<void> {
  await setPassword(session, user, host, randomBytes(24).toString('base64url'), { lock: true });
}

/** Open sessions of a user name, from the process list (needs PROCESS to see other users' threads). */
export async function sessionsOf(session: Session, user: string): Promise<number> {
  const [row] = await session.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?', [user]);
  return Number(row?.n ?? 0);
}

/** The lines of SHOW GRANTS for an account (or role, with host ''). */
export async function showGrants(session: Session, user: string, host: string | null): Promise<string[]> {
  const target = host === null ? session.conn.escapeId(user) : account(session, user, host);
  const rows = await session.query<Record<string, string>>(`SHOW GRANTS FOR ${target}`);
  return rows.map((r) => Object.values(r)[0] ?? '');
}
