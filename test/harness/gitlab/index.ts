/**
 * A GitLab REST API (v4) emulator for tests, on loopback: personal, project and group access tokens
 * with GitLab's rotate endpoints and token introspection. Auth is the `PRIVATE-TOKEN` header (or
 * `Authorization: Bearer`); a missing, unknown, revoked or expired token gets 401
 * `{"message":"401 Unauthorized"}`, a token without the scope or role an endpoint needs gets 403.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultInjector, respondWithFault } from '../faults.js';
import { header, matchRoute, readJsonObject, sendReply, type Reply, type Route } from '../github/http.js';
import { LOOPBACK } from '../ports.js';
import { dateOnly, TokenStore, type TokenKind, type TokenRecord } from './tokens.js';

export type { TokenRecord } from './tokens.js';

export interface CreatedToken {
  id: number;
  /** The token value (`glpat-…`). */
  token: string;
  userId: number;
}

export interface TokenOptions {
  name?: string;
  scopes?: string[];
  /** `YYYY-MM-DD`; 30 days from now by default. */
  expiresAt?: string;
}

export interface GitLabEmulator {
  /** `http://127.0.0.1:PORT`; the API lives under `/api/v4`. */
  baseUrl: string;
  faults: FaultInjector;
  requests: { method: string; path: string }[];
  createPersonalToken(options?: TokenOptions & { user?: string; admin?: boolean }): CreatedToken;
  /** A project access token (its bot user gets `accessLevel`, default 40 maintainer). */
  createProjectToken(project: string | number, options?: TokenOptions & { accessLevel?: number }): CreatedToken;
  createGroupToken(group: string | number, options?: TokenOptions & { accessLevel?: number }): CreatedToken;
  /** Makes a user a member of a project or group (40 maintainer, 50 owner). */
  addMember(kind: 'project' | 'group', id: string | number, userId: number, accessLevel: number): void;
  /** A token as stored (value included): for assertions only. */
  token(id: number): TokenRecord | undefined;
  advanceClock(ms: number): void;
  close(): Promise<void>;
}

const unauthorized: Reply = { status: 401, body: { message: '401 Unauthorized' } };
const forbidden: Reply = { status: 403, body: { message: '403 Forbidden' } };
const notFound = (what: string): Reply => ({ status: 404, body: { message: `404 ${what} Not Found` } });
const badRequest = (message: string): Reply => ({ status: 400, body: { message: `400 Bad request - ${message}` } });
const insufficientScope = (scope: string): Reply => ({
  status: 403,
  body: { error: 'insufficient_scope', error_description: 'The request requires higher privileges than provided by the access token.', scope },
});

const DAY = 86_400_000;
const MAINTAINER = 40;

interface Call {
  caller: TokenRecord;
  body: Record<string, unknown>;
  query: URLSearchParams;
}

export async function startGitLabEmulator(): Promise<GitLabEmulator> {
  let clockOffset = 0;
  const store = new TokenStore(() => Date.now() + clockOffset);
  const faults = new FaultInjector();
  const requests: { method: string; path: string }[] = [];

  const isAdmin = (t: TokenRecord) => store.users.get(t.user_id)?.admin === true;
  const hasScope = (t: TokenRecord, ...scopes: string[]) => t.scopes.some((s) => scopes.includes(s));
  const canManage = (caller: TokenRecord, kind: 'project' | 'group', id: string) =>
    isAdmin(caller) || (store.members.get(`${kind}:${id}`)?.get(caller.user_id) ?? 0) >= MAINTAINER;

  /** Rotates `target`, or answers why not. Presenting a rotated token trips reuse detection. */
  function rotate(target: TokenRecord, call: Call): Reply {
    if (target.revoked) {
      store.revokeSuccessors(target);
      return badRequest('Token already revoked');
    }
    if (!store.active(target)) return badRequest('Token expired');
    const expiry = store.expiry(call.body.expires_at ?? call.query.get('expires_at') ?? undefined);
    if ('error' in expiry) return badRequest(expiry.error);
    const next = store.rotate(target, expiry.ok);
    return { status: 200, body: { ...store.view(next), token: next.token } };
  }

  function resourceRoutes(kind: 'project' | 'group'): Route<Call>[] {
    const base = `/api/v4/${kind}s/:id/access_tokens`;
    const find = (p: Record<string, string>) => {
      const t = store.tokens.get(Number(p.token_id));
      return t && t.kind === kind && t.resource === p.id ? t : undefined;
    };
    const guard = (call: Call, p: Record<string, string>, scopes: string[]): Reply | undefined => {
      if (!hasScope(call.caller, ...scopes)) return insufficientScope(scopes[0]!);
      if (!canManage(call.caller, kind, p.id!)) return forbidden;
      return undefined;
    };
    return [
      {
        method: 'GET',
        pattern: base,
        handle(call, p) {
          const denied = guard(call, p, ['api', 'read_api']);
          if (denied) return denied;
          const state = call.query.get('state');
          const list = [...store.tokens.values()].filter((t) => t.kind === kind && t.resource === p.id);
          return { status: 200, body: list.filter((t) => !state || (state === 'active') === store.active(t)).map((t) => store.view(t)) };
        },
      },
      {
        method: 'GET',
        pattern: `${base}/:token_id`,
        handle(call, p) {
          const denied = guard(call, p, ['api', 'read_api']);
          if (denied) return denied;
          const t = find(p);
          return t ? { status: 200, body: store.view(t) } : notFound('Token');
        },
      },
      {
        method: 'POST',
        pattern: `${base}/:token_id/rotate`,
        handle(call, p) {
          const denied = guard(call, p, ['api']);
          if (denied) return denied;
          const t = find(p);
          return t ? rotate(t, call) : notFound('Token');
        },
      },
    ];
  }

  const routes: Route<Call>[] = [
    { method: 'GET', pattern: '/api/v4/personal_access_tokens/self', handle: (call) => ({ status: 200, body: store.view(call.caller) }) },
    {
      method: 'POST',
      pattern: '/api/v4/personal_access_tokens/self/rotate',
      handle: (call) => (hasScope(call.caller, 'api', 'self_rotate') ? rotate(call.caller, call) : insufficientScope('api')),
    },
    {
      method: 'GET',
      pattern: '/api/v4/personal_access_tokens',
      handle(call) {
        if (!hasScope(call.caller, 'api', 'read_api')) return insufficientScope('read_api');
        const { query } = call;
        const userId = query.get('user_id');
        if (userId && Number(userId) !== call.caller.user_id && !isAdmin(call.caller)) return unauthorized;
        const list = [...store.tokens.values()].filter(
          (t) =>
            (t.kind === 'personal' || isAdmin(call.caller)) &&
            (isAdmin(call.caller) || t.user_id === call.caller.user_id) &&
            (!userId || t.user_id === Number(userId)) &&
            (!query.get('state') || (query.get('state') === 'active') === store.active(t)) &&
            (!query.get('revoked') || String(t.revoked) === query.get('revoked')) &&
            (!query.get('search') || t.name.includes(query.get('search')!)),
        );
        return { status: 200, body: list.map((t) => store.view(t)) };
      },
    },
    {
      method: 'GET',
      pattern: '/api/v4/personal_access_tokens/:id',
      handle(call, p) {
        if (!hasScope(call.caller, 'api', 'read_api')) return insufficientScope('read_api');
        const t = store.tokens.get(Number(p.id));
        return t && (isAdmin(call.caller) || t.user_id === call.caller.user_id) ? { status: 200, body: store.view(t) } : notFound('Token');
      },
    },
    {
      method: 'POST',
      pattern: '/api/v4/personal_access_tokens/:id/rotate',
      handle(call, p) {
        if (!hasScope(call.caller, 'api')) return insufficientScope('api');
        const t = store.tokens.get(Number(p.id));
        if (!t || !(isAdmin(call.caller) || t.user_id === call.caller.user_id)) return notFound('Token');
        return rotate(t, call);
      },
    },
    ...resourceRoutes('project'),
    ...resourceRoutes('group'),
  ];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gitlab');
    const method = (req.method ?? 'GET').toUpperCase();
    requests.push({ method, path: url.pathname });
    if (await respondWithFault(res, faults.take({ method, path: url.pathname }))) return;

    const bearer = /^Bearer\s+(\S+)$/i.exec(header(req, 'authorization') ?? '')?.[1];
    const presented = header(req, 'private-token') ?? bearer;
    const caller = presented ? store.byValue(presented) : undefined;
    if (!caller || !store.active(caller)) {
      // A rotated token shown to a rotate endpoint trips reuse detection before it is refused.
      if (caller?.revoked && method === 'POST' && url.pathname.endsWith('/rotate')) store.revokeSuccessors(caller);
      return sendReply(res, unauthorized);
    }
    caller.last_used_at = store.now();

    const found = matchRoute(routes, method, url.pathname);
    if (!found) return sendReply(res, { status: 404, body: { error: '404 Not Found' } });
    const body = await readJsonObject(req);
    if (body === undefined) return sendReply(res, badRequest('invalid JSON'));
    sendReply(res, await found.route.handle({ caller, body, query: url.searchParams }, found.params));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendReply(res, { status: 500, body: { message: `emulator error: ${(e as Error).message}` } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const baseUrl = `http://${LOOPBACK}:${(server.address() as AddressInfo).port}`;

  const defaults = (options: TokenOptions) => ({
    name: options.name ?? 'rotor-managed',
    scopes: options.scopes ?? ['api'],
    expires_at: options.expiresAt ?? dateOnly(Date.now() + clockOffset + 30 * DAY),
  });
  const created = (t: TokenRecord): CreatedToken => ({ id: t.id, token: t.token, userId: t.user_id });
  const resourceToken = (kind: TokenKind, id: string, options: TokenOptions & { accessLevel?: number }) => {
    const bot = store.user(`${kind}_${id}_bot_${store.users.size}`);
    return created(store.create({ ...defaults(options), kind, resource: id, user_id: bot.id, access_level: options.accessLevel ?? MAINTAINER }));
  };

  return {
    baseUrl,
    faults,
    requests,
    createPersonalToken(options = {}) {
      const user = store.user(options.user ?? 'rotor', options.admin ?? false);
      return created(store.create({ ...defaults(options), kind: 'personal', user_id: user.id }));
    },
    createProjectToken: (project, options = {}) => resourceToken('project', String(project), options),
    createGroupToken: (group, options = {}) => resourceToken('group', String(group), options),
    addMember(kind, id, userId, accessLevel) {
      const key = `${kind}:${id}`;
      if (!store.members.has(key)) store.members.set(key, new Map());
      store.members.get(key)!.set(userId, accessLevel);
    },
    token: (id) => store.tokens.get(id),
    advanceClock: (ms) => void (clockOffset += ms),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
