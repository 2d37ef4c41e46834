/**
 * Rotor's own PostgreSQL (the store) goes down mid-rotation and comes back on the same port with
 * the same data. The store runs on its own server, so the target database keeps serving logins.
 * Activities that touch the store fail while it is down, are retried by Temporal, and the run
 * completes once it is back, with its steps and audit trail whole.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { dbPolicyYaml, login, rotateDb, servedLogin, startDbRotation, untilStep } from '../harness/db-rotation.js';
import { STEP, type RotationResult } from '../../workflows/types.js';
import { findLeaks, rotorOutputs, vaultSecretValues } from './leaks.js';

let env: RotorEnv;
let storeDb: PostgresServer;
const id = 'store-outage';

beforeAll(async () => {
  storeDb = await startPostgres();
  env = await startRotorEnv({ storeUrl: storeDb.url });
  await env.startWorker();
});
afterAll(async () => {
  await env?.close();
  await storeDb?.stop();
});

/** The attempt number of the workflow's pending activity, and its last failure, if one is pending. */
async function pendingActivity(workflowId: string): Promise<{ type: string; attempt: number; lastFailure?: string } | undefined> {
  const { raw } = await env.client.workflow.getHandle(workflowId).describe();
  const pending = raw.pendingActivities?.[0];
  if (!pending) return undefined;
  return { type: pending.activityType?.name ?? '', attempt: pending.attempt ?? 0, lastFailure: pending.lastFailure?.message ?? undefined };
}

describe("Rotor's store restarted mid-run", () => {
  it('the store goes down during the grace period: activities retry until it is back, then the run completes', async () => {
    expect(storeDb.port).not.toBe(env.postgres.port);
    await env.usePolicies(dbPolicyYaml(env, id, { role: 'store_outage' }));
    expect((await rotateDb(env, id)).outcome).toBe('succeeded');
    const before = await servedLogin(env, id);
    const handle = await startDbRotation(env, id);
    await untilStep(env, id, STEP.grace);

    await storeDb.halt();
    await expect(env.store.query('SELECT 1')).rejects.toThrow();
    // End the grace: the next steps (drain check, revoke) must record themselves in the store.
    await env.temporal.advance('24h');
    // Time stands still for retries (nobody awaits the result): they back off in wall time, 1s doubling.
    let pending = await pendingActivity(handle.workflowId);
    while (!pending || pending.attempt < 2) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      pending = await pendingActivity(handle.workflowId);
    }
    expect(pending.lastFailure).toMatch(/ECONNREFUSED|connect|terminat/i);
    // The target database is another server: the application keeps logging in meanwhile.
    const after = await servedLogin(env, id);
    expect(await login(env, after)).toBe(true);

    await storeDb.resume();
    const result = (await handle.result()) as RotationResult;
    expect(result.outcome).toBe('succeeded');
    expect(await login(env, before)).toBe(false);
    expect(await login(env, after)).toBe(true);

    // Same data dir: the run recorded before the outage is still there, finished after it.
    const run = await env.store.getRun(result.rotationId);
    expect(run).toMatchObject({ outcome: 'succeeded', newMaterial: after.username, oldMaterial: before.username });
    const events = (await env.store.listAudit({ rotationId: result.rotationId })).map((e) => e.event);
    expect(events.filter((e) => e === 'material.revoked')).toHaveLength(1);
    expect(events.slice(0, 3)).toEqual(['rotation.started', 'rotation.preflight', 'material.created']);
    expect(events.at(-1)).toBe('rotation.finished');
    expect(await env.store.getCredential(id)).toMatchObject({ currentMaterial: after.username });

    const secrets = [...(await vaultSecretValues(env)), before.password, after.password];
    expect(findLeaks(secrets, await rotorOutputs(env))).toEqual([]);
  });

  it('the store is down when a rotation starts: it waits in beginRotation and proceeds once the store is back', async () => {
    const before = await servedLogin(env, id);
    await storeDb.halt();
    const handle = await startDbRotation(env, id, { trigger: 'emergency', reason: 'store outage drill' });
    let pending = await pendingActivity(handle.workflowId);
    while (!pending || pending.attempt < 2) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      pending = await pendingActivity(handle.workflowId);
    }
    expect(pending.type).toBe('beginRotation');
    await storeDb.resume();
    const result = (await handle.result()) as RotationResult;
    expect(result.outcome).toBe('succeeded');
    expect(await login(env, before)).toBe(false);
    expect(await login(env, await servedLogin(env, id))).toBe(true);
    expect((await env.store.listRuns(id)).map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  });
});
