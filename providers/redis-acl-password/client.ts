/**
 * Connections and ACL commands for the redis-acl-password provider. Passwords travel as their
 * SHA-256 (`#<hash>` adds, `!<hash>` removes: Redis's own way of naming a password), so the plain
 * value reaches the server only when a client authenticates with it. Errors are rebuilt from the
 * server's reply with every secret and hash the call handled scrubbed out.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ProviderRefusal, type ProviderContext } from '../contracts.js';
import type { RedisAclPasswordSpec } from './spec.js';
import { redactedMessage } from '../../lib/redact.js';

/** Replies no retry can fix: a refused login or a missing permission. */
const REFUSALS = /^(NOPERM|WRONGPASS|NOAUTH)\b/;

export function where(spec: RedisAclPasswordSpec): string {
  return `Redis ${spec.host}:${spec.port}`;
}

/** The SHA-256 Redis keeps for a password (ACL GETUSER lists these). */
export function passwordHash(password: string): string {
  return createHash('sha256').update(password, 'utf8').digest('hex');
}

/** A material id: the user and the first 12 hex digits of its password's hash, as Redis lists it. */
export function passwordId(user: string, hash: string): string {
  return `${user}#${hash.slice(0, 12)}`;
}

export interface Session {
  redis: Redis;
  /** Remember a secret so that errors of this session are scrubbed of it. */
  secret(value: string): void;
  call(...args: string[]): Promise<unknown>;
}

export async function withConnection<T>(
  ctx: ProviderContext,
  spec: RedisAclPasswordSpec,
  login: { user: string; password: string },
  action: string,
  options: { refuse: boolean },
  work: (session: Session) => Promise<T>,
): Promise<T> {
  ctx.signal?.throwIfAborted();
  const secrets = [login.password, passwordHash(login.password)];
  // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
  const { Redis } = await import('ioredis');
  const redis = new Redis({
    host: spec.host,
    port: spec.port,
    username: login.user,
    password: login.password,
    ...(spec.tls === 'disable' ? {} : { tls: { rejectUnauthorized: spec.tls === 'verify-full', servername: spec.host } }),
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 10_000,
    commandTimeout: 30_000,
    connectionName: 'rotor',
  });
  let lastError: Error | undefined;
  redis.on('error', (e: Error) => (lastError = e));
  try {
    await redis.connect().catch((error: Error) => {
      // ioredis reports a refused AUTH as a closed connection: name the server's reason instead.
      throw lastError && lastError !== error ? lastError : error;
    });
    const session: Session = {
      redis,
      secret: (value) => secrets.push(value, passwordHash(value)),
      call: (...args) => redis.call(args[0]!, ...args.slice(1)),
    };
    return await work(session);
  } catch (error) {
    if (error instanceof ProviderRefusal) throw error;
    const reason = redactedMessage(error, secrets);
    const message = `${action} (${where(spec)}): ${reason}`;
    throw options.refuse && REFUSALS.test(reason) ? new ProviderRefusal(message) : new Error(message);
  } finally {
    redis.disconnect();
  }
}

export async function withAdmin<T>(ctx: ProviderContext, spec: RedisAclPasswordSpec, action: string, work: (session: Session) => Promise<T>): Promise<T> {
  const password = await ctx.resolveSecret(spec.admin.password);
  return withConnection(ctx, spec, { user: spec.admin.user, password }, action, { refuse: true }, work);
}

/** ACL GETUSER's answer, from RESP2 (flat list) or RESP3 (map). */
export interface AclUser {
  flags: string[];
  passwords: string[];
  commands: string;
  keys: string;
  channels: string;
}

export async function getUser(session: Session, user: string): Promise<AclUser | null> {
  const reply = await session.call('ACL', 'GETUSER', user);
  if (reply === null || reply === undefined) return null;
  const fields = new Map<string, unknown>();
  if (Array.isArray(reply)) for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1]);
  else if (reply instanceof Map) for (const [k, v] of reply) fields.set(String(k), v);
  else if (typeof reply === 'object') for (const [k, v] of Object.entries(reply)) fields.set(k, v);
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  return {
    flags: list(fields.get('flags')),
    passwords: list(fields.get('passwords')),
    commands: String(fields.get('commands') ?? ''),
    keys: String(fields.get('keys') ?? ''),
    channels: String(fields.get('channels') ?? ''),
  };
}

/** Applies ACL SETUSER rules, then makes the change survive a restart as the spec says. */
export async function setUser(session: Session, spec: RedisAclPasswordSpec, rules: string[]): Promise<void> {
  await session.call('ACL', 'SETUSER', spec.user, ...rules);
  await persist(session, spec);
}

export async function persist(session: Session, spec: RedisAclPasswordSpec): Promise<void> {
  if (spec.persist === 'acl-save') await session.call('ACL', 'SAVE');
  else if (spec.persist === 'config-rewrite') await session.call('CONFIG', 'REWRITE');
}

export interface ClientInfo {
  user: string;
  ageSeconds: number;
}

export async function clientsOf(session: Session, user: string): Promise<ClientInfo[]> {
  const text = String(await session.call('CLIENT', 'LIST'));
  const clients: ClientInfo[] = [];
  for (const line of text.split('\n')) {
    const fields = new Map(line.trim().split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const));
    if (fields.get('user') === user) clients.push({ user, ageSeconds: Number(fields.get('age') ?? 0) });
  }
  return clients;
}
