/**
 * Redis 6+ ACL user passwords.
 *
 * - `dual`: the user gets a second password (`ACL SETUSER u #<new>`); after the grace the old one
 *   is removed (`!<old>`). Both authenticate in between; the user, its permissions and its open
 *   connections are never touched.
 * - `single`: the password is replaced in place (`resetpass #<new>`); the old one stops at once.
 *
 * Material is `Material(<user>#<hash prefix>, { username, password })`: one user holds two
 * passwords, so the id names the password by the start of the SHA-256 Redis itself lists for it.
 * Redis does not record which password a connection used, and removing a password does not end
 * connections already authenticated with it: drain counts the user's connections opened before the
 * new password was promoted (then before the previous check), which may still hold the old one.
 */
import { Material } from '../../lib/material.js';
import { generatePassword } from '../../lib/password.js';
import {
  defineCredential,
  ProviderRefusal,
  type CreateRequest,
  type CredentialSource,
  type DiscoveredCredential,
  type PrivilegeFacts,
  type ProviderContext,
  type Usage,
  type Strategy,
} from '../contracts.js';
import { clientsOf, getUser, passwordHash, passwordId, persist, setUser, where, withAdmin, withConnection, type Session } from './client.js';
import { RedisAclPasswordSpecSchema, type RedisAclPasswordSpec } from './spec.js';

export { RedisAclPasswordSpecSchema, type RedisAclPasswordSpec } from './spec.js';


const hashOf = (m: Material) => passwordHash(m.reveal('password'));

async function requireUser(session: Session, spec: RedisAclPasswordSpec) {
  const user = await getUser(session, spec.user);
  if (!user) throw new ProviderRefusal(`ACL user "${spec.user}" does not exist on ${where(spec)}: create it with its permissions first (Rotor never grants any)`);
  return user;
}

async function create(ctx: ProviderContext, spec: RedisAclPasswordSpec, strategy: Strategy, req: CreateRequest): Promise<Material> {
  if (req.staged && !req.staged.id.startsWith(`${spec.user}#`)) throw new ProviderRefusal(`staged material ${req.staged.id} is not a password of ACL user "${spec.user}"`);
  const material = await withAdmin(ctx, spec, `cannot set a new password for ACL user "${spec.user}"`, async (session) => {
    const user = await requireUser(session, spec);
    // A retry re-applies the password it staged: a second one would be lost if this attempt failed.
    let next = req.staged;
    if (!next) {
      const password = generatePassword(spec.password);
      next = new Material(passwordId(spec.user, passwordHash(password)), { username: spec.user, password });
      await req.stage(next);
    }
    const hash = hashOf(next);
    session.secret(next.reveal('password'));
    if (strategy === 'single' && (user.passwords.length !== 1 || user.passwords[0] !== hash)) await setUser(session, spec, ['resetpass', `#${hash}`]);
    else if (strategy === 'dual' && !user.passwords.includes(hash)) await setUser(session, spec, [`#${hash}`]);
    // Already set by an earlier attempt, whose save may have failed: save again.
    else await persist(session, spec);
    return next;
  });
  ctx.logger.info({ user: spec.user, material: material.id, strategy, reused: req.staged !== null }, 'redis acl password set');
  return material;
}

async function verify(ctx: ProviderContext, spec: RedisAclPasswordSpec, material: Material): Promise<void> {
  const login = { user: material.reveal('username'), password: material.reveal('password') };
  await withConnection(ctx, spec, login, `ACL user "${login.user}" cannot authenticate`, { refuse: false }, async (session) => {
    // The connection authenticated (HELLO … AUTH); AUTH again proves it whatever the user may run.
    const reply = await session.call('AUTH', login.user, login.password);
    if (reply !== 'OK') throw new Error(`AUTH answered ${String(reply)}`);
  });
}

async function removePassword(session: Session, spec: RedisAclPasswordSpec, material: Material): Promise<void> {
  const user = await requireUser(session, spec);
  const hash = hashOf(material);
  if (user.passwords.includes(hash)) await setUser(session, spec, [`!${hash}`]);
  else await persist(session, spec); // removed by an earlier attempt, whose save may have failed
}

async function discard(ctx: ProviderContext, spec: RedisAclPasswordSpec, strategy: Strategy, created: Material, current: Material | null): Promise<void> {
  if (strategy === 'dual') {
    if (current && hashOf(current) === hashOf(created)) throw new ProviderRefusal(`refusing to discard ${created.id}: it is the current material`);
    await withAdmin(ctx, spec, `cannot remove password ${created.id}`, (session) => removePassword(session, spec, created));
    return;
  }
  if (!current) throw new ProviderRefusal(`cannot put back the previous password of ACL user "${spec.user}": Rotor never held it (first single rotation)`);
  await withAdmin(ctx, spec, `cannot restore the previous password of ACL user "${spec.user}"`, async (session) => {
    session.secret(current.reveal('password'));
    const user = await requireUser(session, spec);
    const hash = hashOf(current);
    if (user.passwords.length !== 1 || user.passwords[0] !== hash) await setUser(session, spec, ['resetpass', `#${hash}`]);
    else await persist(session, spec);
  });
}

async function revoke(ctx: ProviderContext, spec: RedisAclPasswordSpec, strategy: Strategy, old: Material): Promise<void> {
  if (strategy === 'single') return; // replaced in place at create
  await withAdmin(ctx, spec, `cannot revoke password ${old.id}`, async (session) => {
    const user = await requireUser(session, spec);
    const hash = hashOf(old);
    if (!user.passwords.includes(hash)) return persist(session, spec); // an earlier attempt removed it; its save may have failed
    // Guard: never remove the user's last password; the new one must be there.
    if (user.passwords.length < 2) throw new ProviderRefusal(`refusing to revoke ${old.id}: it is the only password of ACL user "${spec.user}"`);
    await setUser(session, spec, [`!${hash}`]);
  });
  ctx.logger.info({ user: spec.user, material: old.id }, 'redis acl password revoked');
}

/** Each password of the user as ACL LIST shows it (`#<sha256>`), active while the user is on. */
async function list(ctx: ProviderContext, spec: RedisAclPasswordSpec): Promise<DiscoveredCredential[]> {
  const lines = await withAdmin(ctx, spec, `cannot list ACL user "${spec.user}"`, async (session) => (await session.call('ACL', 'LIST')) as string[]);
  const rule = lines.map(String).find((l) => l.split(' ')[1] === spec.user);
  if (!rule) return [];
  const words = rule.split(' ');
  const on = words.includes('on');
  const hashes = words.filter((w) => /^#[0-9a-f]{64}$/.test(w)).map((w) => w.slice(1));
  const credentials: DiscoveredCredential[] = hashes.map((h) => ({ id: passwordId(spec.user, h), principal: spec.user, status: on ? 'active' : 'inactive', usageTracked: false }));
  if (words.includes('nopass')) credentials.push({ id: `${spec.user}#nopass`, principal: spec.user, status: on ? 'active' : 'inactive', usageTracked: false });
  return credentials;
}

/** The user's connections opened before `since`: they may still hold the old password (see the module comment). */
async function inUse(ctx: ProviderContext, spec: RedisAclPasswordSpec, _old: Material, since: Date): Promise<Usage> {
  const clients = await withAdmin(ctx, spec, `cannot list the connections of ACL user "${spec.user}"`, (session) => clientsOf(session, spec.user));
  const windowSeconds = Math.max(0, (Date.now() - since.getTime()) / 1000);
  const older = clients.filter((c) => c.ageSeconds >= windowSeconds).length;
  return {
    inUse: older > 0,
    detail: `${older} connection${older === 1 ? '' : 's'} of ACL user "${spec.user}" opened before ${since.toISOString()} (Redis does not say which password a connection used)`,
  };
}

/** The admin login works, may run every command rotation needs, and the user exists. */
async function preflight(ctx: ProviderContext, spec: RedisAclPasswordSpec): Promise<string[]> {
  const needed: string[][] = [['ACL', 'GETUSER', spec.user], ['ACL', 'SETUSER', spec.user], ['ACL', 'LIST'], ['CLIENT', 'LIST']];
  if (spec.persist === 'acl-save') needed.push(['ACL', 'SAVE']);
  if (spec.persist === 'config-rewrite') needed.push(['CONFIG', 'REWRITE']);
  try {
    return await withAdmin(ctx, spec, `cannot log in as ACL user "${spec.admin.user}"`, async (session) => {
      const problems: string[] = [];
      for (const command of needed) {
        const answer = await session.call('ACL', 'DRYRUN', spec.admin.user, ...command).catch((e: Error) => e);
        // Redis 6 has no ACL DRYRUN: the steps themselves then find a missing permission.
        if (answer instanceof Error && /unknown subcommand|wrong number/i.test(answer.message)) break;
        if (answer instanceof Error) throw answer;
        if (answer !== 'OK') problems.push(`ACL user "${spec.admin.user}" may not run ${command.slice(0, 2).join(' ')} on ${where(spec)}: ${String(answer)}`);
      }
      if (!(await getUser(session, spec.user).catch(() => null))) problems.push(`ACL user "${spec.user}" does not exist on ${where(spec)}: create it with its permissions first`);
      return problems;
    });
  } catch (error) {
    if (error instanceof ProviderRefusal) return [error.message];
    throw error; // an unreachable or busy server is no missing permission: let the step retry
  }
}

/** Every command (`+@all`), every key (`~*`), every channel (`&*`), the admin or dangerous categories, or no password. */
async function privileges(ctx: ProviderContext, spec: RedisAclPasswordSpec): Promise<PrivilegeFacts> {
  const user = await withAdmin(ctx, spec, `cannot read ACL user "${spec.user}"`, (session) => getUser(session, spec.user));
  if (!user) return { broad: [] };
  const broad: string[] = [];
  const who = `ACL user "${spec.user}"`;
  const commands = ` ${user.commands} `;
  if (/ \+@all /.test(commands) || user.flags.includes('allcommands')) broad.push(`${who} may run every command (+@all)`);
  else for (const category of ['@admin', '@dangerous']) if (commands.includes(` +${category} `)) broad.push(`${who} may run ${category} commands (+${category})`);
  if (/(^| )~\*( |$)/.test(user.keys) || user.flags.includes('allkeys')) broad.push(`${who} may access every key (~*)`);
  if (/(^| )&\*( |$)/.test(user.channels) || user.flags.includes('allchannels')) broad.push(`${who} may use every Pub/Sub channel (&*)`);
  if (user.flags.includes('nopass')) broad.push(`${who} accepts any password (nopass)`);
  return { broad };
}

/** Decommission: the material's password is removed even when it is the last; the user is left as it is. */
async function retire(ctx: ProviderContext, spec: RedisAclPasswordSpec, _strategy: Strategy, material: Material): Promise<void> {
  await withAdmin(ctx, spec, `cannot retire password ${material.id}`, (session) => removePassword(session, spec, material));
  ctx.logger.info({ user: spec.user, material: material.id }, 'redis acl password retired');
}

const source: CredentialSource<RedisAclPasswordSpec> = {
  strategies: ['dual', 'single'],
  create,
  verify,
  discard,
  revoke,
  list,
  inUse,
  preflight,
  privileges,
  retire,
};

export const redisAclPassword = defineCredential({
  type: 'redis-acl-password',
  workflow: 'rotateDatabasePassword',
  defaultEvery: '30d',
  maxAgeDays: 30,
  // The id names the password (user and hash), not a field: stores that read ids from a field cannot hold it.
  produces: { fields: ['username', 'password'], idField: null },
  spec: RedisAclPasswordSpecSchema,
  source,
});
