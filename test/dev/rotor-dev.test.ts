/**
 * `rotor dev` as a user runs it: bin/rotor.js in a child process of its own, on free loopback
 * ports, with a temp dir as its --dir and as its TMPDIR. The other `rotor` commands run against it
 * with nothing but its env file; SIGHUP reconciles without harming the stack; SIGTERM stops every
 * child process and leaves no temp dir; a second start finds the earlier run in Temporal and a
 * credential that still logs in.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { resolveTemporalTarget, withTemporalClient } from '../../daemon/temporal-connection.js';
import { READY_LINE } from '../../dev/run.js';
import { statusQuery } from '../../workflows/protocol.js';
import type { RotationResult } from '../../workflows/types.js';
import { freePort } from '../harness/ports.js';
import { canLogin } from '../harness/postgres.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/rotor.js');

interface DevProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

let root: string;
let dir: string;
let tmp: string;
let ports: { temporal: number; ui: number; http: number };
const started: DevProcess[] = [];

function startDev(): DevProcess {
  const child = spawn(
    process.execPath,
    [BIN, 'dev', '--dir', dir, '--temporal-port', String(ports.temporal), '--ui-port', String(ports.ui), '--http-port', String(ports.http), '--every', '1h'],
    // info: the reconcile log line is what proves SIGHUP was handled.
    { cwd: ROOT, env: { ...process.env, TMPDIR: tmp, ROTOR_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const dev = { child, stdout: () => out, stderr: () => err, exited };
  started.push(dev);
  return dev;
}

/** Waits until `condition` holds, failing early when rotor dev exits. */
async function until(dev: DevProcess, what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 240_000): Promise<void> {
  let exited = false;
  void dev.exited.then(() => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (exited) throw new Error(`rotor dev exited while waiting for ${what}:\n${dev.stderr().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${dev.stderr().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function readEnvFile(): Promise<Record<string, string>> {
  const text = await readFile(join(dir, 'env'), 'utf8');
  return Object.fromEntries(
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const match = /^([A-Z_]+)='([^']*)'$/.exec(line);
        if (!match) throw new Error(`env file line is not KEY='value': ${line.slice(0, 30)}`);
        return [match[1], match[2]];
      }),
  );
}

/** `rotor …` as another shell would run it: its settings from the env file only. */
async function rotor(env: Record<string, string>, ...args: string[]): Promise<string> {
  const { ROTOR_DATABASE_URL: _a, TEMPORAL_ADDRESS: _b, ROTOR_POLICIES: _c, VAULT_TOKEN: _d, ...inherited } = process.env;
  const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...inherited, ...env }, timeout: 180_000 });
  return stdout + stderr;
}

/** Every process below `pid`, from /proc. */
async function descendants(pid: number): Promise<Array<{ pid: number; cmd: string }>> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const statText = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(statText.slice(statText.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid) parents.set(Number(entry), ppid);
  }
  const found: Array<{ pid: number; cmd: string }> = [];
  const walk = async (parent: number) => {
    for (const [child, ppid] of parents) {
      if (ppid !== parent) continue;
      const cmd = (await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
      found.push({ pid: child, cmd });
      await walk(child);
    }
  };
  await walk(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function readVaultSecret(env: Record<string, string>, path: string): Promise<{ username: string; password: string }> {
  const response = await fetch(`${env.VAULT_ADDR}/v1/secret/data/${path}`, { headers: { 'X-Vault-Token': env.VAULT_TOKEN! } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: { data: { username: string; password: string } } }).data.data;
}

function demoDbLogin(env: Record<string, string>, secret: { username: string; password: string }) {
  const url = new URL(env.ROTOR_DATABASE_URL!);
  return { host: url.hostname, port: Number(url.port), database: 'demo', user: secret.username, password: secret.password };
}

async function runsInTemporal(env: Record<string, string>): Promise<string[]> {
  return withClient(env, async (client) => {
    const runs: string[] = [];
    for await (const w of client.workflow.list({ query: "RotorCredentialId = 'demo-db-app'" })) runs.push(w.runId);
    return runs;
  });
}

async function withClient<T>(env: Record<string, string>, use: (client: Client) => Promise<T>): Promise<T> {
  // As `rotor` itself connects, from the variables `rotor dev` printed.
  return withTemporalClient(resolveTemporalTarget({}, env), use);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rotor-dev-test-'));
  // As root, PostgreSQL runs as the `postgres` OS user, which must reach its data dir below here.
  await chmod(root, 0o755);
  dir = join(root, 'state');
  tmp = join(root, 'tmp');
  await mkdir(tmp, { mode: 0o777 });
  await chmod(tmp, 0o777);
  ports = { temporal: await freePort(), ui: await freePort(), http: await freePort() };
});

afterAll(async () => {
  for (const dev of started) {
    if (dev.child.exitCode === null && dev.child.signalCode === null) {
      dev.child.kill('SIGTERM');
      await dev.exited;
    }
  }
  await rm(root, { recursive: true, force: true });
});

describe('rotor dev', () => {
  let env: Record<string, string>;
  let firstRun: { runId: string; secret: { username: string; password: string } };
  /** The rotation interrupted by SIGTERM in its grace period. */
  let interrupted: { runId: string; secret: { username: string; password: string } };

  it('refuses at once, naming the set-up command and Go, where the Temporal CLI is not installed', async () => {
    const noTools = join(root, 'no-tools');
    const refused = await run(process.execPath, [BIN, 'dev', '--dir', join(root, 'refused')], {
      cwd: ROOT,
      env: { ...process.env, ROTOR_TOOLS_DIR: noTools },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('npm run setup');
    expect(refused.stderr).toContain('node scripts/setup-tools.mjs temporal-cli');
    expect(refused.stderr).toContain('Go');
    expect(existsSync(join(root, 'refused'))).toBe(false);
  }, 60_000);

  it('starts the real Temporal dev server with its UI and writes an env file (0600) the other commands need nothing else from', async () => {
    // A stale env file that others could read: rotor dev must take the permission back, not keep it.
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'env'), 'OLD=1\n', { mode: 0o644 });
    await chmod(join(dir, 'env'), 0o644);

    const dev = startDev();
    await until(dev, 'the readiness line', () => dev.stderr().includes(READY_LINE));
    expect(dev.stderr()).toMatch(new RegExp(`Web UI http://127\\.0\\.0\\.1:${ports.ui}`));
    expect(dev.stderr()).toMatch(/Temporal 1\.\d+\.\d+ \(dev server\)/);
    expect((await stat(join(dir, 'env'))).mode & 0o777).toBe(0o600);
    for (const file of ['state.json', 'vault.json', 'api-token']) expect((await stat(join(dir, file))).mode & 0o777).toBe(0o600);
    const ui = await fetch(`http://127.0.0.1:${ports.ui}/`);
    expect(ui.status).toBe(200);

    env = await readEnvFile();
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining(['ROTOR_DATABASE_URL', 'TEMPORAL_ADDRESS', 'ROTOR_POLICIES', 'ROTOR_API_TOKEN_REF', 'VAULT_TOKEN', 'DEMO_DB_ADMIN_PASSWORD']),
    );

    expect(await rotor(env, 'rotate', 'demo-db-app', '--wait')).toContain('demo-db-app: succeeded');
    const status = await rotor(env, 'status', 'demo-db-app');
    expect(status).toMatch(/succeeded/);
    // These failed in the demo before: the policy's secret references were not in any env file.
    expect(await rotor(env, 'plan', '--check')).toContain('✓ demo-db-app');
    await rotor(env, 'discover', '--local');
    await rotor(env, 'decommission', 'demo-db-app', '--dry-run');

    const secret = await readVaultSecret(env, 'apps/demo/database');
    expect(await canLogin(demoDbLogin(env, secret))).toBe(true);
    const runs = await runsInTemporal(env);
    expect(runs).toHaveLength(1);
    firstRun = { runId: runs[0]!, secret };
    // The banner and the logs never carry the rotated password or the admin password.
    for (const value of [secret.password, env.DEMO_DB_ADMIN_PASSWORD!, env.VAULT_TOKEN!]) {
      expect(dev.stdout()).not.toContain(value);
      expect(dev.stderr()).not.toContain(value);
    }
  }, 400_000);

  it('survives SIGHUP and reconciles; SIGTERM stops every child process and leaves no temp dir', async () => {
    const dev = started[0]!;
    const pid = dev.child.pid!;
    const children = await descendants(pid);
    const postgres = children.filter((c) => c.cmd.includes('/bin/postgres -D'));
    const temporal = children.filter((c) => c.cmd.includes('server start-dev'));
    expect(postgres.length).toBeGreaterThan(0);
    expect(temporal).toHaveLength(1);

    const reconciles = () => dev.stdout().split('schedules reconciled').length - 1;
    const before = reconciles();
    dev.child.kill('SIGHUP');
    await until(dev, 'the reconcile after SIGHUP', () => reconciles() > before, 60_000);
    expect(alive(pid)).toBe(true);
    for (const c of [...postgres, ...temporal]) expect(alive(c.pid), c.cmd).toBe(true);
    expect(await rotor(env, 'status', 'demo-db-app')).toMatch(/succeeded/);

    // A second rotation, stopped in its grace period (revoke.after 1m): old and new both log in.
    const startedRotation = await rotor(env, 'rotate', 'demo-db-app');
    const runId = /run ([0-9a-f-]+)/.exec(startedRotation)?.[1];
    expect(runId, startedRotation).toBeDefined();
    await withClient(env, async (client) => {
      const handle = client.workflow.getHandle('rotate/demo-db-app', runId);
      await until(dev, 'the grace period', async () => (await handle.query(statusQuery).catch(() => undefined))?.step === 'grace period', 120_000);
    });
    interrupted = { runId: runId!, secret: await readVaultSecret(env, 'apps/demo/database') };
    expect(interrupted.secret.username).not.toBe(firstRun.secret.username);
    expect(await canLogin(demoDbLogin(env, interrupted.secret))).toBe(true);
    expect(await canLogin(demoDbLogin(env, firstRun.secret))).toBe(true);

    const all = await descendants(pid);
    dev.child.kill('SIGTERM');
    expect(await dev.exited).toBe(0);
    // Stopped children are reaped by init once rotor dev has exited: allow that a moment.
    for (let i = 0; i < 50 && all.some((c) => alive(c.pid)); i++) await new Promise((r) => setTimeout(r, 200));
    expect(all.filter((c) => alive(c.pid)).map((c) => c.cmd)).toEqual([]);
    // Only tsx's compile cache (bin/rotor.js runs through tsx; reused by every later run) may remain.
    expect((await readdir(tmp)).filter((name) => !/^tsx-\w+$/.test(name))).toEqual([]);
  }, 200_000);

  it('starts again with the earlier runs in Temporal, finishes the interrupted rotation, and its credential works', async () => {
    const dev = startDev();
    await until(dev, 'the readiness line', () => dev.stderr().includes(READY_LINE));
    env = await readEnvFile();
    const runs = await runsInTemporal(env);
    expect(runs).toEqual(expect.arrayContaining([firstRun.runId, interrupted.runId]));
    expect(await rotor(env, 'history', 'demo-db-app')).toContain(firstRun.runId);
    // The Vault emulator kept what the interrupted rotation had handed out; PostgreSQL kept the role.
    expect(await readVaultSecret(env, 'apps/demo/database')).toEqual(interrupted.secret);
    expect(await canLogin(demoDbLogin(env, interrupted.secret))).toBe(true);
    // Its grace timer was in Temporal's SQLite file: the run resumes, revokes the old login and ends.
    const result = await withClient(env, (client) => client.workflow.getHandle('rotate/demo-db-app', interrupted.runId).result() as Promise<RotationResult>);
    expect(result.outcome).toBe('succeeded');
    expect(await canLogin(demoDbLogin(env, firstRun.secret))).toBe(false);
    expect(await canLogin(demoDbLogin(env, interrupted.secret))).toBe(true);
    dev.child.kill('SIGTERM');
    expect(await dev.exited).toBe(0);
  }, 400_000);
});
