/**
 * Issue 13 item 4 and issue 19 (watcher), end to end: `rotor daemon` on a policy directory mounted
 * as a Kubernetes ConfigMap. The kubelet's update (a new `..<timestamp>` generation, `..data`
 * renamed over) is picked up by the daemon's watcher without a SIGHUP: the new policy's schedule
 * appears, and a policy the new generation drops loses its schedule.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml } from '../harness/db-rotation.js';
import { startTestDaemon } from '../harness/daemon.js';
import type { RunningDaemon } from '../../daemon/run.js';
import { tempDir, writeConfigMap } from './fixtures.js';

let env: RotorEnv;
let daemon: RunningDaemon;
let dir: string;
let remove: () => Promise<void>;

async function schedules(): Promise<string[]> {
  const ids: string[] = [];
  for await (const s of env.client.schedule.list()) ids.push(s.scheduleId);
  return ids.sort();
}

/** Waits (on the condition, up to 30 s) until the schedules are `expected`. */
async function untilSchedules(expected: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last: string[] = [];
  while (Date.now() < deadline) {
    last = await schedules();
    if (JSON.stringify(last) === JSON.stringify(expected)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`schedules are ${JSON.stringify(last)}, not ${JSON.stringify(expected)}`);
}

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  ({ dir, remove } = await tempDir('rotor-configmap-daemon-'));
  await writeConfigMap(dir, '2026_01_01_00_00_00.000000001', { 'billing.yaml': dbPolicyYaml(env, 'billing-db', { role: 'billing_app' }) });
  daemon = await startTestDaemon(env, dir, { apiToken: randomBytes(24).toString('base64url') });
}, 180_000);

afterAll(async () => {
  await daemon?.stop();
  await env?.close();
  await remove?.();
});

describe('rotor daemon on a ConfigMap-mounted policy directory', () => {
  it('schedules the policies it reads through the kubelet links', async () => {
    expect(await schedules()).toEqual(['rotor/billing-db']);
  });

  it('reloads on the ..data swap alone: a new policy is scheduled, a dropped one unscheduled', async () => {
    await writeConfigMap(dir, '2026_01_02_00_00_00.000000002', {
      'billing.yaml': dbPolicyYaml(env, 'billing-db', { role: 'billing_app' }),
      'orders.yaml': dbPolicyYaml(env, 'orders-db', { role: 'orders_app' }),
    });
    // The old generation is still there (the kubelet removes it after the swap): only ..data counts.
    await untilSchedules(['rotor/billing-db', 'rotor/orders-db']);
    await rm(join(dir, '..2026_01_01_00_00_00.000000001'), { recursive: true });
    // The next generation drops billing.yaml; the kubelet removes its link after the swap.
    await writeConfigMap(dir, '2026_01_03_00_00_00.000000003', { 'orders.yaml': dbPolicyYaml(env, 'orders-db', { role: 'orders_app' }) });
    await rm(join(dir, 'billing.yaml'));
    await untilSchedules(['rotor/orders-db']);
    await rm(join(dir, '..2026_01_02_00_00_00.000000002'), { recursive: true });
  }, 90_000);
});
