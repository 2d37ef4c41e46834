/**
 * The mysql-password provider against a real MariaDB (Debian's mariadb-server, started by the
 * harness): new passwords log in and old ones are refused, the dual logins alternate and share the
 * role's privileges, drain counts the old login's sessions, pre-flight names missing privileges,
 * posture finds broad grants and `%` hosts, and no error or log line holds a password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type CreateRequest, type CredentialSource } from '../../providers/contracts.js';
import { mysqlPassword, MysqlPasswordSpecSchema, type MysqlPasswordSpec } from '../../providers/mysql-password/index.js';
import { startMariaDb, type MariaDbServer } from '../harness/servers/mariadb.js';
import { createProviderKit } from '../harness/provider-kit.js';
import { LOOPBACK } from '../harness/ports.js';

let server: MariaDbServer;
const source = mysqlPassword.source as CredentialSource<MysqlPasswordSpec>;
const kit = createProviderKit({ credentialId: 'test-mysql', rotationIdPrefix: 'rot-' });
const { rejection } = kit;
const ADMIN_PASSWORD = 'Adm1n-' + Math.random().toString(36).slice(2);
const issued: string[] = [ADMIN_PASSWORD];

beforeAll(async () => {
  server = await startMariaDb();
  // Least privilege from the README: CREATE USER, PROCESS, SELECT and UPDATE on the mysql schema.
  await server.query(`CREATE USER 'rotor_admin'@'${LOOPBACK}' IDENTIFIED BY '${ADMIN_PASSWORD}'`);
  await server.query(`GRANT CREATE USER, PROCESS ON *.* TO 'rotor_admin'@'${LOOPBACK}'`);
  await server.query(`GRANT SELECT, UPDATE ON mysql.* TO 'rotor_admin'@'${LOOPBACK}'`);
  await server.query('CREATE DATABASE shop');
  await server.query('CREATE TABLE shop.orders (id INT PRIMARY KEY)');
  await server.query(`CREATE USER 'weak_admin'@'${LOOPBACK}' IDENTIFIED BY '${ADMIN_PASSWORD}'`);
  // Without UPDATE on the mysql schema: MariaDB then refuses to set another account's default role.
  await server.query(`CREATE USER 'mid_admin'@'${LOOPBACK}' IDENTIFIED BY '${ADMIN_PASSWORD}'`);
  await server.query(`GRANT CREATE USER, PROCESS ON *.* TO 'mid_admin'@'${LOOPBACK}'`);
  await server.query(`GRANT SELECT ON mysql.* TO 'mid_admin'@'${LOOPBACK}'`);
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

const context = () => kit.context({ MYSQL_ADMIN_PASSWORD: ADMIN_PASSWORD });

function spec(user: string, extra: Record<string, unknown> = {}): MysqlPasswordSpec {
  return MysqlPasswordSpecSchema.parse({ host: server.host, port: server.port, admin: { user: 'rotor_admin', password: 'env:MYSQL_ADMIN_PASSWORD' }, user, ...extra });
}

function request(current: Material | null, staged: Material | null = null): CreateRequest & { stagedNow: Material[] } {
  const stagedNow: Material[] = [];
  return {
    current,
    staged,
    stagedNow,
    stage: async (m) => {
      issued.push(m.reveal('password'));
      stagedNow.push(m);
    },
  };
}

const login = (m: Material) => server.canLogin(m.reveal('username'), m.reveal('password'));

describe('mysql-password against MariaDB', () => {
  it('reports the server it runs against', () => {
    expect(server.version).toMatch(/MariaDB/);
  });

  describe('single strategy', () => {
    it('creates the account on first use; each new password logs in and the old one is refused', async () => {
      const first = await source.create(context(), spec('web-app$1'), 'single', request(null));
      expect(first.id).toBe('web-app$1');
      await source.verify(context(), spec('web-app$1'), first);
      const req = request(first);
      const second = await source.create(context(), spec('web-app$1'), 'single', req);
      expect(req.stagedNow).toEqual([second]);
      expect(await login(second)).toBe(true);
      expect(await login(first)).toBe(false);
      await source.revoke(context(), spec('web-app$1'), 'single', first); // a no-op: refused already
      expect(await login(second)).toBe(true);
    });

    it('a retried create re-applies the staged password instead of minting another', async () => {
      const current = await source.create(context(), spec('retry_app'), 'single', request(null));
      const staged = new Material('retry_app', { username: 'retry_app', password: 'Staged-' + Math.random().toString(36).slice(2) + 'xxxxxxxxxxxx' });
      issued.push(staged.reveal('password'));
      const req = request(current, staged);
      const again = await source.create(context(), spec('retry_app'), 'single', req);
      expect(again).toBe(staged);
      expect(req.stagedNow).toEqual([]);
      expect(await login(staged)).toBe(true);
    });

    it('discard puts the previous password back; without one it refuses and keeps the new', async () => {
      const current = await source.create(context(), spec('single_discard'), 'single', request(null));
      const created = await source.create(context(), spec('single_discard'), 'single', request(current));
      await source.discard(context(), spec('single_discard'), 'single', created, current);
      await source.discard(context(), spec('single_discard'), 'single', created, current);
      expect(await login(current)).toBe(true);
      expect(await login(created)).toBe(false);
      const error = await rejection(source.discard(context(), spec('single_discard'), 'single', current, null));
      expect(error).toBeInstanceOf(ProviderRefusal);
      expect(await login(current)).toBe(true);
    });

    it('verify fails for a password the server refuses', async () => {
      const wrong = new Material('web-app$1', { username: 'web-app$1', password: 'not-the-password-at-all-000000' });
      const error = await rejection(source.verify(context(), spec('web-app$1'), wrong));
      expect(error.message).toMatch(/cannot log in.*ER_ACCESS_DENIED_ERROR 1045/);
    });
  });

  describe('dual strategy (alternating logins sharing a role)', () => {
    let a: Material;
    let b: Material;

    it('first rotation creates the role and both logins; _a gets a password, _b stays locked', async () => {
      a = await source.create(context(), spec('orders'), 'dual', request(null));
      expect(a.id).toBe('orders_a');
      expect(await login(a)).toBe(true);
      const grants = await server.query<Array<Record<string, string>>>(`SHOW GRANTS FOR 'orders_b'@'%'`);
      expect(grants.map((g) => Object.values(g)[0])).toContain('SET DEFAULT ROLE `orders` FOR `orders_b`@`%`');
      const created = await server.query<Array<{ c: string }>>(`SHOW CREATE USER 'orders_b'@'%'`);
      expect(Object.values(created[0]!)[0]).toMatch(/ACCOUNT LOCK/);
    });

    it('the logins hold the role\'s privileges through their default role', async () => {
      await server.query('GRANT SELECT ON shop.* TO orders');
      const conn = await server.connect('orders_a', a.reveal('password'));
      try {
        const [rows] = await conn.query('SELECT COUNT(*) AS n FROM shop.orders');
        expect(rows).toEqual([{ n: 0 }]);
      } finally {
        await conn.end();
      }
    });

    it('the next rotation writes _b; both work until _a is revoked, which refuses it', async () => {
      b = await source.create(context(), spec('orders'), 'dual', request(a));
      expect(b.id).toBe('orders_b');
      expect(await login(a)).toBe(true);
      expect(await login(b)).toBe(true);
      await source.revoke(context(), spec('orders'), 'dual', a);
      await source.revoke(context(), spec('orders'), 'dual', a);
      expect(await login(a)).toBe(false);
      expect(await login(b)).toBe(true);
    });

    it('revoke refuses to lock the only login that works', async () => {
      const error = await rejection(source.revoke(context(), spec('orders'), 'dual', b));
      expect(error).toBeInstanceOf(ProviderRefusal);
      expect(error.message).toMatch(/sibling 'orders_a' is locked/);
      expect(await login(b)).toBe(true);
    });

    it('drain counts the open sessions of the old login in the process list', async () => {
      const conn = await server.connect('orders_b', b.reveal('password'));
      try {
        expect(await source.inUse!(context(), spec('orders'), b, new Date())).toEqual({ inUse: true, detail: "1 open session of account 'orders_b'" });
      } finally {
        await conn.end();
      }
      await expect.poll(async () => (await source.inUse!(context(), spec('orders'), b, new Date())).inUse).toBe(false);
    });

    it('discard locks the login the failed rotation wrote and never the current one', async () => {
      const c = await source.create(context(), spec('orders'), 'dual', request(b));
      expect(c.id).toBe('orders_a');
      await source.discard(context(), spec('orders'), 'dual', c, b);
      expect(await login(c)).toBe(false);
      expect(await login(b)).toBe(true);
      expect(await rejection(source.discard(context(), spec('orders'), 'dual', b, b))).toBeInstanceOf(ProviderRefusal);
    });

    it('discovery lists the logins with when their password was set and whether they are locked', async () => {
      const found = await source.list(context(), spec('orders'));
      expect(found.map((f) => [f.id, f.status, f.usageTracked])).toEqual([
        ['orders_a', 'inactive', false],
        ['orders_b', 'active', false],
      ]);
      expect(Date.now() - Date.parse(found[1]!.createdAt!)).toBeLessThan(600_000);
    });

    it('retire locks even the last login that works', async () => {
      await source.retire!(context(), spec('orders'), 'dual', b);
      expect(await login(b)).toBe(false);
    });
  });

  describe('pre-flight and posture', () => {
    it('pre-flight passes for the README\'s grants and names each privilege a weaker admin lacks', async () => {
      expect(await source.preflight!(context(), spec('orders'), 'dual')).toEqual([]);
      const weak = spec('fresh_app', { admin: { user: 'weak_admin', password: 'env:MYSQL_ADMIN_PASSWORD' } });
      const problems = await source.preflight!(context(), weak, 'dual');
      expect(problems.join('\n')).toMatch(/lacks the global CREATE USER/);
      expect(problems.join('\n')).toMatch(/lacks the global PROCESS/);
      expect(problems.join('\n')).toMatch(/lacks SELECT on `mysql`/);
      expect(problems.join('\n')).not.toMatch(/default role/); // not checked without SELECT: reported above
      const mid = (user: string) => spec(user, { admin: { user: 'mid_admin', password: 'env:MYSQL_ADMIN_PASSWORD' } });
      const fresh = await source.preflight!(context(), mid('fresh_app'), 'dual');
      expect(fresh).toHaveLength(2);
      expect(fresh[0]).toMatch(/lacks UPDATE on `mysql`.* to set the default role of 'fresh_app_a'@'%'; create it once: CREATE USER/);
      expect(await source.preflight!(context(), mid('orders'), 'dual')).toEqual([]); // its logins exist with their default role
      expect(await source.preflight!(context(), mid('fresh_app'), 'single')).toEqual([]);
    });

    it('pre-flight names a refused admin login; nothing changes', async () => {
      const problems = await source.preflight!(kit.context({ MYSQL_ADMIN_PASSWORD: 'wrong-password-xxxxxxxxxxxx' }), spec('orders'), 'dual');
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/cannot log in as 'rotor_admin'.*1045/);
    });

    it('posture flags ALL PRIVILEGES, SUPER, GRANT OPTION (also through the role) and % hosts', async () => {
      await server.query(`CREATE USER 'narrow'@'10.0.0.%' IDENTIFIED BY 'Narrow-password-123456789'`);
      await server.query(`GRANT SELECT ON shop.* TO 'narrow'@'10.0.0.%'`);
      expect((await source.privileges!(context(), spec('narrow', { userHost: '10.0.0.%' }))).broad).toEqual([]);
      await server.query(`GRANT ALL PRIVILEGES ON *.* TO 'web-app$1'@'%' WITH GRANT OPTION`);
      const single = (await source.privileges!(context(), spec('web-app$1'))).broad;
      expect(single).toContain("'web-app$1'@'%' has ALL PRIVILEGES on *.*");
      expect(single).toContain("'web-app$1'@'%' has GRANT OPTION (*.*)");
      expect(single).toContain("'web-app$1'@'%' accepts logins from any host ('%')");
      await server.query('GRANT SUPER ON *.* TO orders');
      const dual = (await source.privileges!(context(), spec('orders'))).broad;
      expect(dual).toContain('role `orders` has SUPER on *.*');
    });
  });

  it('the spec refuses user names and hosts that could break out of their quotes, and over-long names', () => {
    for (const user of ["app'; DROP USER root; --", 'app`x', 'a b', 'x'.repeat(31)]) expect(() => spec(user)).toThrow(/MySQL user name/);
    expect(() => spec('app', { userHost: "%' OR '1" })).toThrow(/account host/);
    expect(spec('app-1$', { userHost: '10.0.0.%' }).userHost).toBe('10.0.0.%');
  });

  it('no password appears in any error or log line', () => {
    const text = kit.errorsAndLogsText();
    expect(kit.logs.length).toBeGreaterThan(5);
    for (const secret of issued) expect(text.includes(secret)).toBe(false);
  });
});
