/**
 * `rotor daemon`: the Temporal workers, the schedule reconciler (at start, on SIGHUP and when a
 * policy file changes) and the HTTP API, in one process. A bad policy edit is refused whole and
 * logged; what is scheduled stays as it was. `stop()` drains: readiness turns false, the workers
 * stop polling, in-flight activities get the shutdown grace to finish, then everything closes.
 */
import { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { formatProblem, PolicyLoadError, type ChangedEntry } from '../config/load.js';
import type { Logger } from '../lib/logger.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { RotorStore } from '../store/index.js';
import { allowedOwners } from '../audit/owners.js';
import { settingsFromEnv } from './settings.js';
import { ApiTokenTooShort, buildHttpServer, MIN_API_TOKEN_LENGTH, type HttpDeps, type HttpLimits } from './http.js';
import { retryPendingLeaks, type WebhookDeps } from './github-webhook.js';
import { registerSearchAttributes } from './history.js';
import { RotorMetrics } from './metrics.js';
import { PolicySet, type PolicySetChange } from './policies.js';
import { ScheduleApplyError, type ScheduleChange } from './schedules.js';
import { applyPolicyChanges, applyPolicyDirectory } from './apply.js';
import { createRotorWorkers, DEFAULT_SHUTDOWN_GRACE_MS, type WorkerDeps } from './worker.js';
import { watchPolicyDirectory } from './policy-watcher.js';
import { closeProviderConnections } from '../providers/connection-pools.js';
import { connectTemporalClient, connectTemporalWorker, type TemporalTarget } from './temporal-connection.js';

export interface DaemonOptions {
  databaseUrl: string;
  /** Where and how to reach Temporal (daemon/temporal-connection.ts). */
  temporal: TemporalTarget;
  taskQueue: string;
  policyDir: string;
  http: { host: string; port: number };
  apiToken: string;
  /** The Temporal UI's base URL, for the console's links to runs (default: ROTOR_TEMPORAL_UI_URL). */
  temporalUiUrl?: string;
  /** Named tokens, roles, OIDC login (daemon/auth/config.ts authFromEnv). */
  auth?: HttpDeps['auth'];
  providers: ProviderRegistry;
  logger: Logger;
  resolveSecret(ref: string): Promise<string>;
  /** GitHub secret scanning webhook secret (resolved); the endpoint is off without it. */
  githubWebhookSecret?: string;
  /** How often leaks whose emergency could not be started yet are tried again (default 10 s). */
  leakRetryEveryMs?: number;
  httpLimits?: Partial<HttpLimits>;
  /** Backoff of a failed reconcile's retries (default 1 s doubling to 5 min). */
  reconcileRetry?: { initialMs: number; maxMs: number };
  /** How long one reconcile may wait on Temporal (default 2 min). */
  reconcileTimeoutMs?: number;
  /** How often the whole directory is reconciled, whatever the watcher saw (default 15 min). */
  fullReconcileEveryMs?: number;
  /** A pre-built workflow bundle (tests); otherwise bundled from source at start. */
  workflowBundle?: WorkerDeps['workflowBundle'];
  /** How long in-flight activities may finish after stop() is called (default 30 s). */
  shutdownGraceMs?: number;
  /** Runs the main task queue's worker keeps in memory; unset: DEFAULT_WORKFLOW_CACHE_SIZE. */
  workflowCacheSize?: number;
}

export interface ReconcileOutcome {
  ok: boolean;
  changes: ScheduleChange[];
  error?: string;
}

export interface RunningDaemon {
  httpAddress: string;
  /**
   * Re-reads the policies and reconciles schedules; `ok: false` when the files were refused
   * (nothing changed) or the run failed (`error` says why; it is retried with backoff). Never throws.
   */
  reconcile(): Promise<ReconcileOutcome>;
  /** Drains (stops polling, lets in-flight activities finish within the grace) and closes; rejects when an activity outlived the grace. */
  stop(): Promise<void>;
}

export async function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  const { logger } = o;
  // Refused before anything starts; the message names the setting and the length, never the token.
  if (o.apiToken.length < MIN_API_TOKEN_LENGTH) throw new ApiTokenTooShort(o.apiToken.length);
  const policies = await PolicySet.load(o.policyDir, o.providers.catalog);
  // The daemon brings the schema up to date (advisory lock: replicas may start together).
  const store = await RotorStore.connect(o.databaseUrl, { migrate: true });
  const namespace = o.temporal.namespace;
  const connection = await connectTemporalClient(o.temporal);
  const client = new Client({ connection, namespace });
  await registerSearchAttributes(connection, namespace);
  const native = await connectTemporalWorker(o.temporal);
  const metrics = new RotorMetrics(store);

  /**
   * Reconciles the set in force: in whole (every schedule listed, every row upserted) or, given what
   * the last reload changed in a set that was applied, only that (applyPolicyChanges).
   */
  const reconcileWith = async (change: PolicySetChange | undefined): Promise<ScheduleChange[]> => {
    const target = { client, store, providers: o.providers, taskQueue: o.taskQueue };
    const changes = change
      ? await applyPolicyChanges(target, change, policies)
      : await applyPolicyDirectory(target, { policies: policies.all(), manual: policies.manual() }, policies.discovery());
    const changed = changes.filter((c) => c.kind !== 'unchanged');
    logger.info(
      { policies: policies.size, manual: policies.manual().length, changes: changed.map((c) => `${c.kind} ${c.scheduleId}`), whole: !change },
      'schedules reconciled',
    );
    return changes;
  };
  // One reconcile at a time, each independent of the last: a run that fails is logged with what
  // failed and tried again with backoff, and never decides the outcome of a later run.
  let queue: Promise<unknown> = Promise.resolve();
  let failedRuns = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  // Whether the set in force was applied without failure. A watched edit is then reloaded and
  // applied entry by entry; otherwise (at start, after a failed run) everything is, since what
  // Temporal and the store hold is not known.
  let applied = false;
  const retry = o.reconcileRetry ?? { initialMs: 1000, maxMs: 5 * 60_000 };
  const reconcileTimeoutMs = o.reconcileTimeoutMs ?? 2 * 60_000;
  // `watched`: what the watcher saw, the entries it named or 'unnamed'; undefined for a whole reconcile.
  const reconcileOnce = async (watched?: ChangedEntry[] | 'unnamed'): Promise<ReconcileOutcome> => {
    clearTimeout(retryTimer);
    let change: PolicySetChange | undefined;
    try {
      if (watched && applied) change = await policies.reloadEntries(watched === 'unnamed' ? undefined : watched);
      else await policies.reload();
    } catch (error) {
      if (!(error instanceof PolicyLoadError)) return failed(error);
      logger.error({ problems: error.problems.map(formatProblem) }, 'policies refused; nothing changed');
      return { ok: false, changes: [] };
    }
    try {
      // A Temporal that hangs must not hold every later reconcile behind this one.
      const changes = await connection.withDeadline(Date.now() + reconcileTimeoutMs, () => reconcileWith(change));
      applied = true;
      failedRuns = 0;
      return { ok: true, changes };
    } catch (error) {
      applied = false;
      return failed(error);
    }
  };
  const failed = (error: unknown): ReconcileOutcome => {
    const message = error instanceof Error ? error.message : String(error);
    const delayMs = Math.min(retry.maxMs, retry.initialMs * 2 ** failedRuns++);
    logger.error(
      { error: message, failed: error instanceof ScheduleApplyError ? error.failures.map((f) => `${f.kind} ${f.scheduleId}: ${f.error}`) : undefined, retryInMs: delayMs },
      'reconcile failed; retrying',
    );
    if (!stopped) retryTimer = setTimeout(() => void reconcile(), delayMs);
    return { ok: false, changes: [], error: message };
  };
  const reconcile = (watched?: ChangedEntry[] | 'unnamed'): Promise<ReconcileOutcome> => {
    const run = queue.then(() => reconcileOnce(watched));
    queue = run.catch(() => undefined);
    return run;
  };

  await reconcile();
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
    workflowCacheSize: o.workflowCacheSize,
  });
  const running = workers.map((w) => w.run());
  let draining = false;

  const webhook: WebhookDeps | undefined = o.githubWebhookSecret
    ? { client, providers: o.providers, policies, taskQueue: o.taskQueue, store, logger, secret: o.githubWebhookSecret }
    : undefined;
  const http = buildHttpServer({
    client,
    providers: o.providers,
    policies,
    taskQueue: o.taskQueue,
    metrics,
    store,
    apiToken: o.apiToken,
    auth: { ...o.auth, logger },
    // The web console under /ui (console/): login, roles and actions are the auth settings above.
    console: { namespace, temporalUiUrl: o.temporalUiUrl ?? settingsFromEnv().temporalUiUrl, allowedOwners: () => allowedOwners() },
    limits: o.httpLimits,
    ...(webhook ? { githubWebhook: webhook } : {}),
    // Policies are loaded before the server listens; the workers must be polling, the store and
    // Temporal answering. Draining turns it false at once.
    ready: async () => {
      if (draining || workers.some((w) => w.getState() !== 'RUNNING')) return false;
      await store.ping();
      await client.workflowService.getSystemInfo({});
      return true;
    },
  });
  const httpAddress = await http.listen({ host: o.http.host, port: o.http.port });

  // Entries the watcher could not name are reloaded by a walk of the whole directory.
  const watcher = watchPolicyDirectory(o.policyDir, (changed) => void reconcile(changed ?? 'unnamed'));
  await watcher.ready;
  // SIGHUP asks to look at everything again: a whole reconcile, like the start.
  const onHup = () => void reconcile();
  // The safety net of the watched reconciles, which trust the events and the set last applied: a
  // change the watcher missed (the kernel drops events when its queue overflows), drift in Temporal.
  const fullTimer = setInterval(() => void reconcile(), o.fullReconcileEveryMs ?? 15 * 60_000);
  // A leak whose emergency Temporal could not take (it was down) is tried again until it starts.
  let leakRetry: Promise<unknown> | undefined;
  const leakTimer = webhook
    ? setInterval(() => {
        leakRetry ??= retryPendingLeaks(webhook)
          .catch((error: unknown) => logger.error({ error: error instanceof Error ? error.message : String(error) }, 'retrying pending leaks failed'))
          .finally(() => (leakRetry = undefined));
      }, o.leakRetryEveryMs ?? 10_000)
    : undefined;
  process.on('SIGHUP', onHup);
  logger.info({ http: httpAddress, taskQueue: o.taskQueue, policies: policies.size }, 'rotor daemon started');

  return {
    httpAddress,
    reconcile: () => reconcile(),
    async stop() {
      draining = true;
      stopped = true;
      process.off('SIGHUP', onHup);
      watcher.close();
      clearTimeout(retryTimer);
      clearInterval(fullTimer);
      clearInterval(leakTimer);
      await leakRetry;
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      logger.info({ graceMs: o.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS }, 'draining: polling stopped, waiting for in-flight activities');
      // The HTTP API (metrics, /readyz answering 503) stays up while the workers drain; a reconcile
      // under way finishes before the client closes.
      const [drained] = await Promise.all([Promise.allSettled(running), queue]);
      await http.close();
      await native.close();
      await connection.close();
      await store.close();
      await closeProviderConnections();
      const failed = drained.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      logger.info('rotor daemon stopped');
    },
  };
}
