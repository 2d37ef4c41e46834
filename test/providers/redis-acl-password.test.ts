/**
 * The redis-acl-password provider against a real Redis (Debian's redis-server, started by the
 * harness with an ACL file): dual gives the user a second password and removes the old one after,
 * single replaces it in place, changes survive a restart through ACL SAVE, drain counts the user's
 * older connections, pre-flight names missing permissions, posture finds +@all / ~* / &*, and no
 * error or log line holds a password.
 */
import { mkdir, readFile, rename, rmdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type CreateRequest, type CredentialSource } from '../../providers/contracts.js';
import { redisAclPassword, RedisAclPasswordSpecSchema, type RedisAclPasswordSpec } from '../../providers/redis-acl-password/index.js';
import { startRedis, type RedisServer } from '../harness/servers/redis.js';
import { createProviderKit } from '../harness/provider-kit.js';

let server: RedisServer;
const source = redisAclPassword.source as CredentialSource<RedisAclPasswordSpec>;
const kit = createProviderKit({ credentialId: 'test-redis', rotationIdPrefix: 'rot-' });
const { rejection } = kit;
const ADMIN_PASSWORD = 'Adm1n' + Math.random().toString(36).slice(2) + 'xxxxxxxx';
const INITIAL = 'Initial' + Math.random().toString(36).slice(2) + 'xxxxxxxx';
const issued: string[] = [ADMIN_PASSWORD, INITIAL];

beforeAll(async () => {
  server = await startRedis();
  // Least privilege from the README: ACL commands and CLIENT LIST, nothing on keys.
  await server.command('ACL', 'SETUSER', 'rotor', 'on', `>${ADMIN_PASSWORD}`, '-@all', '+acl', '+client|list');
  await server.command('ACL', 'SETUSER', 'weak', 'on', `>${ADMIN_PASSWORD}`, '-@all', '+acl|getuser', '+acl|dryrun');
  for (const user of ['cache', 'sessions']) await server.command('ACL', 'SETUSER', user, 'on', `>${INITIAL}`, '~app:*', '-@all', '+get', '+set');
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

const context = () => kit.context({ REDIS_ADMIN_PASSWORD: ADMIN_PASSWORD });
const spec = (user: string, extra: Record<string, unknown> = {}) =>
  RedisAclPasswordSpecSchema.parse({ host: server.host, port: server.port, admin: { user: 'rotor', password: 'env:REDIS_ADMIN_PASSWORD' }, user, ...extra });

function request(current: Material | null, staged: Material | null = null): CreateRequest & { stagedNow: Material[] } {
  const stagedNow: Material[] = [];
  return { current, staged, stagedNow, stage: async (m) => void (issued.push(m.reveal('password')), stagedNow.push(m)) };
}
const login = (m: Material) => server.canLogin(m.reveal('username'), m.reveal('password'));
const initial = (user: string) => new Material(`${user}#initial`, { username: user, password: INITIAL });

describe('redis-acl-password against Redis', () => {
  it('reports the server it runs against', () => {
    expect(server.version).toMatch(/^[67]\./);
  });

  describe('dual strategy (two passwords on one user)', () => {
    let next: Material;

    it('adds the new password beside the old one; both authenticate; the user\'s permissions stay', async () => {
      const before = (await server.command('ACL', 'GETUSER', 'cache')) as unknown[];
      const req = request(initial('cache'));
      next = await source.create(context(), spec('cache'), 'dual', req);
      expect(req.stagedNow).toEqual([next]);
      expect(next.id).toMatch(/^cache#[0-9a-f]{12}$/);
      await source.verify(context(), spec('cache'), next);
      expect(await login(next)).toBe(true);
      expect(await login(initial('cache'))).toBe(true);
      const after = (await server.command('ACL', 'GETUSER', 'cache')) as unknown[];
      expect(after[after.indexOf('commands') + 1]).toBe(before[before.indexOf('commands') + 1]);
      expect(after[after.indexOf('passwords') + 1]).toHaveLength(2);
    });

    it('a retried create finds its password already there and adds nothing', async () => {
      const req = request(initial('cache'), next);
      expect(await source.create(context(), spec('cache'), 'dual', req)).toBe(next);
      expect(req.stagedNow).toEqual([]);
      const after = (await server.command('ACL', 'GETUSER', 'cache')) as unknown[];
      expect(after[after.indexOf('passwords') + 1]).toHaveLength(2);
    });

    it('the change is saved to the ACL file, by hash only', async () => {
      const file = await readFile(server.aclFile, 'utf8');
      expect(file).toMatch(/^user cache on #[0-9a-f]{64} #[0-9a-f]{64} /m);
      expect(file.includes(next.reveal('password'))).toBe(false);
    });

    it('a create whose ACL SAVE failed saves on its retry, though the password is already set', async () => {
      // The server cannot write its ACL file (here: its path is a directory), as with a full or read-only disk.
      await rename(server.aclFile, `${server.aclFile}.aside`);
      await mkdir(`${server.aclFile}/blocked`, { recursive: true });
      const req = request(initial('sessions'));
      const error = await rejection(source.create(context(), spec('sessions'), 'dual', req));
      expect(error).not.toBeInstanceOf(ProviderRefusal); // transient: the activity retries it
      expect(error.message).toMatch(/error trying to save the ACLs/);
      const staged = req.stagedNow[0]!;
      expect(await login(staged)).toBe(true); // set in memory, not saved
      await rmdir(`${server.aclFile}/blocked`);
      await rmdir(server.aclFile);
      await rename(`${server.aclFile}.aside`, server.aclFile);
      await source.create(context(), spec('sessions'), 'dual', request(initial('sessions'), staged));
      expect(await readFile(server.aclFile, 'utf8')).toContain(createHash('sha256').update(staged.reveal('password')).digest('hex'));
      await source.discard(context(), spec('sessions'), 'dual', staged, initial('sessions'));
    });

    it('discovery lists both passwords of the user from ACL LIST, ids as the material names them', async () => {
      const found = await source.list(context(), spec('cache'));
      expect(found.map((f) => f.id)).toContain(next.id);
      expect(found).toHaveLength(2);
      expect(found.every((f) => f.status === 'active' && !f.usageTracked)).toBe(true);
    });

    it('drain counts the user\'s connections opened before `since`', async () => {
      const app = await server.connect('cache', INITIAL);
      try {
        await expect.poll(async () => (await source.inUse!(context(), spec('cache'), initial('cache'), new Date(Date.now() - 3_600_000))).inUse).toBe(false);
        const usage = await source.inUse!(context(), spec('cache'), initial('cache'), new Date(Date.now() + 1_000));
        expect(usage.inUse).toBe(true);
        expect(usage.detail).toMatch(/^1 connection of ACL user "cache" opened before/);
      } finally {
        app.disconnect();
      }
      await expect.poll(async () => (await source.inUse!(context(), spec('cache'), initial('cache'), new Date(Date.now() + 1_000))).inUse).toBe(false);
    });

    it('revoke removes the old password (twice is fine); the new one still works', async () => {
      await source.revoke(context(), spec('cache'), 'dual', initial('cache'));
      await source.revoke(context(), spec('cache'), 'dual', initial('cache'));
      expect(await login(initial('cache'))).toBe(false);
      expect(await login(next)).toBe(true);
    });

    it('revoke refuses to remove the last password; discard never removes the current one', async () => {
      expect(await rejection(source.revoke(context(), spec('cache'), 'dual', next))).toBeInstanceOf(ProviderRefusal);
      expect(await rejection(source.discard(context(), spec('cache'), 'dual', next, next))).toBeInstanceOf(ProviderRefusal);
      expect(await login(next)).toBe(true);
    });

    it('discard removes the password a failed rotation added', async () => {
      const failed = await source.create(context(), spec('cache'), 'dual', request(next));
      await source.discard(context(), spec('cache'), 'dual', failed, next);
      await source.discard(context(), spec('cache'), 'dual', failed, next);
      expect(await login(failed)).toBe(false);
      expect(await login(next)).toBe(true);
    });

    it('verify fails while the user is off (a disabled user authenticates with no password)', async () => {
      await server.command('ACL', 'SETUSER', 'cache', 'off');
      const error = await rejection(source.verify(context(), spec('cache'), next));
      expect(error.message).toMatch(/cannot authenticate.*WRONGPASS/);
      await server.command('ACL', 'SETUSER', 'cache', 'on');
    });
  });

  describe('single strategy', () => {
    it('replaces the password in place; discard puts the old one back; without one it refuses', async () => {
      const created = await source.create(context(), spec('sessions'), 'single', request(initial('sessions')));
      expect(await login(created)).toBe(true);
      expect(await login(initial('sessions'))).toBe(false);
      await source.discard(context(), spec('sessions'), 'single', created, initial('sessions'));
      expect(await login(initial('sessions'))).toBe(true);
      expect(await login(created)).toBe(false);
      expect(await rejection(source.discard(context(), spec('sessions'), 'single', created, null))).toBeInstanceOf(ProviderRefusal);
    });

    it('create refuses a user that does not exist (Rotor never creates users or grants)', async () => {
      const error = await rejection(source.create(context(), spec('nobody'), 'single', request(null)));
      expect(error).toBeInstanceOf(ProviderRefusal);
      expect(await server.command('ACL', 'GETUSER', 'nobody')).toBeNull();
    });
  });

  describe('pre-flight and posture', () => {
    it('pre-flight passes for the README\'s permissions and names what a weaker admin lacks', async () => {
      expect(await source.preflight!(context(), spec('cache'), 'dual')).toEqual([]);
      const problems = await source.preflight!(context(), spec('nobody', { admin: { user: 'weak', password: 'env:REDIS_ADMIN_PASSWORD' } }), 'dual');
      expect(problems.join('\n')).toMatch(/"weak" may not run ACL SETUSER/);
      expect(problems.join('\n')).toMatch(/"weak" may not run CLIENT LIST/);
      expect(problems.join('\n')).toMatch(/"weak" may not run ACL SAVE/);
      expect(problems.join('\n')).toMatch(/ACL user "nobody" does not exist/);
    });

    it('pre-flight names a refused admin login', async () => {
      const problems = await source.preflight!(kit.context({ REDIS_ADMIN_PASSWORD: 'wrong-password-xxxxxxxxxxxxxx' }), spec('cache'), 'dual');
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/cannot log in as ACL user "rotor".*WRONGPASS/);
    });

    it('posture flags +@all, ~*, &* and nopass; a narrow user has none', async () => {
      expect((await source.privileges!(context(), spec('sessions'))).broad).toEqual([]);
      await server.command('ACL', 'SETUSER', 'wide', 'on', 'nopass', 'allkeys', 'allchannels', 'allcommands');
      expect((await source.privileges!(context(), spec('wide'))).broad).toEqual([
        'ACL user "wide" may run every command (+@all)',
        'ACL user "wide" may access every key (~*)',
        'ACL user "wide" may use every Pub/Sub channel (&*)',
        'ACL user "wide" accepts any password (nopass)',
      ]);
      await server.command('ACL', 'SETUSER', 'ops', 'on', `>${INITIAL}`, '~app:*', '+@admin');
      expect((await source.privileges!(context(), spec('ops'))).broad).toEqual(['ACL user "ops" may run @admin commands (+@admin)']);
    });
  });

  it('the spec refuses user names that would read as ACL rules or split into several arguments', () => {
    for (const user of ['>secret', 'a b', '~*', '+@all', 'x'.repeat(129)]) expect(() => spec(user)).toThrow(/Redis ACL user name/);
  });

  it('no password appears in any error or log line', () => {
    const text = kit.errorsAndLogsText();
    expect(kit.logs.length).toBeGreaterThan(3);
    for (const secret of issued) expect(text.includes(secret)).toBe(false);
  });
});
