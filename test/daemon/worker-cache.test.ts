/**
 * The worker's workflow cache is Rotor's setting, not the SDK's heap-derived default: the SDK
 * assumes about 1.7 MB a run and, in a pod limited to 1 GiB, kept about 190 runs, so 1,000
 * rotations in flight replayed their histories and ran at half the rate (README, Reliability and
 * benchmarks). ROTOR_WORKFLOW_CACHE_SIZE sets it; a value that is not a count is refused at start.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_WORKFLOW_CACHE_SIZE } from '../../daemon/worker.js';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { startDaemonProcess, stopDaemonProcesses } from '../harness/daemon-process.js';

let env: RotorEnv;
let dir: string;

beforeAll(async () => {
  env = await startRotorEnv();
  dir = await mkdtemp(join(tmpdir(), 'rotor-cache-'));
}, 180_000);

afterAll(async () => {
  await stopDaemonProcesses();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the workflow cache', () => {
  it('keeps 1,000 runs on the main task queue and 100 on the emergency one, whatever the heap', async () => {
    const worker = await env.startWorker();
    try {
      expect(DEFAULT_WORKFLOW_CACHE_SIZE).toBe(1000);
      expect(worker.workers.map((w) => w.options.taskQueue)).toEqual([env.taskQueue, `${env.taskQueue}-emergency`]);
      expect(worker.workers.map((w) => w.options.maxCachedWorkflows)).toEqual([1000, 100]);
    } finally {
      await worker.stop();
    }
  });

  it('keeps as many runs as ROTOR_WORKFLOW_CACHE_SIZE says', async () => {
    const worker = await env.startWorker({ workflowCacheSize: 7 });
    try {
      expect(worker.workers.map((w) => w.options.maxCachedWorkflows)).toEqual([7, 100]);
    } finally {
      await worker.stop();
    }
  });

  it.each(['0', '1', 'lots', '2.5', '100001', ' 50'])('refuses ROTOR_WORKFLOW_CACHE_SIZE=%j before starting anything', async (value) => {
    await expect(startDaemonProcess(env, dir, { ROTOR_WORKFLOW_CACHE_SIZE: value })).rejects.toThrow(
      /ROTOR_WORKFLOW_CACHE_SIZE must be a whole number from 2 to 100000, got "/,
    );
  });
});
