/**
 * Google's REST wire conventions, as IAM v1 and Secret Manager v1 (and the clients built on
 * googleapis-common and google-gax's REST transport) use them:
 * - errors are `{"error": {"code": <http>, "message": "…", "status": "<CANONICAL_CODE>", "details": […]}}`
 *   with the HTTP status of the canonical code (google.rpc.Code's HTTP mapping);
 * - the OAuth token endpoint answers errors as `{"error": "invalid_grant", "error_description": "…"}`;
 * - int64 values travel as JSON strings, enums as names unless the client asks for
 *   `$alt=json;enum-encoding=int` (google-gax does), then as numbers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** google.rpc.Code names and their HTTP statuses. */
export const HTTP_STATUS = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ABORTED: 409,
  ALREADY_EXISTS: 409,
  RESOURCE_EXHAUSTED: 429,
  INTERNAL: 500,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
} as const;

export type CanonicalCode = keyof typeof HTTP_STATUS;

/** A Google API error: canonical code, message and optional google.rpc details. */
export class GcpError extends Error {
  constructor(
    readonly status: CanonicalCode,
    message: string,
    readonly details: unknown[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.status];
  }

  body(): { error: { code: number; message: string; status: string; details?: unknown[] } } {
    return { error: { code: this.httpStatus, message: this.message, status: this.status, ...(this.details.length ? { details: this.details } : {}) } };
  }
}

/** An OAuth 2.0 error of the token endpoint (RFC 6749 §5.2): always HTTP 400 here, as Google answers. */
export class OAuthError extends Error {
  constructor(
    readonly error: 'invalid_grant' | 'invalid_request' | 'unsupported_grant_type',
    readonly description: string,
  ) {
    super(description);
  }
}

/** google.rpc.ErrorInfo naming the missing permission, as IAM and Secret Manager attach it. */
export function permissionDenied(permission: string, message: string, domain: string): GcpError {
  return new GcpError('PERMISSION_DENIED', message, [
    { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'IAM_PERMISSION_DENIED', domain, metadata: { permission } },
  ]);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers }).end(JSON.stringify(body));
}

/**
 * A fault body in Google's shape, for FaultInjector rules: e.g.
 * `{ ...gcpFault('RESOURCE_EXHAUSTED', 'Rate exceeded.') }` answers 429 with a proper error.
 */
export function gcpFault(status: CanonicalCode, message: string): { status: number; body: string; headers: Record<string, string> } {
  const error = new GcpError(status, message);
  return { status: error.httpStatus, body: JSON.stringify(error.body()), headers: { 'content-type': 'application/json; charset=UTF-8' } };
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A JSON request body as an object; INVALID_ARGUMENT for anything else. Empty bodies are `{}`. */
export function jsonBody(body: Buffer): Record<string, unknown> {
  const text = body.toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new GcpError('INVALID_ARGUMENT', 'Invalid JSON payload received. Unexpected token.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new GcpError('INVALID_ARGUMENT', 'Invalid JSON payload received. Expected an object.');
  return parsed as Record<string, unknown>;
}

/** Whether the client asked for enums as numbers (`$alt=json;enum-encoding=int`). */
export function wantsIntEnums(url: URL): boolean {
  return (url.searchParams.get('$alt') ?? '').includes('enum-encoding=int');
}

/** RFC 3339 with nanosecond-free fractional seconds, as Google renders google.protobuf.Timestamp. */
export const timestamp = (date: Date): string => date.toISOString();
