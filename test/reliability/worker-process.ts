/**
 * A Rotor worker in its own process, so a test can SIGKILL it mid-rotation: a real crash, with no
 * shutdown hook, no finally block and no chance to finish the activity it is running.
 *
 * Started by test/reliability/worker-crash.test.ts with `node --import tsx`; everything it needs
 * comes from the environment (secret values only for the references the policies name).
 * Logs go to stdout (the test scans them for leaks); it tells the parent "ready" over IPC.
 */
import { loadPolicies } from '../../config/load.js';
import { createLogger } from '../../lib/logger.js';
import { registry } from '../../providers/registry.js';
import { RotorStore } from '../../store/index.js';
import { PolicySet } from '../../daemon/policies.js';
import { createSecretResolver } from '../../daemon/secrets.js';
import { createRotorWorkers } from '../../daemon/worker.js';
import { connectTemporalWorker, resolveTemporalTarget } from '../../daemon/temporal-connection.js';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`worker-process: ${name} is not set`);
  return value;
}

const policies = PolicySet.of(await loadPolicies(required('ROTOR_POLICY_FILE'), registry.catalog), registry.catalog);
const store = await RotorStore.connect(required('ROTOR_DATABASE_URL'), { migrate: false });
// As `rotor worker` connects: TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE from the environment.
const target = resolveTemporalTarget({ address: required('TEMPORAL_ADDRESS'), namespace: required('TEMPORAL_NAMESPACE') });
const connection = await connectTemporalWorker(target);
const workers = await createRotorWorkers({
  connection,
  namespace: target.namespace,
  taskQueue: required('ROTOR_TASK_QUEUE'),
  store,
  policies,
  providers: registry,
  logger: createLogger({ level: 'debug', destination: process.stdout }),
  resolveSecret: createSecretResolver({ env: process.env }),
  // The parent's bundle, written to a file: bundling again would cost seconds per start.
  workflowBundle: { codePath: required('ROTOR_WORKFLOW_BUNDLE') },
});
const running = Promise.all(workers.map((w) => w.run()));
process.send?.('ready');
await running;
