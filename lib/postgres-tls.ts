/**
 * TLS for every PostgreSQL connection Rotor opens: its own store and the postgres-password
 * provider's admin connections. When TLS is on the server is verified — its certificate chains to
 * the CA given (or the system's CAs) and names the host connected to (libpq's `verify-full`). There
 * is no mode that encrypts without verifying: `require`, `prefer`, `allow` and `verify-ca` are
 * refused with what to write instead, never quietly downgraded.
 */
import { readFileSync } from 'node:fs';
import type pg from 'pg';

export type SslMode = 'disable' | 'verify-full';

export class PostgresTlsError extends Error {
  override readonly name = 'PostgresTlsError';
}

const UNVERIFIED_MODES = new Set(['allow', 'prefer', 'require', 'verify-ca']);

export function isUnverifiedMode(mode: unknown): mode is string {
  return typeof mode === 'string' && UNVERIFIED_MODES.has(mode);
}

export function unverifiedModeMessage(mode: string): string {
  return `sslmode ${mode} does not verify the server's certificate and host name: use verify-full (with the CA that signed the server's certificate), or disable`;
}

/** The `ssl` option of a pg client: false, or verify-full against `caFile` (the system's CAs without one). */
export function pgSsl(options: { sslmode: SslMode; caFile?: string; certFile?: string; keyFile?: string }): pg.ClientConfig['ssl'] {
  if (options.sslmode === 'disable') return false;
  const read = (what: string, file: string | undefined) => {
    if (!file) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new PostgresTlsError(`cannot read the PostgreSQL TLS ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  };
  // rejectUnauthorized plus Node's default host-name check is verify-full.
  return { rejectUnauthorized: true, ca: read('CA file', options.caFile), cert: read('client certificate', options.certFile), key: read('client key', options.keyFile) };
}

/** Node's codes for a server certificate that did not verify. */
const CERT_ERRORS = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_SIGNATURE_FAILURE', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A TLS failure explained (the server's certificate was not verified, or the server has no TLS); undefined for other errors. */
export function explainTlsFailure(error: unknown): string | undefined {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && CERT_ERRORS.has(code)) {
    return `the server's TLS certificate was not verified (${code}: ${message}): check that the CA file is the one that signed it and that it names this host`;
  }
  if (/does not support SSL/i.test(message)) return 'the server does not offer TLS, but verify-full requires it';
  return undefined;
}

/** Parameters of a connection URL that are TLS settings, handled here and not by pg's own parser. */
const TLS_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'ssl', 'uselibpqcompat', 'sslnegotiation'];

/**
 * A pg config from a `postgres://` URL whose TLS settings are libpq's (`sslmode`, `sslrootcert`,
 * `sslcert`, `sslkey`; PGSSLMODE when the URL has none) with the rule above. pg's own URL parser would let a URL parameter override
 * the verified settings, so they are taken out of the URL.
 */
export function postgresConfigFromUrl(databaseUrl: string, env: NodeJS.ProcessEnv = process.env): pg.ClientConfig {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new PostgresTlsError('the database URL is not a postgres:// URL');
  }
  // PGSSLMODE as libpq reads it; pg would ignore it once `ssl` is set, so it is honoured here.
  const mode = url.searchParams.get('sslmode') ?? env.PGSSLMODE ?? 'disable';
  if (isUnverifiedMode(mode)) throw new PostgresTlsError(`database URL: ${unverifiedModeMessage(mode)}`);
  if (mode !== 'disable' && mode !== 'verify-full') throw new PostgresTlsError(`database URL: unknown sslmode ${mode} (disable or verify-full)`);
  if (url.searchParams.has('ssl') || url.searchParams.has('uselibpqcompat') || url.searchParams.has('sslnegotiation')) {
    throw new PostgresTlsError('database URL: give TLS as sslmode=verify-full&sslrootcert=/path/to/ca.pem (ssl, uselibpqcompat and sslnegotiation are not supported)');
  }
  const ssl = pgSsl({
    sslmode: mode as SslMode,
    caFile: url.searchParams.get('sslrootcert') ?? undefined,
    certFile: url.searchParams.get('sslcert') ?? undefined,
    keyFile: url.searchParams.get('sslkey') ?? undefined,
  });
  for (const p of TLS_PARAMS) url.searchParams.delete(p);
  return { connectionString: url.toString(), ssl };
}

/** host:port/database of a URL, for messages (never the user's password). */
export function describePostgresUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    const mode = url.searchParams.get('sslmode') ?? 'disable';
    return `${url.hostname}:${url.port || 5432}${url.pathname} (TLS ${mode === 'disable' ? 'off' : mode})`;
  } catch {
    return 'the database URL';
  }
}
