/**
 * The daemon's HTTP API: start rotations (bearer token), metrics and health. Every refusal is
 * decided before anything starts; bodies are validated with zod; no response echoes a secret.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { ProviderRegistry } from '../providers/registry.js';
import type { PolicySet } from './policies.js';
import type { RotorMetrics } from './metrics.js';
import { refuseRetired, RotationAlreadyRunning, RotationRefused, startRotation } from './rotations.js';
import { DecisionRefused, sendDecision } from './decisions.js';
import { DECISIONS, MAX_DECISION_TEXT } from '../workflows/decisions.js';
import type { RotorStore } from '../store/index.js';
import { handleSecretScanning, type WebhookDeps } from './github-webhook.js';
import { registerConsole, type ConsoleDeps } from '../console/routes.js';

export interface HttpDeps {
  client: Client;
  providers: ProviderRegistry;
  policies: PolicySet;
  taskQueue: string;
  metrics: RotorMetrics;
  /** The inventory: a retired credential is refused before anything starts. */
  store?: RotorStore;
  /** The API token (resolved from its secret reference); requests must present it as a bearer token. */
  apiToken: string;
  /** Readiness: Temporal and the store answer. */
  ready(): Promise<boolean>;
  /** GitHub secret scanning webhook, when a webhook secret is configured. */
  githubWebhook?: Omit<WebhookDeps, 'client' | 'providers' | 'policies' | 'taskQueue'>;
  limits?: Partial<HttpLimits>;
  /** The web console under /ui (console/), when login is configured. */
  console?: Omit<ConsoleDeps, 'client' | 'store' | 'policies'>;
}

/** What one client, and all of them together, can hold of the daemon. */
export interface HttpLimits {
  /** Open connections at once; more are closed on accept (Node's server.maxConnections). */
  maxConnections: number;
  /** Requests per client address per minute (the webhook is exempt: GitHub does not retry a 429, and its HMAC check is cheap). */
  requestsPerMinute: number;
  /** A request must arrive whole within this (slow-loris). */
  requestTimeoutMs: number;
  /** An idle or silent connection is closed after this. */
  connectionTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { maxConnections: 256, requestsPerMinute: 300, requestTimeoutMs: 15_000, connectionTimeoutMs: 30_000 };

/** The HTTP API token must be at least this long: a short one can be guessed. */
export const MIN_API_TOKEN_LENGTH = 32;

export class ApiTokenTooShort extends Error {
  override readonly name = 'ApiTokenTooShort';
  constructor(length: number) {
    // The length, never the token.
    super(`the HTTP API token (from ROTOR_API_TOKEN_REF) has ${length} characters; at least ${MIN_API_TOKEN_LENGTH} are required (e.g. openssl rand -base64 32)`);
  }
}

const RotationRequestSchema = z.strictObject({
  credential: z.string().min(1).max(63),
  emergency: z.boolean().default(false),
  revokeFirst: z.boolean().default(false),
  reason: z.string().max(500).optional(),
});

const DecisionRequestSchema = z.strictObject({
  decision: z.enum(DECISIONS),
  by: z.string().min(1).max(100).optional(),
  reason: z.string().max(MAX_DECISION_TEXT).optional(),
});

/** Compares digests so the comparison takes the same time whatever the token's length or content. */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (!presented) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/** The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 7235). */
export function bearer(header: string | undefined): string | undefined {
  const match = header && header.length <= 1024 ? /^bearer +([\x21-\x7e]+) *$/i.exec(header) : null;
  return match?.[1];
}

export function buildHttpServer(deps: HttpDeps): FastifyInstance {
  if (deps.apiToken.length < MIN_API_TOKEN_LENGTH) throw new ApiTokenTooShort(deps.apiToken.length);
  const limits = { ...DEFAULT_HTTP_LIMITS, ...deps.limits };
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    maxParamLength: 100,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    http: { maxHeaderSize: 8 * 1024 },
  });
  app.server.maxConnections = limits.maxConnections;
  void app.register(rateLimit, { max: limits.requestsPerMinute, timeWindow: 60_000 });

  /** Runs before the body is read: an unauthenticated caller learns nothing about its body. */
  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!tokenMatches(bearer(request.headers.authorization), deps.apiToken)) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
    }
  };

  // Routes are registered after the rate limit, so its hook sees them.
  void app.register(async (api) => {
    api.get('/healthz', async () => ({ ok: true }));
    api.get('/readyz', async (_request, reply) => {
      const ready = await deps.ready().catch(() => false);
      return reply.code(ready ? 200 : 503).send({ ready });
    });
    api.get('/metrics', async (_request, reply) => {
      return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    });

    api.post('/v1/rotations', { onRequest: authenticate }, async (request, reply) => {
      const parsed = RotationRequestSchema.safeParse(request.body);
      if (!parsed.success) {
        return reply.code(400).send({ error: 'bad request', problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) });
      }
      const body = parsed.data;
      if (body.revokeFirst && !body.emergency) return reply.code(400).send({ error: 'bad request', problems: ['revokeFirst: needs emergency: true'] });
      const policy = deps.policies.get(body.credential);
      if (!policy) return reply.code(404).send({ error: `no policy for credential ${body.credential}` });
      try {
        if (deps.store) await refuseRetired(deps.store, policy.id, { actor: 'http-api', trigger: body.emergency ? 'emergency' : 'manual', reason: body.reason });
        const { handle, runId } = await startRotation(deps.client, deps.providers, policy, {
          taskQueue: deps.taskQueue,
          trigger: body.emergency ? 'emergency' : 'manual',
          reason: body.reason,
          revokeFirst: body.revokeFirst,
        });
        return reply.code(202).send({ credential: policy.id, workflowId: handle.workflowId, runId });
      } catch (error) {
        if (error instanceof RotationAlreadyRunning || error instanceof RotationRefused) return reply.code(409).send({ error: error.message });
        throw error;
      }
    });

    // A human decision on a running rotation (a Workflow Update): 200 when accepted, 409 when it does not apply.
    api.post('/v1/rotations/:credential/decisions', { onRequest: authenticate }, async (request, reply) => {
      const credential = (request.params as { credential: string }).credential;
      const parsed = DecisionRequestSchema.safeParse(request.body);
      if (!parsed.success) {
        return reply.code(400).send({ error: 'bad request', problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) });
      }
      if (!deps.policies.get(credential)) return reply.code(404).send({ error: `no policy for credential ${credential}` });
      const { decision, by, reason } = parsed.data;
      try {
        const outcome = await sendDecision(deps.client, credential, decision, { by: by ?? 'http-api', ...(reason ? { reason } : {}) }, deps.store);
        return reply.code(200).send({ credential, accepted: true, ...outcome });
      } catch (error) {
        if (error instanceof DecisionRefused) return reply.code(409).send({ credential, accepted: false, error: error.message });
        throw error;
      }
    });
  });

  if (deps.console && deps.store) void app.register(async (ui) => registerConsole(ui, { ...deps.console!, client: deps.client, store: deps.store!, policies: deps.policies }));

  if (deps.githubWebhook) {
    const webhook: WebhookDeps = { ...deps.githubWebhook, client: deps.client, providers: deps.providers, policies: deps.policies, taskQueue: deps.taskQueue };
    // The signature is over the exact bytes GitHub sent: keep the raw body.
    void app.register(async (scope) => {
      scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
      scope.post('/v1/hooks/github/secret-scanning', { config: { rateLimit: false } }, async (request, reply) => {
        const headers = request.headers as Record<string, string | undefined>;
        const outcome = await handleSecretScanning(webhook, request.body as Buffer, headers);
        if (outcome.status === 503) reply.header('retry-after', '30');
        return reply.code(outcome.status).send(outcome.body);
      });
    });
  }

  // Fastify's own errors (bad JSON, wrong content type, body too large) keep their 4xx status.
  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    return reply.code(status).send({ error: status === 500 ? 'internal error' : error.message });
  });
  return app;
}
