/**
 * Lifecycle end of an identity and the audit trail's integrity, on real PostgreSQL, Vault emulator
 * and worker: an expired policy is flagged by the audit and decommissioned only when asked
 * (`rotor decommission --expired`): both login roles stop working, the dependent's copy is removed,
 * the inventory says retired (and stays so while the file remains); and `rotor audit verify-log`
 * finds a modified row and a deleted row after the append-only trigger is disabled by a superuser.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml, login, rotateDb, servedLogin, type DbLogin } from '../harness/db-rotation.js';
import { runCli } from '../../cli/main.js';
import { inventoryEntry } from '../../daemon/inventory.js';

let env: RotorEnv;
let dir: string;

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  const saved = { ...process.env };
  Object.assign(process.env, env.env);
  try {
    return { code: await runCli(['--database-url', env.postgres.url, '--policies', dir, '--temporal', env.temporal.address, '--task-queue', env.taskQueue, ...args]), out };
  } finally {
    spy.mockRestore();
    process.env = saved;
  }
}

/** Runs SQL as the superuser with the append-only trigger off, as an attacker with DB access would. */
async function tamper(sql: string, params: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: env.postgres.url });
  await client.connect();
  try {
    await client.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update');
    await client.query(sql, params);
    await client.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update');
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  env = await startRotorEnv();
  dir = await mkdtemp(join(tmpdir(), 'rotor-lifecycle-'));
  const yaml = dbPolicyYaml(env, 'old-reports', {
    role: 'old_reports',
    extra: 'expires: 2020-01-31\ndecommission:\n  removeFromDependents: true',
  }).replace('after: 24h', 'after: 0s');
  await writeFile(join(dir, 'old-reports.yaml'), yaml);
  await env.usePolicies(yaml);
  await env.startWorker();
});

afterAll(async () => {
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('decommission', () => {
  const logins: DbLogin[] = [];

  it('an expired policy is flagged by the audit, and nothing is decommissioned by that', async () => {
    expect((await rotateDb(env, 'old-reports')).outcome).toBe('succeeded');
    logins.push(await servedLogin(env, 'old-reports'));
    expect((await rotateDb(env, 'old-reports')).outcome).toBe('succeeded');
    logins.push(await servedLogin(env, 'old-reports'));
    expect(await login(env, logins[1]!)).toBe(true);

    const { code, out } = await cli(['audit', '--json', '--fail-on', 'high']);
    expect(code).toBe(3);
    const findings = (JSON.parse(out) as { findings: Array<{ rule: string; subject: string; severity: string }> }).findings;
    expect(findings).toContainEqual(expect.objectContaining({ rule: 'expiry', subject: 'old-reports', severity: 'high' }));
    expect((await env.store.getCredential('old-reports'))?.status).toBe('managed');
    expect((await cli(['decommission', '--expired', '--dry-run'])).out).toContain('would decommission old-reports (expired 2020-01-31)');
  });

  it('rotor decommission --expired revokes both logins, removes the dependent copy, retires the credential, and logs it', async () => {
    const { code, out } = await cli(['decommission', '--expired', '--reason', 'reports moved to the warehouse']);
    expect(out).toContain('old-reports: decommissioned');
    expect(code).toBe(0);
    for (const l of logins) expect(await login(env, l)).toBe(false);
    await expect(servedLogin(env, 'old-reports')).rejects.toThrow();
    expect((await env.store.getCredential('old-reports'))?.status).toBe('retired');
    // The reconciler re-records the policy while its file is still there: it stays retired.
    await env.store.upsertCredentials(env.policies.all().map(inventoryEntry));
    expect((await env.store.getCredential('old-reports'))?.status).toBe('retired');

    const events = (await env.store.listAudit({ credentialId: 'old-reports' })).map((e) => e.event);
    expect(events.slice(events.indexOf('decommission.started'))).toEqual([
      'decommission.started', 'material.revoked', 'material.retired', 'dependent.removed', 'credential.decommissioned',
    ]);
    const auditText = JSON.stringify(await env.store.listAudit());
    for (const l of logins) expect(auditText).not.toContain(l.password);
  });

  it('needs a credential or --expired', async () => {
    expect((await cli(['decommission'])).code).toBe(2);
  });
});

describe('rotor audit verify-log', () => {
  it('an untouched log verifies', async () => {
    const { code, out } = await cli(['audit', 'verify-log']);
    expect(out).toMatch(/audit log intact: \d+ rows/);
    expect(code).toBe(0);
  });

  it('a modified row is found, at its seq', async () => {
    const rows = (await env.store.query<{ seq: string; detail: unknown }>('SELECT seq, detail FROM audit_log ORDER BY seq')).rows;
    const victim = rows[Math.floor(rows.length / 2)]!;
    await tamper(`UPDATE audit_log SET detail = detail || '{"material": "someone-else"}'::jsonb WHERE seq = $1`, [victim.seq]);
    const { code, out } = await cli(['audit', 'verify-log', '--json']);
    expect(code).toBe(1);
    expect(JSON.parse(out)).toMatchObject({ ok: false, problem: { kind: 'modified', seq: Number(victim.seq) } });
    // Put it back: the chain verifies again (the hash covers content, not storage).
    await tamper('UPDATE audit_log SET detail = $2 WHERE seq = $1', [victim.seq, JSON.stringify(victim.detail)]);
    expect((await cli(['audit', 'verify-log'])).code).toBe(0);
  });

  it('cut-off newest rows verify without an anchor, and are found with the head an earlier check printed', async () => {
    const earlier = JSON.parse((await cli(['audit', 'verify-log', '--json'])).out) as { head: { seq: number; hash: string } };
    const anchor = `${earlier.head.seq}:${earlier.head.hash}`;
    expect((await cli(['audit', 'verify-log', '--anchor', anchor])).out).toContain(`anchor ${earlier.head.seq} held`);
    await tamper('DELETE FROM audit_log WHERE seq >= $1', [earlier.head.seq - 1]);
    expect((await cli(['audit', 'verify-log'])).code).toBe(0); // the chain alone cannot tell
    const { code, out } = await cli(['audit', 'verify-log', '--anchor', anchor]);
    expect(code).toBe(1);
    expect(out).toContain(`audit log TAMPERED: truncated at seq ${earlier.head.seq}`);
    expect((await cli(['audit', 'verify-log', '--anchor', 'latest'])).code).toBe(2);
  });

  it('a deleted row is found at the row after the gap', async () => {
    const seqs = (await env.store.query<{ seq: string }>('SELECT seq FROM audit_log ORDER BY seq')).rows.map((r) => Number(r.seq));
    const deleted = seqs[3]!;
    await tamper('DELETE FROM audit_log WHERE seq = $1', [deleted]);
    const { code, out } = await cli(['audit', 'verify-log']);
    expect(code).toBe(1);
    expect(out).toContain(`audit log TAMPERED: missing at seq ${seqs[4]}`);
    expect(out).toContain(`rows between seq ${seqs[2]} and ${seqs[4]} are missing`);
  });
});

describe('decommission after the policy file is gone', () => {
  it('uses the last policy recorded in the store: both logins revoked, credential retired', async () => {
    const yaml = dbPolicyYaml(env, 'gone-app', { role: 'gone_app' }).replace('after: 24h', 'after: 0s');
    await env.usePolicies(yaml); // recorded in the inventory, never written to the policy directory
    await rotateDb(env, 'gone-app');
    const first = await servedLogin(env, 'gone-app');
    await rotateDb(env, 'gone-app');
    const second = await servedLogin(env, 'gone-app');
    const { code, out } = await cli(['decommission', 'gone-app', '--reason', 'workload retired']);
    expect(out).toContain('gone-app: decommissioned');
    expect(code).toBe(0);
    expect(await login(env, first)).toBe(false);
    expect(await login(env, second)).toBe(false);
    expect((await env.store.getCredential('gone-app'))?.status).toBe('retired');
    expect((await cli(['decommission', 'never-known'])).code).toBe(2);
  });
});
