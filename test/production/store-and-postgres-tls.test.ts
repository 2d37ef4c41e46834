/**
 * Rotor's store and the postgres-password provider against a real PostgreSQL with TLS on (server
 * certificate from a CA made at run time): verify-full with the right CA connects over TLS, with
 * another CA it is refused with a clear error, and a mode that encrypts without verifying is
 * refused outright. Only `rotor migrate` (and the daemon) change the schema: every other command
 * checks it and says to migrate when it is behind.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../cli/main.js';
import { ProviderRefusal } from '../../providers/contracts.js';
import { withAdmin } from '../../providers/postgres-password/db.js';
import { PostgresPasswordSpecSchema } from '../../providers/postgres-password/spec.js';
import { RotorStore, StoreConnectError, StoreSchemaBehind } from '../../store/index.js';
import { issueServer, makeCa } from '../harness/certs.js';
import { captureOutput } from '../harness/cli.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { createProviderKit } from '../harness/provider-kit.js';

let server: PostgresServer;
let dir: string;
let caFile: string;
let otherCaFile: string;
const kit = createProviderKit({ credentialId: 'tls-db', logLevel: 'silent' });

beforeAll(async () => {
  const ca = await makeCa('Rotor test CA (PostgreSQL)');
  const other = await makeCa('Someone else\'s CA');
  dir = await mkdtemp(join(tmpdir(), 'rotor-pgtls-'));
  caFile = join(dir, 'ca.crt');
  otherCaFile = join(dir, 'other-ca.crt');
  await writeFile(caFile, ca.cert);
  await writeFile(otherCaFile, other.cert);
  server = await startPostgres({ ssl: await issueServer(ca) });
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

afterEach(() => vi.restoreAllMocks());

/** A new empty database on the server, and its URL with these query parameters. */
async function freshDatabase(name: string): Promise<(query?: string) => string> {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const base = server.url.replace(/\/[^/]*$/, `/${name}`);
  return (query) => (query ? `${base}?${query}` : base);
}

async function tables(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
    return rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

describe('the store schema', () => {
  it('read-only commands never migrate: they say to run `rotor migrate`, which does', async () => {
    const url = (await freshDatabase('schema_check'))();
    const output = captureOutput();
    expect(await runCli(['status', '--database-url', url])).toBe(1);
    expect(output.text()).toMatch(/rotor: the Rotor store's schema is behind this Rotor \(\d+ migrations pending: 001_initial, .*\): run `rotor migrate`/);
    expect(await tables(url)).toEqual([]);

    output.clear();
    expect(await runCli(['migrate', '--database-url', url])).toBe(0);
    expect(output.text()).toContain('store schema up to date');
    expect(await tables(url)).toContain('credentials');
    output.clear();
    expect(await runCli(['status', '--database-url', url, '--json'])).toBe(0);
    expect(JSON.parse(output.text())).toEqual([]);

    // One migration un-applied (an upgrade that brought a new one): refused again, naming it.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ name: string }>(`DELETE FROM rotor_migrations WHERE id = (SELECT max(id) FROM rotor_migrations) RETURNING name`);
    await client.end();
    await expect(RotorStore.connect(url)).rejects.toThrow(StoreSchemaBehind);
    await expect(RotorStore.connect(url)).rejects.toThrow(`1 migration pending: ${rows[0]!.name}): run \`rotor migrate\``);
  });
});

describe('PostgreSQL with TLS', () => {
  it('the store connects with sslmode=verify-full and the right CA, over TLS', async () => {
    const url = await freshDatabase('tls_store');
    const store = await RotorStore.connect(url(`sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`), { migrate: true });
    try {
      const { rows } = await store.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(rows[0]?.ssl).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('the store refuses a server certificate another CA signed, with a clear error', async () => {
    const url = (await freshDatabase('tls_wrong_ca'))(`sslmode=verify-full&sslrootcert=${encodeURIComponent(otherCaFile)}`);
    const refused = RotorStore.connect(url, { migrate: true });
    await expect(refused).rejects.toThrow(StoreConnectError);
    await expect(RotorStore.connect(url)).rejects.toThrow(
      /cannot connect to the Rotor store at 127\.0\.0\.1:\d+\/tls_wrong_ca \(TLS verify-full\): the server's TLS certificate was not verified \(UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate\): check that the CA file is the one that signed it/,
    );
    expect(String(await refused.catch((e: unknown) => e))).not.toContain(server.adminPassword);
  });

  it('refuses sslmode=require (encrypts without verifying) instead of connecting', async () => {
    const output = captureOutput();
    expect(await runCli(['status', '--database-url', `${server.url}?sslmode=require`])).toBe(1);
    expect(output.text()).toMatch(/sslmode require does not verify the server's certificate and host name: use verify-full/);
    vi.stubEnv('PGSSLMODE', 'prefer');
    try {
      await expect(RotorStore.connect(server.url)).rejects.toThrow(/sslmode prefer does not verify/);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  const spec = (extra: Record<string, unknown>) =>
    PostgresPasswordSpecSchema.parse({
      host: server.host,
      port: server.port,
      database: server.database,
      admin: { user: server.adminUser, password: 'env:PG_ADMIN_PASSWORD' },
      role: 'tls_app',
      ...extra,
    });
  const context = () => kit.context({ PG_ADMIN_PASSWORD: server.adminPassword });
  const sslOfSession = (s: ReturnType<typeof spec>) =>
    withAdmin(context(), s, 'probe', async ({ client }) => (await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]?.ssl);

  it('the postgres-password provider\'s admin connection verifies the server: the right CA connects over TLS, another is refused', async () => {
    expect(await sslOfSession(spec({ sslmode: 'verify-full', sslrootcert: caFile }))).toBe(true);
    const refused = sslOfSession(spec({ sslmode: 'verify-full', sslrootcert: otherCaFile }));
    await expect(refused).rejects.toThrow(ProviderRefusal);
    await expect(sslOfSession(spec({ sslmode: 'verify-full', sslrootcert: otherCaFile }))).rejects.toThrow(
      /probe \(database "postgres" at 127\.0\.0\.1:\d+\): the server's TLS certificate was not verified \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    );
    // Without a CA file the system's CAs are used, which never signed this test CA.
    await expect(sslOfSession(spec({ sslmode: 'verify-full' }))).rejects.toThrow(/not verified/);
    await expect(sslOfSession(spec({ sslmode: 'verify-full', sslrootcert: join(dir, 'missing.crt') }))).rejects.toThrow(/cannot read the PostgreSQL TLS CA file .*missing\.crt: ENOENT/);
  });

  it('a policy with sslmode require is refused with what to write instead', () => {
    const parsed = PostgresPasswordSpecSchema.safeParse({ host: 'db', database: 'd', admin: { user: 'a', password: 'env:X' }, role: 'r', sslmode: 'require' });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(/sslmode require does not verify the server's certificate and host name: use verify-full/);
  });
});
