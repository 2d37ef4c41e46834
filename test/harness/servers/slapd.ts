/**
 * A real OpenLDAP for tests (Debian's slapd): a generated slapd.conf and an mdb database in a temp
 * dir, LDAPS only on a free loopback port with a certificate made at run time (a private CA the
 * clients are given). The root DN (random password) is what only the tests use; the directory holds
 * `ou=services` for service accounts and `cn=rotor,ou=system`, which may write their passwords.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { loopbackTls } from '../azure/tls.js';
import { freePort, LOOPBACK } from '../ports.js';
import { debianBinary, startProcess, waitUntil } from './process.js';

export const SUFFIX = 'dc=rotor,dc=test';
export const ROTOR_DN = `cn=rotor,ou=system,${SUFFIX}`;

export interface SlapdServer {
  url: string;
  /** PEM of the CA that signed the server's certificate. */
  caPem: string;
  version: string;
  rootDn: string;
  rootPassword: string;
  /** Runs `work` bound as the root DN. */
  asRoot<T>(work: (client: Client) => Promise<T>): Promise<T>;
  /** Adds a service account `cn=<name>,ou=services` with this password (hashed by slapd). */
  addAccount(name: string, password: string): Promise<string>;
  /** Whether this DN and password bind. */
  canBind(dn: string, password: string): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startSlapd(options: { rotorPassword: string }): Promise<SlapdServer> {
  const slapd = debianBinary('/usr/sbin/slapd', 'slapd');
  const dir = await mkdtemp(join(tmpdir(), 'rotor-slapd-'));
  const port = await freePort();
  const rootPassword = randomBytes(18).toString('base64url');
  const rootDn = `cn=admin,${SUFFIX}`;
  const tls = await loopbackTls();
  await mkdir(join(dir, 'db'));
  await writeFile(join(dir, 'ca.pem'), tls.caPem);
  await writeFile(join(dir, 'cert.pem'), tls.cert);
  await writeFile(join(dir, 'key.pem'), tls.key, { mode: 0o600 });
  const conf = [
    ...['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include /etc/ldap/schema/${s}.schema`),
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'moduleload ppolicy',
    `pidfile ${join(dir, 'slapd.pid')}`,
    `argsfile ${join(dir, 'slapd.args')}`,
    `TLSCACertificateFile ${join(dir, 'ca.pem')}`,
    `TLSCertificateFile ${join(dir, 'cert.pem')}`,
    `TLSCertificateKeyFile ${join(dir, 'key.pem')}`,
    // The Password Modify operation stores what this says, never the plain password.
    'password-hash {SSHA}',
    'database mdb',
    `suffix "${SUFFIX}"`,
    `rootdn "${rootDn}"`,
    `rootpw ${rootPassword}`,
    `directory ${join(dir, 'db')}`,
    'maxsize 10485760',
    // ppolicy records pwdChangedTime, which discovery reports as the password's age.
    'overlay ppolicy',
    `ppolicy_default "cn=default,ou=policies,${SUFFIX}"`,
    // Rotor's identity may write service accounts' passwords and read them; nobody may read a password.
    `access to dn.subtree="ou=services,${SUFFIX}" attrs=userPassword by dn.exact="${ROTOR_DN}" write by self write by anonymous auth by * none`,
    `access to attrs=userPassword by self write by anonymous auth by * none`,
    `access to dn.subtree="ou=services,${SUFFIX}" by dn.exact="${ROTOR_DN}" read by self read by * none`,
    'access to * by self read by users read by * none',
    '',
  ].join('\n');
  await writeFile(join(dir, 'slapd.conf'), conf, { mode: 0o600 });
  const url = `ldaps://${LOOPBACK}:${port}`;
  // As root, slapd keeps running as root when given no -u; -d 0 keeps it in the foreground.
  const server = startProcess(slapd, ['-f', join(dir, 'slapd.conf'), '-h', `${url}/`, '-d', '0']);
  const tlsOptions = { ca: [tls.caPem] };
  const bound = async <T>(dn: string, password: string, work: (client: Client) => Promise<T>) => {
    const client = new Client({ url, tlsOptions, connectTimeout: 5_000, timeout: 10_000 });
    try {
      await client.bind(dn, password);
      return await work(client);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  };
  const asRoot = <T>(work: (client: Client) => Promise<T>) => bound(rootDn, rootPassword, work);
  try {
    await waitUntil(() => asRoot(async () => true), server, 'slapd');
  } catch (error) {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const passwordModify = async (client: Client, dn: string, password: string) => {
    const { passwordModifyRequest } = await import('../../../providers/ldap-password/ber.js');
    await client.exop('1.3.6.1.4.1.4203.1.11.1', passwordModifyRequest(dn, password));
  };
  await asRoot(async (client) => {
    await client.add(SUFFIX, { objectClass: ['dcObject', 'organization'], dc: 'rotor', o: 'Rotor test' });
    for (const ou of ['system', 'services', 'policies']) await client.add(`ou=${ou},${SUFFIX}`, { objectClass: 'organizationalUnit', ou });
    // The default password policy: lockout on, so a locked account (pwdAccountLockedTime) cannot bind.
    await client.add(`cn=default,ou=policies,${SUFFIX}`, { objectClass: ['organizationalRole', 'pwdPolicy'], cn: 'default', pwdAttribute: 'userPassword', pwdLockout: 'TRUE' });
    await client.add(ROTOR_DN, { objectClass: ['person'], cn: 'rotor', sn: 'rotor' });
    await passwordModify(client, ROTOR_DN, options.rotorPassword);
  });
  const version = /slapd (\S+)/.exec(spawnSync(slapd, ['-VV'], { encoding: 'utf8' }).stderr)?.[1] ?? 'unknown';
  return {
    url,
    caPem: tls.caPem,
    version,
    rootDn,
    rootPassword,
    asRoot,
    async addAccount(name, password) {
      const dn = `cn=${name},ou=services,${SUFFIX}`;
      await asRoot(async (client) => {
        await client.add(dn, { objectClass: ['person'], cn: name, sn: name });
        await passwordModify(client, dn, password);
      });
      return dn;
    },
    async canBind(dn, password) {
      return bound(dn, password, async () => true).catch(() => false);
    },
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
