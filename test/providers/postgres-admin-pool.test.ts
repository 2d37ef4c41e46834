/**
 * Issue 18: the postgres-password provider keeps one small pool of admin connections per admin
 * identity (a rotation's steps no longer log in afresh each), never shares one between two admin
 * identities, and closes them at shutdown (closeProviderConnections).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreateRequest, CredentialSource } from '../../providers/contracts.js';
import { closeProviderConnections } from '../../providers/connection-pools.js';
import { postgresPassword, PostgresPasswordSpecSchema, type PostgresPasswordSpec } from '../../providers/postgres-password/index.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { createProviderKit } from '../harness/provider-kit.js';

let server: PostgresServer;
const source = postgresPassword.source as CredentialSource<PostgresPasswordSpec>;
const kit = createProviderKit({ credentialId: 'pool-db', rotationIdPrefix: 'rot-', logLevel: 'silent' });

beforeAll(async () => {
  server = await startPostgres();
  await admin(`CREATE ROLE second_admin LOGIN CREATEROLE PASSWORD 'second-admin-pw'`);
});
afterAll(async () => {
  await closeProviderConnections();
  await server?.stop();
});

async function admin<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ host: server.host, port: server.port, database: server.database, user: server.adminUser, password: server.adminPassword });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Sessions the rotor application holds, by user (the test's own admin client is not one). */
async function rotorSessions(): Promise<Record<string, number>> {
  const rows = await admin<{ usename: string; n: number }>(
    `SELECT usename, count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'rotor' GROUP BY usename`,
  );
  return Object.fromEntries(rows.map((r) => [r.usename, r.n]));
}

function spec(role: string, user = server.adminUser): PostgresPasswordSpec {
  return PostgresPasswordSpecSchema.parse({ host: server.host, port: server.port, database: server.database, admin: { user, password: 'env:PG_ADMIN_PASSWORD' }, role });
}
const request = (): CreateRequest => ({ current: null, staged: null, stage: async () => undefined });

describe('postgres-password admin connections', () => {
  it('reuses pooled admin logins across rotations, one pool per admin identity, and closes them at shutdown', async () => {
    const ctx = kit.context({ PG_ADMIN_PASSWORD: server.adminPassword });
    for (let i = 0; i < 5; i++) await source.create(ctx, spec(`pooled_${i}`), 'single', request());
    // Five rotations' admin steps, one after another: one pooled login (a fresh login per step would leave none).
    expect(await rotorSessions()).toEqual({ [server.adminUser]: 1 });

    const other = kit.context({ PG_ADMIN_PASSWORD: 'second-admin-pw' });
    await source.create(other, spec('pooled_other', 'second_admin'), 'single', request());
    // The second admin identity has its own connection: never one of the first admin's.
    expect(await rotorSessions()).toEqual({ [server.adminUser]: 1, second_admin: 1 });
    await closeProviderConnections();
    await expect.poll(rotorSessions).toEqual({});
  });

  it('a wrong admin password is refused by a fresh login, not served by a pool of the right one', async () => {
    const ctx = kit.context({ PG_ADMIN_PASSWORD: server.adminPassword });
    await source.create(ctx, spec('pooled_again'), 'single', request());
    const wrong = kit.context({ PG_ADMIN_PASSWORD: 'not-the-password' });
    await expect(source.create(wrong, spec('pooled_again'), 'single', request())).rejects.toThrow(/28P01|password authentication failed/);
  });
});
