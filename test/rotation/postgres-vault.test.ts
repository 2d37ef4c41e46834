/**
 * End to end on real parts: a real PostgreSQL role rotated by the real Temporal worker (against the
 * in-memory Temporal server), with Vault (emulator, real node-vault client) as primary store and
 * dependent. Proves the protocol's promises: the new password works and is served, the old one
 * works through the grace period and is refused after it, a failed health check rolls everything
 * back, and no password ever appears in history, logs or the audit log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLogs, startRotorEnv, type RotorEnv } from '../harness/env.js';
import { startHealthEndpoint, type HealthEndpoint } from '../harness/health.js';
import { historyText } from '../harness/leaks.js';
import { dbPolicyYaml, login as loginAs, rotateDb, servedLogin, startDbRotation, untilStep, type DbLogin } from '../harness/db-rotation.js';
import { STEP, type RotationResult } from '../../workflows/types.js';
import type { Strategy } from '../../providers/contracts.js';

let env: RotorEnv;
let health: HealthEndpoint;
/** Every password a rotation produced, for the leak scan at the end. */
const issuedPasswords = new Set<string>();

beforeAll(async () => {
  env = await startRotorEnv();
  await env.startWorker();
  health = await startHealthEndpoint();
});

afterAll(async () => {
  await env?.close();
  await health?.close();
});

const policyYaml = (id: string, o: { strategy: Strategy; role: string; healthCheck?: boolean }) =>
  dbPolicyYaml(env, id, { strategy: o.strategy, role: o.role, healthCheckUrl: o.healthCheck ? health.url : undefined });

/** What the application sees now; every password seen is kept for the leak scan. */
async function served(id: string): Promise<DbLogin> {
  const credentials = await servedLogin(env, id);
  issuedPasswords.add(credentials.password);
  return credentials;
}

const login = (credentials: DbLogin) => loginAs(env, credentials);
const rotate = (id: string) => rotateDb(env, id, { reason: 'test' });

describe('PostgreSQL password rotation through Vault', () => {
  it('dual: the new role works and is served, the old works through the grace and is refused after it', async () => {
    await env.usePolicies(policyYaml('orders-db', { strategy: 'dual', role: 'orders_app' }));

    const first = await rotate('orders-db');
    expect(first).toMatchObject({ outcome: 'succeeded', newMaterialId: 'orders_app_a', oldMaterialId: null });
    const before = await served('orders-db');
    expect(before.username).toBe('orders_app_a');
    expect(await login(before)).toBe(true);

    const handle = await startDbRotation(env, 'orders-db');
    // Nobody waits on the result yet, so virtual time stands still inside the 24h grace period.
    await untilStep(env, 'orders-db', STEP.grace);
    const after = await served('orders-db');
    expect(after.username).toBe('orders_app_b');
    expect(after.password).not.toBe(before.password);
    expect(await login(after)).toBe(true);
    expect(await login(before)).toBe(true);

    const startedAt = await env.temporal.now();
    const second = (await handle.result()) as RotationResult;
    expect(second).toMatchObject({ outcome: 'succeeded', newMaterialId: 'orders_app_b', oldMaterialId: 'orders_app_a' });
    expect((await env.temporal.now()) - startedAt).toBeGreaterThanOrEqual(24 * 3600_000);
    expect(await login(before)).toBe(false);
    expect(await login(after)).toBe(true);

    const credential = await env.store.getCredential('orders-db');
    expect(credential).toMatchObject({ currentMaterial: 'orders_app_b' });
    const runs = await env.store.listRuns('orders-db');
    expect(runs.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded']);
    const events = (await env.store.listAudit({ rotationId: second.rotationId })).map((e) => e.event);
    expect(events).toEqual([
      'rotation.started',
      'rotation.preflight',
      'material.created',
      'material.verified',
      'dependent.written',
      'dependent.checked',
      'material.promoted',
      'material.drain-checked',
      'material.revoked',
      'rotation.finished',
    ]);
  });

  it('single: the password changes in place; the old one is refused at once', async () => {
    await env.usePolicies(policyYaml('reports-db', { strategy: 'single', role: 'reports_app' }));
    await rotate('reports-db');
    const before = await served('reports-db');
    const result = await rotate('reports-db');
    expect(result.outcome).toBe('succeeded');
    const after = await served('reports-db');
    expect(after.username).toBe('reports_app');
    expect(await login(after)).toBe(true);
    expect(await login(before)).toBe(false);
  });

  it('a failing health check rolls back: Vault restored, new material removed, old still works', async () => {
    await env.usePolicies(policyYaml('billing-db', { strategy: 'dual', role: 'billing_app', healthCheck: true }));
    health.status = 200;
    await rotate('billing-db');
    const before = await served('billing-db');

    health.status = 503;
    const result = await rotate('billing-db');
    health.status = 200;
    expect(result.outcome).toBe('rolled_back');
    expect(result.error).toMatch(/health check app: GET .* answered 503, expected 200/);
    const restored = await served('billing-db');
    expect(restored).toEqual(before);
    expect(await login(before)).toBe(true);
    expect(await login({ username: 'billing_app_b', password: before.password })).toBe(false);
    const steps = (await env.store.listAudit({ rotationId: result.rotationId })).map((e) => e.event);
    expect(steps).toContain('dependent.restored');
    expect(steps).toContain('material.discarded');
    expect(steps).not.toContain('material.promoted');
  });

  it('no password appears in Temporal history, logs or the audit log', async () => {
    expect(issuedPasswords.size).toBeGreaterThanOrEqual(4);
    const histories: string[] = [];
    for (const execution of await env.executions()) {
      const history = await env.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      histories.push(historyText(history));
    }
    expect(histories.length).toBeGreaterThanOrEqual(6);
    const { rows } = await env.store.query<{ row: string }>(
      `SELECT row_to_json(a)::text AS row FROM audit_log a UNION ALL SELECT row_to_json(r)::text FROM rotation_runs r
       UNION ALL SELECT row_to_json(s)::text FROM rotation_steps s`,
    );
    const haystacks = { history: histories.join('\n'), logs: capturedLogs.join('\n'), store: rows.map((r) => r.row).join('\n') };
    expect(haystacks.logs.length).toBeGreaterThan(0);
    for (const password of issuedPasswords) {
      for (const [where, text] of Object.entries(haystacks)) {
        expect(text.includes(password), `a password leaked into ${where}`).toBe(false);
      }
    }
    // The scan itself works: the history does hold the references it should.
    expect(haystacks.history).toContain('orders_app_b');
  });
});
