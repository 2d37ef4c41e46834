/**
 * SIGTERM as Kubernetes sends it to `rotor daemon` (a real process): polling stops, readiness turns
 * false, the activity in flight finishes within ROTOR_SHUTDOWN_GRACE and the process exits 0; the
 * rotation goes on on the next daemon. Past the grace the activity is cancelled, and the next daemon
 * retries it. The activity held in flight is the policy's health check, answered by this test.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml, login, servedLogin } from '../harness/db-rotation.js';
import { startDaemonProcess, stopDaemonProcesses, type DaemonProcess } from '../harness/daemon-process.js';
import { LOOPBACK } from '../harness/ports.js';
import type { RotationResult } from '../../workflows/types.js';

/** A consumer's health endpoint that holds every request until the test releases it. */
interface HeldEndpoint {
  url: string;
  requests: number;
  /** Resolves when the n-th request has arrived. */
  arrived(n: number): Promise<void>;
  /** Answers the held requests (and later ones) with 200. */
  release(): void;
  close(): Promise<void>;
}

async function heldEndpoint(): Promise<HeldEndpoint> {
  const held: ServerResponse[] = [];
  const waiters: Array<() => void> = [];
  let released = false;
  const endpoint = {} as HeldEndpoint;
  const server: Server = createServer((_request: IncomingMessage, response: ServerResponse) => {
    endpoint.requests++;
    for (const w of waiters.splice(0)) w();
    if (released) response.end('ok');
    else held.push(response);
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  Object.assign(endpoint, {
    url: `http://${LOOPBACK}:${(server.address() as AddressInfo).port}/health`,
    requests: 0,
    async arrived(n: number) {
      while (endpoint.requests < n) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    release() {
      released = true;
      for (const r of held.splice(0)) r.end('ok');
    },
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  });
  return endpoint;
}

let env: RotorEnv;
let dir: string;
const endpoints: HeldEndpoint[] = [];

/** A dual DB login whose rotation runs the health check at `url` (timeout well above the test's waits). */
function policy(id: string, url: string): string {
  const check = `healthChecks:\n  - name: app\n    http:\n      url: ${url}\n      timeout: 100s\n`;
  return dbPolicyYaml(env, id, { role: id.replace(/-/g, '_'), extra: check }).replace('after: 24h', 'after: 0s');
}

async function startRotationOver(daemon: DaemonProcess, credential: string): Promise<{ workflowId: string; runId: string }> {
  const response = await fetch(`${daemon.httpAddress}/v1/rotations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${daemon.apiToken}` },
    body: JSON.stringify({ credential, reason: 'drain test' }),
  });
  expect(response.status).toBe(202);
  return (await response.json()) as { workflowId: string; runId: string };
}

async function healthSteps(credential: string): Promise<string[]> {
  const [run] = await env.store.listRuns(credential);
  const steps = await env.store.listSteps(run!.rotationId);
  return steps.filter((s) => s.step === 'health.checked').map((s) => s.status);
}

/** A policy directory of its own for one test, holding the one policy. */
async function policyDir(id: string, url: string): Promise<string> {
  const path = join(dir, id);
  await mkdir(path);
  await writeFile(join(path, `${id}.yaml`), policy(id, url));
  return path;
}

async function sigterm(daemon: DaemonProcess): Promise<void> {
  daemon.child.kill('SIGTERM');
  await daemon.waitForLog('draining: polling stopped, waiting for in-flight activities');
}

beforeAll(async () => {
  // Real time: the daemons are other processes, and the test holds an activity on purpose.
  env = await startRotorEnv({ temporal: 'dev' });
  dir = await mkdtemp(join(tmpdir(), 'rotor-drain-'));
});

afterAll(async () => {
  await stopDaemonProcesses();
  for (const e of endpoints) await e.close();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// Each daemon process bundles the workflows at start: tens of seconds on a busy machine.
describe('SIGTERM drain', { timeout: 300_000 }, () => {
  it('lets the in-flight activity finish within the grace, exits 0, and a new daemon finishes the rotation', async () => {
    const health = await heldEndpoint();
    endpoints.push(health);
    const policies = await policyDir('drain-db', health.url);
    const first = await startDaemonProcess(env, policies, { ROTOR_SHUTDOWN_GRACE: '90s' });
    const { workflowId, runId } = await startRotationOver(first, 'drain-db');
    await health.arrived(1);

    await sigterm(first);
    expect((await fetch(`${first.httpAddress}/readyz`)).status).toBe(503);
    expect(first.child.exitCode).toBeNull(); // still draining: the health check is held
    health.release();
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.logs('rotor daemon stopped')).toHaveLength(1);

    // The activity finished on the draining daemon; nothing after it ran (no worker polled).
    expect(await healthSteps('drain-db')).toEqual(['started', 'succeeded']);
    const handle = env.client.workflow.getHandle(workflowId, runId);
    expect((await handle.describe()).status.name).toBe('RUNNING');

    const second = await startDaemonProcess(env, policies);
    const result = (await handle.result()) as RotationResult;
    expect(result.outcome).toBe('succeeded');
    expect(health.requests).toBe(1); // not run again
    expect(await healthSteps('drain-db')).toEqual(['started', 'succeeded']);
    expect(await login(env, await servedLogin(env, 'drain-db'))).toBe(true);

    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  });

  it('past the grace the activity is cancelled, the process still exits 0, and the next daemon retries it', async () => {
    const health = await heldEndpoint();
    endpoints.push(health);
    const policies = await policyDir('cut-db', health.url);
    const first = await startDaemonProcess(env, policies, { ROTOR_SHUTDOWN_GRACE: '1s' });
    const { workflowId, runId } = await startRotationOver(first, 'cut-db');
    await health.arrived(1);

    await sigterm(first);
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(await healthSteps('cut-db')).toEqual(['started', 'failed']);

    const second = await startDaemonProcess(env, policies);
    await health.arrived(2);
    health.release();
    const result = (await env.client.workflow.getHandle(workflowId, runId).result()) as RotationResult;
    expect(result.outcome).toBe('succeeded');
    expect(await healthSteps('cut-db')).toEqual(['started', 'failed', 'started', 'succeeded']);
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  });

  it('refuses a grace that is not a duration before starting anything', async () => {
    await expect(startDaemonProcess(env, dir, { ROTOR_SHUTDOWN_GRACE: 'soon' })).rejects.toThrow(/ROTOR_SHUTDOWN_GRACE must be a duration/);
  });
});
