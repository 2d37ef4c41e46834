/**
 * `rotor discover` and `rotor audit` over the credential types proven against real servers: after
 * one rotation each, a real MariaDB, Redis and slapd are scanned from the CLI (policies plus a
 * `kind: discovery` document); Rotor's own material is listed as managed, the admin-like accounts
 * nobody manages as unmanaged, and the audit flags their broad grants as over-privileged.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { ldapFixture, mysqlFixture, redisFixture } from '../harness/servers/fixtures.js';
import type { CredentialFixture, PreparedCredential } from '../harness/credential-fixtures.js';
import { startRotation } from '../../daemon/rotations.js';
import { registry } from '../../providers/registry.js';
import { runCli } from '../../cli/main.js';
import type { RotationResult } from '../../workflows/types.js';

let env: RotorEnv;
let dir: string;
const mysql = mysqlFixture();
const redis = redisFixture();
const fixtures: Record<string, CredentialFixture> = { mysql, redis, ldap: ldapFixture() };
const prepared: Record<string, PreparedCredential> = {};
const ids = { mysql: 'orders-mysql', redis: 'cache-redis', ldap: 'batch-ldap' } as const;
const newIds: Record<string, string> = {};

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  const saved = { ...process.env };
  Object.assign(process.env, env.env);
  try {
    const code = await runCli(['--database-url', env.postgres.url, '--policies', dir, ...args]);
    return { code, out };
  } finally {
    spy.mockRestore();
    process.env = saved;
  }
}

/** The `credential:` block of a prepared policy, re-indented as a discovery target's connection. */
function connectionOf(yaml: string, drop: string[]): string {
  const block = /credential:\n((?: {2}.*\n)+)/.exec(yaml)![1]!;
  return block
    .split('\n')
    .filter((l) => l && !/^ {2}type:/.test(l) && !drop.some((d) => l.startsWith(`  ${d}:`)))
    .map((l) => `    ${l}`)
    .join('\n');
}

beforeAll(async () => {
  env = await startRotorEnv();
  await Promise.all(Object.values(fixtures).map((f) => f.start(env)));
  for (const [name, id] of Object.entries(ids)) prepared[name] = await fixtures[name]!.prepare(env, id);
  dir = await mkdtemp(join(tmpdir(), 'rotor-db-discovery-'));
  const policies = Object.values(prepared).map((p) => p.yaml.replace('after: 24h', 'after: 0s')).join('\n---\n');
  await writeFile(join(dir, 'policies.yaml'), policies);
  await env.usePolicies(policies);
  await env.startWorker();
}, 180_000);

afterAll(async () => {
  await env?.close();
  await Promise.all(Object.values(fixtures).map((f) => f.close()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('discover and audit against MariaDB, Redis and slapd', () => {
  it('rotates each credential once', async () => {
    for (const id of Object.values(ids)) {
      const { handle } = await startRotation(env.client, registry, env.policies.get(id)!, { taskQueue: env.taskQueue, trigger: 'manual' });
      const result = (await handle.result()) as RotationResult;
      expect(result.outcome).toBe('succeeded');
      newIds[id] = result.newMaterialId!;
    }
  });

  it('rotor discover --local lists Rotor\'s material as managed and the accounts nobody manages as unmanaged', async () => {
    // Unmanaged and broad: a MariaDB login with ALL PRIVILEGES from any host, a Redis user that may do anything.
    await mysql.server().query(`CREATE USER 'legacy'@'%' IDENTIFIED BY 'Legacy-password-0123456789'`);
    await mysql.server().query(`GRANT ALL PRIVILEGES ON *.* TO 'legacy'@'%'`);
    await redis.server().command('ACL', 'SETUSER', 'wide', 'on', 'nopass', 'allkeys', 'allchannels', 'allcommands');
    await writeFile(
      join(dir, 'discovery.yaml'),
      `kind: discovery
targets:
  - type: mysql-password
    connection:
${connectionOf(prepared.mysql!.yaml, ['user'])}
    principals:
      - user: legacy
  - type: redis-acl-password
    connection:
${connectionOf(prepared.redis!.yaml, ['user'])}
    principals:
      - user: wide
`,
    );
    const { code, out } = await cli(['discover', '--local', '--json']);
    expect(code).toBe(0);
    const parsed = JSON.parse(out) as { credentials: Array<{ credentialId: string; sourceType: string; managedBy: string | null; status: string }> };
    const byId = new Map(parsed.credentials.map((c) => [c.credentialId, c]));
    for (const id of Object.values(ids)) expect(byId.get(newIds[id]!)?.managedBy).toBe(id);
    expect(byId.get('legacy')).toMatchObject({ sourceType: 'mysql-password', managedBy: null, status: 'active' });
    expect(byId.get('wide#nopass')).toMatchObject({ sourceType: 'redis-acl-password', managedBy: null });
    // The login in service before Rotor (seeded, not made by Rotor), locked by the rotation's revoke.
    expect(byId.get('orders_mysql_a')).toMatchObject({ managedBy: null, status: 'inactive' });
    for (const f of Object.values(prepared)) for (const secret of await f.issuedSecrets()) expect(out).not.toContain(secret);
  });

  it('rotor audit flags the broad unmanaged accounts as over-privileged, and exits 3 with --fail-on critical', async () => {
    const { out } = await cli(['audit', '--json']);
    const parsed = JSON.parse(out) as { findings: Array<{ rule: string; subject: string; severity: string; message: string }> };
    // Subjects of discovered credentials are `<type>:<principal>/<credential id>`.
    const about = (subject: string) => parsed.findings.filter((f) => f.subject === subject);
    expect(about('mysql-password:legacy/legacy').map((f) => [f.rule, f.severity])).toEqual([['over-privileged', 'critical'], ['unmanaged', 'high']]);
    const broadMysql = about('mysql-password:legacy/legacy').find((f) => f.rule === 'over-privileged')!.message;
    expect(broadMysql).toContain("'legacy'@'%' has ALL PRIVILEGES on *.*");
    expect(broadMysql).toContain("accepts logins from any host ('%')");
    expect(about('redis-acl-password:wide/wide#nopass').map((f) => [f.rule, f.severity])).toEqual([['over-privileged', 'critical'], ['unmanaged', 'high']]);
    expect(about('redis-acl-password:wide/wide#nopass')[0]!.message).toContain('may run every command (+@all)');
    expect(parsed.findings.filter((f) => f.subject.startsWith('ldap-password:')).map((f) => f.rule)).not.toContain('over-privileged');
    expect((await cli(['audit', '--json', '--fail-on', 'critical'])).code).toBe(3);
    for (const f of Object.values(prepared)) for (const secret of await f.issuedSecrets()) expect(out).not.toContain(secret);
  });
});
