import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A consumer's health endpoint on loopback whose answer a test sets (health checks in policies). */
export interface HealthEndpoint {
  url: string;
  /** The status every request gets from now on. */
  status: number;
  close(): Promise<void>;
}

export async function startHealthEndpoint(): Promise<HealthEndpoint> {
  const endpoint = { status: 200 } as HealthEndpoint;
  const server = createServer((_req, res) => res.writeHead(endpoint.status).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
  endpoint.close = () => new Promise((resolve) => server.close(() => resolve()));
  return endpoint;
}
