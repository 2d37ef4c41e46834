/**
 * Emergency latency: from starting an emergency rotation (signal-with-start on the emergency queue)
 * to its result, which comes right after the old material is revoked. Runs one after another, alone,
 * then again with a backlog of scheduled rotations queued on the normal queue (its worker stopped),
 * once the server has queued them all.
 */
import proto from '@temporalio/proto';
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
    const result = (await handle.result()) as RotationResult;
    const events = (await handle.fetchHistory()).events ?? [];
    return { result, taskTimeouts: events.filter((e) => e.workflowTaskTimedOutEventAttributes).length };
  };
  await rotate('manual'); // roles and first material

  /** `workflowTaskTimeouts`: runs whose history shows a workflow task the worker never completed (each costs the 10 s task timeout). */
  const latencies = async (): Promise<{ p50: number; p99: number; max: number; failed: number; workflowTaskTimeouts: number }> => {
    const ms: number[] = [];
    let failed = 0;
    let workflowTaskTimeouts = 0;
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      const { result, taskTimeouts } = await rotate('emergency');
      ms.push(performance.now() - start);
      if (result.outcome !== 'succeeded' || !result.oldMaterialId) failed++;
      if (taskTimeouts > 0) workflowTaskTimeouts++;
    }
    ms.sort((a, b) => a - b);
    return { p50: percentile(ms, 50), p99: percentile(ms, 99), max: percentile(ms, 100), failed, workflowTaskTimeouts };
  };
  const alone = await latencies();

  /** Workflow tasks waiting on the normal task queue, as the server counts them. */
  const backlogCount = async (): Promise<number> => {
    const { stats } = await env.client.workflowService.describeTaskQueue({
      namespace: env.temporal.namespace,
      taskQueue: { name: env.taskQueue },
      taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      reportStats: true,
    });
    return Number(stats?.approximateBacklogCount ?? 0);
  };

  const [normal] = worker.workers;
  normal!.shutdown();
  while (normal!.getState() !== 'STOPPED') await new Promise((resolve) => setTimeout(resolve, 10));
  const queuing = performance.now();
  await Promise.all(backlogIds.map((c) => startRotation(env.client, registry, env.policies.get(c)!, { taskQueue: env.taskQueue, trigger: 'scheduled' })));
  // Queued means in the task queue: wait until the server has put every start's first workflow task
  // there (absorbing 10,000 starts takes the dev server's one shard a while, and is not the backlog).
  while ((await backlogCount()) < queued) await new Promise((resolve) => setTimeout(resolve, 200));
  const backlogQueuedMs = Math.round(performance.now() - queuing);
  const withBacklog = await latencies();
  // The server stops with the env: the backlog is not terminated one by one.
  report({ scenario: 'emergency', runs, queued, backlogQueuedMs, aloneMs: alone, withBacklogMs: withBacklog });
} finally {
  clearInterval(trim);
  await env.close();
}
