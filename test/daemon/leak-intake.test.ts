/**
 * Issue 14 items 2 and 3, issue 19 "a leak of material already revoked": the GitHub secret scanning
 * webhook cannot lose a leak (Temporal down: 503 in time, the leak kept pending, acted on by a
 * redelivery or by Rotor itself once Temporal is back), deduplicates by what was leaked rather than
 * by the delivery id the HMAC does not cover, and a value already revoked — by webhook or by
 * `rotor leak` — starts nothing, is reported as such and recorded in the audit log.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loopbackTemporalTarget } from '../../daemon/temporal-connection.js';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml, login, servedLogin, type DbLogin } from '../harness/db-rotation.js';
import { startTestDaemon } from '../harness/daemon.js';
import { captureOutput, cliFor } from '../harness/cli.js';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js';
import type { RunningDaemon } from '../../daemon/run.js';
import { listLeakReports } from '../../store/leaks.js';
import { parsePolicyText } from '../../config/load.js';
import { registry } from '../../providers/registry.js';
import { startRotation } from '../../daemon/rotations.js';
import type { RotationResult } from '../../workflows/types.js';

let env: RotorEnv;
let proxy: TcpProxy;
let daemon: RunningDaemon;
let dir: string;
const webhookSecret = randomBytes(20).toString('hex');
const apiToken = randomBytes(24).toString('base64url');
/** Every password the tests saw: none may reach the store or the audit log. */
const seen: DbLogin[] = [];

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  proxy = await startTcpProxy(env.temporal.address);
  dir = await mkdtemp(join(tmpdir(), 'rotor-leak-'));
  const yaml = dbPolicyYaml(env, 'leak-db', { role: 'leak_app' });
  await writeFile(join(dir, 'p.yaml'), yaml);
  // Rotor's own retry is slow here, so that what acts in the first test is the redelivery.
  daemon = await startTestDaemon(env, dir, { apiToken, githubWebhookSecret: webhookSecret, temporal: loopbackTemporalTarget(proxy.address, env.temporal.namespace), leakRetryEveryMs: 3_600_000 });
  // A first rotation, so Rotor holds the fingerprint of the password in service.
  const [policy] = parsePolicyText(yaml, 'p.yaml', registry.catalog, []);
  await (await startRotation(env.client, registry, policy!, { taskQueue: env.taskQueue, trigger: 'manual' })).handle.result();
});
afterAll(async () => {
  proxy?.restore();
  await daemon?.stop();
  await proxy?.close();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
  proxy.restore(); // a test that failed half-way must not leave Temporal away for the next
});

function alert(secret: string, number: number) {
  return JSON.stringify({
    action: 'created',
    alert: { number, secret_type: 'postgres_connection_string', secret, html_url: `https://github.example/acme/app/security/secret-scanning/${number}` },
    repository: { full_name: 'acme/app' },
  });
}

function deliver(to: RunningDaemon, body: string, delivery: string) {
  return fetch(`${to.httpAddress}/v1/hooks/github/secret-scanning`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': `sha256=${createHmac('sha256', webhookSecret).update(body).digest('hex')}`,
      'x-github-delivery': delivery,
      'x-github-event': 'secret_scanning_alert',
    },
    body,
  });
}

async function rotationsOf(credentialId: string): Promise<number> {
  let count = 0;
  for await (const _ of env.client.workflow.list({ query: `RotorCredentialId = '${credentialId}'` })) count++;
  return count;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 50_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function leakAction(number: number): Promise<string | undefined> {
  return (await listLeakReports(env.store)).find((r) => r.leakKey?.includes(`#${number}:`))?.action;
}

async function emergencyResult(workflowId: string): Promise<RotationResult> {
  return (await env.client.workflow.getHandle(workflowId).result()) as RotationResult;
}

describe('webhook intake that cannot lose a leak', () => {
  it('Temporal down: 503 within GitHub\'s 10 s, the leak kept pending; the redelivery acts', async () => {
    const leaked = await servedLogin(env, 'leak-db');
    seen.push(leaked);
    const delivery = randomUUID();
    proxy.cut();
    const sent = Date.now();
    const refused = await deliver(daemon, alert(leaked.password, 11), delivery);
    expect(refused.status).toBe(503);
    expect(Date.now() - sent).toBeLessThan(10_000);
    expect(await leakAction(11)).toBe('pending');
    expect(await login(env, leaked)).toBe(true);

    proxy.restore();
    // GitHub redelivers the same delivery; until the client has reconnected it may get 503 again.
    const acted = await until('a redelivery that acts', async () => {
      const response = await deliver(daemon, alert(leaked.password, 11), delivery);
      return response.status === 503 ? undefined : response;
    });
    expect(acted.status).toBe(202);
    const { workflowId } = (await acted.json()) as { workflowId: string };
    expect((await emergencyResult(workflowId)).outcome).toBe('succeeded');
    expect(await login(env, leaked)).toBe(false);
    expect(await leakAction(11)).toBe('started');
  });

  it('the same signed body under a new delivery id starts nothing new', async () => {
    const leaked = seen[0]!;
    const before = await rotationsOf('leak-db');
    const replay = await deliver(daemon, alert(leaked.password, 11), randomUUID());
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({ result: 'replay', action: 'started' });
    expect(await rotationsOf('leak-db')).toBe(before);
  });

  it('a value already revoked, reported in a new alert, is reported as such, starts nothing and is audited', async () => {
    const leaked = seen[0]!;
    const before = await rotationsOf('leak-db');
    const response = await deliver(daemon, alert(leaked.password, 99), randomUUID());
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ result: 'already-revoked', credential: 'leak-db', material: leaked.username });
    expect(await rotationsOf('leak-db')).toBe(before);
    expect(await leakAction(99)).toBe('already-revoked');
    const audit = (await env.store.listAudit({ credentialId: 'leak-db' })).filter((e) => e.event === 'leak.already-revoked');
    expect(audit).toEqual([expect.objectContaining({ actor: 'github-secret-scanning', detail: expect.objectContaining({ alert: 99, material: leaked.username, how: 'revoked' }) })]);
  });

  it('rotor leak with a value already revoked says so, starts nothing and records it', async () => {
    const leaked = seen[0]!;
    const before = await rotationsOf('leak-db');
    const output = captureOutput();
    expect(await cliFor(env, dir)('leak', leaked.password, '--reason', 'pasted in chat')).toBe(0);
    expect(output.text()).toContain(`leak-db: this value is already dead (material ${leaked.username} revoked`);
    expect(output.text()).toContain('nothing started');
    expect(output.text()).not.toContain(leaked.password);
    vi.restoreAllMocks();
    expect(await rotationsOf('leak-db')).toBe(before);
    const audit = (await env.store.listAudit({ credentialId: 'leak-db' })).filter((e) => e.event === 'leak.already-revoked' && e.actor === `cli:${userInfo().username}`);
    expect(audit).toEqual([expect.objectContaining({ detail: expect.objectContaining({ reason: 'pasted in chat', material: leaked.username }) })]);
  });

  it('Rotor starts a pending leak by itself once Temporal is back, without a redelivery', async () => {
    // A second daemon whose own retry is quick, on the same policies.
    const quick = await startTestDaemon(env, dir, { apiToken, githubWebhookSecret: webhookSecret, temporal: loopbackTemporalTarget(proxy.address, env.temporal.namespace), leakRetryEveryMs: 300 });
    try {
      const leaked = await servedLogin(env, 'leak-db');
      seen.push(leaked);
      proxy.cut();
      expect((await deliver(quick, alert(leaked.password, 12), randomUUID())).status).toBe(503);
      expect(await leakAction(12)).toBe('pending');
      proxy.restore();
      await until('the emergency started by Rotor', async () => ((await leakAction(12)) === 'started' ? true : undefined));
      const report = (await listLeakReports(env.store)).find((r) => r.leakKey?.includes('#12:'))!;
      expect((await emergencyResult(report.workflowId!)).outcome).toBe('succeeded');
      expect(await login(env, leaked)).toBe(false);
    } finally {
      proxy.restore();
      await quick.stop();
    }
  });

  it('no leaked value reached the store: leak reports and audit log hold fingerprints and ids only', async () => {
    const { rows } = await env.store.query<{ dump: string }>(`SELECT (SELECT json_agg(l)::text FROM leak_reports l) || (SELECT json_agg(a)::text FROM audit_log a) AS dump`);
    expect(seen.length).toBe(2);
    for (const login of seen) expect(rows[0]!.dump).not.toContain(login.password);
    expect(rows[0]!.dump).toContain('leak.already-revoked');
  });
});
