/**
 * A whole Rotor on loopback for end-to-end tests: real PostgreSQL (the store and a target database),
 * the Vault emulator, the in-memory Temporal server, and a real Temporal worker running Rotor's
 * workflows and activities. Logs of Rotor and of the Temporal runtime are captured for leak scans.
 */
import { Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, type ActivityInboundCallsInterceptor, type NativeConnection, Runtime, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Policy } from '../../config/policy.js';
import { parsePolicyText, PolicyLoadError, type DeclaredManualCredential, type PolicyProblem } from '../../config/load.js';
import { syncManualCredentials } from '../../store/manual.js';
import { createLogger } from '../../lib/logger.js';
import { registry as builtInRegistry, type ProviderRegistry } from '../../providers/registry.js';
import { RotorStore } from '../../store/index.js';
import { PolicySet } from '../../daemon/policies.js';
import { createSecretResolver } from '../../daemon/secrets.js';
import { createRotorWorkers, workflowsPath, type WorkerDeps } from '../../daemon/worker.js';
import { connectTemporalWorker, loopbackTemporalTarget } from '../../daemon/temporal-connection.js';
import { inventoryEntry } from '../../daemon/inventory.js';
import { startPostgres, type PostgresServer } from './postgres.js';
import { startVaultEmulator, type VaultEmulator } from './vault/index.js';
import { startTemporalServer, type Execution, type TemporalServerKind, type TestServer } from './temporal-server.js';
import { watched } from './watched.js';
import { registerSearchAttributes } from '../../daemon/history.js';

/** Everything Rotor printed: its own log lines and the Temporal runtime's. */
export const capturedLogs: string[] = [];
let runtimeInstalled = false;

/** Routes the Temporal runtime's logs (worker, workflows via sinks) into capturedLogs, once per process. */
function captureRuntimeLogs(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: new DefaultLogger('INFO', (entry) => capturedLogs.push(`${entry.level} ${entry.message} ${JSON.stringify(entry.meta ?? {})}`)),
  });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** One webpack bundle of the workflows per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= watched('bundling the workflows', bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN', () => undefined) }));
  return bundle;
}

/**
 * Virtual time stands still while an activity runs: Rotor's activities do real I/O in real time,
 * and the time-skipping server would otherwise jump to the next timer (an activity's own
 * start-to-close timeout among them) while one is in flight.
 */
function holdTimeWhileRunning(temporal: TestServer): ActivityInboundCallsInterceptor {
  return {
    async execute(input, next) {
      await temporal.lockTimeSkipping();
      try {
        return await next(input);
      } finally {
        await temporal.unlockTimeSkipping();
      }
    },
  };
}

export interface RunningWorker {
  /** The worker of the task queue and the one of its emergency queue. */
  workers: Worker[];
  /** Shuts the workers down and waits until they have stopped. */
  stop(): Promise<void>;
}

export interface RotorEnv {
  postgres: PostgresServer;
  vault: VaultEmulator;
  temporal: TestServer;
  store: RotorStore;
  client: Client;
  taskQueue: string;
  policies: PolicySet;
  env: NodeJS.ProcessEnv;
  /** Parses policy YAML (throws PolicyLoadError) and puts it in force, recording the inventory. */
  usePolicies(yaml: string): Promise<Policy[]>;
  /**
   * Every workflow run this test produced: listed by the dev server; on the time-skipping server
   * (no visibility API), those started through `client` and every rotation the store recorded.
   */
  executions(): Promise<Execution[]>;
  /**
   * Starts the product's workers (createRotorWorkers) running in the background, on this env's
   * task queue unless told another; close() stops any still running.
   */
  startWorker(options?: Partial<Pick<WorkerDeps, 'taskQueue' | 'policyDir' | 'workflowCacheSize'>>): Promise<RunningWorker>;
  close(): Promise<void>;
}

export interface RotorEnvOptions {
  /**
   * Which official Temporal server: `time-skipping` (default) where the test needs virtual time,
   * `dev` where it needs what only the real server has (Schedules, visibility queries, Updates, the UI).
   */
  temporal?: TemporalServerKind;
  /** Dev server: serve the Web UI too. */
  ui?: boolean;
  /** Rotor's own store on another PostgreSQL than the target database (e.g. to restart it). */
  storeUrl?: string;
  /** The providers policies and the worker use (a registry with test-only providers); Rotor's own by default. */
  providers?: ProviderRegistry;
}

export async function startRotorEnv(options: RotorEnvOptions = {}): Promise<RotorEnv> {
  captureRuntimeLogs();
  const registry = options.providers ?? builtInRegistry;
  const postgres = await watched('starting PostgreSQL', startPostgres());
  const vault = await startVaultEmulator();
  const temporal = await startTemporalServer({ kind: options.temporal ?? 'time-skipping', ui: options.ui });
  const store = await watched('connecting the store (migrations)', RotorStore.connect(options.storeUrl ?? postgres.url, { migrate: true }));
  const client = temporal.client;
  // Rotor's own start-up path declares its search attributes (as the daemon does).
  await watched('registering search attributes', registerSearchAttributes(temporal.connection, temporal.namespace));
  const taskQueue = `rotor-test-${randomUUID().slice(0, 8)}`;
  const policies = PolicySet.of([], registry.catalog);
  // Secret references in test policies resolve from this environment, never process.env.
  const env: NodeJS.ProcessEnv = { VAULT_TOKEN: vault.token, PG_ADMIN_PASSWORD: postgres.adminPassword };
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      capturedLogs.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ level: 'debug', destination: logStream });
  const resolveSecret = createSecretResolver({ env });
  const workers: RunningWorker[] = [];
  const nativeConnections: NativeConnection[] = [];

  return {
    postgres,
    vault,
    temporal,
    store,
    client,
    taskQueue,
    policies,
    env,
    async usePolicies(yaml) {
      const problems: PolicyProblem[] = [];
      const manual: DeclaredManualCredential[] = [];
      const parsed = parsePolicyText(yaml, 'test-policy.yaml', registry.catalog, problems, manual);
      if (problems.length) throw new PolicyLoadError(problems);
      policies.replace(parsed, manual);
      await store.upsertCredentials(parsed.map(inventoryEntry));
      await syncManualCredentials(store, manual);
      return parsed;
    },
    async executions() {
      if (temporal.kind === 'dev') {
        const listed: Execution[] = [];
        for await (const w of client.workflow.list()) listed.push({ workflowId: w.workflowId, runId: w.runId });
        return listed;
      }
      const { rows } = await store.query<Execution>('SELECT workflow_id AS "workflowId", run_id AS "runId" FROM rotation_runs');
      const seen = new Set<string>();
      return [...temporal.started, ...rows].filter((e) => !seen.has(`${e.workflowId}/${e.runId}`) && seen.add(`${e.workflowId}/${e.runId}`));
    },
    async startWorker(options: Partial<Pick<WorkerDeps, 'taskQueue' | 'policyDir' | 'workflowCacheSize'>> = {}) {
      const native = await watched('connecting the worker', connectTemporalWorker(loopbackTemporalTarget(temporal.address, temporal.namespace)));
      nativeConnections.push(native);
      const workflowBundleBuilt = await workflowBundle();
      const created = await watched('creating the workers', createRotorWorkers({
        connection: native,
        namespace: temporal.namespace,
        store,
        policies,
        providers: registry,
        logger,
        resolveSecret,
        workflowBundle: workflowBundleBuilt,
        interceptors: temporal.kind === 'time-skipping' ? { activity: [() => ({ inbound: holdTimeWhileRunning(temporal) })] } : undefined,
        ...options,
        taskQueue: options.taskQueue ?? taskQueue,
      }));
      const running = created.map((w) => w.run());
      const handle: RunningWorker = {
        workers: created,
        async stop() {
          for (const w of created) if (w.getState() === 'RUNNING') w.shutdown();
          await Promise.all(running);
        },
      };
      workers.push(handle);
      return handle;
    },
    async close() {
      for (const w of workers) await w.stop();
      for (const n of nativeConnections) await n.close().catch(() => undefined);
      await store.close();
      await temporal.close();
      await vault.close();
      await postgres.stop();
    },
  };
}
