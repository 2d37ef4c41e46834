/**
 * The Temporal server the production tests run against, started in one call so it is one line to
 * swap for the official dev server (`temporal server start-dev`). Loopback, free port.
 */
import { startTestServer } from '../harness/temporal/index.js';

export interface ProductionTemporal {
  address: string;
  namespace: string;
  close(): Promise<void>;
}

export function startTemporalForProductionTests(): Promise<ProductionTemporal> {
  return startTestServer({ timeSkipping: false });
}
