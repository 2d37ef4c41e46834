/**
 * Discovery's side door, on real PostgreSQL: a login role created by hand as a member of a managed
 * group role holds the same privileges as the rotated logins. `rotor discover` lists it (and one
 * that is a member through another role) and the posture audit flags it as unmanaged; the rotated
 * logins stay managed, and a member that only administers the group (no inherited privileges) is
 * not listed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml, rotateDb } from '../harness/db-rotation.js';
import { collectFacts } from '../../audit/facts.js';
import { runAudit } from '../../audit/index.js';
import { DEFAULT_THRESHOLDS } from '../../audit/types.js';
import { runCli } from '../../cli/main.js';

let env: RotorEnv;
let dir: string;

/** A throwaway password per run (escaped for SQL: base64url has no quote). */
const password = () => randomBytes(12).toString('base64url');

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: env.postgres.url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function discover(): Promise<Array<{ credentialId: string; principal: string; managedBy: string | null; status: string }>> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  const saved = { ...process.env };
  Object.assign(process.env, env.env);
  try {
    expect(await runCli(['--database-url', env.postgres.url, '--policies', dir, 'discover', '--local', '--json'])).toBe(0);
  } finally {
    spy.mockRestore();
    process.env = saved;
  }
  return (JSON.parse(out) as { credentials: Array<{ credentialId: string; principal: string; managedBy: string | null; status: string }> }).credentials;
}

beforeAll(async () => {
  env = await startRotorEnv();
  dir = await mkdtemp(join(tmpdir(), 'rotor-side-door-'));
  const yaml = dbPolicyYaml(env, 'billing-db', { role: 'billing' }).replace('after: 24h', 'after: 0s');
  await writeFile(join(dir, 'billing-db.yaml'), yaml);
  await env.usePolicies(yaml);
  await env.startWorker();
  expect((await rotateDb(env, 'billing-db')).outcome).toBe('succeeded');
  // Side doors made by hand: a direct member, a member through an intermediate role, and a
  // role that may administer the group but inherits none of its privileges.
  await admin(`CREATE ROLE billing_backdoor LOGIN PASSWORD '${password()}' IN ROLE billing`);
  await admin(`CREATE ROLE billing_team NOLOGIN IN ROLE billing`);
  await admin(`CREATE ROLE billing_intern LOGIN PASSWORD '${password()}' IN ROLE billing_team`);
  await admin(`CREATE ROLE billing_operator LOGIN NOINHERIT PASSWORD '${password()}'`);
  await admin(`GRANT billing TO billing_operator WITH INHERIT FALSE, SET FALSE, ADMIN TRUE`);
}, 180_000);
afterAll(async () => {
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('logins that hold a managed group role\'s privileges', () => {
  it('rotor discover lists every member login of the group role; the hand-made ones are unmanaged', async () => {
    const found = await discover();
    const row = (id: string) => found.find((c) => c.credentialId === id);
    const current = (await env.store.getCredential('billing-db'))!.currentMaterial!;
    expect(row(current)).toMatchObject({ principal: 'billing', managedBy: 'billing-db', status: 'active' });
    expect(row('billing_backdoor')).toMatchObject({ principal: 'billing', managedBy: null, status: 'active' });
    expect(row('billing_intern')).toMatchObject({ principal: 'billing', managedBy: null, status: 'active' });
    // Administering the role is not holding its privileges; the group itself is no login.
    expect(row('billing_operator')).toBeUndefined();
    expect(row('billing_team')).toBeUndefined();
    expect(row('billing')).toBeUndefined();
  });

  it('the posture audit flags the side doors as unmanaged and not the rotated login', async () => {
    const now = new Date();
    const facts = await collectFacts(env.store, { now, failureWindowDays: 7 });
    const { findings } = runAudit(facts, { now, policies: env.policies.all(), allowedOwners: [], thresholds: DEFAULT_THRESHOLDS });
    const about = (id: string) => findings.filter((f) => f.subject.endsWith(`/${id}`)).map((f) => f.rule);
    expect(about('billing_backdoor')).toContain('unmanaged');
    expect(about('billing_intern')).toContain('unmanaged');
    const current = (await env.store.getCredential('billing-db'))!.currentMaterial!;
    expect(about(current)).not.toContain('unmanaged');
  });
});
