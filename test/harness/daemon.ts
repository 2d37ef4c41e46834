import { Writable } from 'node:stream';
import { createLogger } from '../../lib/logger.js';
import { registry } from '../../providers/registry.js';
import { createSecretResolver } from '../../daemon/secrets.js';
import { startDaemon, type DaemonOptions, type RunningDaemon } from '../../daemon/run.js';
import { loopbackTemporalTarget } from '../../daemon/temporal-connection.js';
import { capturedLogs, workflowBundle, type RotorEnv } from './env.js';

/**
 * `rotor daemon` in process against a test environment: its PostgreSQL, Temporal server and task
 * queue, the policies in `policyDir`, an HTTP API on a free loopback port, logs into capturedLogs.
 */
export async function startTestDaemon(env: RotorEnv, policyDir: string, options: Partial<DaemonOptions> & { apiToken: string }): Promise<RunningDaemon> {
  return startDaemon({
    databaseUrl: env.postgres.url,
    // An empty environment: the machine's TEMPORAL_* variables must not reach the tests.
    temporal: loopbackTemporalTarget(env.temporal.address, env.temporal.namespace),
    taskQueue: env.taskQueue,
    policyDir,
    http: { host: '127.0.0.1', port: 0 },
    providers: registry,
    logger: createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, done) => (capturedLogs.push(String(c)), done()) }) }),
    resolveSecret: createSecretResolver({ env: env.env }),
    workflowBundle: await workflowBundle(),
    ...options,
  });
}
