/**
 * A real Redis for tests (Debian's redis-server): one server on a free loopback port with its
 * working dir and ACL file in a temp dir. The `default` user is off; a superuser `harness` (random
 * password) is what only the tests use. No persistence besides the ACL file.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, LOOPBACK } from '../ports.js';
import { debianBinary, startProcess, waitUntil } from './process.js';

export interface RedisServer {
  host: string;
  port: number;
  version: string;
  /** The ACL file the server loads and ACL SAVE writes. */
  aclFile: string;
  /** Runs one command as the harness superuser. */
  command(...args: Array<string | number>): Promise<unknown>;
  /** Whether this user and password authenticate (a fresh connection each time). */
  canLogin(user: string, password: string): Promise<boolean>;
  /** A connection held open as this user (an application still connected); `disconnect()` closes it. */
  connect(user: string, password: string): Promise<Redis>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const redisServer = debianBinary('/usr/bin/redis-server', 'redis-server');
  const dir = await mkdtemp(join(tmpdir(), 'rotor-redis-'));
  const port = await freePort();
  const password = randomBytes(18).toString('base64url');
  const aclFile = join(dir, 'users.acl');
  await writeFile(aclFile, `user default off\nuser harness on >${password} ~* &* +@all\n`, { mode: 0o600 });
  const config = join(dir, 'redis.conf');
  await writeFile(config, [`port ${port}`, `bind ${LOOPBACK}`, `dir ${dir}`, `aclfile ${aclFile}`, 'save ""', 'appendonly no', 'daemonize no', 'logfile ""', ''].join('\n'));
  const server = startProcess(redisServer, [config]);
  const open = async (username: string, pw: string) => {
    const client = new Redis({ host: LOOPBACK, port, username, password: pw, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (error) {
      client.disconnect();
      throw error;
    }
  };
  const command = async (...args: Array<string | number>) => {
    const client = await open('harness', password);
    try {
      return await client.call(String(args[0]), ...args.slice(1).map(String));
    } finally {
      client.disconnect();
    }
  };
  try {
    await waitUntil(async () => (await command('PING')) === 'PONG', server, 'redis-server');
  } catch (error) {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const info = String(await command('INFO', 'server'));
  return {
    host: LOOPBACK,
    port,
    version: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
    aclFile,
    command,
    async canLogin(user, pw) {
      try {
        (await open(user, pw)).disconnect();
        return true;
      } catch {
        return false;
      }
    },
    connect: open,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
