/**
 * What the AWS providers share: how a spec names the account to talk to (region, endpoint, Rotor's
 * own credentials as secret references), the SDK client settings built from it, and clean errors.
 */
import { z } from 'zod';
import { SecretRefSchema } from '../config/secret-ref.js';
import { ProviderRefusal, type ProviderContext } from './contracts.js';
import { redactSecrets } from '../lib/redact.js';

export const AwsConnectionFields = {
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { message: 'must be an AWS region like us-east-1' }).default('us-east-1'),
  /** Another endpoint than AWS's own: a VPC endpoint or a local emulator. */
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  /** Rotor's own identity; when absent, the SDK's default chain (environment, profile, instance role). */
  credentials: z
    .strictObject({
      accessKeyId: SecretRefSchema,
      secretAccessKey: SecretRefSchema,
    })
    .optional(),
};

export interface AwsConnection {
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * One SDK retry for a blip, no more: Temporal retries the whole activity with backoff and records
 * each attempt, while SDK retries are invisible and would eat the activity's timeout.
 */
const MAX_ATTEMPTS = 2;
const REQUEST_TIMEOUT_MS = 15_000;

export interface AwsClientConfig {
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  maxAttempts: number;
  requestHandler: { requestTimeout: number; connectionTimeout: number };
}

/** SDK client settings for a spec; `as` signs with other credentials (e.g. new material being verified). */
export async function awsClientConfig(
  ctx: ProviderContext,
  spec: AwsConnection,
  as?: { accessKeyId: string; secretAccessKey: string },
): Promise<AwsClientConfig> {
  ctx.signal?.throwIfAborted();
  const credentials =
    as ??
    (spec.credentials && {
      accessKeyId: await ctx.resolveSecret(spec.credentials.accessKeyId),
      secretAccessKey: await ctx.resolveSecret(spec.credentials.secretAccessKey),
    });
  return {
    region: spec.region,
    ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: 5_000 },
  };
}

/** The AWS error code of an SDK failure (`LimitExceeded`, `ResourceNotFoundException`), or undefined. */
export function awsErrorCode(error: unknown): string | undefined {
  const e = error as { Code?: unknown; name?: unknown; $metadata?: unknown };
  if (typeof e?.Code === 'string') return e.Code; // awsQuery: the wire code (the SDK's name adds "Exception")
  return e?.$metadata !== undefined && typeof e.name === 'string' ? e.name : undefined;
}

/** Codes no retry can fix: permissions, bad input, limits, Rotor's own credentials refused. */
const REFUSALS = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'InvalidSignatureException',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'ExpiredToken',
  'ExpiredTokenException',
  'ValidationError',
  'ValidationException',
  'InvalidParameterException',
  'InvalidRequestException',
  'InvalidInput',
  'LimitExceeded',
  'LimitExceededException',
  'NoSuchEntity',
  'ResourceNotFoundException',
  'ResourceExistsException',
  'DecryptionFailure',
  'EncryptionFailure',
]);

/**
 * A clean error for a failed AWS call: `<action>: <code>: <AWS message> (HTTP n, request id)`, with
 * every secret the call handled scrubbed out. The SDK error itself is not passed on: it carries the
 * raw response, which for CreateAccessKey or GetSecretValue holds a secret.
 */
export function awsFailure(action: string, error: unknown, secrets: string[] = []): Error {
  const code = awsErrorCode(error);
  const e = error as { message?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number; requestId?: string } };
  let message = typeof e?.message === 'string' ? e.message.slice(0, 300) : String(error).slice(0, 300);
  message = redactSecrets(message, secrets);
  const where = [e?.$metadata?.httpStatusCode && `HTTP ${e.$metadata.httpStatusCode}`, e?.$metadata?.requestId && `request ${e.$metadata.requestId}`].filter(Boolean);
  const network = !code && typeof e?.code === 'string' ? `${e.code}: ` : '';
  const text = `${action}: ${code ? `${code}: ` : network}${message}${where.length ? ` (${where.join(', ')})` : ''}`;
  return code && REFUSALS.has(code) ? new ProviderRefusal(text) : new Error(text);
}
