/**
 * The Temporal server the production tests run against: the official dev server (the real server
 * the image's users run), on a free loopback port.
 */
import { startTemporalServer } from '../harness/temporal-server.js';

export interface ProductionTemporal {
  address: string;
  namespace: string;
  close(): Promise<void>;
}

export function startTemporalForProductionTests(): Promise<ProductionTemporal> {
  return startTemporalServer({ kind: 'dev' });
}
