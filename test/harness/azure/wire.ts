/**
 * The three wire formats the Azure emulator speaks, each as Azure documents it:
 * - Microsoft Entra ID (token endpoint): OAuth 2.0 errors `{error, error_description: "AADSTSnnn: …",
 *   error_codes, timestamp, trace_id, correlation_id}`.
 * - Microsoft Graph: `{error: {code, message, innerError: {date, request-id, client-request-id}}}`
 *   and a `request-id` header on every reply.
 * - Key Vault: `{error: {code, message, innererror?: {code}}}`.
 * Handlers throw an AzureHttpError; the server renders it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export type AzureService = 'aad' | 'graph' | 'keyvault';

/** A refusal in its service's wire format: status, JSON body, extra headers. */
export class AzureHttpError extends Error {
  constructor(
    readonly status: number,
    /** Short code for the request log (`invalid_client`, `Authorization_RequestDenied`, `SecretNotFound`). */
    readonly code: string,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${status} ${code}`);
  }
}

/** Entra ID's OAuth error, e.g. `aadError(401, 'invalid_client', 7000215, 'Invalid client secret provided…')`. */
export function aadError(status: number, error: string, aadsts: number, description: string): AzureHttpError {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return new AzureHttpError(status, error, {
    error,
    error_description: `AADSTS${aadsts}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [aadsts],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${aadsts}`,
  });
}

export function graphErrorBody(code: string, message: string, clientRequestId?: string): unknown {
  return {
    error: {
      code,
      message,
      innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': randomUUID(), 'client-request-id': clientRequestId ?? randomUUID() },
    },
  };
}

export function graphError(status: number, code: string, message: string, headers: Record<string, string> = {}): AzureHttpError {
  return new AzureHttpError(status, code, graphErrorBody(code, message), headers);
}

export function keyVaultError(status: number, code: string, message: string, inner?: string, headers: Record<string, string> = {}): AzureHttpError {
  return new AzureHttpError(status, inner ?? code, { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } }, headers);
}

/**
 * A fault body in the right service's format, for FaultInjector rules: e.g.
 * `{ status: 429, ...azureFault('graph', 'TooManyRequests', 'Too many requests') }`. Retry-After is
 * 0 seconds by default so the SDKs' own throttling retry does not sleep in tests.
 */
export function azureFault(service: AzureService, code: string, message: string, retryAfterSeconds = 0): { body: string; headers: Record<string, string> } {
  const headers = { 'content-type': 'application/json; charset=utf-8', 'retry-after': String(retryAfterSeconds) };
  if (service === 'graph') return { body: JSON.stringify(graphErrorBody(code, message)), headers: { ...headers, 'request-id': randomUUID() } };
  if (service === 'keyvault') return { body: JSON.stringify({ error: { code, message } }), headers };
  return { body: JSON.stringify({ error: code, error_description: message }), headers };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, headers).end();
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A JSON object body; `{}` when empty; undefined when it is not a JSON object. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  if (text.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The bearer token of an `Authorization: Bearer …` header, if any. */
export function bearer(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header(req, 'authorization') ?? '');
  return match?.[1];
}

export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
