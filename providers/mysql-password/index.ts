/**
 * MySQL 8 and MariaDB 10.6+ login passwords.
 *
 * - `dual` ("alternating users", as for PostgreSQL): the spec's user names a role that holds the
 *   privileges; two login accounts `<user>_a`@host and `<user>_b`@host have it as their default role,
 *   and each rotation gives a fresh password to the one not in service, so old and new overlap and
 *   the process list tells when the old login has drained. Chosen over MySQL 8's RETAIN CURRENT
 *   PASSWORD (one account, two passwords), which MariaDB lacks and which leaves no way to see whether
 *   a session still uses the old password.
 * - `single`: `ALTER USER … IDENTIFIED BY` on the account itself; the old password stops at once.
 *
 * Material is `Material(<login user>, { username, password })`.
 */
import { Material } from '../../lib/material.js';
import { generatePassword } from '../../lib/password.js';
import {
  defineCredential,
  ProviderRefusal,
  type CreateRequest,
  type CredentialSource,
  type DiscoveredCredential,
  type ProviderContext,
  type Usage,
  type Strategy,
} from '../contracts.js';
import { accountExists, canAccountLogin, disableAccount, ensureAccount, ensureRoleMember, sessionsOf, setPassword, where, withAdmin, withConnection } from './db.js';
import { accountPrivileges, adminProblems, retireAccount } from './posture.js';
import { loginUsers, MysqlPasswordSpecSchema, type MysqlPasswordSpec } from './spec.js';

export { MysqlPasswordSpecSchema, type MysqlPasswordSpec } from './spec.js';


/** The account a material logs in as (its username field; a store may name material by its own version id). */
function loginOf(material: Material): string {
  return material.has('username') ? material.reveal('username') : material.id;
}

/** The login this rotation writes: the staged one on a retry, else the one not in service. */
function targetUser(spec: MysqlPasswordSpec, strategy: Strategy, req: CreateRequest): string {
  const allowed = strategy === 'dual' ? loginUsers(spec.user) : [spec.user];
  if (req.staged) {
    if (!allowed.includes(req.staged.id)) throw new ProviderRefusal(`staged material ${req.staged.id} is not a login of ${spec.user} (${allowed.join(', ')})`);
    return req.staged.id;
  }
  if (strategy === 'single') return spec.user;
  const [a, b] = loginUsers(spec.user);
  return req.current && loginOf(req.current) === a ? b : a;
}

async function create(ctx: ProviderContext, spec: MysqlPasswordSpec, strategy: Strategy, req: CreateRequest): Promise<Material> {
  const user = targetUser(spec, strategy, req);
  const material = await withAdmin(ctx, spec, `cannot set a new password for account '${user}'@'${spec.userHost}'`, async (session) => {
    if (strategy === 'dual') {
      for (const login of loginUsers(spec.user)) {
        await ensureAccount(session, login, spec.userHost);
        await ensureRoleMember(session, spec.user, login, spec.userHost);
      }
    }
    // A retry re-applies the password it staged: a second one would be lost if this attempt failed.
    let next = req.staged;
    if (!next) {
      next = new Material(user, { username: user, password: generatePassword(spec.password) });
      // Staged before it is applied, so a crash in between never loses a password that works.
      await req.stage(next);
    }
    if (strategy === 'single' && !(await accountExists(session, user, spec.userHost))) {
      await setPassword(session, user, spec.userHost, next.reveal('password'), { create: true });
    } else {
      await setPassword(session, user, spec.userHost, next.reveal('password'));
    }
    return next;
  });
  ctx.logger.info({ user, host: spec.userHost, strategy, reused: req.staged !== null }, 'mysql password set');
  return material;
}

async function verify(ctx: ProviderContext, spec: MysqlPasswordSpec, material: Material): Promise<void> {
  const user = loginOf(material);
  const login = { user, password: material.reveal('password') };
  const current = await withConnection(ctx, spec, login, `account '${user}' cannot log in`, { refuse: false }, async (session) => {
    const [row] = await session.query<{ u: string }>('SELECT CURRENT_USER() AS u');
    return row?.u;
  });
  if (!current?.startsWith(`${user}@`)) throw new Error(`logged in as '${user}' but the server reports ${current ?? 'no user'}`);
}

async function discard(ctx: ProviderContext, spec: MysqlPasswordSpec, strategy: Strategy, created: Material, current: Material | null): Promise<void> {
  if (strategy === 'dual') {
    if (current && loginOf(current) === loginOf(created)) throw new ProviderRefusal(`refusing to discard account '${created.id}': it is the current material`);
    const login = loginOf(created);
    await withAdmin(ctx, spec, `cannot lock account '${login}'`, async (session) => {
      if (await accountExists(session, login, spec.userHost)) await disableAccount(session, login, spec.userHost);
    });
    return;
  }
  if (!current) throw new ProviderRefusal(`cannot put back the previous password of '${spec.user}': Rotor never held it (first single rotation)`);
  await withAdmin(ctx, spec, `cannot restore the previous password of '${spec.user}'`, (session) =>
    setPassword(session, spec.user, spec.userHost, current.reveal('password')),
  );
}

async function revoke(ctx: ProviderContext, spec: MysqlPasswordSpec, strategy: Strategy, old: Material): Promise<void> {
  // single: the password was changed in place, so the old one stopped working at create.
  if (strategy === 'single') return;
  const users = loginUsers(spec.user);
  const login = loginOf(old);
  if (!users.includes(login)) throw new ProviderRefusal(`refusing to revoke account '${login}': not a login of ${spec.user}`);
  const sibling = users.find((u) => u !== login)!;
  await withAdmin(ctx, spec, `cannot revoke account '${login}'`, async (session) => {
    if (!(await accountExists(session, login, spec.userHost))) return;
    // Guard: if the other login cannot log in, this one is what is in service.
    if (!(await canAccountLogin(session, sibling, spec.userHost))) {
      throw new ProviderRefusal(`refusing to revoke account '${login}': its sibling '${sibling}' is locked or missing, so '${login}' is the current login`);
    }
    await disableAccount(session, login, spec.userHost);
  });
  ctx.logger.info({ user: login, host: spec.userHost }, 'mysql login revoked');
}

interface AccountRow {
  User: string;
  Host: string;
  locked: string | number | null;
  expired: string | null;
  changed: string | number | null;
  lifetime: string | number | null;
}

/**
 * The credential's login accounts, with when their password was last set (both servers record it)
 * and whether they are locked or expired. Neither server records a last login: use is unknown.
 */
async function list(ctx: ProviderContext, spec: MysqlPasswordSpec): Promise<DiscoveredCredential[]> {
  const names = [spec.user, ...loginUsers(spec.user)];
  const rows = await withAdmin(ctx, spec, `cannot list the accounts of '${spec.user}'`, (session) =>
    session.flavour.mariadb
      ? session.query<AccountRow>(
          `SELECT User, Host, JSON_VALUE(Priv, '$.account_locked') AS locked, JSON_VALUE(Priv, '$.password_last_changed') AS changed,
                  JSON_VALUE(Priv, '$.password_lifetime') AS lifetime, IF(JSON_VALUE(Priv, '$.password_last_changed') = '0', 'Y', 'N') AS expired
             FROM mysql.global_priv WHERE User IN (?) AND Host = ? ORDER BY User`,
          [names, spec.userHost],
        )
      : session.query<AccountRow>(
          `SELECT User, Host, account_locked AS locked, password_expired AS expired, UNIX_TIMESTAMP(password_last_changed) AS changed,
                  password_lifetime AS lifetime FROM mysql.user WHERE User IN (?) AND Host = ? ORDER BY User`,
          [names, spec.userHost],
        ),
  );
  return rows.map((r) => {
    const locked = r.locked === 'Y' || r.locked === 'true' || r.locked === 1 || r.locked === '1';
    const changed = r.changed !== null && Number(r.changed) > 0 ? new Date(Number(r.changed) * 1000) : undefined;
    const lifetimeDays = r.lifetime !== null && Number(r.lifetime) > 0 ? Number(r.lifetime) : undefined;
    const expiresAt = changed && lifetimeDays ? new Date(changed.getTime() + lifetimeDays * 86_400_000) : undefined;
    const expired = r.expired === 'Y' || (expiresAt !== undefined && expiresAt.getTime() <= Date.now());
    return {
      id: r.User,
      principal: spec.user,
      status: locked ? 'inactive' : expired ? 'expired' : 'active',
      usageTracked: false,
      ...(changed ? { createdAt: changed.toISOString() } : {}),
      ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
    };
  });
}

/** Open sessions of the old login in the process list: pooled connections still on the old password. */
async function inUse(ctx: ProviderContext, spec: MysqlPasswordSpec, old: Material): Promise<Usage> {
  const login = loginOf(old);
  const sessions = await withAdmin(ctx, spec, `cannot count the sessions of '${login}'`, (session) => sessionsOf(session, login));
  return { inUse: sessions > 0, detail: `${sessions} open session${sessions === 1 ? '' : 's'} of account '${login}'` };
}

/** The admin login works and holds what every step needs (see adminProblems). */
async function preflight(ctx: ProviderContext, spec: MysqlPasswordSpec, strategy: Strategy): Promise<string[]> {
  try {
    return await withAdmin(ctx, spec, `cannot log in as '${spec.admin.user}'`, async (session) => {
      const own = (await session.query<Record<string, string>>('SHOW GRANTS')).map((r) => Object.values(r)[0] ?? '');
      return adminProblems(session, spec, strategy, own);
    });
  } catch (error) {
    if (error instanceof ProviderRefusal) return [error.message];
    // An overloaded or unreachable server is no missing permission: let the step retry.
    throw error;
  }
}

const source: CredentialSource<MysqlPasswordSpec> = {
  strategies: ['dual', 'single'],
  create,
  verify,
  discard,
  revoke,
  list,
  inUse,
  preflight,
  privileges: accountPrivileges,
  retire: retireAccount,
};

export const mysqlPassword = defineCredential({
  type: 'mysql-password',
  workflow: 'rotateDatabasePassword',
  defaultEvery: '30d',
  maxAgeDays: 30,
  produces: { fields: ['username', 'password'], idField: 'username' },
  spec: MysqlPasswordSpecSchema,
  source,
});

export { where };
