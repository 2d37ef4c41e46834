/**
 * The daemon as a user runs it: policies in a directory become Temporal Schedules that fire on the
 * virtual clock, edits are reconciled (and a bad edit changes nothing), the HTTP API refuses
 * callers without the token, and emergencies are not held up by a backlog of scheduled rotations.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLogs, startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml, login, servedLogin } from '../harness/db-rotation.js';
import type { RunningDaemon } from '../../daemon/run.js';
import { startTestDaemon } from '../harness/daemon.js';
import { scheduleId } from '../../daemon/schedules.js';

let env: RotorEnv;
let daemon: RunningDaemon;
let dir: string;
const apiToken = randomBytes(24).toString('base64url');

/** Policy YAML for the daemon's directory: a dual DB login with a short grace so runs finish. */
function policy(id: string, extra: string): string {
  return dbPolicyYaml(env, id, { role: id.replace(/-/g, '_'), extra }).replace('after: 24h', 'after: 0s');
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; ; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    if (i > 100_000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  dir = await mkdtemp(join(tmpdir(), 'rotor-daemon-'));
  await writeFile(join(dir, 'billing.yaml'), policy('billing-db', 'schedule:\n  every: 30d'));
  daemon = await startTestDaemon(env, dir, { apiToken });
});

afterAll(async () => {
  await daemon?.stop();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('rotor daemon', () => {
  it('turns the policy into a schedule whose next run the server puts 30 days out, and a run of it rotates', async () => {
    const described = await env.client.schedule.getHandle(scheduleId('billing-db')).describe();
    expect(described.spec.intervals?.[0]?.every).toBe(30 * 86_400_000);
    expect(described.policies.overlap).toBe('SKIP');
    // The real scheduler computes the cadence: the next action is within one interval (plus jitter) from now.
    const next = described.info.nextActionTimes[0]!.getTime() - Date.now();
    expect(next).toBeGreaterThan(0);
    expect(next).toBeLessThanOrEqual(30 * 86_400_000 + 3_600_000);
    expect((await env.store.listRuns('billing-db')).length).toBe(0);

    // The dev server runs in real time: fire the schedule's action now, as the cadence would.
    await env.client.schedule.getHandle(scheduleId('billing-db')).trigger();
    const run = await until('the scheduled rotation', async () =>
      (await env.store.listRuns('billing-db')).find((r) => r.outcome !== 'running'),
    );
    expect(run).toMatchObject({ trigger: 'scheduled', outcome: 'succeeded' });
    expect(await login(env, await servedLogin(env, 'billing-db'))).toBe(true);
  });

  it('an edited policy changes the schedule on the next reconcile; an unchanged one writes nothing', async () => {
    await writeFile(join(dir, 'billing.yaml'), policy('billing-db', 'schedule:\n  every: 7d'));
    const edited = await daemon.reconcile();
    expect(edited.ok).toBe(true);
    expect(edited.changes.map((c) => c.kind)).toEqual(['update']);
    const described = await env.client.schedule.getHandle(scheduleId('billing-db')).describe();
    expect(described.spec.intervals?.[0]?.every).toBe(7 * 86_400_000);

    const again = await daemon.reconcile();
    expect(again.changes.map((c) => c.kind)).toEqual(['unchanged']);
    const after = await env.client.schedule.getHandle(scheduleId('billing-db')).describe();
    expect(after.info.createdAt).toEqual(described.info.createdAt);
  });

  it('a bad edit is refused whole and the schedules stay as they were', async () => {
    await writeFile(join(dir, 'broken.yaml'), 'id: broken\nowner: ""\n');
    const refused = await daemon.reconcile();
    expect(refused).toEqual({ ok: false, changes: [] });
    const ids: string[] = [];
    for await (const s of env.client.schedule.list()) ids.push(s.scheduleId);
    expect(ids).toEqual([scheduleId('billing-db')]);
    await rm(join(dir, 'broken.yaml'));
  });

  it('a removed policy deletes its schedule and retires the credential, keeping its history', async () => {
    await writeFile(join(dir, 'temp.yaml'), policy('temp-db', ''));
    expect((await daemon.reconcile()).changes.find((c) => c.scheduleId === scheduleId('temp-db'))?.kind).toBe('create');
    await rm(join(dir, 'temp.yaml'));
    expect((await daemon.reconcile()).changes.find((c) => c.scheduleId === scheduleId('temp-db'))?.kind).toBe('delete');
    expect((await env.store.getCredential('temp-db'))?.status).toBe('retired');
  });
});

describe('a watched edit', () => {
  /** The daemon's 'schedules reconciled' lines logged after `from` (an index into capturedLogs). */
  const reconciledSince = (from: number) =>
    capturedLogs
      .slice(from)
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('"schedules reconciled"'))
      .map((line) => JSON.parse(line) as { whole: boolean; changes: string[] });

  it('is reloaded and applied from the entries the watcher named: only its schedule is written', async () => {
    const from = capturedLogs.length;
    await writeFile(join(dir, 'billing.yaml'), policy('billing-db', 'schedule:\n  every: 9d'));
    const deadline = Date.now() + 20_000;
    while (!reconciledSince(from).some((l) => l.changes.length > 0)) {
      if (Date.now() > deadline) throw new Error('the watcher did not reconcile the edit within 20 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(reconciledSince(from).find((l) => l.changes.length > 0)).toMatchObject({ whole: false, changes: [`update ${scheduleId('billing-db')}`] });
    const described = await env.client.schedule.getHandle(scheduleId('billing-db')).describe();
    expect(described.spec.intervals?.[0]?.every).toBe(9 * 86_400_000);
  });
});

describe('maintenance windows', () => {
  it('a rotation due outside its window waits for the window to open', async () => {
    const opensAt = new Date((await env.temporal.now()) + 2 * 3_600_000);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    const closesAt = new Date(opensAt.getTime() + 3_600_000);
    await writeFile(join(dir, 'window.yaml'), policy('window-db', `schedule:\n  every: 30d\n  windows:\n    - start: "${hhmm(opensAt)}"\n      end: "${hhmm(closesAt)}"`));
    expect((await daemon.reconcile()).ok).toBe(true);
    await env.client.schedule.getHandle(scheduleId('window-db')).trigger();
    const launcher = await until('the launcher', async () => {
      for await (const w of env.client.workflow.list({ query: `WorkflowType = 'scheduledRotation' AND ExecutionStatus = 'Running'` })) return w;
      return undefined;
    });
    expect((await env.store.listRuns('window-db')).length).toBe(0);

    // The launcher holds a durable timer until the window opens (minute precision); the opening
    // itself is proven on virtual time in test/rotation/windows.test.ts.
    const handle = env.client.workflow.getHandle(launcher.workflowId, launcher.runId);
    const timer = await until('the window timer', async () => {
      const history = await handle.fetchHistory();
      return history.events?.find((e) => e.timerStartedEventAttributes)?.timerStartedEventAttributes ?? undefined;
    });
    const timerMs = Number(timer.startToFireTimeout?.seconds ?? 0) * 1000;
    expect(timerMs).toBeGreaterThan(2 * 3_600_000 - 2 * 60_000);
    expect(timerMs).toBeLessThanOrEqual(2 * 3_600_000);
    expect((await env.store.listRuns('window-db')).length).toBe(0);
    await handle.terminate('test: the window opening is proven on virtual time');
    await rm(join(dir, 'window.yaml'));
    await daemon.reconcile();
  });
});

describe('HTTP API', () => {
  const post = (body: unknown, token?: string) =>
    fetch(`${daemon.httpAddress}/v1/rotations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('refuses a call without the token, or with a wrong one, with 401, and starts nothing', async () => {
    const runsBefore = (await env.store.listRuns('billing-db')).length;
    expect((await post({ credential: 'billing-db', emergency: true })).status).toBe(401);
    expect((await post({ credential: 'billing-db', emergency: true }, `${apiToken}x`)).status).toBe(401);
    expect((await post({ credential: 'billing-db' }, apiToken.slice(1))).status).toBe(401);
    const running = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowId = 'rotate/billing-db' AND ExecutionStatus = 'Running'` })) running.push(w);
    expect(running).toEqual([]);
    expect((await env.store.listRuns('billing-db')).length).toBe(runsBefore);
  });

  it('refuses malformed requests with 400 and unknown credentials with 404', async () => {
    expect((await post('{not json', apiToken)).status).toBe(400);
    expect((await post({ credential: 'billing-db', extra: 1 }, apiToken)).status).toBe(400);
    expect((await post({ credential: 'billing-db', revokeFirst: true }, apiToken)).status).toBe(400);
    expect((await post({ credential: 'nope' }, apiToken)).status).toBe(404);
  });

  it('starts an emergency rotation with the right token', async () => {
    const response = await post({ credential: 'billing-db', emergency: true, reason: 'leaked in CI logs' }, apiToken);
    expect(response.status).toBe(202);
    const { workflowId, runId } = (await response.json()) as { workflowId: string; runId: string };
    const result = (await env.client.workflow.getHandle(workflowId, runId).result()) as { outcome: string };
    expect(result.outcome).toBe('succeeded');
  });

  it('serves health and Prometheus metrics without secrets', async () => {
    expect((await fetch(`${daemon.httpAddress}/healthz`)).status).toBe(200);
    expect((await fetch(`${daemon.httpAddress}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${daemon.httpAddress}/metrics`)).text();
    expect(metrics).toMatch(/rotor_rotations_total\{type="postgres-password",outcome="succeeded"\} [1-9]/);
    expect(metrics).toMatch(/rotor_last_success_timestamp_seconds\{credential="billing-db"\}/);
    expect(metrics).not.toContain((await servedLogin(env, 'billing-db')).password);
  });
});
