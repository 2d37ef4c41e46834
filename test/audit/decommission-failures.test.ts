/**
 * A decommission whose steps are refused (the database refuses Rotor's admin login): the
 * decommissionCredential workflow reports each as to be done by hand, records the same failure
 * events the in-process decommission did, goes on with the dependent, and `rotor decommission`
 * prints INCOMPLETE and exits 1. The current login still works.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { captureOutput, cliFor } from '../harness/cli.js';
import { dbPolicyYaml, login, rotateDb, servedLogin, type DbLogin } from '../harness/db-rotation.js';

let env: RotorEnv;
let dir: string;

beforeAll(async () => {
  env = await startRotorEnv();
  dir = await mkdtemp(join(tmpdir(), 'rotor-decommission-failures-'));
  await env.startWorker();
});
afterAll(async () => {
  vi.restoreAllMocks();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a decommission whose revokes are refused', () => {
  it('reports each as to do by hand, audits revoke-failed, still removes the dependent copy, exits 1', { timeout: 120_000 }, async () => {
    const yaml = dbPolicyYaml(env, 'stuck-app', { role: 'stuck_app', extra: 'decommission:\n  removeFromDependents: true' }).replace('after: 24h', 'after: 0s');
    await env.usePolicies(yaml);
    const logins: DbLogin[] = [];
    for (let i = 0; i < 2; i++) {
      expect((await rotateDb(env, 'stuck-app')).outcome).toBe('succeeded');
      logins.push(await servedLogin(env, 'stuck-app'));
    }
    // Rotor's admin password is wrong from now on: PostgreSQL refuses every revoke (28P01).
    env.env.PG_WRONG_PASSWORD = 'not-the-admin-password';
    const stuck = yaml.replace('password: env:PG_ADMIN_PASSWORD', 'password: env:PG_WRONG_PASSWORD');
    await env.usePolicies(stuck);
    await writeFile(join(dir, 'stuck-app.yaml'), stuck);

    const output = captureOutput();
    const code = await cliFor(env, dir)('decommission', 'stuck-app');
    const text = output.text();
    vi.restoreAllMocks();

    expect(code, text).toBe(1);
    expect(text).toContain('stuck-app: INCOMPLETE (no material invalidated)');
    expect(text).toMatch(/to do by hand: previous material stuck_app_a: .*28P01/);
    expect(text).toMatch(/to do by hand: current material stuck_app_b: .*28P01/);
    expect(await login(env, logins[1]!)).toBe(true); // the current login was not retired
    await expect(servedLogin(env, 'stuck-app')).rejects.toThrow(); // the dependent's copy is gone

    const audit = await env.store.listAudit({ credentialId: 'stuck-app' });
    const events = audit.map((e) => e.event);
    expect(events.slice(events.indexOf('decommission.started'))).toEqual([
      'decommission.started', 'material.revoke-failed', 'material.revoke-failed', 'dependent.removed', 'credential.decommissioned',
    ]);
    const failed = audit.filter((e) => e.event === 'material.revoke-failed').map((e) => e.detail as Record<string, unknown>);
    expect(failed.map((d) => [d.material, d.which])).toEqual([['stuck_app_a', 'previous'], ['stuck_app_b', 'current']]);
    for (const d of failed) expect(String(d.error)).toContain('28P01');
    expect(audit.at(-1)?.detail).toMatchObject({ material: [], dependentsRemoved: ['app'], complete: false });
    const auditText = JSON.stringify(audit);
    for (const l of logins) expect(auditText).not.toContain(l.password);
  });
});
