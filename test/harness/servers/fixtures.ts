/**
 * Fixtures of the shared end-to-end suite (test/rotation/credential-types) for the credential types
 * proven against real servers from Debian: `mysql-password` (MariaDB), `redis-acl-password` (Redis)
 * and `ldap-password` (OpenLDAP slapd). Each uses a Vault KV path as its primary store, seeded with
 * the material in service as an operator would, and the suite's shared Vault dependent.
 *
 * Faults come from the servers themselves where they have them: MariaDB throttles Rotor's admin with
 * its own per-account limit (MAX_UPDATES_PER_HOUR, error 1226), a locked-in `REQUIRE SSL` makes a
 * login refuse, a Redis user switched `off` refuses every password, and Redis unable to write its ACL
 * file fails ACL SAVE (Redis has no rate limit: this is its transient failure). OpenLDAP has no rate
 * limit either, and slapd offers no way to make a bind fail that the password reset does not undo, so
 * that fixture leaves both out and the suite skips them for it.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import { fixturePolicy, seedVaultStore, vaultSecrets, vaultStore, type CredentialFixture, type PreparedCredential } from '../credential-fixtures.js';
import type { RotorEnv } from '../env.js';
import { LOOPBACK } from '../ports.js';
import { passwordHash, passwordId } from '../../../providers/redis-acl-password/client.js';
import { generatePassword } from '../../../lib/password.js';
import { startMariaDb, type MariaDbServer } from './mariadb.js';
import { startRedis, type RedisServer } from './redis.js';
import { ROTOR_DN, startSlapd, type SlapdServer } from './slapd.js';

/** Polls the run store until `count` failed `material.created` steps of this credential are recorded. */
/**
 * Lifts a server's fault once `count` creates of the credential have failed. Virtual time stands
 * still until then: the fault is lifted in real time, and unlocked the time-skipping server would
 * run the remaining retries (seconds of backoff apart) at once and spend them all first.
 */
async function liftAfterCreateFailures(env: RotorEnv, credentialId: string, count: number, lift: () => Promise<void>): Promise<void> {
  await env.temporal.lockTimeSkipping();
  void untilCreateFailures(env, credentialId, count)
    .then(lift)
    .finally(() => env.temporal.unlockTimeSkipping());
}

async function untilCreateFailures(env: RotorEnv, credentialId: string, count: number): Promise<void> {
  for (;;) {
    const { rows } = await env.store.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM rotation_steps s JOIN rotation_runs r USING (rotation_id)
        WHERE r.credential_id = $1 AND s.step = 'material.created' AND s.status = 'failed'`,
      [credentialId],
    );
    if ((rows[0]?.n ?? 0) >= count) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Secrets a fixture made, plus every password Rotor generated (read back from the Vault paths of
 * each credential prepared), for the suite's leak scan.
 */
function secretsLog() {
  const secrets: string[] = [];
  const prepared: string[] = [];
  let rotorEnv: RotorEnv | undefined;
  return {
    add: (...values: string[]) => void secrets.push(...values),
    prepared(env: RotorEnv, id: string) {
      rotorEnv = env;
      prepared.push(id);
    },
    all: async () => [...secrets, ...(rotorEnv ? await vaultSecrets(rotorEnv, prepared) : [])],
  };
}

/** MariaDB: dual logins `<user>_a`/`<user>_b` sharing the role `<user>`; `_a` in service. */
export function mysqlFixture(): CredentialFixture & { server(): MariaDbServer } {
  let db: MariaDbServer;
  const secrets = secretsLog();
  const adminPassword = generatePassword({ length: 24 });
  const admin = `'rotor_admin'@'${LOOPBACK}'`;
  return {
    type: 'mysql-password',
    server: () => db,
    workflow: 'rotateDatabasePassword',
    async start(env) {
      db = await startMariaDb();
      secrets.add(adminPassword);
      await db.query(`CREATE USER ${admin} IDENTIFIED BY '${adminPassword}'`);
      await db.query(`GRANT CREATE USER, PROCESS ON *.* TO ${admin}`);
      await db.query(`GRANT SELECT, UPDATE ON mysql.* TO ${admin}`);
      await db.query(`CREATE USER 'throttle_probe'@'localhost' ACCOUNT LOCK`);
      await db.query(`GRANT CREATE USER ON *.* TO 'throttle_probe'@'localhost'`);
      env.env.MYSQL_ADMIN_PASSWORD = adminPassword;
    },
    async prepare(env, id): Promise<PreparedCredential> {
      const user = id.replace(/[^a-z0-9]/g, '_');
      const password = generatePassword();
      secrets.add(password);
      secrets.prepared(env, id);
      // What an operator has in service before Rotor: the role, `_a` with a password, `_b` locked.
      await db.query(`CREATE ROLE ${user}`);
      await db.query(`CREATE USER '${user}_a'@'%' IDENTIFIED BY '${password}'`);
      await db.query(`CREATE USER '${user}_b'@'%' ACCOUNT LOCK`);
      for (const login of ['a', 'b']) {
        await db.query(`GRANT ${user} TO '${user}_${login}'@'%'`);
        await db.query(`SET DEFAULT ROLE ${user} FOR '${user}_${login}'@'%'`);
      }
      const initial = { username: `${user}_a`, password };
      await seedVaultStore(env, id, `${user}_a`, initial);
      const requireSsl = async (clause: 'SSL' | 'NONE') => {
        for (const login of ['a', 'b']) await db.query(`ALTER USER '${user}_${login}'@'%' REQUIRE ${clause}`);
      };
      return {
        initial,
        yaml: fixturePolicy(
          env,
          id,
          'Orders API database login',
          `credential:
  type: mysql-password
  host: ${db.host}
  port: ${db.port}
  admin:
    user: rotor_admin
    password: env:MYSQL_ADMIN_PASSWORD
  user: ${user}
strategy: dual
${vaultStore(env, id)}`,
        ),
        works: (fields) => db.canLogin(fields.username!, fields.password!),
        async throttleCreate(times) {
          // MariaDB's own limit: one update per hour for Rotor's admin, spent here; every update after is refused (1226).
          await db.query(`ALTER USER ${admin} WITH MAX_UPDATES_PER_HOUR 1`);
          const conn = await db.connect('rotor_admin', adminPassword);
          await conn.query(`ALTER USER 'throttle_probe'@'localhost' ACCOUNT LOCK`);
          await conn.end();
          await liftAfterCreateFailures(env, id, times, async () => {
            await db.query(`ALTER USER ${admin} WITH MAX_UPDATES_PER_HOUR 0`);
            await db.query('FLUSH USER_RESOURCES');
          });
        },
        throttled: /exceeded the 'max_updates_per_hour' resource/,
        // The server has no TLS here: an account that requires it refuses every login, and a password change keeps REQUIRE.
        breakVerify: () => requireSsl('SSL'),
        restoreVerify: () => requireSsl('NONE'),
        async keepUsing(fields) {
          const conn = await db.connect(fields.username!, fields.password!);
          return () => conn.end();
        },
        issuedSecrets: secrets.all,
      };
    },
    close: async () => db?.stop(),
  };
}

/** Redis: an ACL user with one password in service; Rotor adds a second and removes the first. */
export function redisFixture(): CredentialFixture & { server(): RedisServer } {
  let redis: RedisServer;
  const secrets = secretsLog();
  const adminPassword = generatePassword({ length: 24 });
  return {
    type: 'redis-acl-password',
    server: () => redis,
    workflow: 'rotateDatabasePassword',
    async start(env) {
      redis = await startRedis();
      secrets.add(adminPassword);
      await redis.command('ACL', 'SETUSER', 'rotor', 'on', `>${adminPassword}`, '-@all', '+acl', '+client|list');
      env.env.REDIS_ADMIN_PASSWORD = adminPassword;
    },
    async prepare(env, id): Promise<PreparedCredential> {
      const user = `app-${id}`;
      const password = generatePassword();
      secrets.add(password);
      secrets.prepared(env, id);
      await redis.command('ACL', 'SETUSER', user, 'on', `>${password}`, `~${user}:*`, '-@all', '+get', '+set');
      const initial = { username: user, password };
      await seedVaultStore(env, id, passwordId(user, passwordHash(password)), initial);
      return {
        initial,
        yaml: fixturePolicy(
          env,
          id,
          'Session cache of the payments API',
          `credential:
  type: redis-acl-password
  host: ${redis.host}
  port: ${redis.port}
  admin:
    user: rotor
    password: env:REDIS_ADMIN_PASSWORD
  user: ${user}
strategy: dual
${vaultStore(env, id)}`,
        ),
        works: (fields) => redis.canLogin(fields.username!, fields.password!),
        async throttleCreate(times) {
          // Redis has no rate limit; its transient failure here is the server unable to write its ACL file
          // (the path made a directory, as a full or read-only disk would): ACL SAVE fails until it is back.
          await rename(redis.aclFile, `${redis.aclFile}.aside`);
          await mkdir(`${redis.aclFile}/blocked`, { recursive: true });
          await liftAfterCreateFailures(env, id, times, async () => {
            await rm(redis.aclFile, { recursive: true });
            await rename(`${redis.aclFile}.aside`, redis.aclFile);
          });
        },
        throttled: /error trying to save the ACLs/,
        // A user that is off refuses every password; ACL SETUSER with passwords leaves on/off alone.
        breakVerify: async () => void (await redis.command('ACL', 'SETUSER', user, 'off')),
        restoreVerify: async () => void (await redis.command('ACL', 'SETUSER', user, 'on')),
        async keepUsing(fields) {
          const conn = await redis.connect(fields.username!, fields.password!);
          return async () => conn.disconnect();
        },
        issuedSecrets: secrets.all,
      };
    },
    close: async () => redis?.stop(),
  };
}

/** OpenLDAP: a service account under ou=services whose password Rotor's identity may reset. */
export function ldapFixture(): CredentialFixture & { server(): SlapdServer } {
  let slapd: SlapdServer;
  const secrets = secretsLog();
  const rotorPassword = generatePassword({ length: 24 });
  return {
    type: 'ldap-password',
    server: () => slapd,
    workflow: 'rotateDirectoryPassword',
    async start(env) {
      slapd = await startSlapd({ rotorPassword });
      secrets.add(rotorPassword);
      env.env.LDAP_ROTOR_PASSWORD = rotorPassword;
      env.env.LDAP_CA = slapd.caPem;
    },
    async prepare(env, id): Promise<PreparedCredential> {
      const password = generatePassword();
      secrets.add(password);
      secrets.prepared(env, id);
      const dn = await slapd.addAccount(id, password);
      const initial = { username: dn, password };
      await seedVaultStore(env, id, dn, initial);
      return {
        initial,
        yaml: fixturePolicy(
          env,
          id,
          'Billing batch job directory account',
          `credential:
  type: ldap-password
  url: ${slapd.url}
  caCertificate: env:LDAP_CA
  admin:
    dn: ${ROTOR_DN}
    password: env:LDAP_ROTOR_PASSWORD
  dn: ${dn}
strategy: single
${vaultStore(env, id)}`,
        ),
        works: (fields) => slapd.canBind(fields.username!, fields.password!),
        issuedSecrets: secrets.all,
      };
    },
    close: async () => slapd?.stop(),
  };
}
