/**
 * Issue 14 item 9, the HTTP API's edges: authentication before the body is parsed, a cap on
 * connections and a request rate limit, a minimum API token length at start-up (refused by the
 * setting's name, never printing the token), a case-insensitive Bearer scheme, bounded header values.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml } from '../harness/db-rotation.js';
import { startTestDaemon } from '../harness/daemon.js';
import type { RunningDaemon } from '../../daemon/run.js';
import { buildHttpServer, MIN_API_TOKEN_LENGTH } from '../../daemon/http.js';
import { RotorMetrics } from '../../daemon/metrics.js';
import { registry } from '../../providers/registry.js';
import { createLogger } from '../../lib/logger.js';

let env: RotorEnv;
let daemon: RunningDaemon;
let dir: string;
const apiToken = randomBytes(24).toString('base64url');
const webhookSecret = randomBytes(20).toString('hex');
const MAX_CONNECTIONS = 8;

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  dir = await mkdtemp(join(tmpdir(), 'rotor-http-'));
  await writeFile(join(dir, 'p.yaml'), dbPolicyYaml(env, 'http-db', { role: 'http_app' }));
  daemon = await startTestDaemon(env, dir, { apiToken, githubWebhookSecret: webhookSecret, httpLimits: { maxConnections: MAX_CONNECTIONS } });
});
afterAll(async () => {
  await daemon?.stop();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const post = (body: string, authorization?: string) =>
  fetch(`${daemon.httpAddress}/v1/rotations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body,
  });

/** A raw connection to the daemon; resolves once connected. */
function rawConnection(address: string): Promise<Socket> {
  const url = new URL(address);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends one GET /healthz on a raw socket: the status line, or 'closed' when the server hung up first. */
function rawHealthz(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    socket.on('data', (chunk) => {
      data += String(chunk);
      if (data.includes('\r\n')) resolve(data.slice(0, data.indexOf('\r\n')));
    });
    socket.once('close', () => resolve(data ? data.slice(0, data.indexOf('\r\n')) : 'closed'));
    socket.on('error', () => undefined);
    socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
  });
}

describe('HTTP API edges', () => {
  it('authenticates before parsing the body: an unauthenticated malformed request gets 401, not 400', async () => {
    for (const body of ['{not json', '["x"]', '']) {
      const response = await post(body);
      expect(response.status, JSON.stringify(body)).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
    }
    expect((await post('{not json', `Bearer ${apiToken.slice(1)}`)).status).toBe(401);
    // Authenticated, the same body is a 400.
    expect((await post('{not json', `Bearer ${apiToken}`)).status).toBe(400);
  });

  it('accepts the Bearer scheme in any case (RFC 7235)', async () => {
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      const response = await post('{"credential":"no-such-credential"}', `${scheme} ${apiToken}`);
      expect(response.status, scheme).toBe(404);
    }
    expect((await post('{"credential":"no-such-credential"}', `Bearerx ${apiToken}`)).status).toBe(401);
  });

  it('refuses a delivery id that is not one (too long, or odd characters) with 400', async () => {
    const body = '{"zen":"hi"}';
    const signature = `sha256=${createHmac('sha256', webhookSecret).update(body).digest('hex')}`;
    const hook = (delivery: string) =>
      fetch(`${daemon.httpAddress}/v1/hooks/github/secret-scanning`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature, 'x-github-delivery': delivery, 'x-github-event': 'ping' },
        body,
      });
    expect((await hook('d'.repeat(4000))).status).toBe(400);
    expect((await hook('abc def;<x>')).status).toBe(400);
    expect((await hook('72d3162e-cc78-11e3-81ab-4c9367dc0958')).status).toBe(200);
  });

  it(`caps open connections: with ${MAX_CONNECTIONS} open, the next is closed unanswered; once they go, requests are served`, async () => {
    const held = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => rawConnection(daemon.httpAddress)));
    // The server counts a connection once it has accepted it: the first answers prove all are counted.
    for (const socket of held.slice(0, 1)) expect(await rawHealthz(socket)).toBe('HTTP/1.1 200 OK');
    const extra = await rawConnection(daemon.httpAddress);
    expect(await rawHealthz(extra)).toBe('closed');
    for (const socket of held) socket.destroy();
    let served = false;
    for (let i = 0; i < 200 && !served; i++) {
      served = (await rawHealthz(await rawConnection(daemon.httpAddress))) === 'HTTP/1.1 200 OK';
    }
    expect(served).toBe(true);
  });

  it(`refuses at start-up an API token shorter than ${MIN_API_TOKEN_LENGTH} characters, naming the setting, never the token`, async () => {
    const short = randomBytes(8).toString('hex'); // 16 characters
    const refused = await startTestDaemon(env, dir, { apiToken: short }).then(
      async (started) => (await started.stop(), undefined),
      (error: unknown) => error as Error,
    );
    expect(refused?.message).toMatch(/ROTOR_API_TOKEN_REF.*16 characters.*at least 32/);
    expect(refused?.message).not.toContain(short);
    expect(refused?.message).not.toContain(short.slice(0, 4));
  });
});

describe('request rate limit and timeouts', () => {
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    app = buildHttpServer({
      client: env.client,
      providers: registry,
      policies: env.policies,
      taskQueue: env.taskQueue,
      metrics: new RotorMetrics(env.store),
      apiToken,
      ready: async () => true,
      githubWebhook: { store: env.store, logger: createLogger({ level: 'silent' }), secret: webhookSecret },
      limits: { requestsPerMinute: 5, connectionTimeoutMs: 300 },
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('answers 429 once a client passes its requests per minute; the webhook is exempt (GitHub does not retry a 429)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await fetch(`${base}/healthz`)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const body = '{}';
    const signature = `sha256=${createHmac('sha256', webhookSecret).update(body).digest('hex')}`;
    const hook = await fetch(`${base}/v1/hooks/github/secret-scanning`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature, 'x-github-delivery': 'abc-123', 'x-github-event': 'ping' },
      body,
    });
    expect(hook.status).toBe(200);
  });

  it('closes a connection that sends nothing (slow loris) after the connection timeout', async () => {
    expect(app.server.requestTimeout).toBeGreaterThan(0);
    const socket = await rawConnection(base);
    socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n'); // headers never finished
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(socket.destroyed).toBe(true);
  });
});
