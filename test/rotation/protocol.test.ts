/**
 * The rotation protocol's branches, end to end on real parts (PostgreSQL, Vault emulator, the real
 * Temporal worker on the time-skipping test server): manual rollback decisions, the approval gate,
 * emergencies (no grace, upgrade of a running rotation, revoke-first), abort, and a transient
 * store fault that a retry survives without doing its work twice.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHealthEndpoint, type HealthEndpoint } from '../harness/health.js';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { closedAt, dbPolicyYaml, login, rotateDb, servedLogin, startDbRotation, timersStarted, untilStep } from '../harness/db-rotation.js';
import { abortSignal, approveSignal, retrySignal, rollbackSignal } from '../../workflows/messages.js';
import { STEP, failedStep, type RotationResult } from '../../workflows/types.js';
import type { Strategy } from '../../providers/contracts.js';

const DAY = 86_400_000;
let env: RotorEnv;
let health: HealthEndpoint;
let n = 0;
/** A fresh credential id and role per test, so tests never see each other's state. */
let id: string;
let role: string;

beforeAll(async () => {
  env = await startRotorEnv();
  await env.startWorker();
  health = await startHealthEndpoint();
});
afterAll(async () => {
  await env?.close();
  await health?.close();
});
beforeEach(() => {
  n++;
  id = `proto-${n}`;
  role = `proto_${n}`;
  health.status = 200;
});

async function policy(extra = '', options: { healthCheck?: boolean; strategy?: Strategy } = {}) {
  await env.usePolicies(dbPolicyYaml(env, id, { role, extra, strategy: options.strategy, healthCheckUrl: options.healthCheck ? health.url : undefined }));
}

describe('rollback: manual', () => {
  it('waits for a human after a failed check; retry then succeeds', async () => {
    await policy('rollback: manual', { healthCheck: true });
    await rotateDb(env, id);
    health.status = 503;
    const handle = await startDbRotation(env, id);
    // Time skips through the health check's retry backoffs to the wait for a human.
    const status = await untilStep(env, id, failedStep(STEP.checkingDependents), { skipTime: true });
    expect(status.waitingFor).toMatch(/retry, rollback or continue/);
    expect(status.lastError).toMatch(/answered 503/);
    health.status = 200;
    await handle.signal(retrySignal);
    const result = (await handle.result()) as RotationResult;
    expect(result.outcome).toBe('succeeded');
    expect(await login(env, await servedLogin(env, id))).toBe(true);
  });

  it('a rollback decision restores the dependent and keeps the old login', async () => {
    await policy('rollback: manual', { healthCheck: true });
    await rotateDb(env, id);
    const before = await servedLogin(env, id);
    health.status = 503;
    const handle = await startDbRotation(env, id);
    await untilStep(env, id, failedStep(STEP.checkingDependents), { skipTime: true });
    await handle.signal(rollbackSignal);
    expect(((await handle.result()) as RotationResult).outcome).toBe('rolled_back');
    expect(await servedLogin(env, id)).toEqual(before);
    expect(await login(env, before)).toBe(true);
  });
});

describe('approval gate', () => {
  it('an unanswered approval times out into a clean abort that changed nothing', async () => {
    await policy('approval:\n  required: true\n  timeout: 2h');
    const startedAt = await env.temporal.now();
    const result = (await (await startDbRotation(env, id)).result()) as RotationResult;
    expect(result).toMatchObject({ outcome: 'aborted', error: 'approval timed out; nothing was changed' });
    expect((await env.temporal.now()) - startedAt).toBeGreaterThanOrEqual(2 * 3_600_000);
    await expect(servedLogin(env, id)).rejects.toThrow(); // nothing was ever written
    const events = (await env.store.listAudit({ rotationId: result.rotationId })).map((e) => e.event);
    expect(events).toEqual(['rotation.started', 'rotation.finished']);
  });

  it('an approval lets it proceed; it is recorded with who approved', async () => {
    await policy('approval:\n  required: true');
    const handle = await startDbRotation(env, id);
    const waiting = await untilStep(env, id, STEP.waitingForApproval);
    expect(waiting.waitingFor).toMatch(/approve or reject/);
    await handle.signal(approveSignal, { by: 'alice' });
    const result = (await handle.result()) as RotationResult;
    expect(result.outcome).toBe('succeeded');
    const decision = (await env.store.listAudit({ rotationId: result.rotationId })).find((e) => e.event === 'rotation.decision');
    expect(decision).toMatchObject({ actor: 'operator:alice', detail: { step: STEP.waitingForApproval, decision: 'approve', via: 'signal' } });
  });

  it('emergencies do not wait for approval', async () => {
    await policy('approval:\n  required: true');
    expect((await rotateDb(env, id, { trigger: 'emergency', reason: 'leak' })).outcome).toBe('succeeded');
  });
});

describe('emergency rotation', () => {
  it('skips the grace: the old login is refused as soon as the rotation ends', async () => {
    await policy();
    await rotateDb(env, id);
    const before = await servedLogin(env, id);
    const startedAt = await env.temporal.now();
    const result = await rotateDb(env, id, { trigger: 'emergency', reason: 'key in a public gist' });
    expect(result.outcome).toBe('succeeded');
    expect((await closedAt(env, id)) - startedAt).toBeLessThan(DAY);
    expect(await login(env, before)).toBe(false);
    expect(await login(env, await servedLogin(env, id))).toBe(true);
    const started = (await env.store.listAudit({ rotationId: result.rotationId }))[0];
    expect(started).toMatchObject({ event: 'rotation.started', detail: { trigger: 'emergency', reason: 'key in a public gist' } });
  });

  it('a grace of 0 s starts no timer: none in the run history, for an emergency or a policy without grace', async () => {
    await policy();
    await rotateDb(env, id);
    expect((await rotateDb(env, id, { trigger: 'emergency', reason: 'leak' })).outcome).toBe('succeeded');
    expect(await timersStarted(env, id)).toBe(0);
    await env.usePolicies(dbPolicyYaml(env, id, { role }).replace('after: 24h', 'after: 0s'));
    expect((await rotateDb(env, id)).outcome).toBe('succeeded');
    expect(await timersStarted(env, id)).toBe(0);
  });

  it('upgrades a rotation already in its grace period instead of failing', async () => {
    await policy();
    await rotateDb(env, id);
    const before = await servedLogin(env, id);
    const handle = await startDbRotation(env, id);
    await untilStep(env, id, STEP.grace);
    const graceStarted = await env.temporal.now();
    const upgraded = await startDbRotation(env, id, { trigger: 'emergency', reason: 'leak' });
    expect(upgraded.workflowId).toBe(handle.workflowId);
    expect(((await handle.result()) as RotationResult).outcome).toBe('succeeded');
    expect((await closedAt(env, id)) - graceStarted).toBeLessThan(DAY);
    expect(await login(env, before)).toBe(false);
  });

  it('revoke-first kills the old login before propagating', async () => {
    await policy();
    await rotateDb(env, id);
    const before = await servedLogin(env, id);
    const result = await rotateDb(env, id, { trigger: 'emergency', revokeFirst: true });
    expect(result.outcome).toBe('succeeded');
    expect(await login(env, before)).toBe(false);
    const events = (await env.store.listAudit({ rotationId: result.rotationId })).map((e) => e.event);
    expect(events.indexOf('material.revoked')).toBeLessThan(events.indexOf('dependent.written'));
  });
});

describe('abort and faults', () => {
  it('abort during the grace ends the rotation and leaves the old login valid', async () => {
    await policy();
    await rotateDb(env, id);
    const before = await servedLogin(env, id);
    const handle = await startDbRotation(env, id);
    await untilStep(env, id, STEP.grace);
    await handle.signal(abortSignal, 'owner asked to stop');
    const result = (await handle.result()) as RotationResult;
    expect(result.outcome).toBe('aborted');
    expect(result.error).toMatch(/owner asked to stop; old material left valid/);
    expect(await login(env, before)).toBe(true);
    expect(await login(env, await servedLogin(env, id))).toBe(true);
  });

  it('a Vault outage on the dependent write is retried; the write happens exactly once', async () => {
    await policy();
    await rotateDb(env, id);
    const path = `/v1/secret/data/apps/${id}/db`;
    env.vault.faults.add({ match: (r) => r.method !== 'GET' && r.path === path, status: 503, body: { errors: ['Vault is sealed'] }, times: 2 });
    const writesBefore = env.vault.requests.filter((r) => r.method !== 'GET' && r.path === path).length;
    const result = await rotateDb(env, id);
    expect(result.outcome).toBe('succeeded');
    expect(env.vault.faults.pending).toBe(0);
    // Two refused attempts and one write that landed: a retry never writes a second version.
    const writes = env.vault.requests.filter((r) => r.method !== 'GET' && r.path === path).length - writesBefore;
    expect(writes).toBe(3);
    expect(await login(env, await servedLogin(env, id))).toBe(true);
  });
});
