/**
 * The ldap-password provider against a real OpenLDAP (Debian's slapd, started by the harness with
 * LDAPS only and a certificate made at run time): the new password binds and the old one is refused,
 * slapd stores a hash (never the password), discard puts the old one back, pre-flight names a refused
 * bind or a missing account, discovery reports when the password was set, and no error or log line
 * holds a password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type CreateRequest, type CredentialSource } from '../../providers/contracts.js';
import { ldapPassword, LdapPasswordSpecSchema, type LdapPasswordSpec } from '../../providers/ldap-password/index.js';
import { ROTOR_DN, startSlapd, SUFFIX, type SlapdServer } from '../harness/servers/slapd.js';
import { createProviderKit } from '../harness/provider-kit.js';

const ROTOR_PASSWORD = 'Rotor' + Math.random().toString(36).slice(2) + 'xxxxxxxx';
const INITIAL = 'Initial' + Math.random().toString(36).slice(2) + 'xxxxxxxx';
const issued: string[] = [ROTOR_PASSWORD, INITIAL];
let server: SlapdServer;
let dn: string;
const source = ldapPassword.source as CredentialSource<LdapPasswordSpec>;
const kit = createProviderKit({ credentialId: 'test-ldap', rotationIdPrefix: 'rot-' });
const { rejection } = kit;

beforeAll(async () => {
  server = await startSlapd({ rotorPassword: ROTOR_PASSWORD });
  dn = await server.addAccount('billing-batch', INITIAL);
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

const context = (rotor = ROTOR_PASSWORD) => kit.context({ LDAP_ROTOR_PASSWORD: rotor, LDAP_CA: server.caPem });
const spec = (account = dn, extra: Record<string, unknown> = {}) =>
  LdapPasswordSpecSchema.parse({ url: server.url, caCertificate: 'env:LDAP_CA', admin: { dn: ROTOR_DN, password: 'env:LDAP_ROTOR_PASSWORD' }, dn: account, ...extra });
function request(current: Material | null, staged: Material | null = null): CreateRequest & { stagedNow: Material[] } {
  const stagedNow: Material[] = [];
  return { current, staged, stagedNow, stage: async (m) => void (issued.push(m.reveal('password')), stagedNow.push(m)) };
}
const initial = () => new Material(dn, { username: dn, password: INITIAL });
const bind = (m: Material) => server.canBind(m.reveal('username'), m.reveal('password'));

describe('ldap-password against OpenLDAP', () => {
  it('reports the server it runs against', () => {
    expect(server.version).toMatch(/^2\.\d+/);
    expect(server.url).toMatch(/^ldaps:\/\/127\.0\.0\.1:\d+$/);
  });

  let next: Material;

  it('sets a new password with Password Modify: it binds, the old one is refused, slapd keeps only a hash', async () => {
    const req = request(initial());
    next = await source.create(context(), spec(), 'single', req);
    expect(next.id).toBe(dn);
    expect(req.stagedNow).toEqual([next]);
    await source.verify(context(), spec(), next);
    expect(await bind(next)).toBe(true);
    expect(await bind(initial())).toBe(false);
    const stored = await server.asRoot(async (c) => (await c.search(dn, { scope: 'base', attributes: ['userPassword'] })).searchEntries[0]!.userPassword);
    expect(String(stored)).toMatch(/^\{SSHA\}/);
    expect(String(stored).includes(next.reveal('password'))).toBe(false);
  });

  it('a retried create re-applies the staged password instead of minting another', async () => {
    const req = request(initial(), next);
    expect(await source.create(context(), spec(), 'single', req)).toBe(next);
    expect(req.stagedNow).toEqual([]);
    expect(await bind(next)).toBe(true);
  });

  it('verify fails for a password the directory refuses', async () => {
    const error = await rejection(source.verify(context(), spec(), initial()));
    expect(error.message).toMatch(/cannot bind.*LDAP result 49/);
  });

  it('discard puts the previous password back; without one it refuses and keeps the new', async () => {
    const failed = await source.create(context(), spec(), 'single', request(next));
    await source.discard(context(), spec(), 'single', failed, next);
    expect(await bind(next)).toBe(true);
    expect(await bind(failed)).toBe(false);
    expect(await rejection(source.discard(context(), spec(), 'single', next, null))).toBeInstanceOf(ProviderRefusal);
    expect(await bind(next)).toBe(true);
  });

  it('an account outside what Rotor may write is refused (insufficient access), nothing changes', async () => {
    const other = await server.asRoot(async (c) => {
      const otherDn = `cn=other,ou=system,${SUFFIX}`;
      await c.add(otherDn, { objectClass: ['person'], cn: 'other', sn: 'other', userPassword: INITIAL });
      return otherDn;
    });
    const error = await rejection(source.create(context(), spec(other), 'single', request(null)));
    expect(error).toBeInstanceOf(ProviderRefusal);
    expect(error.message).toMatch(/LDAP result 50/);
    expect(await server.canBind(other, INITIAL)).toBe(true);
  });

  it('pre-flight passes, and names a refused bind and a missing account', async () => {
    expect(await source.preflight!(context(), spec(), 'single')).toEqual([]);
    const refused = await source.preflight!(context('wrong-password-xxxxxxxxxxxx'), spec(), 'single');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(/cannot bind as cn=rotor.*LDAP result 49/);
    expect(await source.preflight!(context(), spec(`cn=ghost,ou=services,${SUFFIX}`), 'single')).toEqual([
      `cn=ghost,ou=services,${SUFFIX} does not exist in directory ${server.url} (or ${ROTOR_DN} may not read it)`,
    ]);
  });

  it('discovery reports the account with when its password was set (ppolicy pwdChangedTime)', async () => {
    const [found, ...rest] = await source.list(context(), spec());
    expect(rest).toEqual([]);
    expect(found).toMatchObject({ id: dn, principal: dn, status: 'active', usageTracked: false });
    expect(Math.abs(Date.now() - Date.parse(found!.createdAt!))).toBeLessThan(600_000);
    expect((await source.privileges!(context(), spec())).broad).toEqual([]);
  });

  it('the spec refuses a plain ldap:// URL', () => {
    expect(() => spec(dn, { url: server.url.replace('ldaps', 'ldap') })).toThrow(/ldaps:\/\//);
  });

  it('retire leaves a password nobody holds', async () => {
    await source.retire!(context(), spec(), 'single', next);
    expect(await bind(next)).toBe(false);
  });

  it('no password appears in any error or log line', () => {
    const text = kit.errorsAndLogsText();
    expect(kit.logs.length).toBeGreaterThan(2);
    for (const secret of issued) expect(text.includes(secret)).toBe(false);
  });
});
