/**
 * What the GCP providers share: how a spec names Rotor's own identity (a service-account key file
 * as a secret reference, or application default credentials), the token endpoint to use, the auth
 * client built from them, and clean errors.
 *
 * Token endpoint. google-auth-library 10 always posts JWT-bearer assertions to Google's
 * `https://oauth2.googleapis.com/token` and ignores a key file's `token_uri`. Rotor sends them to
 * the spec's `tokenEndpoint` when set, else to the key file's `token_uri` (as Google's Python and
 * Go libraries do), by rewriting that one URL on the auth client's transport. The assertion's `aud`
 * stays Google's URL. Note that google-gax clients (Secret Manager) sign self-signed JWTs with the
 * key instead of fetching tokens (`useJWTAccessWithScope`), so they never reach a token endpoint.
 */
import type { AuthClient, JWT } from 'google-auth-library';
import { z } from 'zod';
import { SecretRefSchema } from '../config/secret-ref.js';
import { ProviderRefusal, type ProviderContext } from './contracts.js';
import { redactSecrets } from '../lib/redact.js';

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** Per-request timeout: Temporal retries whole activities, an SDK call must not eat their timeout. */
export const REQUEST_TIMEOUT_MS = 15_000;

export const GcpConnectionFields = {
  /**
   * Rotor's own identity: a reference to a service-account key file (JSON). When absent,
   * application default credentials (GOOGLE_APPLICATION_CREDENTIALS, workload identity, metadata).
   */
  credentials: SecretRefSchema.optional(),
  /** Another OAuth token endpoint than Google's (a private endpoint or a local emulator). */
  tokenEndpoint: z.url({ protocol: /^https?$/ }).optional(),
};

export interface GcpConnection {
  credentials?: string;
  tokenEndpoint?: string;
}

/** The fields of a service-account key file (TYPE_GOOGLE_CREDENTIALS_FILE) Rotor uses. */
export interface ServiceAccountKeyFile {
  type: 'service_account';
  client_email: string;
  private_key: string;
  private_key_id: string;
  project_id?: string;
  token_uri?: string;
}

/** Parses a key file; refuses anything else without quoting it (it may be a secret). */
export function parseKeyFile(text: string, what: string): ServiceAccountKeyFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const file = parsed as Partial<ServiceAccountKeyFile> | undefined;
  if (!file || typeof file !== 'object' || file.type !== 'service_account') throw new ProviderRefusal(`${what} is not a service-account key file (JSON with "type": "service_account")`);
  for (const field of ['client_email', 'private_key', 'private_key_id'] as const) {
    if (typeof file[field] !== 'string' || file[field] === '') throw new ProviderRefusal(`${what} has no "${field}"`);
  }
  return file as ServiceAccountKeyFile;
}

/** Sends the auth client's token requests to `tokenEndpoint` instead of Google's (see the header). */
export function redirectTokenRequests(client: AuthClient, tokenEndpoint: string | undefined): void {
  if (!tokenEndpoint || tokenEndpoint === GOOGLE_TOKEN_URL) return;
  client.transporter.interceptors.request.add({
    resolved: async (config) => {
      if (String(config.url) === GOOGLE_TOKEN_URL) config.url = new URL(tokenEndpoint);
      return config;
    },
  });
}

/** A JWT client for a key file, fetching cloud-platform tokens from the right endpoint. */
export async function keyFileClient(file: ServiceAccountKeyFile, tokenEndpoint?: string): Promise<JWT> {
  // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
  const { JWT } = await import('google-auth-library');
  const client = new JWT({ email: file.client_email, key: file.private_key, keyId: file.private_key_id, scopes: [CLOUD_PLATFORM_SCOPE] });
  redirectTokenRequests(client, tokenEndpoint ?? file.token_uri);
  return client;
}

/** Rotor's own auth client for a spec: its key file, or application default credentials. */
export async function gcpAuth(ctx: ProviderContext, spec: GcpConnection): Promise<AuthClient> {
  ctx.signal?.throwIfAborted();
  if (spec.credentials) {
    const file = parseKeyFile(await ctx.resolveSecret(spec.credentials), `Rotor's credentials (${spec.credentials})`);
    return keyFileClient(file, spec.tokenEndpoint);
  }
  const { GoogleAuth } = await import('google-auth-library');
  try {
    const client = await new GoogleAuth({ scopes: [CLOUD_PLATFORM_SCOPE] }).getClient();
    redirectTokenRequests(client, spec.tokenEndpoint);
    return client;
  } catch (error) {
    throw new ProviderRefusal(`no credentials for Rotor: set "credentials" in the spec or configure application default credentials (${firstLine(error)})`);
  }
}

/** google.rpc.Code names by number, for errors of gRPC-shaped clients. */
const GRPC_CODES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

export interface GcpErrorInfo {
  /** Canonical code (`PERMISSION_DENIED`), an OAuth error (`invalid_grant`) or a network code (`ECONNREFUSED`). */
  code?: string;
  httpStatus?: number;
  message: string;
}

/**
 * The code, HTTP status and Google's message of a failed call, from a GaxiosError (googleapis and
 * google-gax's REST transport, whose message may be the raw JSON body), a GoogleError or a network
 * error. Never the error's request config: it carries the bearer token.
 */
export function gcpErrorInfo(error: unknown): GcpErrorInfo {
  const e = error as { status?: unknown; code?: unknown; message?: unknown; response?: { status?: unknown; data?: unknown } } | undefined;
  const httpStatus = typeof e?.response?.status === 'number' ? e.response.status : typeof e?.status === 'number' ? e.status : undefined;
  let body: unknown = e?.response?.data;
  const rawMessage = typeof e?.message === 'string' ? e.message : String(error);
  if (typeof body === 'string' || body === undefined) {
    try {
      body = JSON.parse(typeof body === 'string' ? body : rawMessage);
    } catch {
      body = undefined;
    }
  }
  const payload = body as { error?: unknown; error_description?: unknown } | undefined;
  if (payload && typeof payload.error === 'object' && payload.error !== null) {
    const g = payload.error as { message?: unknown; status?: unknown };
    return { code: typeof g.status === 'string' ? g.status : undefined, httpStatus, message: typeof g.message === 'string' ? g.message : rawMessage };
  }
  if (payload && typeof payload.error === 'string') {
    return { code: payload.error, httpStatus, message: typeof payload.error_description === 'string' ? payload.error_description : payload.error };
  }
  if (typeof e?.code === 'number' && e.code < GRPC_CODES.length && httpStatus === undefined) {
    return { code: GRPC_CODES[e.code], message: rawMessage.replace(/^\d+ [A-Z_]+: /, '') };
  }
  const network = typeof e?.code === 'string' && !/^\d+$/.test(e.code) ? e.code : undefined;
  return { code: network, httpStatus, message: rawMessage };
}

/**
 * Codes no retry can fix: permissions, bad input, a missing resource, a refused precondition, and
 * Rotor's own identity refused (UNAUTHENTICATED by an API, invalid_grant by the token endpoint).
 */
const REFUSALS = new Set([
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'FAILED_PRECONDITION',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'UNAUTHENTICATED',
  'invalid_grant',
]);

/**
 * A clean error for a failed GCP call: `<action>: <CODE>: <Google's message> (HTTP n)`, every
 * secret the call handled scrubbed out; a ProviderRefusal when retrying cannot help. The client's
 * error itself is not passed on: its config holds the bearer token.
 */
export function gcpFailure(action: string, error: unknown, secrets: string[] = []): Error {
  if (error instanceof ProviderRefusal) return error;
  const info = gcpErrorInfo(error);
  let message = info.message.slice(0, 400);
  message = redactSecrets(message, secrets);
  const text = `${action}: ${info.code ? `${info.code}: ` : ''}${message}${info.httpStatus ? ` (HTTP ${info.httpStatus})` : ''}`;
  return info.code && REFUSALS.has(info.code) ? new ProviderRefusal(text) : new Error(text);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);
}
