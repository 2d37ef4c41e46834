/**
 * A service account's password in OpenLDAP or Active Directory, over LDAPS (ldapts).
 *
 * `single` only: a directory account has one password. OpenLDAP gets the Password Modify extended
 * operation (the server hashes the password with its `password-hash` and applies its password
 * policy); Active Directory an administrator's reset of `unicodePwd` (the quoted password in
 * UTF-16LE, which AD accepts only over an encrypted connection). Verify binds as the account with
 * the new password. Material is `Material(<dn>, { username: <dn>, password })`.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from 'ldapts';
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
  type Strategy,
} from '../contracts.js';
import { PASSWORD_MODIFY_OID, passwordModifyRequest } from './ber.js';
import { LdapPasswordSpecSchema, type LdapPasswordSpec } from './spec.js';
import { redactedMessage } from '../../lib/redact.js';

export { LdapPasswordSpecSchema, type LdapPasswordSpec } from './spec.js';


/** LDAP result codes a retry cannot fix: bad credentials, no access, no such entry, constraint (password policy). */
const REFUSALS = new Set([19, 32, 34, 49, 50, 53, 65]);

function where(spec: LdapPasswordSpec): string {
  return `directory ${spec.url.replace(/\/$/, '')}`;
}

async function caPem(ctx: ProviderContext, spec: LdapPasswordSpec): Promise<string | undefined> {
  return spec.caCertificate ? ctx.resolveSecret(spec.caCertificate) : undefined;
}

/** Binds as `dn` and runs `work`; errors name the action, the directory and the LDAP result, never a password. */
async function bound<T>(
  ctx: ProviderContext,
  spec: LdapPasswordSpec,
  login: { dn: string; password: string },
  action: string,
  options: { refuse: boolean; secrets?: string[] },
  work: (client: Client) => Promise<T>,
): Promise<T> {
  ctx.signal?.throwIfAborted();
  const ca = await caPem(ctx, spec);
  const secrets = [login.password, ...(options.secrets ?? [])];
  // Loaded on first use, as every provider's SDK is (eslint.config.js says why); later imports are cached.
  const { Client, ResultCodeError } = await import('ldapts');
  const client = new Client({ url: spec.url, connectTimeout: 10_000, timeout: 30_000, tlsOptions: { ...(ca ? { ca: [ca] } : {}), minVersion: 'TLSv1.2' } });
  try {
    await client.bind(login.dn, login.password);
    return await work(client);
  } catch (error) {
    if (error instanceof ProviderRefusal) throw error;
    const reason = redactedMessage(error, secrets);
    const code = error instanceof ResultCodeError ? error.code : undefined;
    const message = `${action} (${where(spec)}): ${reason}${code !== undefined ? ` (LDAP result ${code})` : ''}`;
    throw options.refuse && code !== undefined && REFUSALS.has(code) ? new ProviderRefusal(message) : new Error(message);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

async function asAdmin<T>(ctx: ProviderContext, spec: LdapPasswordSpec, action: string, secrets: string[], work: (client: Client) => Promise<T>): Promise<T> {
  const password = await ctx.resolveSecret(spec.admin.password);
  return bound(ctx, spec, { dn: spec.admin.dn, password }, action, { refuse: true, secrets }, work);
}

/** Sets the account's password as an administrator (a reset: the old password is not needed). */
async function setPassword(client: Client, spec: LdapPasswordSpec, password: string): Promise<void> {
  if (spec.directory === 'active-directory') {
    const { Attribute, Change } = await import('ldapts');
    const value = Buffer.from(`"${password}"`, 'utf16le');
    await client.modify(spec.dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'unicodePwd', values: [value] }) }));
    return;
  }
  await client.exop(PASSWORD_MODIFY_OID, passwordModifyRequest(spec.dn, password));
}

async function create(ctx: ProviderContext, spec: LdapPasswordSpec, _strategy: Strategy, req: CreateRequest): Promise<Material> {
  if (req.staged && req.staged.id !== spec.dn) throw new ProviderRefusal(`staged material ${req.staged.id} is not the account ${spec.dn}`);
  // A retry re-applies the password it staged: a second one would be lost if this attempt failed.
  let next = req.staged;
  if (!next) {
    next = new Material(spec.dn, { username: spec.dn, password: generatePassword(spec.password) });
    // Staged before it is applied, so a crash in between never loses a password that works.
    await req.stage(next);
  }
  const password = next.reveal('password');
  await asAdmin(ctx, spec, `cannot set a new password for ${spec.dn}`, [password], (client) => setPassword(client, spec, password));
  ctx.logger.info({ dn: spec.dn, directory: spec.directory, reused: req.staged !== null }, 'ldap password set');
  return next;
}

async function verify(ctx: ProviderContext, spec: LdapPasswordSpec, material: Material): Promise<void> {
  const login = { dn: material.reveal('username'), password: material.reveal('password') };
  await bound(ctx, spec, login, `${login.dn} cannot bind`, { refuse: false }, async () => undefined);
}

async function discard(ctx: ProviderContext, spec: LdapPasswordSpec, _strategy: Strategy, _created: Material, current: Material | null): Promise<void> {
  if (!current) throw new ProviderRefusal(`cannot put back the previous password of ${spec.dn}: Rotor never held it (first rotation)`);
  const password = current.reveal('password');
  await asAdmin(ctx, spec, `cannot restore the previous password of ${spec.dn}`, [password], (client) => setPassword(client, spec, password));
}

/** The password was replaced in place at create: nothing is left to revoke. */
async function revoke(): Promise<void> {}

/** Generalized time (`20261201225634Z`, AD also `…0Z` with fractions) or AD's FILETIME (100 ns since 1601). */
function timeOf(text: string | undefined): Date | undefined {
  if (!text) return undefined;
  const g = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(text);
  if (g) return new Date(Date.UTC(+g[1]!, +g[2]! - 1, +g[3]!, +g[4]!, +g[5]!, +g[6]!));
  if (/^\d{15,19}$/.test(text) && text !== '0' && text !== '9223372036854775807') return new Date(Number(BigInt(text) / 10_000n) - 11_644_473_600_000);
  return undefined;
}

const ATTRIBUTES = ['pwdChangedTime', 'pwdAccountLockedTime', 'authTimestamp', 'createTimestamp', 'pwdLastSet', 'lastLogonTimestamp', 'userAccountControl', 'accountExpires', 'memberOf', 'adminCount'];

/** An attribute's first value; ldapts answers a requested attribute the entry lacks with an empty list. */
function first(entry: Record<string, unknown>, name: string): string | undefined {
  const value = entry[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text === null || text === '' ? undefined : String(text);
}

async function readAccount(ctx: ProviderContext, spec: LdapPasswordSpec, action: string) {
  return asAdmin(ctx, spec, action, [], async (client) => {
    try {
      const { searchEntries } = await client.search(spec.dn, { scope: 'base', filter: '(objectClass=*)', attributes: ATTRIBUTES, sizeLimit: 1 });
      return searchEntries[0] ?? null;
    } catch (error) {
      if (error instanceof (await import('ldapts')).NoSuchObjectError) return null;
      throw error;
    }
  });
}

/**
 * The account's one password: when it was set (OpenLDAP's ppolicy `pwdChangedTime`, AD's
 * `pwdLastSet`), last use where the directory records it (AD's `lastLogonTimestamp`, replicated
 * every 9–14 days; OpenLDAP's lastbind `authTimestamp`), locked or disabled.
 */
async function list(ctx: ProviderContext, spec: LdapPasswordSpec): Promise<DiscoveredCredential[]> {
  const entry = await readAccount(ctx, spec, `cannot read ${spec.dn}`);
  if (!entry) return [];
  const changed = timeOf(first(entry, 'pwdChangedTime')) ?? timeOf(first(entry, 'pwdLastSet'));
  const lastUsed = timeOf(first(entry, 'lastLogonTimestamp')) ?? timeOf(first(entry, 'authTimestamp'));
  const usageTracked = spec.directory === 'active-directory' || first(entry, 'authTimestamp') !== undefined;
  const uac = Number(first(entry, 'userAccountControl') ?? 0);
  const expires = timeOf(first(entry, 'accountExpires'));
  const locked = first(entry, 'pwdAccountLockedTime') !== undefined || (uac & 2) === 2;
  const status: DiscoveredCredential['status'] = locked ? 'inactive' : expires && expires.getTime() <= Date.now() ? 'expired' : 'active';
  return [
    {
      id: spec.dn,
      principal: spec.dn,
      status,
      usageTracked,
      ...(changed ? { createdAt: changed.toISOString() } : {}),
      ...(lastUsed ? { lastUsedAt: lastUsed.toISOString() } : {}),
      ...(expires ? { expiresAt: expires.toISOString() } : {}),
    },
  ];
}

/** Active Directory groups whose members administer the domain (or can take it over). */
const AD_ADMIN_GROUPS = ['Domain Admins', 'Enterprise Admins', 'Schema Admins', 'Administrators', 'Account Operators', 'Backup Operators', 'Server Operators', 'Group Policy Creator Owners'];

/** Membership of AD's administrative groups and `adminCount=1` (AD's mark of a protected admin account). */
async function privileges(ctx: ProviderContext, spec: LdapPasswordSpec): Promise<PrivilegeFacts> {
  const entry = await readAccount(ctx, spec, `cannot read the groups of ${spec.dn}`);
  if (!entry) return { broad: [] };
  const groups = ([] as unknown[]).concat(entry.memberOf ?? []).map(String);
  const broad = groups
    .filter((g) => AD_ADMIN_GROUPS.some((name) => g.toLowerCase().startsWith(`cn=${name.toLowerCase()},`)))
    .map((g) => `${spec.dn} is a member of ${g.split(',')[0]!.slice(3)}`);
  if (first(entry, 'adminCount') === '1') broad.push(`${spec.dn} has adminCount=1 (a protected administrative account)`);
  return { broad };
}

/** Rotor's identity binds and can read the account; a write is only tried by the rotation. */
async function preflight(ctx: ProviderContext, spec: LdapPasswordSpec): Promise<string[]> {
  try {
    const entry = await readAccount(ctx, spec, `cannot bind as ${spec.admin.dn}`);
    return entry ? [] : [`${spec.dn} does not exist in ${where(spec)} (or ${spec.admin.dn} may not read it)`];
  } catch (error) {
    if (error instanceof ProviderRefusal) return [error.message];
    throw error; // an unreachable or busy directory is no missing permission: let the step retry
  }
}

/** Decommission: the account keeps a random password nobody holds (Rotor never deletes or disables directory accounts). */
async function retire(ctx: ProviderContext, spec: LdapPasswordSpec): Promise<void> {
  const password = randomBytes(32).toString('base64url');
  await asAdmin(ctx, spec, `cannot retire the password of ${spec.dn}`, [password], (client) => setPassword(client, spec, password));
  ctx.logger.info({ dn: spec.dn }, 'ldap password retired');
}

const source: CredentialSource<LdapPasswordSpec> = {
  strategies: ['single'],
  create,
  verify,
  discard,
  revoke,
  list,
  preflight,
  privileges,
  retire,
};

export const ldapPassword = defineCredential({
  type: 'ldap-password',
  workflow: 'rotateDirectoryPassword',
  defaultEvery: '90d',
  maxAgeDays: 90,
  produces: { fields: ['username', 'password'], idField: 'username' },
  spec: LdapPasswordSpecSchema,
  source,
});

