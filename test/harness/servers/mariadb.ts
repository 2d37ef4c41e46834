/**
 * A real MariaDB for tests (Debian's mariadb-server): a throwaway datadir made by mariadb-install-db
 * in a temp dir, mariadbd on a free loopback port with its unix socket in that dir, and a superuser
 * `harness` (random password, created by the server's init file) that only the tests use.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePort, LOOPBACK } from '../ports.js';
import { debianBinary, startProcess, waitUntil } from './process.js';

export interface MariaDbServer {
  host: string;
  port: number;
  /** The server's own version string, e.g. `10.11.19-MariaDB-0+deb12u1`. */
  version: string;
  /** Runs SQL as the harness superuser. */
  query<T = mysql.RowDataPacket[]>(sql: string, params?: unknown[]): Promise<T>;
  /** Whether this login authenticates (a fresh connection each time). */
  canLogin(user: string, password: string): Promise<boolean>;
  /** A connection held open as this login (an application still connected), closed by `end()`. */
  connect(user: string, password: string): Promise<mysql.Connection>;
  stop(): Promise<void>;
}

const HARNESS_USER = 'harness';

export async function startMariaDb(): Promise<MariaDbServer> {
  const mariadbd = debianBinary('/usr/sbin/mariadbd', 'mariadb-server');
  const installDb = debianBinary('/usr/bin/mariadb-install-db', 'mariadb-server');
  const dir = await mkdtemp(join(tmpdir(), 'rotor-mariadb-'));
  const port = await freePort();
  const password = randomBytes(18).toString('base64url');
  const removeDir = () => rm(dir, { recursive: true, force: true });
  const install = startProcess(installDb, ['--no-defaults', `--datadir=${join(dir, 'data')}`, '--user=root', '--skip-test-db', '--auth-root-authentication-method=socket']);
  const code = await new Promise<number | null>((resolve) => install.child.once('exit', resolve));
  if (code !== 0) {
    await removeDir();
    throw new Error(`mariadb-install-db exited with ${code}:\n${install.output()}`);
  }
  const initFile = join(dir, 'init.sql');
  await writeFile(
    initFile,
    `CREATE USER IF NOT EXISTS '${HARNESS_USER}'@'${LOOPBACK}' IDENTIFIED BY '${password}';\nGRANT ALL PRIVILEGES ON *.* TO '${HARNESS_USER}'@'${LOOPBACK}' WITH GRANT OPTION;\n`,
    { mode: 0o600 },
  );
  // We run as root: mariadbd refuses that unless told to stay root (--user=root).
  const server = startProcess(mariadbd, [
    '--no-defaults',
    `--datadir=${join(dir, 'data')}`,
    '--user=root',
    `--bind-address=${LOOPBACK}`,
    `--port=${port}`,
    `--socket=${join(dir, 'mariadb.sock')}`,
    `--pid-file=${join(dir, 'mariadb.pid')}`,
    `--init-file=${initFile}`,
    '--skip-name-resolve',
    '--skip-log-bin',
    '--innodb-buffer-pool-size=16M',
    '--performance-schema=OFF',
  ]);
  const options = { host: LOOPBACK, port, connectTimeout: 5_000 };
  const connectAs = (user: string, pw: string) => mysql.createConnection({ ...options, user, password: pw });
  const query = async <T>(sql: string, params: unknown[] = []): Promise<T> => {
    const conn = await connectAs(HARNESS_USER, password);
    try {
      const [rows] = await conn.query(sql, params);
      return rows as T;
    } finally {
      await conn.end();
    }
  };
  try {
    await waitUntil(async () => (await query<unknown[]>('SELECT 1')).length === 1, server, 'mariadbd');
  } catch (error) {
    await server.stop();
    await removeDir();
    throw error;
  }
  const [{ v }] = await query<Array<{ v: string }>>('SELECT VERSION() AS v');
  return {
    host: LOOPBACK,
    port,
    version: v!,
    query,
    async canLogin(user, pw) {
      try {
        const conn = await connectAs(user, pw);
        await conn.end();
        return true;
      } catch {
        return false;
      }
    },
    connect: connectAs,
    async stop() {
      await server.stop();
      await removeDir();
    },
  };
}
