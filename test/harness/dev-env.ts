/**
 * A whole Rotor (startRotorEnv) on the official Temporal dev server instead of the in-memory one,
 * with Rotor's search attributes registered by Rotor's own start-up path (registerSearchAttributes).
 */
import { Connection } from '@temporalio/client';
import { registerSearchAttributes } from '../../daemon/history.js';
import { startRotorEnv, watched, type RotorEnv } from './env.js';
import { startDevServer, type DevServer } from './dev-server.js';

export async function startDevRotorEnv(): Promise<RotorEnv & { temporal: DevServer }> {
  const temporal = await watched('starting the Temporal dev server', startDevServer());
  const env = await startRotorEnv({ temporal });
  const connection = await Connection.connect({ address: temporal.address });
  try {
    await registerSearchAttributes(connection, temporal.namespace);
  } finally {
    await connection.close();
  }
  return env as RotorEnv & { temporal: DevServer };
}
