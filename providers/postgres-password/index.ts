/**
 * PostgreSQL login passwords.
 *
 * - `dual` ("alternating users", AWS's multi-user rotation): the spec's role is a NOLOGIN group role
 *   that owns the privileges; two login roles `<role>_a` and `<role>_b` inherit from it, and each
 *   rotation gives a fresh password to the one not in service, so old and new overlap.
 * - `single`: the role's own password changes in place; the old one stops working at once.
 *
 * Material is `Material(<login role>, { username, password })`.
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
import { canRoleLogin, disableLogin, ensureRole, roleExists, setPassword, withAdmin, withConnection } from './db.js';
import { loginRoles, PostgresPasswordSpecSchema, type PostgresPasswordSpec } from './spec.js';
import { retireLogin, rolePrivileges } from './posture.js';

export { PostgresPasswordSpecSchema, type PostgresPasswordSpec } from './spec.js';


function username(material: Material): string {
  return material.has('username') ? material.reveal('username') : material.id;
}

/** The login role this rotation writes: the staged one on a retry, else the one not in service. */
function targetRole(spec: PostgresPasswordSpec, strategy: Strategy, req: CreateRequest): string {
  const allowed = strategy === 'dual' ? loginRoles(spec.role) : [spec.role];
  if (req.staged) {
    if (!allowed.includes(req.staged.id)) {
      throw new ProviderRefusal(`staged material ${req.staged.id} is not a login role of ${spec.role} (${allowed.join(', ')})`);
    }
    return req.staged.id;
  }
  if (strategy === 'single') return spec.role;
  const [a, b] = loginRoles(spec.role);
  return req.current?.id === a ? b : a;
}

async function create(ctx: ProviderContext, spec: PostgresPasswordSpec, strategy: Strategy, req: CreateRequest): Promise<Material> {
  const role = targetRole(spec, strategy, req);
  const material = await withAdmin(ctx, spec, `cannot set a new password for role "${role}"`, async (session) => {
    if (strategy === 'dual') {
      await ensureRole(session.client, spec.role);
      for (const login of loginRoles(spec.role)) await ensureRole(session.client, login, spec.role);
    } else {
      await ensureRole(session.client, role);
    }
    // A retry re-applies the password it staged: a second one would be lost if this attempt failed.
    let next = req.staged;
    if (!next) {
      next = new Material(role, { username: role, password: generatePassword(spec.password) });
      // Staged before it is applied, so a crash in between never loses a password that works.
      await req.stage(next);
    }
    await setPassword(session, role, next.reveal('password'));
    return next;
  });
  ctx.logger.info({ role, database: spec.database, strategy, reused: req.staged !== null }, 'postgres password set');
  return material;
}

async function verify(ctx: ProviderContext, spec: PostgresPasswordSpec, material: Material): Promise<void> {
  const user = username(material);
  const login = { user, password: material.reveal('password') };
  const currentUser = await withConnection(ctx, spec, login, `role "${user}" cannot log in`, { refuse: false }, async ({ client }) => {
    const { rows } = await client.query<{ current_user: string }>('SELECT current_user');
    return rows[0]?.current_user;
  });
  if (currentUser !== user) throw new Error(`logged in as role "${user}" but the server reports "${currentUser}"`);
}

async function discard(ctx: ProviderContext, spec: PostgresPasswordSpec, strategy: Strategy, created: Material, current: Material | null): Promise<void> {
  if (strategy === 'dual') {
    if (current?.id === created.id) throw new ProviderRefusal(`refusing to discard role "${created.id}": it is the current material`);
    await withAdmin(ctx, spec, `cannot disable role "${created.id}"`, async ({ client }) => {
      if (await roleExists(client, created.id)) await disableLogin(client, created.id);
    });
    return;
  }
  if (!current) {
    // Rotor never held the password the role had before: keep the new one, which the store still has.
    throw new ProviderRefusal(`cannot put back the previous password of role "${spec.role}": Rotor never held it (first single rotation)`);
  }
  await withAdmin(ctx, spec, `cannot restore the previous password of role "${spec.role}"`, (session) =>
    setPassword(session, spec.role, current.reveal('password')),
  );
}

async function revoke(ctx: ProviderContext, spec: PostgresPasswordSpec, strategy: Strategy, old: Material): Promise<void> {
  // single: the password was changed in place, so the old one stopped working at create. Nothing to do.
  if (strategy === 'single') return;
  const roles = loginRoles(spec.role);
  if (!roles.includes(old.id)) throw new ProviderRefusal(`refusing to revoke role "${old.id}": not a login role of ${spec.role}`);
  const sibling = roles.find((r) => r !== old.id)!;
  await withAdmin(ctx, spec, `cannot revoke role "${old.id}"`, async ({ client }) => {
    if (!(await roleExists(client, old.id))) return;
    // Guard: if the other login role cannot log in, this one is what is in service.
    if (!(await canRoleLogin(client, sibling))) {
      throw new ProviderRefusal(`refusing to revoke role "${old.id}": its sibling "${sibling}" cannot log in, so "${old.id}" is the current login`);
    }
    await disableLogin(client, old.id);
  });
  ctx.logger.info({ role: old.id, database: spec.database }, 'postgres login role revoked');
}

/**
 * The login roles of this credential, and every other login that holds the role's privileges: a
 * role created by hand as a member of the group role (directly or through other roles) is a side
 * door, listed so discovery flags it as unmanaged. Members that only administer the role (no
 * inherited privileges, e.g. the admin that created it on PostgreSQL 16+) and superusers (who hold
 * every privilege anyway) are left out. PostgreSQL records no password age (pg_authid has none), so
 * only expiry (rolvaliduntil) and whether the role may log in are reported.
 */
async function list(ctx: ProviderContext, spec: PostgresPasswordSpec): Promise<DiscoveredCredential[]> {
  const rows = await withAdmin(ctx, spec, `cannot list the login roles of "${spec.role}"`, async ({ client }) => {
    const result = await client.query<{ rolname: string; rolcanlogin: boolean; rolvaliduntil: Date | number | null }>(
      `SELECT r.rolname, r.rolcanlogin, r.rolvaliduntil FROM pg_roles r
       WHERE r.rolname = ANY($1)
          OR (r.rolcanlogin AND NOT r.rolsuper AND r.rolname <> $2
              AND EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = $2 AND pg_has_role(r.oid, g.oid, 'USAGE')))
       ORDER BY r.rolname`,
      [[spec.role, ...loginRoles(spec.role)], spec.role],
    );
    return result.rows;
  });
  const now = Date.now();
  return rows
    .filter((r) => r.rolname !== spec.role || r.rolcanlogin) // the dual group role is no credential
    .map((r) => {
      // pg parses 'infinity' as a number: only a real date is an expiry.
      const expires = r.rolvaliduntil instanceof Date && Number.isFinite(r.rolvaliduntil.getTime()) ? r.rolvaliduntil : undefined;
      const status: DiscoveredCredential['status'] = !r.rolcanlogin ? 'inactive' : expires && expires.getTime() <= now ? 'expired' : 'active';
      // PostgreSQL keeps no last-login time: use is unknown.
      return { id: r.rolname, principal: spec.role, status, usageTracked: false, ...(expires ? { expiresAt: expires.toISOString() } : {}) };
    });
}

/** Open sessions of a login role (pg_stat_activity), to tell when an old role has drained. */
export async function connectionInUse(ctx: ProviderContext, spec: PostgresPasswordSpec, roleName: string): Promise<number> {
  return withAdmin(ctx, spec, `cannot count the sessions of role "${roleName}"`, async ({ client }) => {
    const { rows } = await client.query<{ sessions: number }>('SELECT count(*)::int AS sessions FROM pg_stat_activity WHERE usename = $1', [roleName]);
    return rows[0]?.sessions ?? 0;
  });
}

/** Open sessions of the old login role: pooled connections still using the old password. */
async function inUse(ctx: ProviderContext, spec: PostgresPasswordSpec, old: Material): Promise<Usage> {
  const sessions = await connectionInUse(ctx, spec, old.id);
  return { inUse: sessions > 0, detail: `${sessions} open session${sessions === 1 ? '' : 's'} of role "${old.id}"` };
}

/** The admin login works and may manage roles (CREATEROLE or superuser). */
async function preflight(ctx: ProviderContext, spec: PostgresPasswordSpec): Promise<string[]> {
  try {
    return await withAdmin(ctx, spec, `cannot log in as "${spec.admin.user}"`, async ({ client }) => {
      const { rows } = await client.query<{ ok: boolean }>('SELECT rolcreaterole OR rolsuper AS ok FROM pg_roles WHERE rolname = current_user');
      return rows[0]?.ok ? [] : [`role "${spec.admin.user}" lacks CREATEROLE on ${spec.host}:${spec.port}/${spec.database}`];
    });
  } catch (error) {
    return [(error as Error).message];
  }
}

const source: CredentialSource<PostgresPasswordSpec> = {
  strategies: ['dual', 'single'],
  create,
  verify,
  discard,
  revoke,
  list,
  inUse,
  preflight,
  privileges: rolePrivileges,
  retire: retireLogin,
};

export const postgresPassword = defineCredential({
  type: 'postgres-password',
  workflow: 'rotateDatabasePassword',
  defaultEvery: '30d',
  maxAgeDays: 30,
  produces: { fields: ['username', 'password'], idField: 'username' },
  spec: PostgresPasswordSpecSchema,
  source,
});
