/**
 * A worker that really dies: Rotor's worker runs in a child process and is SIGKILLed mid-rotation
 * (during the grace period after propagate; and inside a Vault write), then a new worker takes
 * over. The rotation must complete with exactly one new credential, nothing done twice, nothing
 * lost, and no secret in anything the dead or the new worker wrote.
 *
 * On the dev server (the real Temporal server), in real time, as in production. Not on the
 * time-skipping server: it does not hold virtual time while an activity runs, so the harness's
 * in-process workers take its time lock around each activity; a worker in another process has no
 * such lock (its activities let virtual time race ten years ahead while they do real I/O), and one
 * that held it and was SIGKILLed mid-activity would keep the lock forever. Here what takes over
 * from a dead worker is the server's own clock (the heartbeat timeout of its attempt in flight, the
 * timeout of its sticky queue), so grace periods are short: seconds, not 24h.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml, login, rotateDb, servedLogin, startDbRotation, untilStep, type DbLogin } from '../harness/db-rotation.js';
import type { RotationResult } from '../../workflows/types.js';
import { findLeaks, rotorOutputs, vaultSecretValues } from './leaks.js';
import { workerProcesses, type WorkerProcesses } from './worker-processes.js';

let env: RotorEnv;
let dir: string;
let workers: WorkerProcesses;
const seenLogins: DbLogin[] = [];

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  dir = await mkdtemp(join(tmpdir(), 'rotor-crash-'));
  workers = await workerProcesses(env, dir);
});
afterAll(async () => {
  workers?.killAll();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function kill(child: ChildProcess): Promise<void> {
  expect(await workers.kill(child)).toBe('SIGKILL');
}

/** A policy for `role` whose old login is revoked `grace` after the new one is promoted. */
async function writePolicy(id: string, role: string, grace: string): Promise<string> {
  const yaml = dbPolicyYaml(env, id, { role }).replace('after: 24h', `after: ${grace}`);
  await env.usePolicies(yaml);
  const file = join(dir, `${id}.yaml`);
  await writeFile(file, yaml);
  return file;
}

/** Vault versions of a secret (the dependent consumers read, or the primary store). */
async function vaultVersions(path: string): Promise<number> {
  const response = await fetch(`${env.vault.address}/v1/secret/metadata/${path}`, { headers: { 'x-vault-token': env.vault.token } });
  const body = (await response.json()) as { data: { current_version: number } };
  return body.data.current_version;
}

async function loginRoles(role: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: env.postgres.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname`, [`${role}%`]);
    return rows.map((r) => r.rolname);
  } finally {
    await client.end();
  }
}

async function auditEvents(rotationId: string): Promise<string[]> {
  return (await env.store.listAudit({ rotationId })).map((e) => e.event);
}

const count = (events: string[], name: string) => events.filter((e) => e === name).length;

describe('worker killed mid-rotation', () => {
  // Two rotations with a real grace each, a child process and a new worker, on a shared machine.
  it('SIGKILL during the grace period: a new worker revokes the old login exactly once', { timeout: 180_000 }, async () => {
    const id = 'crash-grace';
    // Long enough to kill the worker inside it (the test asserts the rotation is still running then).
    const policyFile = await writePolicy(id, 'crash_grace', '20s');
    const first = await workers.start(policyFile);
    expect((await rotateDb(env, id)).outcome).toBe('succeeded');
    const before = await servedLogin(env, id);
    const dependentVersions = await vaultVersions(`apps/${id}/db`);

    const handle = await startDbRotation(env, id);
    await untilStep(env, id, 'grace period');
    const { rows } = await env.store.query<{ step: string }>(
      `SELECT s.step FROM rotation_steps s JOIN rotation_runs r USING (rotation_id) WHERE r.credential_id = $1 AND r.outcome = 'running' AND s.status = 'succeeded'`,
      [id],
    );
    expect(rows.map((r) => r.step)).toContain('dependent.written');
    await kill(first);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    // The worker died inside the grace (a real one here): the old login still works, so the revoke
    // below is the new worker's.
    expect(await login(env, before)).toBe(true);
    const after = await servedLogin(env, id);
    seenLogins.push(before, after);

    const replacement = await env.startWorker();
    const result = (await handle.result()) as RotationResult;
    await replacement.stop();

    expect(result).toMatchObject({ outcome: 'succeeded', newMaterialId: 'crash_grace_b', oldMaterialId: 'crash_grace_a' });
    expect(await login(env, before)).toBe(false);
    expect(await login(env, after)).toBe(true);
    expect(await servedLogin(env, id)).toEqual(after);
    // One new version for consumers, no extra roles: exactly one new credential.
    expect(await vaultVersions(`apps/${id}/db`)).toBe(dependentVersions + 1);
    expect(await loginRoles('crash_grace')).toEqual(['crash_grace', 'crash_grace_a', 'crash_grace_b']);
    const events = await auditEvents(result.rotationId);
    expect(count(events, 'material.created')).toBe(1);
    expect(count(events, 'dependent.written')).toBe(1);
    expect(count(events, 'material.promoted')).toBe(1);
    expect(count(events, 'material.revoked')).toBe(1);
    expect(events.at(-1)).toBe('rotation.finished');
    expect(await env.store.getRun(result.rotationId)).toMatchObject({ outcome: 'succeeded', newMaterial: 'crash_grace_b' });
  });

  it('SIGKILL inside the dependent write: the retry on a new worker finds the write and does not repeat it', { timeout: 180_000 }, async () => {
    const id = 'crash-write';
    const policyFile = await writePolicy(id, 'crash_write', '0s');
    const replacementFirst = await env.startWorker();
    expect((await rotateDb(env, id)).outcome).toBe('succeeded');
    await replacementFirst.stop();
    const before = await servedLogin(env, id);
    const dependentPath = `/v1/secret/data/apps/${id}/db`;
    const dependentVersions = await vaultVersions(`apps/${id}/db`);

    const doomed = await workers.start(policyFile);
    // Vault holds the write for a while: the worker dies with the request in flight, and the write
    // still lands afterwards, as it can with a real server.
    env.vault.faults.add({ match: (r) => r.method === 'POST' && r.path === dependentPath, delayMs: 1500 });
    const writesBefore = env.vault.requests.filter((r) => r.method === 'POST' && r.path === dependentPath).length;
    const handle = await startDbRotation(env, id);
    while (env.vault.requests.filter((r) => r.method === 'POST' && r.path === dependentPath).length === writesBefore) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect((await handle.query<{ step: string }>('status')).step).toBe('propagating to dependents');
    await kill(doomed);

    const replacement = await env.startWorker();
    // The server gives the dead worker's attempt up when its heartbeats stop (heartbeat timeout).
    const result = (await handle.result()) as RotationResult;
    await replacement.stop();

    expect(result.outcome).toBe('succeeded');
    const after = await servedLogin(env, id);
    seenLogins.push(before, after);
    expect(after.username).not.toBe(before.username);
    expect(await login(env, after)).toBe(true);
    expect(await login(env, before)).toBe(false);
    expect(await vaultVersions(`apps/${id}/db`)).toBe(dependentVersions + 1);
    const steps = await env.store.listSteps(result.rotationId);
    // Two attempts at the write (the killed one and the retry), one success.
    expect(steps.filter((s) => s.step === 'dependent.written' && s.status === 'started').length).toBe(2);
    expect(steps.filter((s) => s.step === 'dependent.written' && s.status === 'succeeded').length).toBe(1);
    const events = await auditEvents(result.rotationId);
    expect(count(events, 'material.created')).toBe(1);
    expect(count(events, 'material.revoked')).toBe(1);
  });

  it('no secret value from Vault or PostgreSQL appears in histories, logs (the killed workers too), metrics or the store', async () => {
    const secrets = [...(await vaultSecretValues(env)), ...seenLogins.map((l) => l.password)];
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    const outputs = await rotorOutputs(env, { 'worker process output': workers.output.join('') });
    expect(outputs['worker process output']).toContain('postgres password set');
    expect(findLeaks(secrets, outputs)).toEqual([]);
    // The scan can fail: a value planted in the child's log is found.
    const planted = findLeaks([secrets[0]!], { ...outputs, 'worker process output': `${outputs['worker process output']} ${secrets[0]}` });
    expect(planted).toEqual([{ where: 'worker process output', secretPrefix: `${secrets[0]!.slice(0, 3)}…` }]);
  });
});
