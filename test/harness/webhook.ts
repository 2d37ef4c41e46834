/**
 * A notification webhook receiver on loopback, as Slack's would be: records each delivery, and can
 * refuse the next ones with 503 (a flaky receiver) to prove that notifications are retried. Other
 * paths can answer with a status of the test's choosing (e.g. a health check).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LOOPBACK } from './ports.js';

export interface Delivery {
  text: string;
  rotor: Record<string, unknown> & { event: string };
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:PORT`. */
  base: string;
  /** A Slack-like webhook URL whose last segment stands for the token such URLs carry. */
  url: string;
  delivered: Delivery[];
  /** Deliveries attempted, refused ones included. */
  attempts: number;
  /** Refusals still to come. */
  refusals: number;
  close(): Promise<void>;
}

/** `paths` answers other paths (e.g. `/health`) with the status its function returns. */
export async function startWebhookReceiver(paths: Record<string, () => number> = {}): Promise<WebhookReceiver> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const other = paths[req.url ?? ''];
      if (other) return void res.writeHead(other()).end();
      receiver.attempts++;
      if (receiver.refusals > 0) {
        receiver.refusals--;
        return void res.writeHead(503).end();
      }
      receiver.delivered.push(JSON.parse(body) as Delivery);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const base = `http://${LOOPBACK}:${(server.address() as AddressInfo).port}`;
  const receiver: WebhookReceiver = {
    base,
    url: `${base}/hooks/T000/B000/not-a-real-token`,
    delivered: [],
    attempts: 0,
    refusals: 0,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return receiver;
}
