/**
 * Two `rotor daemon` processes against one Temporal and one store, as two replicas of the chart
 * run: both start on the same policies at once and each schedule is created once; an edit seen by
 * both at the same moment (SIGHUP to both, and their file watchers) updates each schedule once;
 * a rotation asked of both runs once; and the rotations' activities are shared between them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml, login, servedLogin } from '../harness/db-rotation.js';
import { startDaemonProcess, stopDaemonProcesses, type DaemonProcess } from '../harness/daemon-process.js';
import { scheduleId } from '../../daemon/schedules.js';
import { rotationWorkflowId } from '../../daemon/rotations.js';
import type { RotationResult } from '../../workflows/types.js';
import { findLeaks, rotorOutputs, vaultSecretValues } from '../reliability/leaks.js';

const IDS = Array.from({ length: 8 }, (_, i) => `replica-${i}`);
let env: RotorEnv;
let dir: string;
let daemons: DaemonProcess[];

function policy(id: string, every: string): string {
  return dbPolicyYaml(env, id, { role: id.replace(/-/g, '_'), extra: `schedule:\n  every: ${every}` }).replace('after: 24h', 'after: 0s');
}

async function writePolicies(every: string): Promise<void> {
  for (const id of IDS) await writeFile(join(dir, `${id}.yaml`), policy(id, every));
}

/** Every schedule write one daemon reported, e.g. `update rotor/replica-3`, over all its reconciles. */
function writesOf(d: DaemonProcess): string[] {
  return d.logs('schedules reconciled').flatMap((line) => line.changes as string[]);
}

/** Every schedule write both daemons reported; with `since` (a mark()), only those made after it. */
function scheduleWrites(since?: number[]): string[] {
  return daemons.flatMap((d, i) => writesOf(d).slice(since?.[i] ?? 0));
}

/** How many writes each daemon has reported so far. Per daemon: one list of both would shift when the first reports more. */
function mark(): number[] {
  return daemons.map((d) => writesOf(d).length);
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; !(await check()); i++) {
    if (i > 3000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  dir = await mkdtemp(join(tmpdir(), 'rotor-replicas-'));
  await writePolicies('30d');
});

afterAll(async () => {
  await stopDaemonProcesses();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('two daemons, one Temporal, one store', { timeout: 300_000 }, () => {
  it('start together on the same policies: each schedule is created once, neither fails', async () => {
    daemons = await Promise.all([startDaemonProcess(env, dir), startDaemonProcess(env, dir)]);
    expect(scheduleWrites().sort()).toEqual(IDS.map((id) => `create ${scheduleId(id)}`).sort());
    for (const d of daemons) expect(d.logs('reconcile failed')).toEqual([]);
    for (const id of IDS) expect((await env.client.schedule.getHandle(scheduleId(id)).describe()).spec.intervals?.[0]?.every).toBe(30 * 86_400_000);
  });

  it('an edit both see at once updates each schedule once: no flapping writes', async () => {
    const before = mark();
    const reconciles = daemons.map((d) => d.logs('schedules reconciled').length);
    await writePolicies('7d');
    for (const d of daemons) d.child.kill('SIGHUP');
    await until('both daemons reconciled the edit', () => daemons.every((d, i) => d.logs('schedules reconciled').length > reconciles[i]!));
    for (const id of IDS) expect((await env.client.schedule.getHandle(scheduleId(id)).describe()).spec.intervals?.[0]?.every).toBe(7 * 86_400_000);
    // Once more, and their file watchers saw the edit too: whatever ran after, nothing is written again.
    const settled = daemons.map((d) => d.logs('schedules reconciled').length);
    for (const d of daemons) d.child.kill('SIGHUP');
    await until('both daemons reconciled again', () => daemons.every((d, i) => d.logs('schedules reconciled').length > settled[i]!));
    expect(scheduleWrites(before).sort()).toEqual(IDS.map((id) => `update ${scheduleId(id)}`).sort());
    for (const d of daemons) expect(d.logs('reconcile failed')).toEqual([]);
  });

  it('a rotation asked of both daemons at once runs once', async () => {
    const id = IDS[0]!;
    const ask = (d: DaemonProcess) =>
      fetch(`${d.httpAddress}/v1/rotations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${d.apiToken}` },
        body: JSON.stringify({ credential: id }),
      }).then((r) => r.status);
    expect((await Promise.all(daemons.map(ask))).sort()).toEqual([202, 409]);
    const result = (await env.client.workflow.getHandle(rotationWorkflowId(id)).result()) as RotationResult;
    expect(result.outcome).toBe('succeeded');
    const runs = await env.store.listRuns(id);
    expect(runs.map((r) => r.outcome)).toEqual(['succeeded']);
    const events = (await env.store.listAudit({ rotationId: result.rotationId })).map((e) => e.event);
    expect(events.filter((e) => e === 'material.created')).toHaveLength(1);
    expect(events.filter((e) => e === 'rotation.finished')).toHaveLength(1);
    expect(await login(env, await servedLogin(env, id))).toBe(true);
  });

  it('share the rotations: every credential rotates once, and both daemons ran activities', async () => {
    const rest = IDS.slice(1);
    const passwordsSetBefore = daemons.map((d) => d.logs('postgres password set').length);
    await Promise.all(rest.map((id) => env.client.schedule.getHandle(scheduleId(id)).trigger()));
    for (const id of rest) {
      await until(`the rotation of ${id}`, async () => (await env.store.listRuns(id)).some((r) => r.outcome !== 'running'));
      expect((await env.store.listRuns(id)).map((r) => r.outcome)).toEqual(['succeeded']);
    }
    const passwordsSet = daemons.map((d, i) => d.logs('postgres password set').length - passwordsSetBefore[i]!);
    expect(passwordsSet[0]! + passwordsSet[1]!).toBe(rest.length);

    // Who ran each activity, from Temporal's own history: both daemons' workers.
    const identities = new Set<string>();
    for (const id of rest) {
      const history = await env.client.workflow.getHandle(rotationWorkflowId(id)).fetchHistory();
      for (const e of history.events ?? []) if (e.activityTaskCompletedEventAttributes?.identity) identities.add(e.activityTaskCompletedEventAttributes.identity);
    }
    const pids = daemons.map((d) => String(d.child.pid));
    expect([...identities].map((identity) => identity.split('@')[0]).sort()).toEqual(pids.sort());
  });

  it('both drain and exit 0 on SIGTERM', async () => {
    for (const d of daemons) d.child.kill('SIGTERM');
    expect(await Promise.all(daemons.map((d) => d.exited))).toEqual([{ code: 0, signal: null }, { code: 0, signal: null }]);
  });

  it('no secret value (logins in Vault, the API tokens) appears in the output of either daemon, the histories or the store', async () => {
    const secrets = [...(await vaultSecretValues(env)), ...daemons.map((d) => d.apiToken)];
    expect(secrets.length).toBeGreaterThan(IDS.length);
    const outputs = await rotorOutputs(env, Object.fromEntries(daemons.map((d, i) => [`daemon ${i} output`, d.output()])));
    // The scan reads what the daemons really printed (a daemon may or may not have set a password itself).
    for (const i of [0, 1]) expect(outputs[`daemon ${i} output`]).toContain('schedules reconciled');
    expect(outputs['daemon 0 output']! + outputs['daemon 1 output']).toContain('postgres password set');
    expect(findLeaks(secrets, outputs)).toEqual([]);
  });
});
