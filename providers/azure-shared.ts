/**
 * What the Azure providers share: how a spec names the tenant, Rotor's own identity (an app
 * registration's client id and secret, as secret references) and an extra CA to trust; the
 * `@azure/identity` credential built from them; and clean errors.
 *
 * Rotor signs in with `ClientSecretCredential` and `disableInstanceDiscovery: true`, so MSAL talks
 * only to `authorityHost` (sovereign clouds, private endpoints and emulators need no metadata from
 * login.microsoftonline.com). `caCertificate` (a PEM, for a company CA or a TLS-intercepting proxy)
 * is trusted in addition to Node's bundled roots, for Entra ID, Graph and Key Vault alike.
 */
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { ClientSecretCredential } from '@azure/identity';
import { z } from 'zod';
import { SecretRefSchema } from '../config/secret-ref.js';
import { ProviderRefusal, type ProviderContext } from './contracts.js';
import { redactSecrets } from '../lib/redact.js';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const GuidSchema = (what: string) => z.string().regex(GUID, { message: `must be ${what} (a GUID)` });

export const AzureConnectionFields = {
  /** The Microsoft Entra tenant (directory) id: a GUID, or a verified domain like contoso.onmicrosoft.com. */
  tenantId: z.string().regex(/^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)+)$/, {
    message: 'must be a tenant id (a GUID) or a verified domain name',
  }),
  /** Entra ID's sign-in host: another cloud's (https://login.microsoftonline.us), a private endpoint or an emulator. */
  authorityHost: z.url({ protocol: /^https$/, message: 'must be an https URL' }).default('https://login.microsoftonline.com'),
  /** Rotor's own identity: an app registration (service principal) that signs in with a client secret. */
  credentials: z.strictObject({
    clientId: SecretRefSchema,
    clientSecret: SecretRefSchema,
  }),
  /** A PEM certificate to trust besides the usual roots (private CA, TLS-intercepting proxy). */
  caCertificate: SecretRefSchema.optional(),
};

export interface AzureConnection {
  tenantId: string;
  authorityHost: string;
  credentials: { clientId: string; clientSecret: string };
  caCertificate?: string;
}

export interface AzureTls {
  ca: string[];
}

/**
 * One SDK retry for a blip, no more: Temporal retries the whole activity with backoff and records
 * each attempt, while SDK retries are invisible and would eat the activity's timeout.
 */
export const SDK_RETRY = { maxRetries: 1, retryDelayInMs: 500, maxRetryDelayInMs: 2_000 };

/** TLS settings trusting the spec's CA besides Node's roots; undefined without a caCertificate. */
export async function azureTls(ctx: ProviderContext, spec: { caCertificate?: string }): Promise<AzureTls | undefined> {
  if (!spec.caCertificate) return undefined;
  const pem = await ctx.resolveSecret(spec.caCertificate);
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ProviderRefusal(`caCertificate (${spec.caCertificate}) is not a PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return { ca: [...rootCertificates, pem] };
}

/** `https://host` without a trailing slash. */
export const origin = (url: string): string => url.replace(/\/+$/, '');

/** A credential for an app registration's client secret, talking only to the spec's authority host. */
export async function clientSecretCredential(
  spec: { tenantId: string; authorityHost: string },
  clientId: string,
  clientSecret: string,
  tls: AzureTls | undefined,
): Promise<ClientSecretCredential> {
  // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
  const { ClientSecretCredential } = await import('@azure/identity');
  return new ClientSecretCredential(spec.tenantId, clientId, clientSecret, {
    authorityHost: origin(spec.authorityHost),
    disableInstanceDiscovery: true,
    retryOptions: SDK_RETRY,
    ...(tls ? { tlsOptions: tls } : {}),
  });
}

/** Rotor's own credential from the spec's secret references, with the TLS settings it used. */
export async function rotorCredential(ctx: ProviderContext, spec: AzureConnection): Promise<{ credential: ClientSecretCredential; clientId: string; tls: AzureTls | undefined }> {
  ctx.signal?.throwIfAborted();
  const tls = await azureTls(ctx, spec);
  const clientId = await ctx.resolveSecret(spec.credentials.clientId);
  const clientSecret = await ctx.resolveSecret(spec.credentials.clientSecret);
  return { credential: await clientSecretCredential(spec, clientId, clientSecret, tls), clientId, tls };
}

/**
 * Entra ID error codes no retry can fix: an unknown app or tenant, a wrong or expired secret, a bad
 * scope. During propagation a NEW secret is refused with invalid_client too: verify tells those apart.
 */
const SIGN_IN_REFUSALS = /\b(invalid_client|unauthorized_client|invalid_tenant|invalid_scope|invalid_resource|invalid_request)\b|AADSTS(7000215|7000222|700016|90002|500011|1002012|900144)\b/g;

/** The sign-in refusals an @azure/identity error names (`invalid_client`, `AADSTS7000215`…); empty when none. */
export function signInRefusals(error: unknown): string[] {
  const e = error as { name?: unknown; message?: unknown };
  if (typeof e?.name !== 'string' || !/Authentication|Credential/.test(e.name)) return [];
  return [...new Set((typeof e.message === 'string' ? e.message : '').match(SIGN_IN_REFUSALS) ?? [])];
}

/** TLS verification failures: the peer's certificate is not trusted, which caCertificate fixes. */
export const TLS_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Why Entra ID's metadata (`<authority>/<tenant>/v2.0/.well-known/openid-configuration`) cannot be
 * fetched: MSAL only says `endpoints_resolution_error`, so Rotor asks once itself, with the same TLS
 * settings. An untrusted certificate or a refused tenant is a refusal; a network error is not.
 */
async function probeAuthority(spec: { tenantId: string; authorityHost: string }, tls: AzureTls | undefined): Promise<{ detail: string; refused: boolean }> {
  const url = `${origin(spec.authorityHost)}/${encodeURIComponent(spec.tenantId)}/v2.0/.well-known/openid-configuration`;
  return new Promise((resolve) => {
    const req = httpsRequest(url, { method: 'GET', timeout: 5_000, ...(tls ? { ca: tls.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status === 200) return resolve({ detail: 'the metadata answers now (a passing network problem?)', refused: false });
        let reason = `HTTP ${status}`;
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: unknown; error_description?: unknown };
          if (typeof body.error === 'string') reason += `: ${body.error}: ${String(body.error_description ?? '').split(/ Trace ID:|\r?\n/)[0]}`;
        } catch {
          // Not Entra ID's JSON: the status says enough.
        }
        resolve({ detail: reason, refused: status >= 400 && status < 500 && status !== 408 && status !== 429 });
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer within 5 s'), { code: 'ETIMEDOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? 'error';
      if (TLS_ERRORS.has(code)) {
        resolve({ detail: `TLS: ${code}: the certificate of ${new URL(url).host} is not trusted; if a private CA or a TLS-intercepting proxy signs it, give its PEM as caCertificate`, refused: true });
      } else {
        resolve({ detail: `${code}: ${error.message}`, refused: false });
      }
    });
    req.end();
  });
}

/**
 * A clean error for a failed call that signs in with `spec`'s authority: diagnoses what MSAL leaves
 * vague (`endpoints_resolution_error`, `network_error`), otherwise as azureFailure.
 */
export async function azureError(action: string, error: unknown, spec: { tenantId: string; authorityHost: string }, tls: AzureTls | undefined, secrets: string[] = []): Promise<Error> {
  const message = String((error as { message?: unknown })?.message ?? '');
  if (message.includes('endpoints_resolution_error')) {
    const probe = await probeAuthority(spec, tls);
    const text = `${action}: cannot read Entra ID's metadata for tenant ${spec.tenantId} from ${origin(spec.authorityHost)}: ${probe.detail}`;
    return probe.refused ? new ProviderRefusal(text) : new Error(text);
  }
  if (message.includes('network_error')) {
    return new Error(`${action}: Entra ID's token endpoint at ${origin(spec.authorityHost)} answered without a token (network error, throttling or an outage; MSAL says ${message.split(':')[0]})`);
  }
  return azureFailure(action, error, secrets);
}

/** HTTP status codes no retry can fix. 408, 429 and 5xx are worth retrying. */
const REFUSED_STATUS = new Set([400, 401, 403, 404, 405, 409, 413]);

/**
 * A clean error for a failed Azure call: `<action>: <code>: <message> (HTTP n, request id)`, with
 * every secret the call handled scrubbed out. The SDK error itself is not passed on: a RestError
 * carries the request and the response, which for setSecret or getSecret hold a secret value.
 */
export function azureFailure(action: string, error: unknown, secrets: string[] = []): Error {
  if (error instanceof ProviderRefusal) return error;
  const e = error as { name?: unknown; message?: unknown; code?: unknown; statusCode?: unknown; response?: { headers?: { get?(name: string): string | undefined } } };
  const status = typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  let message = typeof e?.message === 'string' ? e.message : String(error);
  message = redactSecrets(message, secrets);
  // One line: Key Vault's 403 names the refused data action on a later line of its message.
  message = message.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(' ').slice(0, 600);
  const requestId = e?.response?.headers?.get?.('x-ms-request-id') ?? e?.response?.headers?.get?.('request-id');
  const where = [status && `HTTP ${status}`, requestId && `request ${requestId}`].filter(Boolean);
  const text = `${action}: ${code && !message.startsWith(code) ? `${code}: ` : ''}${message}${where.length ? ` (${where.join(', ')})` : ''}`;
  // An untrusted certificate stays untrusted on a retry.
  if (code && TLS_ERRORS.has(code)) return new ProviderRefusal(`${text}; if a private CA or a TLS-intercepting proxy signs the server's certificate, give its PEM as caCertificate`);
  const refused = (status !== undefined && REFUSED_STATUS.has(status)) || signInRefusals(error).length > 0 || e?.name === 'CredentialUnavailableError';
  return refused ? new ProviderRefusal(text) : new Error(text);
}
