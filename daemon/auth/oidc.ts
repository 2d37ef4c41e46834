/**
 * The console's OpenID Connect login (openid-client): authorization code with PKCE (S256), state
 * and nonce, all three kept in a sealed, short-lived `rotor_login` cookie between /ui/login and
 * /ui/callback. A successful callback sets the `rotor_session` cookie: sealed (see session.ts),
 * HttpOnly, SameSite=Lax, and Secure whenever the redirect URL is https. Over plain http (a loopback
 * development set-up) it cannot be Secure: browsers would not send it back.
 */
import * as oidc from 'openid-client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../lib/logger.js';
import type { OidcSettings, RoleMap } from './config.js';
import { escapeHtml, page, refuse, wantsHtml } from './pages.js';
import { randomToken, revokeSealed, type LoginClaims, type Sealer, type SessionClaims } from './session.js';

export const SESSION_COOKIE = 'rotor_session';
export const LOGIN_COOKIE = 'rotor_login';
const LOGIN_TTL_SECONDS = 600;
/** The session cookie must stay under browsers' 4 KB: the groups kept are bounded in number and length. */
const MAX_GROUPS = 50;
const MAX_GROUPS_CHARS = 2000;

interface OidcDeps {
  oidc?: OidcSettings;
  roles: RoleMap;
  sealer: Sealer;
  sessionTtlSeconds?: number;
  logger?: Pick<Logger, 'warn'>;
}

/** Plain-http IdPs are accepted only on loopback (tests, local development). */
function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

export function registerOidcRoutes(app: FastifyInstance, deps: OidcDeps): void {
  const settings = deps.oidc;
  const ttl = deps.sessionTtlSeconds ?? 8 * 3600;
  const secure = settings ? new URL(settings.redirectUrl).protocol === 'https:' : true;
  const cookieOptions = (maxAge: number) => ({ path: '/', httpOnly: true, sameSite: 'lax' as const, secure, maxAge });
  // Discovered on first use and kept; a failed discovery is tried again on the next login.
  let discovered: Promise<oidc.Configuration> | undefined;
  const configuration = () => {
    if (!settings) throw new Error('OIDC is not configured');
    discovered ??= oidc
      .discovery(
        new URL(settings.issuer),
        settings.clientId,
        settings.clientSecret,
        settings.clientSecret ? undefined : oidc.None(),
        isLoopbackHttp(new URL(settings.issuer)) ? { execute: [oidc.allowInsecureRequests], timeout: 10 } : { timeout: 10 },
      )
      .catch((error: unknown) => {
        discovered = undefined;
        throw error;
      });
    return discovered;
  };

  app.get('/ui/login', async (request, reply) => {
    if (!settings) return refuse(request, reply, 404, 'OIDC login is not configured on this daemon (ROTOR_OIDC_ISSUER, ROTOR_OIDC_CLIENT_ID, ROTOR_OIDC_REDIRECT_URL)');
    const returnTo = safeReturnTo((request.query as Record<string, unknown>).returnTo);
    let config: oidc.Configuration;
    try {
      config = await configuration();
    } catch (error) {
      deps.logger?.warn({ error: (error as Error).message }, 'OIDC discovery failed');
      return refuse(request, reply, 503, `the identity provider ${settings.issuer} cannot be reached: try again shortly`);
    }
    const login: LoginClaims = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(), returnTo };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: settings.redirectUrl,
      scope: settings.scopes,
      response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(login.verifier),
      code_challenge_method: 'S256',
      state: login.state,
      nonce: login.nonce,
    });
    reply.setCookie(LOGIN_COOKIE, await deps.sealer.seal('login', login, LOGIN_TTL_SECONDS), cookieOptions(LOGIN_TTL_SECONDS));
    return reply.redirect(url.href, 303);
  });

  app.get('/ui/callback', async (request, reply) => {
    if (!settings) return refuse(request, reply, 404, 'OIDC login is not configured on this daemon');
    const login = await deps.sealer.open<LoginClaims>('login', app.parseCookie(request.headers.cookie ?? '')[LOGIN_COOKIE]);
    // One use: the login state is gone whatever happens next.
    reply.clearCookie(LOGIN_COOKIE, { path: '/' });
    if (!login) return refuse(request, reply, 400, 'this login was not started here or took longer than 10 minutes: start again at /ui/login');
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    // The callback URL as the IdP was told it, never rebuilt from the request's Host header.
    const current = new URL(settings.redirectUrl);
    current.search = query;
    let claims: Record<string, unknown>;
    try {
      const config = await configuration();
      const tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: login.verifier, expectedState: login.state, expectedNonce: login.nonce, idTokenExpected: true });
      claims = { ...tokens.claims() };
      if (!(settings.groupsClaim in claims) && tokens.access_token) {
        claims = { ...(await oidc.fetchUserInfo(config, tokens.access_token, String(claims.sub))), ...claims };
      }
    } catch (error) {
      // The library's message names the check that failed (state, nonce, PKCE); never a token.
      const cause = (error as { cause?: unknown }).cause;
      const why = `${(error as Error).message}${cause instanceof Error ? `: ${cause.message}` : ''}`.slice(0, 300);
      deps.logger?.warn({ error: why }, 'OIDC login refused');
      return refuse(request, reply, 400, `login refused: ${why}. Start again at /ui/login`);
    }
    const session: SessionClaims = {
      sub: String(claims.sub).slice(0, 255),
      name: displayName(claims),
      groups: groupsOf(claims[settings.groupsClaim]),
      csrf: randomToken(),
    };
    reply.setCookie(SESSION_COOKIE, await deps.sealer.seal('session', session, ttl), cookieOptions(ttl));
    return reply.redirect(login.returnTo, 303);
  });

  // Who is asking (no secret: the CSRF token is readable by this origin's pages only).
  app.get('/v1/whoami', async (request, reply) => {
    if (!request.actor) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
    return reply.send({ actor: request.actor, authenticatedBy: request.authenticatedBy, ...(request.csrfToken ? { csrfToken: request.csrfToken } : {}) });
  });

  app.get('/ui/logout', async (request, reply) => {
    if (!request.actor || request.authenticatedBy !== 'session') {
      return reply.type('text/html; charset=utf-8').send(page('Logged out', '<p>You are not logged in. <a href="/ui/login">Log in</a></p>'));
    }
    const form = `<form method="post" action="/ui/logout"><input type="hidden" name="_csrf" value="${escapeHtml(request.csrfToken!)}"><button type="submit">Log out ${escapeHtml(request.actor.name)}</button></form>`;
    return reply.type('text/html; charset=utf-8').send(page('Log out', form));
  });

  // POST, CSRF-checked by the plugin's preHandler: another site cannot log a person out.
  app.post('/ui/logout', async (request: FastifyRequest, reply: FastifyReply) => {
    // The cookie is also refused from now on, should a copy of it be replayed (this process only).
    await revokeSealed(deps.sealer, 'session', app.parseCookie(request.headers.cookie ?? '')[SESSION_COOKIE]);
    reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure });
    if (wantsHtml(request) || request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      return reply.type('text/html; charset=utf-8').send(page('Logged out', '<p>You are logged out of Rotor. <a href="/ui/login">Log in again</a></p>'));
    }
    return reply.send({ loggedOut: true });
  });
}

/** A return path is a path of this console, never another site (an open redirect). */
function safeReturnTo(value: unknown): string {
  return typeof value === 'string' && /^\/ui(\/[^\\]*)?$/.test(value) && !value.startsWith('//') && value.length <= 500 ? value : '/ui';
}

function displayName(claims: Record<string, unknown>): string {
  for (const key of ['name', 'preferred_username', 'email', 'sub']) {
    const value = claims[key];
    if (typeof value === 'string' && value.length > 0) return value.slice(0, 200);
  }
  return 'unknown';
}

/** The groups claim: a list of strings (or one string); anything else is no groups. */
function groupsOf(value: unknown): string[] {
  const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
  const groups: string[] = [];
  let chars = 0;
  for (const g of list) {
    if (typeof g !== 'string' || g.length === 0 || g.length > 200) continue;
    if (groups.length >= MAX_GROUPS || chars + g.length > MAX_GROUPS_CHARS) break;
    groups.push(g);
    chars += g.length;
  }
  return groups;
}
