import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { createDecommissionActivities } from '../activities/decommission.js';
import { createDiscoveryActivities } from '../activities/discovery.js';
import { createReminderActivities } from '../activities/reminders.js';
import { loadDiscoveryConfig } from '../config/discovery-load.js';
import type { Logger } from '../lib/logger.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { RotorStore } from '../store/index.js';
import type { PolicySet } from './policies.js';
import { emergencyTaskQueue } from './rotations.js';
import type { RotorMetrics } from './metrics.js';
import * as workflowExports from '../workflows/index.js';

/**
 * The workflow entry file the Temporal bundler compiles: the TypeScript in a checkout (it bundles with
 * swc), the compiled JavaScript in the image (bin/rotor.js), whichever this module itself is.
 */
export const workflowsPath = fileURLToPath(new URL(`../workflows/index${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/**
 * Writes the workflow bundle to `path` (`rotor bundle-workflows`), for ROTOR_WORKFLOW_BUNDLE: an
 * image built with it starts faster and needs no compiler at run time (bundling at start loads
 * swc, whose native addon wants a private writable cache, which a read-only pod does not have).
 */
export async function writeWorkflowBundle(path: string): Promise<number> {
  const { code } = await bundleWorkflowCode({ workflowsPath });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, code);
  return code.length;
}

export interface WorkerDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  store: RotorStore;
  policies: PolicySet;
  providers: ProviderRegistry;
  logger: Logger;
  resolveSecret(ref: string): Promise<string>;
  metrics?: RotorMetrics;
  /** The policy directory, for `kind: discovery` documents (discovery targets beyond the policies). */
  policyDir?: string;
  /** A pre-built bundle (tests build one per file to save time); otherwise bundled from source. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Extra worker interceptors (tests hold virtual time still while an activity runs). */
  interceptors?: WorkerOptions['interceptors'];
  /**
   * How long in-flight activities may run on after shutdown is asked for (the daemon and `rotor
   * worker` pass DEFAULT_SHUTDOWN_GRACE_MS unless told otherwise). Unset: the SDK's behaviour, which
   * cancels them at once and waits for them without limit (in-process test workers).
   */
  shutdownGraceMs?: number;
  /** How many rotation runs the main task queue's worker keeps in memory (ROTOR_WORKFLOW_CACHE_SIZE); unset: DEFAULT_WORKFLOW_CACHE_SIZE. */
  workflowCacheSize?: number;
}

/**
 * Every registered credential type names a rotation workflow the bundle exports: found at start-up,
 * not when its first rotation is started.
 */
export function checkWorkflowNames(providers: ProviderRegistry): void {
  const exported = workflowExports as Record<string, unknown>;
  const missing = providers.workflows().filter((name) => typeof exported[name] !== 'function');
  if (missing.length > 0) {
    const known = Object.keys(exported).filter((k) => k.startsWith('rotate')).sort().join(', ');
    throw new Error(`credential types name workflows the worker does not have: ${missing.join(', ')} (known: ${known})`);
  }
}

/** In-flight activities get this long to finish on SIGTERM before they are cancelled (and retried elsewhere). */
export const DEFAULT_SHUTDOWN_GRACE_MS = 30_000;

/**
 * Runs kept in the worker's cache, so that each workflow task continues a run in memory instead of
 * replaying its whole history. The SDK's default follows the heap limit and assumes about 1.7 MB a
 * run: about 190 runs in a pod limited to 1 GiB, which halved throughput with 1,000 rotations in
 * flight. A Rotor run holds far less: 1,000 fit a 384 MB heap (README, Reliability and benchmarks).
 */
export const DEFAULT_WORKFLOW_CACHE_SIZE = 1000;
/** Emergency rotations are few at a time: their worker keeps a small cache. */
const EMERGENCY_WORKFLOW_CACHE_SIZE = 100;
/** After the grace, cancelled activities get this long to stop before the worker gives up on them. */
const SHUTDOWN_FORCE_MARGIN_MS = 10_000;

/**
 * Temporal workers running the rotation workflows and their activities: one on the task queue,
 * one on its emergency queue, so emergencies never wait behind a backlog of scheduled rotations.
 */
export async function createRotorWorkers(deps: WorkerDeps): Promise<Worker[]> {
  checkWorkflowNames(deps.providers);
  const activities = {
    ...createActivities({
      store: deps.store,
      policy: (id) => deps.policies.get(id),
      providers: deps.providers,
      logger: deps.logger,
      resolveSecret: deps.resolveSecret,
      metrics: deps.metrics,
    }),
    ...createDiscoveryActivities({
      store: deps.store,
      policies: () => deps.policies.all(),
      discoveryTargets: async () => (deps.policyDir ? ((await loadDiscoveryConfig(deps.policyDir, deps.providers.catalog))?.targets ?? []) : []),
      providers: deps.providers,
      logger: deps.logger,
      resolveSecret: deps.resolveSecret,
    }),
    ...createReminderActivities({ store: deps.store, logger: deps.logger, resolveSecret: deps.resolveSecret }),
    ...createDecommissionActivities({ store: deps.store, policy: (id) => deps.policies.get(id), providers: deps.providers, logger: deps.logger, resolveSecret: deps.resolveSecret }),
  };
  const workflows = deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath };
  // On shutdown a worker stops polling at once; running activities may finish within the grace.
  const graceMs = deps.shutdownGraceMs;
  const shutdown = graceMs === undefined ? {} : { shutdownGraceTime: graceMs, shutdownForceTime: graceMs + SHUTDOWN_FORCE_MARGIN_MS };
  return Promise.all(
    [deps.taskQueue, emergencyTaskQueue(deps.taskQueue)].map((taskQueue) =>
      Worker.create({ connection: deps.connection, namespace: deps.namespace, taskQueue, activities, ...workflows, ...shutdown, interceptors: deps.interceptors, maxCachedWorkflows: taskQueue === deps.taskQueue ? (deps.workflowCacheSize ?? DEFAULT_WORKFLOW_CACHE_SIZE) : EMERGENCY_WORKFLOW_CACHE_SIZE }),
    ),
  );
}
