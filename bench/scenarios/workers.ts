/**
 * Throughput with one and with two worker processes (`rotor worker` as the image runs it: its
 * compiled JavaScript, production dependencies and prebuilt workflow bundle, assembled by
 * test/harness/image-content.ts) on one task queue: N PostgreSQL logins (dual) rotated at once through
 * the official Temporal dev server, real PostgreSQL and the Vault emulator, which stay in this process.
 * Each round is untimed once (roles and first material), then timed: a full rotation each.
 * Also reports how the activities split between the processes, and each worker process's peak RSS.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capturedLogs, startRotorEnv } from '../../test/harness/env.js';
import { assembleImageContent, imageEnv } from '../../test/harness/image-content.js';
import { chartMemoryLimit } from '../../test/harness/chart.js';
import { podMemory } from '../pod-memory.js';
import { dbPolicyYaml } from '../../test/harness/db-rotation.js';
import { startRotation } from '../../daemon/rotations.js';
import { registry } from '../../providers/registry.js';
import type { RotationResult } from '../../workflows/types.js';
import { measure, numberArg, report, round } from '../lib.js';

const n = numberArg('n', 200);
const env = await startRotorEnv({ temporal: 'dev' });
const trim = setInterval(() => capturedLogs.splice(0, capturedLogs.length), 1000);
const dir = await mkdtemp(join(tmpdir(), 'rotor-bench-workers-'));
const image = await assembleImageContent(dir);
const policies = join(dir, 'policies');
await mkdir(policies);
const children: ChildProcess[] = [];
// Each worker process runs under the memory limit of the Helm chart's pod, so Node sizes its heap as there.
const limit = chartMemoryLimit();
const pod = await podMemory(limit.bytes, limit.text);

interface WorkerProcess {
  child: ChildProcess;
  /** Logins whose new password this process set (one per rotation it created material for). */
  passwordsSet(): number;
}

/** `rotor worker` on `taskQueue`; resolves once it polls. */
async function startWorker(taskQueue: string, bundle: string): Promise<WorkerProcess> {
  const child = await pod.spawn(process.execPath, [join(image.app, 'bin/rotor.js'), 'worker'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      PATH: process.env.PATH,
      ...imageEnv,
      TEMPORAL_ADDRESS: env.temporal.address,
      TEMPORAL_NAMESPACE: env.temporal.namespace,
      ROTOR_TASK_QUEUE: taskQueue,
      ROTOR_DATABASE_URL: env.postgres.url,
      ROTOR_POLICIES: policies,
      ROTOR_WORKFLOW_BUNDLE: bundle,
      ROTOR_LOG_LEVEL: 'info',
      // To compare cache sizes: `ROTOR_WORKFLOW_CACHE_SIZE=190 npm run bench -- --only workers`.
      ROTOR_WORKFLOW_CACHE_SIZE: process.env.ROTOR_WORKFLOW_CACHE_SIZE,
      ...env.env,
    } as NodeJS.ProcessEnv,
  });
  children.push(child);
  let passwords = 0;
  let pending = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      pending += String(chunk);
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.includes('"msg":"postgres password set"')) passwords++;
        if (line.includes('"msg":"worker started"')) resolve({ child, passwordsSet: () => passwords });
      }
    });
    child.once('exit', (code) => reject(new Error(`rotor worker exited (${code}) before it was ready`)));
  });
}

/** The process's own peak resident set (Linux VmHWM), in MB: the worker alone, without this bench's emulator and client. */
async function peakRssMbOf(worker: WorkerProcess): Promise<number | null> {
  const status = await readFile(`/proc/${worker.child.pid}/status`, 'utf8').catch(() => '');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  return kb ? round(Number(kb) / 1024) : null;
}

/** The heap limit Node gives a process where the workers run (V8's heap_size_limit), in MB. */
async function heapLimitMb(): Promise<number> {
  const child = await pod.spawn(process.execPath, ['-p', 'v8.getHeapStatistics().heap_size_limit'], { stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH, ...imageEnv } });
  let out = '';
  child.stdout!.on('data', (chunk) => (out += String(chunk)));
  await new Promise((resolve) => child.once('exit', resolve));
  return round(Number(out) / 2 ** 20);
}

async function stop(worker: WorkerProcess): Promise<void> {
  const exited = new Promise((resolve) => worker.child.once('exit', resolve));
  worker.child.kill('SIGTERM');
  await exited;
}

try {
  const ids = Array.from({ length: n }, (_, i) => `bench-${i}`);
  const documents = ids.map((id) => dbPolicyYaml(env, id, { role: id.replace('-', '_') }).replace('after: 24h', 'after: 0s'));
  // 100 policies a file: a policy file is limited to 256 KiB.
  for (let i = 0; i < documents.length; i += 100) await writeFile(join(policies, `bench-${i / 100}.yaml`), documents.slice(i, i + 100).join('\n---\n'));
  await env.usePolicies(documents.join('\n---\n'));
  const bundle = image.bundle!;

  const rounds: Array<Record<string, unknown>> = [];
  // `--processes K`: only the round with K processes (the memory of one worker at a large n takes long enough).
  const only = process.argv.includes('--processes') ? [numberArg('processes', 1)] : [1, 2];
  for (const processes of only) {
    const taskQueue = `${env.taskQueue}-${processes}`;
    const workers = await Promise.all(Array.from({ length: processes }, () => startWorker(taskQueue, bundle)));
    const rotateAll = async () => {
      const handles = await Promise.all(
        ids.map(async (id) => (await startRotation(env.client, registry, env.policies.get(id)!, { taskQueue, trigger: 'scheduled' })).handle),
      );
      const results = (await Promise.all(handles.map((h) => h.result()))) as RotationResult[];
      const outcomes: Record<string, number> = {};
      for (const r of results) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
      return outcomes;
    };
    await rotateAll();
    const before = workers.map((w) => w.passwordsSet());
    const timed = await measure(rotateAll);
    rounds.push({
      processes,
      outcomes: timed.value,
      wallMs: timed.wallMs,
      rotationsPerSecond: round((timed.value.succeeded ?? 0) / (timed.wallMs / 1000)),
      rotationsCreatedPerProcess: workers.map((w, i) => w.passwordsSet() - before[i]!),
      workerPeakRssMb: await Promise.all(workers.map(peakRssMbOf)),
    });
    await Promise.all(workers.map(stop));
  }
  report({ scenario: 'workers', credentials: n, memoryLimit: pod.describe, workerHeapLimitMb: await heapLimitMb(), rounds });
} finally {
  clearInterval(trim);
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await env.close();
  await pod.remove();
  await rm(dir, { recursive: true, force: true });
}
