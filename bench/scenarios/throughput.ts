/**
 * Throughput: N PostgreSQL logins (dual) rotated through the real worker, the official Temporal dev
 * server, real PostgreSQL and the zero-latency Vault emulator, all N started at once. A first round
 * (untimed) creates the roles and their first material; the timed round is a full rotation each:
 * create, verify, propagate, check, promote, drain check and revoke (grace `0s`).
 *
 * Then the floor, in the same run: N workflows of as many activities as one rotation ran, each
 * doing only the least its step needs (bench/floor/): the SDK's and the server's cost for that many
 * steps plus the minimal provider and store calls. CPU is this process's (worker, client, Vault
 * emulator); PostgreSQL and the Temporal server are other processes, the same for both rounds.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import vault from 'node-vault';
import pg from 'pg';
import { capturedLogs, startRotorEnv } from '../../test/harness/env.js';
import { dbPolicyYaml } from '../../test/harness/db-rotation.js';
import { startRotation } from '../../daemon/rotations.js';
import { registry } from '../../providers/registry.js';
import type { RotationResult } from '../../workflows/types.js';
import { floorActivities } from '../floor/activities.js';
import { measure, numberArg, report, round } from '../lib.js';

const n = numberArg('n', 1000);
const env = await startRotorEnv({ temporal: 'dev' });
// Rotor logs at debug into memory here: keep only the recent lines so the benchmark measures rotations.
const trim = setInterval(() => capturedLogs.splice(0, capturedLogs.length), 1000);
// What holds memory: sampled through the timed round.
let peakHeapMb = 0;
let peakRssMb = 0;
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  peakHeapMb = Math.max(peakHeapMb, m.heapUsed / 2 ** 20);
  peakRssMb = Math.max(peakRssMb, m.rss / 2 ** 20);
}, 250);
try {
  const ids = Array.from({ length: n }, (_, i) => `bench-${i}`);
  await env.usePolicies(ids.map((id) => dbPolicyYaml(env, id, { role: id.replace('-', '_') }).replace('after: 24h', 'after: 0s')).join('\n---\n'));
  const worker = await env.startWorker();

  const round_ = async () => {
    const handles = await Promise.all(
      ids.map(async (id) => (await startRotation(env.client, registry, env.policies.get(id)!, { taskQueue: env.taskQueue, trigger: 'scheduled' })).handle),
    );
    const outcomes: Record<string, number> = {};
    // Results are counted as they come, not kept: the bench holds no N results at once.
    await Promise.all(handles.map(async (h) => {
      const r = (await h.result()) as RotationResult;
      outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
    }));
    return { outcomes, last: handles.at(-1)! };
  };
  const warmup = await measure(round_);
  const timed = await measure(round_);
  const rotationHeapMb = peakHeapMb;
  const rotationRssMb = peakRssMb;

  // The steps one rotation ran, from its history: the floor runs as many.
  const history = await timed.value.last.fetchHistory();
  const steps = (history.events ?? [])
    .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
    .filter((name): name is string => !!name)
    .map((name) => (/create/i.test(name) ? 'create' : /verify/i.test(name) ? 'verify' : /propagate/i.test(name) ? 'propagate' : /promote/i.test(name) ? 'promote' : 'other'));
  await worker.stop();

  const { postgres } = env;
  const login = { host: postgres.host, port: postgres.port, database: postgres.database };
  const admin = new pg.Pool({ ...login, user: postgres.adminUser, password: postgres.adminPassword, max: 4 });
  const storePool = new pg.Pool({ ...login, user: postgres.adminUser, password: postgres.adminPassword, max: 5 });
  await storePool.query('CREATE TABLE IF NOT EXISTS floor_steps (id text, step text, at timestamptz DEFAULT now())');
  for (const id of ids) await admin.query(`CREATE ROLE ${pg.escapeIdentifier(`floor_${id.replace(/-/g, '_')}`)} LOGIN PASSWORD 'floor-password'`);
  const vaultClient = vault({ endpoint: env.vault.address, token: env.vault.token, noCustomHTTPVerbs: true });
  const native = await NativeConnection.connect({ address: env.temporal.address });
  const floorWorker = await Worker.create({
    connection: native,
    namespace: env.temporal.namespace,
    taskQueue: 'bench-floor',
    workflowsPath: fileURLToPath(new URL('../floor/workflow.ts', import.meta.url)),
    activities: floorActivities({ store: storePool, admin, login, vault: vaultClient }),
  });
  const floorRunning = floorWorker.run();
  const floorRound = () => measure(async () => {
    const handles = await Promise.all(ids.map((id, i) => env.client.workflow.start('floorRotation', { taskQueue: 'bench-floor', workflowId: `floor-${i}-${Date.now()}`, args: [id, steps] })));
    await Promise.all(handles.map((h) => h.result()));
  });
  await floorRound(); // warm-up, like the rotations' first round
  const floor = await floorRound();
  floorWorker.shutdown();
  await floorRunning;
  await native.close();
  await Promise.all([admin.end(), storePool.end()]);

  const cpuPerRotation = timed.cpuMs / n;
  const floorCpuPerRotation = floor.cpuMs / n;
  report({
    scenario: 'throughput',
    credentials: n,
    warmupOutcomes: warmup.value.outcomes,
    outcomes: timed.value.outcomes,
    wallMs: timed.wallMs,
    cpuMs: timed.cpuMs,
    rotationsPerSecond: round((timed.value.outcomes.succeeded ?? 0) / (timed.wallMs / 1000)),
    firstRoundRotationsPerSecond: round((warmup.value.outcomes.succeeded ?? 0) / (warmup.wallMs / 1000)),
    activitiesPerRotation: steps.length,
    cpuMsPerRotation: round(cpuPerRotation),
    floorCpuMsPerRotation: round(floorCpuPerRotation),
    cpuToFloor: round(cpuPerRotation / floorCpuPerRotation, 2),
    rotorOwnCpuMsPerRotation: round(cpuPerRotation - floorCpuPerRotation),
    floorRotationsPerSecond: round(n / (floor.wallMs / 1000)),
    peakHeapMbDuringRotations: round(rotationHeapMb),
    // The whole process (worker, client, Vault emulator) before the floor's worker is built.
    peakRssMbDuringRotations: round(rotationRssMb),
  });
} finally {
  clearInterval(trim);
  clearInterval(sampler);
  await env.close();
}
