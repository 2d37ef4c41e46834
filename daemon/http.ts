/**
 * The daemon's HTTP API: start rotations (bearer token), metrics and health. Every refusal is
 * decided before anything starts; bodies are validated with zod; no response echoes a secret.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { ProviderRegistry } from '../providers/registry.js';
import type { PolicySet } from './policies.js';
import type { RotorMetrics } from './metrics.js';
import { DECISIONS, MAX_DECISION_TEXT } from '../workflows/decisions.js';
import { ActionRefused, performAction } from './actions.js';
import { legacyToken, type NamedToken, type OidcSettings, type RoleMap } from './auth/config.js';
import { registerAuth, requireActor, type AuthDeps } from './auth/plugin.js';
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
  /** ROTOR_API_TOKEN_REF's token (resolved): the token named `rotor` (security, owner-operator of all). */
  apiToken: string;
  /** Who may do what: named tokens, the group → roles mapping, the OIDC login (daemon/auth/). */
  auth?: { tokens?: NamedToken[]; roles?: RoleMap; oidc?: OidcSettings; sessionKey?: string; sessionTtlSeconds?: number; logger?: AuthDeps['logger'] };
  /** Readiness: Temporal and the store answer. */
  ready(): Promise<boolean>;
  /** GitHub secret scanning webhook, when a webhook secret is configured. */
  githubWebhook?: Omit<WebhookDeps, 'client' | 'providers' | 'policies' | 'taskQueue'>;
  limits?: Partial<HttpLimits>;
  /** The web console under /ui (console/), when login is configured. */
  console?: Pick<ConsoleDeps, 'namespace' | 'temporalUiUrl' | 'allowedOwners'>;
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

export { bearer, tokenMatches } from './auth/plugin.js';

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

  registerAuth(app, {
    tokens: [legacyToken(deps.apiToken), ...(deps.auth?.tokens ?? [])],
    roles: deps.auth?.roles ?? {},
    ...(deps.auth?.oidc ? { oidc: deps.auth.oidc } : {}),
    ...(deps.auth?.sessionKey ? { sessionKey: deps.auth.sessionKey } : {}),
    ...(deps.auth?.sessionTtlSeconds ? { sessionTtlSeconds: deps.auth.sessionTtlSeconds } : {}),
    ...(deps.auth?.logger ? { logger: deps.auth.logger } : {}),
  });
  /** Runs before the body is read: an unauthenticated caller learns nothing about its body. */
  const authenticate = requireActor;
  /** Every action goes through performAction: authorized, then started or decided, with its actor audited. */
  const actions = { client: deps.client, providers: deps.providers, policies: deps.policies, taskQueue: deps.taskQueue, ...(deps.store ? { store: deps.store } : {}) };

  // Routes are registered after the rate limit, so its hook sees them.
  void app.register(async (api) => {
    // The API takes JSON only (anything else: 415); the form parser is the console's and the login's.
    api.removeContentTypeParser('application/x-www-form-urlencoded');
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
      try {
        const action = body.emergency ? 'emergency' : 'rotate';
        const done = await performAction(actions, request.actor!, action, body.credential, body.reason, { revokeFirst: body.revokeFirst });
        return reply.code(202).send({ credential: done.credential, workflowId: done.workflowId, runId: 'runId' in done ? done.runId : undefined });
      } catch (error) {
        if (error instanceof ActionRefused) return reply.code(error.status).send({ error: error.message });
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
      // `by` is still accepted (older scripts send it) but the actor is who authenticated.
      const { decision, reason } = parsed.data;
      try {
        const done = await performAction(actions, request.actor!, decision, credential, reason);
        return reply.code(200).send({ credential, accepted: true, ...('outcome' in done ? done.outcome : {}) });
      } catch (error) {
        if (error instanceof ActionRefused) return reply.code(error.status).send({ credential, accepted: false, error: error.message });
        throw error;
      }
    });
  });

  if (deps.console && deps.store) void app.register(async (ui) => registerConsole(ui, { ...deps.console!, ...actions, store: deps.store! }));

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
