/**
 * Throughput: N PostgreSQL logins (dual) rotated through the real worker, the in-memory Temporal
 * server, real PostgreSQL and the zero-latency Vault emulator, all N started at once. A first round
 * (untimed) creates the roles and their first material; the timed round is a full rotation each:
 * create, verify, propagate, check, promote, drain check and revoke (grace `0s`).
 */
import { capturedLogs, startRotorEnv } from '../../test/harness/env.js';
import { dbPolicyYaml } from '../../test/harness/db-rotation.js';
import { startRotation } from '../../daemon/rotations.js';
import { registry } from '../../providers/registry.js';
import type { RotationResult } from '../../workflows/types.js';
import { measure, numberArg, report, round } from '../lib.js';

const n = numberArg('n', 1000);
const env = await startRotorEnv({ temporal: 'dev' });
// Rotor logs at debug into memory here: keep only the recent lines so the benchmark measures rotations.
const trim = setInterval(() => capturedLogs.splice(0, capturedLogs.length), 1000);
try {
  const ids = Array.from({ length: n }, (_, i) => `bench-${i}`);
  await env.usePolicies(ids.map((id) => dbPolicyYaml(env, id, { role: id.replace('-', '_') }).replace('after: 24h', 'after: 0s')).join('\n---\n'));
  await env.startWorker();

  const round_ = async () => {
    const handles = await Promise.all(
      ids.map(async (id) => (await startRotation(env.client, registry, env.policies.get(id)!, { taskQueue: env.taskQueue, trigger: 'scheduled' })).handle),
    );
    const results = (await Promise.all(handles.map((h) => h.result()))) as RotationResult[];
    const outcomes: Record<string, number> = {};
    for (const r of results) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
    return outcomes;
  };
  const warmup = await measure(round_);
  const timed = await measure(round_);
  report({
    scenario: 'throughput',
    credentials: n,
    warmupOutcomes: warmup.value,
    outcomes: timed.value,
    wallMs: timed.wallMs,
    cpuMs: timed.cpuMs,
    rotationsPerSecond: round((timed.value.succeeded ?? 0) / (timed.wallMs / 1000)),
    firstRoundRotationsPerSecond: round((warmup.value.succeeded ?? 0) / (warmup.wallMs / 1000)),
  });
} finally {
  clearInterval(trim);
  await env.close();
}
