/**
 * Emergency latency: from starting an emergency rotation (signal-with-start on the emergency queue)
 * to its result, which comes right after the old material is revoked. Runs one after another, alone,
 * then again with a backlog of scheduled rotations queued on the normal queue (its worker stopped).
 */
import { capturedLogs, startRotorEnv } from '../../test/harness/env.js';
import { dbPolicyYaml } from '../../test/harness/db-rotation.js';
import { startRotation } from '../../daemon/rotations.js';
import { registry } from '../../providers/registry.js';
import type { RotationResult } from '../../workflows/types.js';
import { numberArg, percentile, report } from '../lib.js';

const runs = numberArg('runs', 50);
const queued = numberArg('queued', 1000);
const env = await startRotorEnv({ temporal: 'dev' });
const trim = setInterval(() => capturedLogs.splice(0, capturedLogs.length), 1000);
try {
  const id = 'leaked-db';
  const backlogIds = Array.from({ length: queued }, (_, i) => `backlog-${i}`);
  await env.usePolicies([id, ...backlogIds].map((c) => dbPolicyYaml(env, c, { role: c.replace('-', '_') })).join('\n---\n'));
  const worker = await env.startWorker();
  const rotate = async (trigger: 'manual' | 'emergency') => {
    const { handle } = await startRotation(env.client, registry, env.policies.get(id)!, { taskQueue: env.taskQueue, trigger, reason: 'bench' });
    return (await handle.result()) as RotationResult;
  };
  await rotate('manual'); // roles and first material

  const latencies = async (): Promise<{ p50: number; p99: number; max: number; failed: number }> => {
    const ms: number[] = [];
    let failed = 0;
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      const result = await rotate('emergency');
      ms.push(performance.now() - start);
      if (result.outcome !== 'succeeded' || !result.oldMaterialId) failed++;
    }
    ms.sort((a, b) => a - b);
    return { p50: percentile(ms, 50), p99: percentile(ms, 99), max: percentile(ms, 100), failed };
  };
  const alone = await latencies();

  const [normal] = worker.workers;
  normal!.shutdown();
  while (normal!.getState() !== 'STOPPED') await new Promise((resolve) => setTimeout(resolve, 10));
  const backlog = await Promise.all(
    backlogIds.map(async (c) => (await startRotation(env.client, registry, env.policies.get(c)!, { taskQueue: env.taskQueue, trigger: 'scheduled' })).handle),
  );
  const withBacklog = await latencies();
  await Promise.all(backlog.map((h) => h.terminate('bench over')));
  report({ scenario: 'emergency', runs, queued, aloneMs: alone, withBacklogMs: withBacklog });
} finally {
  clearInterval(trim);
  await env.close();
}
