/**
 * Issue 14 item 10: a step whose worker dies is retried within seconds, not when its start-to-close
 * timeout ends. Activities heartbeat and have a short heartbeat timeout, so Temporal notices the
 * silence and schedules the next attempt; `rotor status` meanwhile shows the step being retried
 * (attempt, and why the last one failed). What is asserted is what the server records — the
 * heartbeat timeout each step was scheduled with and the heartbeat-timeout failure that caused the
 * retry — not wall-clock time, so this holds on the in-memory server and on the official ones.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml, login, servedLogin, startDbRotation } from '../harness/db-rotation.js';
import { captureOutput, cliFor } from '../harness/cli.js';
import type { RotationResult } from '../../workflows/types.js';
import { ACTIVITY_HEARTBEAT_TIMEOUT } from '../../workflows/timeouts.js';
import { workerProcesses, type WorkerProcesses } from './worker-processes.js';

const { EventType, TimeoutType } = proto.temporal.api.enums.v1;
let env: RotorEnv;
let dir: string;
let workers: WorkerProcesses;

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' }); // real time: the worker it kills runs in another process, which cannot hold virtual time
  dir = await mkdtemp(join(tmpdir(), 'rotor-heartbeat-'));
  workers = await workerProcesses(env, dir);
});
afterAll(async () => {
  workers?.killAll();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Polls until the probe answers (the test's own timeout bounds it); `what` names it when it does not. */
async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; ; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    if (i % 100 === 99) process.stderr.write(`[heartbeat test] still waiting for ${what}\n`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const seconds = (d: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(d?.seconds ?? 0) + (d?.nanos ?? 0) / 1e9;

describe('a worker that dies mid-step', () => {
  // A child process, a heartbeat timeout and a new worker on a shared two-core machine: room to breathe.
  it('its step is retried after the heartbeat timeout, and rotor status shows it being retried', { timeout: 150_000 }, async () => {
    const id = 'heartbeat-db';
    const yaml = dbPolicyYaml(env, id, { role: 'heartbeat_app' }).replace('after: 24h', 'after: 0s');
    await env.usePolicies(yaml);
    const policyFile = join(dir, `${id}.yaml`);
    await writeFile(policyFile, yaml);
    const doomed = await workers.start(policyFile);

    // Vault holds the dependent write: the worker dies with it in flight.
    const dependentPath = `/v1/secret/data/apps/${id}/db`;
    env.vault.faults.add({ match: (r) => r.method === 'POST' && r.path === dependentPath, delayMs: 20_000 });
    const handle = await startDbRotation(env, id);
    await until('the dependent write to arrive', async () => (env.vault.requests.some((r) => r.method === 'POST' && r.path === dependentPath) ? true : undefined));
    await workers.kill(doomed);

    // No worker at all: Temporal itself gives the attempt up when its heartbeats stop.
    const retrying = await until('the step to be rescheduled', async () => {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      return pending.find((a) => a.activityType?.name === 'propagateToDependent' && (a.attempt ?? 1) >= 2);
    });
    expect(retrying.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(TimeoutType.TIMEOUT_TYPE_HEARTBEAT);

    const output = captureOutput();
    expect(await cliFor(env, dir)('status', id)).toBe(0);
    const text = output.text();
    vi.restoreAllMocks();
    expect(text).toMatch(/retrying: propagateToDependent: attempt [2-9]\d* \(scheduled\), last failure: heartbeat timeout/);

    const replacement = await env.startWorker();
    const result = (await handle.result()) as RotationResult;
    await replacement.stop();
    expect(result.outcome).toBe('succeeded');
    expect(await login(env, await servedLogin(env, id))).toBe(true);

    // What the server recorded: every step was scheduled with the short heartbeat timeout, and the
    // write that succeeded was a later attempt whose predecessor failed by heartbeat timeout.
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
    expect(scheduled.length).toBeGreaterThan(3);
    const limit = Number.parseInt(ACTIVITY_HEARTBEAT_TIMEOUT, 10);
    for (const e of scheduled) {
      const timeout = seconds(e.activityTaskScheduledEventAttributes?.heartbeatTimeout);
      expect(timeout, e.activityTaskScheduledEventAttributes?.activityType?.name ?? '').toBeGreaterThan(0);
      expect(timeout).toBeLessThanOrEqual(limit);
    }
    const writeId = scheduled.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'propagateToDependent')!.eventId;
    const started = events.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED && String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(writeId));
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThanOrEqual(2);
    expect(started?.activityTaskStartedEventAttributes?.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(TimeoutType.TIMEOUT_TYPE_HEARTBEAT);
  });
});
