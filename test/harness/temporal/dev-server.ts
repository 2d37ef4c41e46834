/**
 * Runs the in-memory Temporal server in real-time mode for local development:
 *   npx tsx test/harness/temporal/dev-server.ts [--port 7233] [--namespace default]
 * State lives in memory only and is gone when the process stops (Ctrl-C).
 */
import { parseArgs } from 'node:util';
import { startTestServer } from './index.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '7233' },
    namespace: { type: 'string', default: 'default' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid --port ${values.port}`);
  process.exit(2);
}

const server = await startTestServer({ port, namespace: values.namespace });
console.log(`Temporal test server (in-memory, real time) listening on ${server.address}, namespace "${server.namespace}"`);

const stop = async () => {
  await server.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
