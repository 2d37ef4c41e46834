/**
 * Authentication for the daemon's HTTP server. `registerAuth` sets `request.actor` from
 *   - `Authorization: Bearer <token>`: a named API token (ROTOR_API_TOKENS_FILE, or ROTOR_API_TOKEN_REF
 *     as the token named `rotor`); compared as digests in constant time; or
 *   - the `rotor_session` cookie set by the OIDC login (/ui/login → IdP → /ui/callback).
 * A request with an Authorization header is judged by it alone (a wrong token never falls back to
 * the cookie).
 *
 * CSRF: every state-changing request (not GET/HEAD/OPTIONS) authenticated by the session cookie must
 * carry the session's CSRF token, as the form field `_csrf` (application/x-www-form-urlencoded or JSON
 * body) or the header `x-csrf-token`; `request.csrfToken` holds it for pages to embed. Bearer-token
 * requests are not checked: nothing ambient (a browser never adds a bearer token by itself).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../lib/logger.js';
import { authorize, type Action, type Actor } from './actor.js';
import { rolesOf, tokenActor, type NamedToken, type OidcSettings, type RoleMap } from './config.js';
import { registerOidcRoutes, SESSION_COOKIE } from './oidc.js';
import { refuse, wantsHtml } from './pages.js';
import { Sealer, type SessionClaims } from './session.js';

export { escapeHtml, page, refuse } from './pages.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking; undefined when nobody authenticated. */
    actor: Actor | undefined;
    /** How: a bearer token or the console's session cookie. */
    authenticatedBy: 'token' | 'session' | undefined;
    /** The session's CSRF token (session requests only): embed it as `_csrf` in every form. */
    csrfToken: string | undefined;
  }
}

export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

export interface AuthDeps {
  tokens: NamedToken[];
  /** IdP group → roles, for people logging in through OIDC. */
  roles: RoleMap;
  oidc?: OidcSettings;
  /** ROTOR_SESSION_KEY_REF resolved; without it a random key per process (sessions end at restart). */
  sessionKey?: string;
  /** How long a console session lasts (default 8 hours). */
  sessionTtlSeconds?: number;
  /** Where refused logins and an unreachable IdP are logged (never a token or code). */
  logger?: Pick<Logger, 'warn'>;
}

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

/** The named token a presented bearer token is, checking every token (no early exit on a match). */
export function matchToken(presented: string | undefined, tokens: readonly NamedToken[]): NamedToken | undefined {
  let found: NamedToken | undefined;
  for (const t of tokens) if (tokenMatches(presented, t.secret) && !found) found = t;
  return found;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function registerAuth(app: FastifyInstance, deps: AuthDeps): void {
  const sealer = new Sealer(deps.sessionKey);
  void app.register(cookie);
  void app.register(formbody, { bodyLimit: 16 * 1024 });
  app.decorateRequest('actor', undefined);
  app.decorateRequest('authenticatedBy', undefined);
  app.decorateRequest('csrfToken', undefined);

  // Before the body is read: an unauthenticated caller learns nothing about its body.
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    if (header !== undefined) {
      const token = matchToken(bearer(header), deps.tokens);
      if (token) {
        request.actor = tokenActor(token);
        request.authenticatedBy = 'token';
      }
      return;
    }
    // Parsed here: this hook may run before @fastify/cookie's own (it is registered later, as a plugin).
    const cookies = request.headers.cookie && request.headers.cookie.length <= 8192 ? app.parseCookie(request.headers.cookie) : {};
    const session = await sealer.open<SessionClaims>('session', cookies[SESSION_COOKIE]);
    if (session) {
      // Roles are looked up on every request: a change of the mapping applies to open sessions.
      request.actor = { kind: 'oidc', subject: session.sub, name: session.name, groups: session.groups, roles: rolesOf(session.groups, deps.roles) };
      request.authenticatedBy = 'session';
      request.csrfToken = session.csrf;
    }
  });

  // After the body is parsed (the token may be a form field).
  app.addHook('preHandler', async (request, reply) => {
    if (request.authenticatedBy !== 'session' || SAFE_METHODS.has(request.method)) return;
    const body = request.body as Record<string, unknown> | undefined;
    const presented = request.headers[CSRF_HEADER] ?? (body && typeof body === 'object' && !Buffer.isBuffer(body) ? body[CSRF_FIELD] : undefined);
    if (typeof presented !== 'string' || !tokenMatches(presented, request.csrfToken!)) {
      return refuse(request, reply, 403, `this request came with your session cookie but without its CSRF token (form field ${CSRF_FIELD} or header ${CSRF_HEADER}): refused, nothing changed. Reload the page and try again`);
    }
    // Checked: routes (and their strict body schemas) never see it.
    if (body && typeof body === 'object' && !Buffer.isBuffer(body)) delete body[CSRF_FIELD];
  });

  registerOidcRoutes(app, { ...deps, sealer });
}

/** A hook answering 401 (JSON with WWW-Authenticate, or a redirect to the login for a browser) when nobody authenticated. */
export async function requireActor(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.actor) return;
  if (wantsHtml(request) && request.method === 'GET') {
    return reply.redirect(`/ui/login?returnTo=${encodeURIComponent(request.url.startsWith('/ui') ? request.url : '/ui')}`, 303);
  }
  return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
}

/**
 * A hook refusing (403, with the reason) an actor who may not take `action` on the credential
 * `credentialOf` names; 404 when it names none. Runs after requireActor's check.
 */
export function requireAction(
  action: Action,
  credentialOf: (request: FastifyRequest) => { id: string; owner?: string | null; requestedBy?: string } | undefined | Promise<{ id: string; owner?: string | null; requestedBy?: string } | undefined>,
) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!request.actor) return requireActor(request, reply);
    const credential = await credentialOf(request);
    if (!credential) return refuse(request, reply, 404, 'no such credential');
    const decision = authorize(request.actor, action, credential, { requestedBy: credential.requestedBy });
    if (!decision.allowed) return refuse(request, reply, 403, decision.why);
  };
}

