/**
 * The postgres-password provider against a real PostgreSQL (scram-sha-256): new passwords log in,
 * old ones are refused, retries reuse the staged password, and no error holds a password.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { charsetAlphabet, generatePassword, PasswordPolicySchema } from '../../lib/password.js';
import { ProviderRefusal, type CreateRequest, type CredentialSource } from '../../providers/contracts.js';
import { connectionInUse, postgresPassword, PostgresPasswordSpecSchema, type PostgresPasswordSpec } from '../../providers/postgres-password/index.js';
import { canLogin, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { createProviderKit } from '../harness/provider-kit.js';

let server: PostgresServer;
const source = postgresPassword.source as CredentialSource<PostgresPasswordSpec>;
const kit = createProviderKit({ credentialId: 'test-db', rotationIdPrefix: 'rot-', logLevel: 'silent' });
const { rejection } = kit;

beforeAll(async () => {
  server = await startPostgres();
});

afterAll(async () => {
  await server?.stop();
});

const context = (adminPassword = server.adminPassword) => kit.context({ PG_ADMIN_PASSWORD: adminPassword });

function spec(role: string, admin = server.adminUser): PostgresPasswordSpec {
  return PostgresPasswordSpecSchema.parse({
    host: server.host,
    port: server.port,
    database: server.database,
    admin: { user: admin, password: 'env:PG_ADMIN_PASSWORD' },
    role,
  });
}

/** A create request whose stage() records what was staged, like the primary store would. */
function request(current: Material | null, staged: Material | null = null): CreateRequest & { stagedNow: Material[] } {
  const stagedNow: Material[] = [];
  return { current, staged, stagedNow, stage: async (m) => void stagedNow.push(m) };
}

function login(m: Material): Promise<boolean> {
  return canLogin({ host: server.host, port: server.port, database: server.database, user: m.reveal('username'), password: m.reveal('password') });
}

/** The SQLSTATE PostgreSQL answers a login with, or 'ok'. */
async function loginState(m: Material): Promise<string> {
  const client = new pg.Client({ host: server.host, port: server.port, database: server.database, user: m.reveal('username'), password: m.reveal('password') });
  try {
    await client.connect();
    return 'ok';
  } catch (error) {
    return (error as { code: string }).code;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs SQL as the admin. */
async function admin<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ host: server.host, port: server.port, database: server.database, user: server.adminUser, password: server.adminPassword });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

describe('postgres-password, single strategy', () => {
  // A name that needs quoting: proves identifiers are escaped, not pasted.
  const role = 'web-app$1';

  it('creates the role on first use; each rotation\'s password logs in and the old one is refused (28P01)', async () => {
    const first = await source.create(context(), spec(role), 'single', request(null));
    expect(first.id).toBe(role);
    expect(first.reveal('username')).toBe(role);
    expect(first.reveal('password')).toMatch(/^[A-Za-z0-9]{32}$/);
    await source.verify(context(), spec(role), first);

    const req = request(first);
    const second = await source.create(context(), spec(role), 'single', req);
    expect(req.stagedNow).toEqual([second]);
    expect(await login(second)).toBe(true);
    expect(await loginState(first)).toBe('28P01');
    expect(await login(first)).toBe(false);
    await source.revoke(context(), spec(role), 'single', first); // a no-op: it is refused already
    expect(await login(second)).toBe(true);
  });

  it('discard puts the previous password back', async () => {
    const current = await source.create(context(), spec('single_discard'), 'single', request(null));
    const created = await source.create(context(), spec('single_discard'), 'single', request(current));
    expect(await login(current)).toBe(false);
    await source.discard(context(), spec('single_discard'), 'single', created, current);
    await source.discard(context(), spec('single_discard'), 'single', created, current);
    expect(await login(current)).toBe(true);
    expect(await login(created)).toBe(false);
  });

  it('discard without a previous password refuses rather than locking the role out', async () => {
    const created = await source.create(context(), spec('single_first'), 'single', request(null));
    const error = await rejection(source.discard(context(), spec('single_first'), 'single', created, null));
    expect(error).toBeInstanceOf(ProviderRefusal);
    expect(await login(created)).toBe(true);
  });
});

describe('postgres-password, dual strategy (alternating roles)', () => {
  const role = 'orders_app';
  let a: Material;
  let b: Material;

  it('first rotation creates the group role and both login roles, and gives _a a password', async () => {
    a = await source.create(context(), spec(role), 'dual', request(null));
    expect(a.id).toBe('orders_app_a');
    expect(await login(a)).toBe(true);
    await source.verify(context(), spec(role), a);

    const roles = await admin<{ rolname: string; rolcanlogin: boolean; member: boolean }>(
      `SELECT rolname, rolcanlogin, pg_has_role(rolname, 'orders_app', 'MEMBER') AS member FROM pg_roles WHERE rolname LIKE 'orders_app%' ORDER BY rolname`,
    );
    expect(roles).toEqual([
      { rolname: 'orders_app', rolcanlogin: false, member: true },
      { rolname: 'orders_app_a', rolcanlogin: true, member: true },
      { rolname: 'orders_app_b', rolcanlogin: false, member: true },
    ]);
  });

  it('second rotation gives _b a password; both log in until the old one is revoked', async () => {
    b = await source.create(context(), spec(role), 'dual', request(a));
    expect(b.id).toBe('orders_app_b');
    expect(await login(b)).toBe(true);
    expect(await login(a)).toBe(true);

    await source.revoke(context(), spec(role), 'dual', a);
    await source.revoke(context(), spec(role), 'dual', a); // revoking what is gone succeeds
    expect(await loginState(a)).toMatch(/^28/);
    expect(await login(a)).toBe(false);
    expect(await login(b)).toBe(true);

    const listed = await source.list(context(), spec(role));
    expect(listed).toEqual([
      { id: 'orders_app_a', principal: role, status: 'inactive', usageTracked: false },
      { id: 'orders_app_b', principal: role, status: 'active', usageTracked: false },
    ]);
  });

  it('refuses to revoke the login in service (its sibling cannot log in)', async () => {
    const error = await rejection(source.revoke(context(), spec(role), 'dual', b));
    expect(error).toBeInstanceOf(ProviderRefusal);
    expect(error.message).toMatch(/refusing to revoke role "orders_app_b": its sibling "orders_app_a" cannot log in/);
    expect(await login(b)).toBe(true);
  });

  it('a retry of create with staged material re-applies that password, never a new one', async () => {
    // Attempt 1 stages the password, then dies before applying it.
    const crashing = request(b);
    crashing.stage = async (m) => {
      crashing.stagedNow.push(m);
      throw new Error('worker lost');
    };
    await rejection(source.create(context(), spec(role), 'dual', crashing));
    const [staged] = crashing.stagedNow;
    expect(staged?.id).toBe('orders_app_a');
    expect(await login(staged!)).toBe(false);

    const retry = request(b, staged!);
    const created = await source.create(context(), spec(role), 'dual', retry);
    expect(created).toBe(staged);
    expect(retry.stagedNow).toEqual([]);
    expect(await login(staged!)).toBe(true);
    a = created;
  });

  it('discard disables the created role and leaves the current one working', async () => {
    await source.discard(context(), spec(role), 'dual', a, b);
    await source.discard(context(), spec(role), 'dual', a, b);
    expect(await login(a)).toBe(false);
    expect(await login(b)).toBe(true);
    expect(await rejection(source.discard(context(), spec(role), 'dual', b, b))).toBeInstanceOf(ProviderRefusal);
  });

  it('counts the open sessions of a login role', async () => {
    const session = new pg.Client({ host: server.host, port: server.port, database: server.database, user: b.id, password: b.reveal('password') });
    await session.connect();
    try {
      expect(await connectionInUse(context(), spec(role), b.id)).toBe(1);
      expect(await connectionInUse(context(), spec(role), 'orders_app_a')).toBe(0);
    } finally {
      await session.end();
    }
  });
});

describe('postgres-password errors never hold a password', () => {
  it('a failed ALTER ROLE names role and database, is a refusal, and holds neither password nor SQL', async () => {
    const weakPassword = generatePassword({ length: 24 });
    await admin(`CREATE ROLE locked_app LOGIN`);
    await admin(`CREATE ROLE weak_admin LOGIN PASSWORD '${weakPassword}'`);
    const req = request(null);
    const error = await rejection(source.create(context(weakPassword), spec('locked_app', 'weak_admin'), 'single', req));
    const [staged] = req.stagedNow;
    expect(staged).toBeDefined();
    expect(error).toBeInstanceOf(ProviderRefusal);
    expect(error.message).toMatch(/^cannot set a new password for role "locked_app" \(database "postgres" at 127\.0\.0\.1:\d+\): .*\(SQLSTATE 42501\)$/);
    const text = JSON.stringify({ message: error.message, stack: error.stack, cause: error.cause });
    for (const secret of [staged!.reveal('password'), weakPassword, 'ALTER ROLE', 'SCRAM-SHA-256']) expect(text).not.toContain(secret);
  });

  it('verify with a refused password fails (retryable) without the password', async () => {
    const wrong = new Material('orders_app_b', { username: 'orders_app_b', password: generatePassword({}) });
    const error = await rejection(source.verify(context(), spec('orders_app'), wrong));
    expect(error).not.toBeInstanceOf(ProviderRefusal);
    expect(error.message).toMatch(/^role "orders_app_b" cannot log in \(database "postgres" at [\d.:]+\): password authentication failed for user "orders_app_b" \(SQLSTATE 28P01\)$/);
    expect(error.message).not.toContain(wrong.reveal('password'));
  });

  it('a wrong admin password is a refusal without that password', async () => {
    const bad = generatePassword({});
    const error = await rejection(source.create(context(bad), spec('orders_app'), 'dual', request(null)));
    expect(error).toBeInstanceOf(ProviderRefusal);
    expect(error.message).toContain('SQLSTATE 28P01');
    expect(error.message).not.toContain(bad);
  });
});

describe('spec and password policy', () => {
  it('applies defaults and refuses inline secrets and bad role names', () => {
    const parsed = spec('app');
    expect(parsed).toMatchObject({ port: server.port, sslmode: 'disable', password: { length: 32, charset: 'alnum' } });
    const base = { host: 'db', database: 'app', admin: { user: 'admin', password: 'env:X' }, role: 'app' };
    expect(PostgresPasswordSpecSchema.parse(base).port).toBe(5432);
    expect(PostgresPasswordSpecSchema.safeParse({ ...base, admin: { user: 'admin', password: 'hunter2' } }).success).toBe(false);
    expect(PostgresPasswordSpecSchema.safeParse({ ...base, role: 'App"; DROP ROLE x; --' }).success).toBe(false);
    expect(PostgresPasswordSpecSchema.safeParse({ ...base, role: 'x'.repeat(62) }).success).toBe(false);
  });

  it('generates passwords of the policy\'s length from the charset only', () => {
    for (const charset of ['alnum', 'ascii-printable', 'hex', 'base64url'] as const) {
      const alphabet = new Set(charsetAlphabet(charset));
      const password = generatePassword({ length: 200, charset });
      expect(password).toHaveLength(200);
      expect([...password].every((c) => alphabet.has(c))).toBe(true);
    }
    expect(charsetAlphabet('ascii-printable')).not.toMatch(/["'`\\ ]/);
    expect(charsetAlphabet('ascii-printable')).toHaveLength(94 - 4);
    expect(new Set(Array.from({ length: 20 }, () => generatePassword({}))).size).toBe(20);
  });

  it('draws every character of the alphabet about equally often', () => {
    // 64 000 characters of a 62-letter alphabet: about 1032 each; modulo bias would skew the first 8 by ~25%.
    const counts = new Map<string, number>();
    for (const c of Array.from({ length: 250 }, () => generatePassword({ length: 256 })).join('')) {
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    expect(counts.size).toBe(62);
    for (const n of counts.values()) expect(Math.abs(n - 64_000 / 62)).toBeLessThan(160);
  });

  it('bounds the length to 16..256', () => {
    expect(PasswordPolicySchema.safeParse({ length: 15 }).success).toBe(false);
    expect(PasswordPolicySchema.safeParse({ length: 257 }).success).toBe(false);
    expect(PasswordPolicySchema.safeParse({ charset: 'emoji' }).success).toBe(false);
    expect(PasswordPolicySchema.parse({})).toEqual({ length: 32, charset: 'alnum' });
  });
});
