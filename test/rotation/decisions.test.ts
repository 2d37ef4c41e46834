/**
 * Human decisions as Workflow Updates, on the official Temporal dev server (our in-memory server
 * has no UpdateWorkflowExecution), with real PostgreSQL, the Vault emulator and Rotor's worker:
 * `rotor approve|reject|retry|rollback|continue|revoke-now|abort` learn at once whether the
 * decision applied, a refused one changes nothing, and every accepted one is in the audit log
 * with who and why. Also the incident path: an emergency sent into a rotation that waits for
 * approval proceeds and is audited, history shows `scheduled → emergency`, a retired credential is
 * refused with nothing started, and `rotor status` / `rotor rotate --wait` tell where a rotation stands.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startRotorEnv } from '../harness/env.js';
import type { RotorEnv } from '../harness/env.js';
import { capturedLogs } from '../harness/env.js';
import { captureOutput, cliFor } from '../harness/cli.js';
import { startHealthEndpoint, type HealthEndpoint } from '../harness/health.js';
import { dbPolicyYaml, login, servedLogin, startDbRotation } from '../harness/db-rotation.js';
import { rotationWorkflowId } from '../../daemon/rotations.js';
import { markDecommissioned } from '../../store/discovery.js';
import { statusQuery } from '../../workflows/protocol.js';
import { waitWithProgress } from '../../cli/status.js';
import { buildHttpServer } from '../../daemon/http.js';
import { RotorMetrics } from '../../daemon/metrics.js';
import { registry } from '../../providers/registry.js';
import type { RotationResult, RotationStatus, RotationStep } from '../../workflows/types.js';

let env: RotorEnv;
let health: HealthEndpoint;
let dir: string;
let n = 0;
let id: string;
let role: string;
let output: ReturnType<typeof captureOutput>;

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  await env.startWorker();
  health = await startHealthEndpoint();
  dir = await mkdtemp(join(tmpdir(), 'rotor-decisions-'));
}, 180_000);
afterAll(async () => {
  await env?.close();
  await health?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  n++;
  id = `decide-${n}`;
  role = `decide_${n}`;
  health.status = 200;
  output = captureOutput();
});
afterEach(() => vi.restoreAllMocks());

/** Puts a policy in force for the worker and on disk for the CLI. */
async function policy(options: { extra?: string; healthCheck?: boolean; grace?: string } = {}): Promise<void> {
  let yaml = dbPolicyYaml(env, id, { role, extra: options.extra, healthCheckUrl: options.healthCheck ? health.url : undefined });
  if (options.grace) yaml = yaml.replace('after: 24h', `after: ${options.grace}`);
  await writeFile(join(dir, `${id}.yaml`), yaml);
  await env.usePolicies(yaml);
}

const rotor = (...args: string[]) => cliFor(env, dir)(...args);

/** A first rotation (no grace: there is no old material yet), so the next one has a grace period. */
async function rotatedOnce(options: Parameters<typeof policy>[0] = {}): Promise<void> {
  await policy({ ...options, grace: '0s' });
  await startDbRotation(env, id);
  expect((await result()).outcome).toBe('succeeded');
  await policy(options);
}

/** Polls the status query (every 100 ms, real time) until the rotation is at `step`. */
async function untilAt(step: RotationStep | RegExp, timeoutMs = 60_000): Promise<RotationStatus> {
  const handle = env.client.workflow.getHandle(rotationWorkflowId(id));
  const deadline = Date.now() + timeoutMs;
  let last: RotationStatus | undefined;
  while (Date.now() < deadline) {
    last = await handle.query(statusQuery).catch(() => undefined);
    if (last && (typeof step === 'string' ? last.step === step : step.test(last.step))) return last;
    if (last && ['succeeded', 'rolled_back', 'failed', 'aborted'].includes(last.step)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`rotation ${id} never reached ${String(step)} (last: ${JSON.stringify(last)})`);
}

async function result(): Promise<RotationResult> {
  return (await env.client.workflow.getHandle(rotationWorkflowId(id)).result()) as RotationResult;
}

async function audit(rotationId?: string) {
  return env.store.listAudit(rotationId ? { rotationId } : { credentialId: id });
}

describe('decisions are Updates: accepted or refused at once', () => {
  it('approve is refused before and after the approval wait, accepted during it, and recorded with who and why', async () => {
    await policy({ extra: 'approval:\n  required: true', grace: '0s' });
    await startDbRotation(env, id);
    const waiting = await untilAt('waiting for approval');
    expect(waiting.waitingFor).toMatch(/approve or reject/);
    expect(waiting.waitingFor).not.toMatch(/\d{4,} ms/);

    // A decision that does not apply to this step: exit 1, it says why, nothing is recorded.
    expect(await rotor('retry', id, '--reason', 'wrong button')).toBe(1);
    expect(output.text()).toContain('retry refused, nothing changed: retry applies only after a step failed under rollback: manual; the rotation is at "waiting for approval"');
    expect(await rotor('revoke-now', id)).toBe(1);
    expect((await audit()).filter((e) => e.event === 'rotation.decision')).toEqual([]);
    // The refusals are in the audit log with their reason.
    expect((await audit()).filter((e) => e.event === 'rotation.decision-refused').map((e) => e.detail)).toEqual([
      expect.objectContaining({ decision: 'retry', reason: 'wrong button', refused: expect.stringMatching(/applies only after a step failed/) }),
      expect.objectContaining({ decision: 'revokeNow', reason: null }),
    ]);

    output.clear();
    expect(await rotor('approve', id, '--reason', 'change 4711', '--by', 'alice')).toBe(0);
    expect(output.text()).toContain(`${id}: approve accepted at "waiting for approval": approved: the rotation goes ahead`);
    const done = await result();
    expect(done.outcome).toBe('succeeded');
    const decisions = (await audit(done.rotationId)).filter((e) => e.event === 'rotation.decision');
    expect(decisions).toEqual([
      // The CLI's actor is its local user; `--by` is the name recorded with it.
      expect.objectContaining({ actor: `cli:${userInfo().username}`, detail: { step: 'waiting for approval', decision: 'approve', reason: 'change 4711', via: 'update' } }),
    ]);
    expect((await audit()).find((e) => e.event === 'rotation.decided')).toMatchObject({ actor: `cli:${userInfo().username}`, actorInfo: { name: 'alice' }, reason: 'change 4711' });

    output.clear();
    expect(await rotor('approve', id)).toBe(1);
    expect(output.text()).toContain(`no rotation of ${id} is running`);
  });

  it('reject ends the rotation with its reason; nothing was changed', async () => {
    await policy({ extra: 'approval:\n  required: true' });
    await startDbRotation(env, id);
    await untilAt('waiting for approval');
    expect(await rotor('reject', id, '--reason', 'freeze week', '--by', 'bob')).toBe(0);
    const done = await result();
    // The workflow names the actor by id (the CLI's local user); `--by` is the display name in the audit log.
    expect(done).toMatchObject({ outcome: 'aborted', error: `rejected by cli:${userInfo().username}: freeze week; nothing was changed` });
    await expect(servedLogin(env, id)).rejects.toThrow(); // nothing was ever written
  });

  it('revoke-now ends the grace: accepted during the grace, refused decisions meanwhile, old login refused after', async () => {
    await rotatedOnce();
    await startDbRotation(env, id);
    await untilAt('grace period');
    expect(await rotor('revoke-now', id, '--reason', 'consumers all moved')).toBe(0);
    expect(output.text()).toContain('revoke-now accepted at "grace period": the old material is revoked now');
    expect((await result()).outcome).toBe('succeeded');

    // Second rotation: during the grace, approve does not apply; revoke-now does.
    const before = await servedLogin(env, id);
    await startDbRotation(env, id);
    await untilAt('grace period');
    output.clear();
    expect(await rotor('approve', id)).toBe(1);
    expect(output.text()).toMatch(/approve applies only while a rotation waits for approval; the rotation is at "grace period"/);
    expect(await rotor('revoke-now', id)).toBe(0);
    const done = await result();
    expect(done.outcome).toBe('succeeded');
    expect(await login(env, before)).toBe(false);
    const decision = (await audit(done.rotationId)).find((e) => e.event === 'rotation.decision');
    expect(decision?.detail).toMatchObject({ step: 'grace period', decision: 'revokeNow', via: 'update' });
  });

  it('rollback: manual — retry and rollback are accepted only on the failed step, and the rollback restores the dependent', async () => {
    await policy({ extra: 'rollback: manual', healthCheck: true, grace: '0s' });
    await startDbRotation(env, id);
    expect((await result()).outcome).toBe('succeeded');
    const before = await servedLogin(env, id);
    health.status = 503;
    await startDbRotation(env, id);
    // The health check's retries take a while in real time.
    const failed = await untilAt('failed: checking dependents', 120_000);
    expect(failed.waitingFor).toMatch(/retry, rollback or continue/);
    // Before promote the new material is only pending; the old one is still current.
    expect(failed.materials).toEqual({ pending: expect.stringMatching(new RegExp(`^${role}_[ab]$`)), current: before.username, previous: null });
    expect(failed.materials.pending).not.toBe(before.username);
    output.clear();
    expect(await rotor('approve', id)).toBe(1);
    expect(await rotor('rollback', id, '--reason', 'app not ready')).toBe(0);
    expect(output.text()).toContain('rollback accepted at "failed: checking dependents"');
    const done = await result();
    expect(done.outcome).toBe('rolled_back');
    expect(await servedLogin(env, id)).toEqual(before);
    expect(await login(env, before)).toBe(true);
    const decision = (await audit(done.rotationId)).find((e) => e.event === 'rotation.decision');
    expect(decision?.detail).toMatchObject({ step: 'failed: checking dependents', decision: 'rollback', reason: 'app not ready' });
  }, 180_000);

  it('abort during the grace is accepted once, keeps the old login valid, and carries its reason', async () => {
    await rotatedOnce();
    await startDbRotation(env, id);
    await untilAt('grace period');
    expect(await rotor('revoke-now', id)).toBe(0);
    await result();
    const before = await servedLogin(env, id);
    await startDbRotation(env, id);
    await untilAt('grace period');
    expect(await rotor('abort', id, '--reason', 'owner asked to stop')).toBe(0);
    expect(output.text()).toContain('aborting: the rotation ends and leaves the old material valid');
    const done = await result();
    expect(done.outcome).toBe('aborted');
    expect(done.error).toMatch(/owner asked to stop; old material left valid/);
    expect(await login(env, before)).toBe(true);
    expect((await audit(done.rotationId)).find((e) => e.event === 'rotation.decision')?.detail).toMatchObject({ decision: 'abort', reason: 'owner asked to stop' });
  });

  it('a decision with a hostile input is refused by the validator (bounded text)', async () => {
    await policy({ extra: 'approval:\n  required: true' });
    await startDbRotation(env, id);
    await untilAt('waiting for approval');
    expect(await rotor('approve', id, '--reason', 'x'.repeat(501))).toBe(1);
    expect(output.text()).toMatch(/reason is longer than 500 characters/);
    // Straight to the server, past the CLI's own check: the workflow's validator refuses it too.
    const handle = env.client.workflow.getHandle(rotationWorkflowId(id));
    await expect(handle.executeUpdate('approve', { args: [{ reason: 'x'.repeat(501) }] })).rejects.toThrow();
    await expect(handle.executeUpdate('approve', { args: [{ reason: 'ok', admin: true }] })).rejects.toThrow();
    expect((await handle.query(statusQuery)).step).toBe('waiting for approval');
    expect(await rotor('abort', id, '--reason', 'test over')).toBe(0);
    expect((await result()).outcome).toBe('aborted');
  });
});

describe('emergencies never wait, and the trail shows it', () => {
  it('an emergency sent into a rotation waiting for approval proceeds without approval, and the upgrade is audited with its reason', async () => {
    await policy({ extra: 'approval:\n  required: true' });
    const first = await startDbRotation(env, id, { trigger: 'scheduled' });
    await untilAt('waiting for approval');
    const upgraded = await startDbRotation(env, id, { trigger: 'emergency', reason: 'key in a public gist' });
    expect(upgraded.workflowId).toBe(first.workflowId);
    const done = await result();
    expect(done.outcome).toBe('succeeded');
    const events = await audit(done.rotationId);
    expect(events.find((e) => e.event === 'rotation.upgraded')).toMatchObject({
      detail: { from: 'scheduled', to: 'emergency', reason: 'key in a public gist', step: 'waiting for approval' },
    });
    // No approval was given: the emergency did not wait for one.
    expect(events.some((e) => e.event === 'rotation.decision')).toBe(false);

    output.clear();
    expect(await rotor('history', id, '--json')).toBe(0);
    const rows = JSON.parse(output.text()) as Array<{ runId: string; trigger: string }>;
    expect(rows.find((r) => r.runId === done.rotationId)?.trigger).toBe('scheduled → emergency');
  });

  it('an emergency sent into a grace period is audited and shows as scheduled → emergency in history and status', async () => {
    await rotatedOnce();
    await startDbRotation(env, id, { trigger: 'scheduled' });
    await untilAt('grace period');
    await startDbRotation(env, id, { trigger: 'emergency', reason: 'leak reported by GitHub' });
    const done = await result();
    expect(done.outcome).toBe('succeeded');
    expect((await audit(done.rotationId)).find((e) => e.event === 'rotation.upgraded')?.detail).toMatchObject({ from: 'scheduled', reason: 'leak reported by GitHub', step: 'grace period' });
    output.clear();
    expect(await rotor('status', id)).toBe(0);
    expect(output.text()).toMatch(/scheduled → emergency\s+succeeded/);
  });
});

describe('refusals', () => {
  it('a retired (decommissioned) credential is refused with why and what to do; nothing is started', async () => {
    await policy({ grace: '0s' });
    await startDbRotation(env, id);
    await result();
    await markDecommissioned(env.store, id);
    const runsBefore = (await env.store.listRuns(id)).length;
    output.clear();
    expect(await rotor('rotate', id)).toBe(2);
    expect(output.text()).toMatch(new RegExp(`${id} is retired .*nothing was started\\. Remove its policy file`));
    expect((await env.store.listRuns(id)).length).toBe(runsBefore);
    expect((await audit()).at(-1)).toMatchObject({ actor: `cli:${userInfo().username}`, event: 'rotation.refused', detail: { trigger: 'manual', refused: expect.stringMatching(/is retired/) } });
    // A schedule (or any client) that starts the workflow anyway: the workflow refuses before anything changes.
    const refused = (await (await startDbRotation(env, id, { trigger: 'scheduled' })).result()) as RotationResult;
    expect(refused).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/is retired/) });
    expect((await env.store.listRuns(id)).length).toBe(runsBefore);
    expect((await audit()).at(-1)).toMatchObject({ event: 'rotation.refused', detail: { trigger: 'scheduled', refused: expect.stringMatching(/is retired/) } });
  });

  it('an expected refusal (pre-flight failed, nothing changed) is logged as one line, without a warning and stack', async () => {
    env.env.WRONG_ADMIN_PASSWORD = 'not-the-admin-password';
    const yaml = dbPolicyYaml(env, id, { role }).replace('env:PG_ADMIN_PASSWORD', 'env:WRONG_ADMIN_PASSWORD');
    await env.usePolicies(yaml);
    const from = capturedLogs.length;
    const done = (await (await startDbRotation(env, id)).result()) as RotationResult;
    expect(done).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/pre-flight failed, nothing was changed/) });
    const lines = capturedLogs.slice(from).filter((l) => l.includes('pre-flight') || l.includes('preflight'));
    expect(lines.length).toBeGreaterThan(0);
    // The worker's "Activity failed" warning (with the failure's stack) is not there: a refusal is benign.
    expect(lines.filter((l) => /^WARN Activity failed/.test(l))).toEqual([]);
    for (const l of lines) expect(l).not.toMatch(/\n\s+at /);
  });
});

describe('where a rotation stands', () => {
  it('rotor status during the grace: the new material is CURRENT, the old PREVIOUS, the wait in words', async () => {
    await rotatedOnce();
    const old = (await env.store.getCredential(id))!.currentMaterial!;
    await startDbRotation(env, id);
    await untilAt('grace period');
    output.clear();
    expect(await rotor('status', id)).toBe(0);
    const text = output.text();
    const next = old.endsWith('_a') ? old.replace(/_a$/, '_b') : old.replace(/_b$/, '_a');
    expect(text).toMatch(new RegExp(`current\\s+${next}`));
    expect(text).toMatch(new RegExp(`previous\\s+${old}`));
    expect(text).toMatch(/pending\s+-/);
    expect(text).toMatch(/now: grace period since .*: waiting 23h 59m more for the old material's grace \(1d in all/);
    expect(text).not.toMatch(/\d{4,} ms/);
    // The list view agrees, with the same column names as the detail view.
    output.clear();
    expect(await rotor('status')).toBe(0);
    expect(output.text()).toMatch(/ID\s+TYPE\s+STATUS\s+OWNER\s+LASTROTATED\s+NEXTDUE\s+CURRENT/);
    expect(output.text()).toMatch(new RegExp(`${id}\\s.*${next}`));
    expect(await rotor('revoke-now', id)).toBe(0);
    await result();
    // Afterwards: the new material is current, nothing is pending or previous (the old one is revoked).
    output.clear();
    expect(await rotor('status', id)).toBe(0);
    expect(output.text()).toMatch(new RegExp(`pending\\s+-\\ncurrent\\s+${next}\\nprevious\\s+-`));
  });

  it('rotor rotate --wait shows each step and what it waits for, one line per change when not a TTY', async () => {
    await rotatedOnce({ grace: '3s' });
    output.clear();
    expect(await rotor('rotate', id, '--wait')).toBe(0);
    const text = output.text();
    // Each line names a step; the fast ones may pass between two looks.
    for (const line of text.trim().split('\n').slice(0, -1)) expect(line).toMatch(/^… (planning|pre-flight|[a-z ]+ material|[a-z ]+ dependents|grace period|revoking old material)/);
    expect(text).toMatch(/… grace period: waiting \d+s more for the old material's grace \(3s in all/);
    expect(text).toContain(`${id}: succeeded`);
    // One line per change: the grace line is not repeated while it counts down.
    expect(text.match(/… grace period/g)?.length).toBe(1);
  });

  it('on a TTY the progress line is rewritten in place and cleared at the end', async () => {
    await rotatedOnce({ grace: '2s' });
    let tty = '';
    const done = await waitWithProgress(await startDbRotation(env, id), { isTTY: true, write: (t: string) => (tty += t) }, 200);
    expect(done.outcome).toBe('succeeded');
    expect(tty).not.toContain('\n');
    // Each redraw starts with carriage return + erase line (ESC [2K).
    const draws = tty.split('\r\u001b[2K').filter(Boolean);
    expect(draws.some((d) => /^… grace period: waiting \d+s more for the old material's grace/.test(d))).toBe(true);
    // The countdown moves while the step stays (the line is redrawn, not appended).
    expect(draws.filter((d) => d.startsWith('… grace period')).length).toBeGreaterThan(1);
    expect(tty.endsWith('\r\x1b[2K')).toBe(true);
  });
});

describe('the HTTP API', () => {
  const token = randomBytes(24).toString('base64url'); // 32 characters, the daemon's minimum
  const http = () =>
    buildHttpServer({
      client: env.client,
      providers: registry,
      policies: env.policies,
      taskQueue: env.taskQueue,
      metrics: new RotorMetrics(),
      store: env.store,
      apiToken: token,
      ready: async () => true,
    });
  const post = (app: ReturnType<typeof http>, url: string, body: unknown, auth = token) =>
    app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });

  it('decisions: 401 without the token, 400 for an unknown decision, 409 when it does not apply, 200 when accepted', async () => {
    await rotatedOnce();
    const app = http();
    await startDbRotation(env, id);
    await untilAt('grace period');
    const url = `/v1/rotations/${id}/decisions`;
    expect((await post(app, url, { decision: 'revokeNow' }, 'wrong')).statusCode).toBe(401);
    expect((await post(app, url, { decision: 'skipEverything' })).statusCode).toBe(400);
    expect((await post(app, url, { decision: 'approve', extra: 1 })).statusCode).toBe(400);
    const refused = await post(app, url, { decision: 'approve', by: 'carol' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ accepted: false, error: expect.stringMatching(/approve applies only while a rotation waits for approval/) });
    const accepted = await post(app, url, { decision: 'revokeNow', by: 'carol', reason: 'incident INC-9' });
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json()).toMatchObject({ accepted: true, decision: 'revokeNow', step: 'grace period' });
    const done = await result();
    expect(done.outcome).toBe('succeeded');
    // The actor is the token that authenticated (`by` is still accepted, no longer trusted as the actor).
    expect((await audit(done.rotationId)).find((e) => e.event === 'rotation.decision')).toMatchObject({ actor: 'token:rotor', detail: { reason: 'incident INC-9' } });
    await app.close();
  });

  it('an emergency sent through the API into a running rotation is audited with its reason; a retired credential is refused (409)', async () => {
    await rotatedOnce();
    const app = http();
    await startDbRotation(env, id, { trigger: 'scheduled' });
    await untilAt('grace period');
    const upgrade = await post(app, '/v1/rotations', { credential: id, emergency: true, reason: 'token seen in a CI log' });
    expect(upgrade.statusCode).toBe(202);
    const done = await result();
    expect(done.outcome).toBe('succeeded');
    expect((await audit(done.rotationId)).find((e) => e.event === 'rotation.upgraded')?.detail).toMatchObject({ from: 'scheduled', reason: 'token seen in a CI log' });

    await markDecommissioned(env.store, id);
    const refused = await post(app, '/v1/rotations', { credential: id });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatch(/is retired .*nothing was started/);
    await app.close();
  });
});
