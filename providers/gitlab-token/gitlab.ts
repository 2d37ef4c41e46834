/**
 * The slice of GitLab's REST API (v4) the gitlab-token provider uses, over fetch with the
 * `PRIVATE-TOKEN` header. Errors name the action and GitLab's status and message, never a token:
 * GitLab's error bodies hold none, and URLs carry ids only.
 */
import { ProviderRefusal, type ProviderContext } from '../contracts.js';
import type { GitLabTokenSpec } from './spec.js';

const REQUEST_TIMEOUT_MS = 15_000;

/** An access token as GitLab shows it; `token` only in a rotate response. */
export interface GitLabToken {
  id: number;
  name: string;
  revoked: boolean;
  active: boolean;
  created_at: string;
  scopes: string[];
  user_id?: number;
  last_used_at?: string | null;
  expires_at: string | null;
  access_level?: number;
  token?: string;
}

/** A refusal that keeps GitLab's status (401: the token presented no longer works). */
export class GitLabRefusal extends ProviderRefusal {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class GitLabApi {
  constructor(
    readonly ctx: ProviderContext,
    readonly spec: GitLabTokenSpec,
  ) {}

  /** `/api/v4/...` path of the spec's token family (project or group path segments are encoded). */
  base(): string {
    const { scope } = this.spec;
    if (scope === 'self' || 'personal' in scope) return '/personal_access_tokens';
    if ('project' in scope) return `/projects/${encodeURIComponent(String(scope.project))}/access_tokens`;
    return `/groups/${encodeURIComponent(String(scope.group))}/access_tokens`;
  }

  /** What the spec's token belongs to, for messages and discovery. */
  owner(): string {
    const { scope } = this.spec;
    if (scope === 'self') return 'the current token';
    if ('personal' in scope) return 'a personal access token';
    return 'project' in scope ? `project ${scope.project}` : `group ${scope.group}`;
  }

  async request<T>(action: string, method: 'GET' | 'POST', path: string, token: string, body?: Record<string, unknown>): Promise<T> {
    this.ctx.signal?.throwIfAborted();
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const signal = this.ctx.signal ? AbortSignal.any([this.ctx.signal, timeout]) : timeout;
    const url = `${this.spec.baseUrl.replace(/\/+$/, '')}/api/v4${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { 'PRIVATE-TOKEN': token, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal,
      });
    } catch (error) {
      const name = (error as Error).name;
      throw new Error(`${action}: ${name === 'AbortError' || name === 'TimeoutError' ? 'timed out or was cancelled' : `cannot reach ${new URL(url).host}`}`);
    }
    const text = await response.text();
    if (response.ok) return (text ? JSON.parse(text) : undefined) as T;
    throw gitlabError(action, response, text);
  }
}

/** Throttling and 5xx are retryable; everything else (400 bad expiry, 401, 403, 404) is a refusal. */
function gitlabError(action: string, response: Response, text: string): Error {
  let detail = '';
  try {
    const body = JSON.parse(text) as { message?: unknown; error?: unknown; error_description?: unknown };
    const parts = [body.message, body.error, body.error_description].map((p) => (typeof p === 'string' ? p : p === undefined ? '' : JSON.stringify(p)));
    detail = parts.filter(Boolean).join(': ').slice(0, 300);
  } catch {
    // not JSON (a proxy's HTML page): the status says enough
  }
  const { status } = response;
  const message = `${action}: GitLab answered HTTP ${status}${detail ? ` (${detail})` : ''}`;
  if (status === 429 || status >= 500) {
    const retryAfter = response.headers.get('retry-after');
    return new Error(`${message}${status === 429 ? ' (rate limited)' : ''}${retryAfter ? `, retry after ${retryAfter}s` : ''}`);
  }
  return new GitLabRefusal(message, status);
}
