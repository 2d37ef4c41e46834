/**
 * Rotation safety by design: revoke waits while the old material is still used (PostgreSQL
 * sessions here; the cloud keys' usage signals in the shared suite, test/rotation/credential-types), pre-flight refuses before anything changes, a group never rotates two
 * credentials at once, and a step that always fails ends after bounded retries with the old
 * credential still serving.
 */
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { activityRuns, dbPolicyYaml, login, rotateDb, servedLogin, startDbRotation, untilStep } from '../harness/db-rotation.js';
import type { RotationResult } from '../../workflows/types.js';
import { rotationWorkflowId } from '../../daemon/rotations.js';

/** Each attempt of a rotation to take its group's lock, from its history: when (server time), whether it won, the wait after it (s). */
async function lockAttempts(env: RotorEnv, workflowId: string): Promise<Array<{ at: number; won: boolean; waitS: number }>> {
  const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
  const attempts: Array<{ at: number; won: boolean; waitS: number }> = [];
  for (const [i, e] of events.entries()) {
    if (e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name !== 'groupLock') continue;
    const outcome = events.slice(i + 1).find((o) => o.startChildWorkflowExecutionFailedEventAttributes || o.childWorkflowExecutionStartedEventAttributes);
    const won = outcome?.childWorkflowExecutionStartedEventAttributes !== undefined && outcome.childWorkflowExecutionStartedEventAttributes !== null;
    const timer = won ? undefined : events.slice(i + 1).find((t) => t.timerStartedEventAttributes);
    attempts.push({ at: ms(e.eventTime), won, waitS: Number(timer?.timerStartedEventAttributes?.startToFireTimeout?.seconds ?? 0) });
  }
  return attempts;
}

/** When the group lock held by this rotation ended (server time). */
async function lockReleasedAt(env: RotorEnv, workflowId: string): Promise<number> {
  const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const started = events.find((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowType?.name === 'groupLock')!.childWorkflowExecutionStartedEventAttributes!;
  const lock = await env.client.workflow.getHandle(started.workflowExecution!.workflowId!, started.workflowExecution!.runId!).describe();
  return lock.closeTime!.getTime();
}

let env: RotorEnv;
let n = 0;
let id: string;
let role: string;

beforeAll(async () => {
  env = await startRotorEnv();
  await env.startWorker();
});
afterAll(async () => {
  await env?.close();
});
beforeEach(() => {
  n++;
  id = `safe-${n}`;
  role = `safe_${n}`;
});

describe('drain detection', () => {
  it('revoke waits while a session of the old PostgreSQL role is open, and proceeds once it closes', async () => {
    await env.usePolicies(dbPolicyYaml(env, id, { role }));
    await rotateDb(env, id);
    const old = await servedLogin(env, id);
    const session = new pg.Client({ host: env.postgres.host, port: env.postgres.port, database: env.postgres.database, user: old.username, password: old.password });
    await session.connect();
    try {
      const handle = await startDbRotation(env, id);
      await untilStep(env, id, 'grace period');
      await env.temporal.advance('24h');
      const waiting = await untilStep(env, id, 'waiting for old material to drain');
      expect(waiting.waitingFor).toMatch(/1 open session of role "safe_\d+_a"/);
      // The grace ended: exactly one drain check so far, as production would run.
      expect(await activityRuns(env, id, 'checkDrained')).toBe(1);
      await env.temporal.advance('5m');
      await untilStep(env, id, 'waiting for old material to drain');
      // drainCheckEvery (5m) later: exactly one more, and the old login still works.
      expect(await activityRuns(env, id, 'checkDrained')).toBe(2);
      expect(await login(env, old)).toBe(true); // still not revoked
      await session.end();
      const result = (await handle.result()) as RotationResult;
      expect(result.outcome).toBe('succeeded');
      expect(await login(env, old)).toBe(false);
    } finally {
      await session.end().catch(() => undefined);
    }
  });
});

describe('pre-flight', () => {
  it('a missing permission fails before anything changes, naming it', async () => {
    const admin = new pg.Client({ connectionString: env.postgres.url });
    await admin.connect();
    await admin.query(`CREATE ROLE weak_admin_${n} LOGIN PASSWORD '${env.postgres.adminPassword}'`);
    await admin.end();
    await env.usePolicies(dbPolicyYaml(env, id, { role }).replace(`user: ${env.postgres.adminUser}`, `user: weak_admin_${n}`));
    const result = await rotateDb(env, id);
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/pre-flight failed, nothing was changed: credential: role "weak_admin_\d+" lacks CREATEROLE/);
    const events = (await env.store.listAudit({ rotationId: result.rotationId })).map((e) => e.event);
    expect(events).toEqual(['rotation.started', 'rotation.finished']);
    await expect(servedLogin(env, id)).rejects.toThrow();
  });

  it('a dependent Rotor cannot reach is named, and nothing changes', async () => {
    await env.usePolicies(dbPolicyYaml(env, id, { role }));
    await rotateDb(env, id);
    const before = await servedLogin(env, id);
    env.env.VAULT_TOKEN_WRONG = 'not-the-token';
    await env.usePolicies(dbPolicyYaml(env, id, { role }).replace(/(dependents:[\s\S]*?token: )env:VAULT_TOKEN/, '$1env:VAULT_TOKEN_WRONG'));
    const result = await rotateDb(env, id);
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/dependent app: .*403|dependent app: .*permission denied/);
    expect(await servedLogin(env, id)).toEqual(before);
    expect(await login(env, before)).toBe(true);
  });
});

describe('staggering', () => {
  it('two credentials of one group never rotate at the same time', async () => {
    const [a, b] = [`${id}-a`, `${id}-b`];
    await env.usePolicies([dbPolicyYaml(env, a, { role: `${role}_x`, extra: 'group: payments' }), dbPolicyYaml(env, b, { role: `${role}_y`, extra: 'group: payments' })].join('\n---\n'));
    await rotateDb(env, a); // a first rotation, so the next one has old material and a grace period
    const first = await startDbRotation(env, a);
    await untilStep(env, a, 'grace period');
    const second = await startDbRotation(env, b);
    await untilStep(env, b, 'waiting for group lock');
    // One result awaited at a time: each await lets virtual time skip (a's grace, b's lock backoff).
    const ra = (await first.result()) as RotationResult;
    const rb = (await second.result()) as RotationResult;
    expect([ra.outcome, rb.outcome]).toEqual(['succeeded', 'succeeded']);
    const finishedA = (await env.store.listAudit({ rotationId: ra.rotationId })).find((e) => e.event === 'rotation.finished')!;
    const createdB = (await env.store.listAudit({ rotationId: rb.rotationId })).find((e) => e.event === 'material.created')!;
    expect(createdB.seq).toBeGreaterThan(finishedA.seq);

    // The lock backoff ran the iterations production would run: b looked again after 30 s, 60 s, …
    // doubling to 15 min, every look before a released the lock failed, and the first after it won.
    const attempts = await lockAttempts(env, rotationWorkflowId(b));
    const released = await lockReleasedAt(env, rotationWorkflowId(a));
    const failed = attempts.filter((t) => !t.won);
    expect(failed.length).toBeGreaterThan(5); // a's 24 h grace outlasts the doubling phase
    expect(failed.map((t) => t.waitS)).toEqual(failed.map((_, i) => Math.min(30 * 2 ** i, 15 * 60)));
    expect(attempts.at(-1)!.won).toBe(true);
    expect(failed.at(-1)!.at).toBeLessThan(released);
    expect(attempts.at(-1)!.at).toBeGreaterThanOrEqual(released);
    // No look was skipped: the winning one came within one wait of the release.
    expect(attempts.at(-1)!.at - released).toBeLessThanOrEqual(failed.at(-1)!.waitS * 1000);
  });
});

describe('bounded retries', () => {
  it('a step that always fails ends after its bounded retries, says what to do, and the old credential still serves', async () => {
    await env.usePolicies(dbPolicyYaml(env, id, { role }));
    await rotateDb(env, id);
    const before = await servedLogin(env, id);
    const path = `/v1/secret/data/apps/${id}/db`;
    env.vault.faults.add({ match: (r) => r.method !== 'GET' && r.path === path, status: 500, body: { errors: ['internal error'] }, times: Infinity });
    try {
      const result = await rotateDb(env, id);
      expect(result.outcome).toBe('rolled_back');
      expect(result.error).toMatch(/^propagating to dependents: .*500.*rolled back, the previous credential still serves\. Next: fix the cause/);
      const attempts = (await env.store.listSteps(result.rotationId)).filter((s) => s.step === 'dependent.written' && s.status === 'failed');
      expect(attempts.length).toBe(6);
    } finally {
      env.vault.faults.clear();
    }
    expect(await servedLogin(env, id)).toEqual(before);
    expect(await login(env, before)).toBe(true);
  });
});
