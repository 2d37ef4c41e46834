/**
 * Issue 14 item 1: one reconcile error must not wedge the daemon. A run that fails (Temporal away
 * for a while, a schedule Rotor owns that cannot be read back, a schedule Temporal refuses) is
 * logged with what failed and retried with backoff; the next run is independent of it; and
 * `rotor plan`/`rotor apply` can still show and remove the schedule that caused it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { temporal } from '@temporalio/proto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loopbackTemporalTarget } from '../../daemon/temporal-connection.js';
import { capturedLogs, startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml } from '../harness/db-rotation.js';
import { startTestDaemon } from '../harness/daemon.js';
import { captureOutput, cliFor } from '../harness/cli.js';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js';
import type { RunningDaemon } from '../../daemon/run.js';
import { applyScheduleChanges, desiredSchedules, planScheduleChanges, scheduleId } from '../../daemon/schedules.js';
import { parsePolicyText } from '../../config/load.js';
import { registry } from '../../providers/registry.js';

let env: RotorEnv;
let proxy: TcpProxy;
let daemon: RunningDaemon;
let daemonStopped = false;
let dir: string;

const policy = (id: string) => dbPolicyYaml(env, id, { role: id.replace(/-/g, '_'), extra: 'schedule:\n  every: 30d' });

async function scheduleExists(id: string): Promise<boolean> {
  const response = await env.client.workflowService.listSchedules({ namespace: env.temporal.namespace });
  return (response.schedules ?? []).some((s) => s.scheduleId === id);
}

async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 50_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A schedule under Rotor's prefix that the SDK cannot decode, created with the raw call as another
 * tool (or an older Rotor) could have left it: its memo has an encoding no converter knows.
 * `monthOutOfRange` also gives it a calendar month the SDK refuses to decode (13), where the
 * server accepts one; returns whether it did.
 */
async function createUndecodableSchedule(id: string, options: { monthOutOfRange?: boolean } = {}): Promise<boolean> {
  const request: temporal.api.workflowservice.v1.ICreateScheduleRequest = {
    namespace: env.temporal.namespace,
    scheduleId: id,
    requestId: randomUUID(),
    schedule: {
      spec: options.monthOutOfRange
        ? { structuredCalendar: [{ month: [{ start: 13, end: 13, step: 1 }], hour: [{ start: 3, end: 3, step: 1 }] }] }
        : { interval: [{ interval: { seconds: 3600 as unknown as Long } }] },
      action: { startWorkflow: { workflowId: `ghost/${id}`, workflowType: { name: 'scheduledRotation' }, taskQueue: { name: `${env.taskQueue}-nowhere` } } },
      state: { paused: true },
    },
    memo: { fields: { rotorPolicyHash: { metadata: { encoding: Buffer.from('binary/not-a-known-encoding') }, data: Buffer.from('?') } } },
  };
  try {
    await env.client.workflowService.createSchedule(request);
    return true;
  } catch (error) {
    if (options.monthOutOfRange) return false; // this server refuses such a spec: it can never be stored
    throw error;
  }
}

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  proxy = await startTcpProxy(env.temporal.address);
  dir = await mkdtemp(join(tmpdir(), 'rotor-reconcile-'));
  await writeFile(join(dir, 'first.yaml'), policy('first-db'));
  daemon = await startTestDaemon(env, dir, {
    apiToken: randomBytes(24).toString('base64url'),
    temporal: loopbackTemporalTarget(proxy.address, env.temporal.namespace),
    reconcileRetry: { initialMs: 200, maxMs: 1000 },
    reconcileTimeoutMs: 5000,
  });
});
afterAll(async () => {
  proxy?.restore();
  if (!daemonStopped) await daemon?.stop();
  await proxy?.close();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

describe('reconciliation that recovers', () => {
  it('a run that fails while Temporal is away is logged, retried with backoff, and poisons no later run', async () => {
    expect(await scheduleExists(scheduleId('first-db'))).toBe(true);
    proxy.cut();
    const failed = await daemon.reconcile();
    expect(failed).toMatchObject({ ok: false, changes: [] });
    expect(failed.error).toBeTruthy();
    expect(capturedLogs.join('\n')).toMatch(/"retryInMs":\d+.*reconcile failed; retrying/);

    // The file goes, a new valid policy comes, while Temporal is still away; then Temporal is back.
    await rm(join(dir, 'first.yaml'));
    await writeFile(join(dir, 'second.yaml'), policy('second-db'));
    proxy.restore();
    // No SIGHUP, no explicit reconcile: the retry does it.
    await until('the retried reconcile to create the new schedule', () => scheduleExists(scheduleId('second-db')));
    await until('the retried reconcile to delete the removed one', async () => !(await scheduleExists(scheduleId('first-db'))));
    // And an explicit run now works and finds nothing left to do.
    const next = await daemon.reconcile();
    expect(next.ok).toBe(true);
    expect(next.changes.map((c) => `${c.kind} ${c.scheduleId}`)).toEqual([`unchanged ${scheduleId('second-db')}`]);
  });

  it('a schedule Rotor owns that cannot be decoded: rotor plan shows it, rotor apply removes it', async () => {
    const cli = cliFor(env, dir);
    await createUndecodableSchedule('rotor/ghost-memo');
    const monthStored = await createUndecodableSchedule('rotor/ghost-month', { monthOutOfRange: true });
    const output = captureOutput();
    expect(await cli('plan')).toBe(0);
    expect(output.text()).toContain('- rotor/ghost-memo (delete)');
    if (monthStored) expect(output.text()).toContain('- rotor/ghost-month (delete)');
    output.clear();
    expect(await cli('apply')).toBe(0);
    expect(await scheduleExists('rotor/ghost-memo')).toBe(false);
    expect(await scheduleExists('rotor/ghost-month')).toBe(false);
    expect(await scheduleExists(scheduleId('second-db'))).toBe(true);
  });

  it('the daemon removes such a schedule too, and a policy added next gets its schedule', async () => {
    await createUndecodableSchedule('rotor/ghost-again');
    await writeFile(join(dir, 'third.yaml'), policy('third-db'));
    const run = await daemon.reconcile();
    expect(run.ok).toBe(true);
    expect(run.changes.filter((c) => c.kind !== 'unchanged').map((c) => `${c.kind} ${c.scheduleId}`)).toEqual(['delete rotor/ghost-again', `create ${scheduleId('third-db')}`]);
    expect(await scheduleExists('rotor/ghost-again')).toBe(false);
    expect(await scheduleExists(scheduleId('third-db'))).toBe(true);
  });

  it('a schedule change that is refused does not stop the others, and is named', async () => {
    // The daemon is not part of this case, and a reconcile of its own (a retry, the periodic whole
    // one) would delete the schedules made here, which no policy of its directory declares.
    await daemon.stop();
    daemonStopped = true;
    const yaml = [policy('a-refused'), policy('b-accepted')].join('\n---\n');
    const desired = desiredSchedules(parsePolicyText(yaml, 'p.yaml', registry.catalog, []), registry, env.taskQueue);
    // A spec the client refuses to send, standing for one Temporal refuses (e.g. a month out of range).
    desired[0]!.options = { ...desired[0]!.options, spec: { intervals: [{ every: 'not a duration' as never }] } };
    const changes = planScheduleChanges(desired, []);
    const { failures } = await applyScheduleChanges(env.client, changes, desired);
    expect(failures).toEqual([{ scheduleId: scheduleId('a-refused'), kind: 'create', error: expect.any(String) }]);
    // Described, not listed: the list comes from visibility, which may not show a new schedule yet.
    await expect(env.client.schedule.getHandle(scheduleId('b-accepted')).describe()).resolves.toMatchObject({ scheduleId: scheduleId('b-accepted') });
    await env.client.schedule.getHandle(scheduleId('b-accepted')).delete();
  });
});
