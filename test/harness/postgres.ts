/**
 * A real PostgreSQL for tests: the dev stack's embedded PostgreSQL (dev/postgres.ts) in a fresh temp
 * dir on a free loopback port, removed by stop(). When DATABASE_URL is set, that server is used
 * instead (nothing is started or stopped).
 */
import pg from 'pg';
import { startEmbeddedPostgres, type PostgresServer } from '../../dev/postgres.js';

export type { PostgresServer };

const DATABASE = 'postgres';

export interface PostgresOptions {
  /** TLS on, with this server certificate and key (PEM): clients may then connect with verify-full. */
  ssl?: { cert: string; key: string };
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const external = process.env.DATABASE_URL;
  if (external && options.ssl) throw new Error('a PostgreSQL with TLS is started by the test itself: unset DATABASE_URL');
  if (external) return fromUrl(external);
  return startEmbeddedPostgres({ ssl: options.ssl });
}

function fromUrl(url: string): PostgresServer {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    adminUser: decodeURIComponent(parsed.username),
    adminPassword: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.slice(1)) || DATABASE,
    url,
    stop: async () => undefined,
    halt: () => Promise.reject(new Error('cannot halt an external PostgreSQL (DATABASE_URL)')),
    resume: () => Promise.reject(new Error('cannot resume an external PostgreSQL (DATABASE_URL)')),
    pid: () => undefined,
  };
}

/** SQLSTATEs of a refused login: invalid_password and invalid_authorization_specification (NOLOGIN). */
const LOGIN_REFUSED = new Set(['28P01', '28000']);

/** Whether these credentials log in; false when PostgreSQL refuses them, other errors are thrown. */
export async function canLogin(options: { host: string; port: number; database: string; user: string; password: string }): Promise<boolean> {
  const client = new pg.Client({ ...options, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (error) {
    if (LOGIN_REFUSED.has((error as { code?: string }).code ?? '')) return false;
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}
