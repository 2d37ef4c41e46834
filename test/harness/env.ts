/**
 * A whole Rotor on loopback for end-to-end tests: real PostgreSQL (the store and a target database),
 * the Vault emulator, the in-memory Temporal server, and a real Temporal worker running Rotor's
 * workflows and activities. Logs of Rotor and of the Temporal runtime are captured for leak scans.
 */
import { Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Policy } from '../../config/policy.js';
import { parsePolicyText, PolicyLoadError, type DeclaredManualCredential, type PolicyProblem } from '../../config/load.js';
import { syncManualCredentials } from '../../store/manual.js';
import { createLogger } from '../../lib/logger.js';
import { registry } from '../../providers/registry.js';
import { RotorStore } from '../../store/index.js';
import { PolicySet } from '../../daemon/policies.js';
import { createSecretResolver } from '../../daemon/secrets.js';
import { createRotorWorkers, workflowsPath } from '../../daemon/worker.js';
import { inventoryEntry } from '../../daemon/inventory.js';
import { startPostgres, type PostgresServer } from './postgres.js';
import { startVaultEmulator, type VaultEmulator } from './vault/index.js';
import { startTestServer, type TestServer } from './temporal/index.js';

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

/**
 * Names a start-up step still pending after 20 s on stderr (vitest shows which file), so a hook
 * that times out in CI says where it hung.
 */
export async function watched<T>(step: string, work: Promise<T>): Promise<T> {
  const timer = setTimeout(() => process.stderr.write(`[harness] ${step} still pending after 20 s\n`), 20_000);
  try {
    return await work;
  } finally {
    clearTimeout(timer);
  }
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** One webpack bundle of the workflows per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= watched('bundling the workflows', bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN', () => undefined) }));
  return bundle;
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
  /** Starts a worker running in the background; close() stops any still running. */
  startWorker(): Promise<RunningWorker>;
  close(): Promise<void>;
}

/** `storeUrl`: Rotor's own store on another PostgreSQL than the target database (e.g. to restart it). */
export async function startRotorEnv(options: { timeSkipping?: boolean; storeUrl?: string } = {}): Promise<RotorEnv> {
  captureRuntimeLogs();
  const postgres = await watched('starting PostgreSQL', startPostgres());
  const vault = await startVaultEmulator();
  const temporal = await startTestServer({ timeSkipping: options.timeSkipping ?? true });
  const store = await watched('connecting the store (migrations)', RotorStore.connect(options.storeUrl ?? postgres.url, { migrate: true }));
  const connection = await watched('connecting the Temporal client', Connection.connect({ address: temporal.address }));
  const client = new Client({ connection, namespace: temporal.namespace });
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
    async startWorker() {
      const native = await watched('connecting the worker', NativeConnection.connect({ address: temporal.address }));
      nativeConnections.push(native);
      const workflowBundleBuilt = await workflowBundle();
      const created = await watched('creating the workers', createRotorWorkers({
        connection: native,
        namespace: temporal.namespace,
        taskQueue,
        store,
        policies,
        providers: registry,
        logger,
        resolveSecret,
        workflowBundle: workflowBundleBuilt,
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
      await connection.close();
      for (const n of nativeConnections) await n.close().catch(() => undefined);
      await store.close();
      await temporal.close();
      await vault.close();
      await postgres.stop();
    },
  };
}
