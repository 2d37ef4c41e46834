/**
 * `rotor daemon`: the Temporal workers, the schedule reconciler (at start, on SIGHUP and when a
 * policy file changes) and the HTTP API, in one process. A bad policy edit is refused whole and
 * logged; what is scheduled stays as it was. `stop()` drains: readiness turns false, the workers
 * stop polling, in-flight activities get the shutdown grace to finish, then everything closes.
 */
import { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { formatProblem, PolicyLoadError } from '../config/load.js';
import type { Logger } from '../lib/logger.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { RotorStore } from '../store/index.js';
import { buildHttpServer } from './http.js';
import { registerSearchAttributes } from './history.js';
import { RotorMetrics } from './metrics.js';
import { PolicySet } from './policies.js';
import type { ScheduleChange } from './schedules.js';
import { applyPolicyDirectory } from './apply.js';
import { createRotorWorkers, DEFAULT_SHUTDOWN_GRACE_MS, type WorkerDeps } from './worker.js';
import { watchPolicyDirectory } from './policy-watcher.js';
import { connectTemporalClient, connectTemporalWorker, type TemporalTarget } from './temporal-connection.js';

export interface DaemonOptions {
  databaseUrl: string;
  /** Where and how to reach Temporal (daemon/temporal-connection.ts). */
  temporal: TemporalTarget;
  taskQueue: string;
  policyDir: string;
  http: { host: string; port: number };
  apiToken: string;
  providers: ProviderRegistry;
  logger: Logger;
  resolveSecret(ref: string): Promise<string>;
  /** GitHub secret scanning webhook secret (resolved); the endpoint is off without it. */
  githubWebhookSecret?: string;
  /** A pre-built workflow bundle (tests); otherwise bundled from source at start. */
  workflowBundle?: WorkerDeps['workflowBundle'];
  /** How long in-flight activities may finish after stop() is called (default 30 s). */
  shutdownGraceMs?: number;
}

export interface RunningDaemon {
  httpAddress: string;
  /** Re-reads the policies and reconciles schedules; `ok: false` when the files were refused (nothing changed). */
  reconcile(): Promise<{ ok: boolean; changes: ScheduleChange[] }>;
  /** Drains (see above) and closes; rejects when an activity outlived the grace and was abandoned. */
  stop(): Promise<void>;
}

export async function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  const { logger } = o;
  const policies = await PolicySet.load(o.policyDir, o.providers.catalog);
  // The daemon brings the schema up to date (advisory lock: replicas may start together).
  const store = await RotorStore.connect(o.databaseUrl, { migrate: true });
  const namespace = o.temporal.namespace;
  const connection = await connectTemporalClient(o.temporal);
  const client = new Client({ connection, namespace });
  await registerSearchAttributes(connection, namespace);
  const native = await connectTemporalWorker(o.temporal);
  const metrics = new RotorMetrics(store);

  const reconcileWith = async (): Promise<ScheduleChange[]> => {
    const directory = { policies: policies.all(), manual: policies.manual() };
    const discovery = policies.discovery();
    const changes = await applyPolicyDirectory({ client, store, providers: o.providers, taskQueue: o.taskQueue }, directory, discovery);
    const changed = changes.filter((c) => c.kind !== 'unchanged');
    logger.info(
      { policies: directory.policies.length, manual: directory.manual.length, changes: changed.map((c) => `${c.kind} ${c.scheduleId}`) },
      'schedules reconciled',
    );
    return changes;
  };
  let reconciling: Promise<{ ok: boolean; changes: ScheduleChange[] }> = Promise.resolve({ ok: true, changes: [] });
  const reconcile = () => {
    // One reconcile at a time; a request during one runs after it.
    reconciling = reconciling.then(async () => {
      try {
        await policies.reload();
      } catch (error) {
        if (!(error instanceof PolicyLoadError)) throw error;
        logger.error({ problems: error.problems.map(formatProblem) }, 'policies refused; nothing changed');
        return { ok: false, changes: [] };
      }
      return { ok: true, changes: await reconcileWith() };
    });
    return reconciling;
  };

  await reconcileWith();
  const workers: Worker[] = await createRotorWorkers({
    connection: native,
    namespace,
    taskQueue: o.taskQueue,
    store,
    policies,
    providers: o.providers,
    logger,
    resolveSecret: o.resolveSecret,
    metrics,
    policyDir: o.policyDir,
    workflowBundle: o.workflowBundle,
    shutdownGraceMs: o.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
  });
  const running = workers.map((w) => w.run());
  let draining = false;

  const http = buildHttpServer({
    client,
    providers: o.providers,
    policies,
    taskQueue: o.taskQueue,
    metrics,
    store,
    apiToken: o.apiToken,
    ...(o.githubWebhookSecret ? { githubWebhook: { store, logger, secret: o.githubWebhookSecret } } : {}),
    // Policies are loaded before the server listens (start fails otherwise); the workers must be
    // polling, the store and Temporal answering. Draining turns it false at once.
    ready: async () => {
      if (draining || workers.some((w) => w.getState() !== 'RUNNING')) return false;
      await store.query('SELECT 1');
      await client.workflowService.getSystemInfo({});
      return true;
    },
  });
  const httpAddress = await http.listen({ host: o.http.host, port: o.http.port });

  const watcher = watchPolicyDirectory(o.policyDir, () => void reconcile().catch((e: unknown) => logger.error({ error: String(e) }, 'reconcile failed')));
  await watcher.ready;
  const onHup = () => void reconcile().catch((e: unknown) => logger.error({ error: String(e) }, 'reconcile failed'));
  process.on('SIGHUP', onHup);
  logger.info({ http: httpAddress, taskQueue: o.taskQueue, policies: policies.all().length }, 'rotor daemon started');

  return {
    httpAddress,
    reconcile,
    async stop() {
      draining = true;
      process.off('SIGHUP', onHup);
      watcher.close();
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      logger.info({ graceMs: o.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS }, 'draining: polling stopped, waiting for in-flight activities');
      // The HTTP API (metrics, /readyz answering 503) stays up while the workers drain; a reconcile
      // under way finishes before the client closes.
      const [drained] = await Promise.all([Promise.allSettled(running), reconciling.catch(() => undefined)]);
      await http.close();
      await native.close();
      await connection.close();
      await store.close();
      const failed = drained.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      logger.info('rotor daemon stopped');
    },
  };
}
