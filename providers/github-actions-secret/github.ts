/**
 * What the GitHub providers share: how a spec names the API and Rotor's token, the Octokit client
 * built from it, and clean errors. Errors are rebuilt from the status and GitHub's message only:
 * Octokit's own error carries the request (a sealed value, headers) and is never passed on.
 */
import type { Octokit } from '@octokit/rest';
import { z } from 'zod';
import { SecretRefSchema } from '../../config/secret-ref.js';
import { ProviderRefusal, type ProviderContext } from '../contracts.js';

export const GitHubConnectionFields = {
  /** GitHub Enterprise Server: `https://HOST/api/v3`. */
  baseUrl: z.url({ protocol: /^https?$/ }).default('https://api.github.com'),
  /** Rotor's token (a fine-grained PAT or an App installation token), as a secret reference. */
  token: SecretRefSchema,
};

export const RepoSchema = z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, { message: 'must be owner/name' });

const REQUEST_TIMEOUT_MS = 15_000;

/** Failure a retry may fix (throttling, 5xx, network); `retryAfterSeconds` when GitHub said how long to wait. */
export class GitHubUnavailable extends Error {
  override readonly name = 'GitHubUnavailable';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** A refusal that keeps GitHub's status, so callers can treat a 404 as "not there". */
export class GitHubRefusal extends ProviderRefusal {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

interface OctokitFailure {
  status?: number;
  message?: string;
  response?: { data?: unknown; headers?: Record<string, string | number | undefined> };
}

export type GitHubParams = Record<string, unknown>;

/** One GitHub API with Rotor's token; every call names its action so errors read as sentences. */
export class GitHubApi {
  readonly #octokit: Octokit;

  constructor(
    readonly ctx: ProviderContext,
    baseUrl: string,
    token: string,
    { Octokit }: typeof import('@octokit/rest'),
  ) {
    // No retries inside: Temporal retries the whole activity with backoff and records each attempt.
    this.#octokit = new Octokit({
      auth: token,
      baseUrl,
      userAgent: 'rotor',
      request: { retries: 0 },
      log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    });
  }

  /** `octokit.request(route, params)`, its data, with a clean error naming `action`. */
  async request<T>(action: string, route: string, params: GitHubParams = {}): Promise<T> {
    this.ctx.signal?.throwIfAborted();
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const signal = this.ctx.signal ? AbortSignal.any([this.ctx.signal, timeout]) : timeout;
    try {
      const response = await this.#octokit.request(route, { ...params, request: { signal } });
      return response.data as T;
    } catch (error) {
      throw githubError(error, action);
    }
  }

  /** Like request, but a 404 is null. */
  async optional<T>(action: string, route: string, params: GitHubParams = {}): Promise<T | null> {
    try {
      return await this.request<T>(action, route, params);
    } catch (error) {
      if (error instanceof GitHubRefusal && error.status === 404) return null;
      throw error;
    }
  }
}

export async function connectGitHub(ctx: ProviderContext, spec: { baseUrl: string; token: string }): Promise<GitHubApi> {
  ctx.signal?.throwIfAborted();
  const token = await ctx.resolveSecret(spec.token);
  // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
  return new GitHubApi(ctx, spec.baseUrl, token, await import('@octokit/rest'));
}

/** A clean error: throttling, 5xx and network failures are retryable; anything else is a refusal. */
export function githubError(error: unknown, action: string): Error {
  const failure = (error ?? {}) as OctokitFailure;
  const status = failure.status || undefined;
  if (status === undefined) {
    const reason = error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError') ? 'timed out or was cancelled' : 'request failed';
    return new GitHubUnavailable(`${action}: ${reason}`, undefined);
  }
  const headers = failure.response?.headers ?? {};
  const data = failure.response?.data as { message?: unknown; errors?: { message?: unknown }[] } | undefined;
  const details = [data?.message, ...(data?.errors ?? []).map((e) => e.message)].filter((m): m is string => typeof m === 'string' && m !== '');
  const reason = details.length ? ` (${details.join('; ').slice(0, 300)})` : '';
  const retryAfter = Number(headers['retry-after']);
  const rateLimited = status === 429 || (status === 403 && (String(headers['x-ratelimit-remaining']) === '0' || /rate limit/i.test(reason)));
  if (rateLimited || status >= 500) {
    const wait = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined;
    const hint = wait !== undefined ? `, retry after ${wait}s` : '';
    return new GitHubUnavailable(`${action}: GitHub answered HTTP ${status}${reason}${rateLimited ? ' (rate limited)' : ''}${hint}`, status, wait);
  }
  return new GitHubRefusal(`${action}: GitHub answered HTTP ${status}${reason}`, status);
}
