/**
 * GitHub secret scanning webhooks: a signed alert for a managed credential leads to a completed
 * emergency rotation; a replay, a forged signature and an unknown secret start nothing; the leaked
 * value is never stored.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml, login, servedLogin } from '../harness/db-rotation.js';
import { registry } from '../../providers/registry.js';
import type { RunningDaemon } from '../../daemon/run.js';
import { startTestDaemon } from '../harness/daemon.js';
import { listLeakReports } from '../../store/leaks.js';
import { collectFacts } from '../../audit/facts.js';
import { runAudit } from '../../audit/index.js';
import { DEFAULT_THRESHOLDS } from '../../audit/types.js';
import { parsePolicyText } from '../../config/load.js';
import { startRotation } from '../../daemon/rotations.js';
import type { RotationResult } from '../../workflows/types.js';

let env: RotorEnv;
let daemon: RunningDaemon;
let dir: string;
const webhookSecret = randomBytes(20).toString('hex');

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  dir = await mkdtemp(join(tmpdir(), 'rotor-scan-'));
  await writeFile(join(dir, 'p.yaml'), dbPolicyYaml(env, 'ci-db', { role: 'ci_app' }));
  daemon = await startTestDaemon(env, dir, { apiToken: randomBytes(16).toString('hex'), githubWebhookSecret: webhookSecret });
});
afterAll(async () => {
  await daemon?.stop();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function alert(secret: string) {
  return JSON.stringify({
    action: 'created',
    alert: { number: 7, secret_type: 'postgres_connection_string', secret, html_url: 'https://github.example/acme/app/security/secret-scanning/7' },
    repository: { full_name: 'acme/app' },
  });
}

function deliver(body: string, options: { secret?: string; delivery?: string; event?: string } = {}) {
  const signature = `sha256=${createHmac('sha256', options.secret ?? webhookSecret).update(body).digest('hex')}`;
  return fetch(`${daemon.httpAddress}/v1/hooks/github/secret-scanning`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': signature,
      'x-github-delivery': options.delivery ?? randomUUID(),
      'x-github-event': options.event ?? 'secret_scanning_alert',
    },
    body,
  });
}

async function rotationsOf(credentialId: string): Promise<number> {
  let count = 0;
  for await (const _ of env.client.workflow.list({ query: `RotorCredentialId = '${credentialId}'` })) count++;
  return count;
}

describe('GitHub secret scanning webhook', () => {
  it('a signed alert for a managed credential leads to a completed emergency rotation; a replay does nothing', async () => {
    // A first rotation, so Rotor holds the fingerprint of the password in service.
    const [policy] = parsePolicyText(dbPolicyYaml(env, 'ci-db', { role: 'ci_app' }), 'p.yaml', registry.catalog, []);
    await (await startRotation(env.client, registry, policy!, { taskQueue: env.taskQueue, trigger: 'manual' })).handle.result();
    const leaked = await servedLogin(env, 'ci-db');
    const delivery = randomUUID();
    const response = await deliver(alert(leaked.password), { delivery });
    expect(response.status).toBe(202);
    const { workflowId } = (await response.json()) as { workflowId: string };
    const result = (await env.client.workflow.getHandle(workflowId).result()) as RotationResult;
    expect(result.outcome).toBe('succeeded');
    expect(await login(env, leaked)).toBe(false);
    // The webhook is the actor of the emergency, with GitHub's reason.
    expect((await env.store.listAudit({ rotationId: result.rotationId })).find((e) => e.event === 'rotation.requested')).toMatchObject({
      actor: 'token:github-secret-scanning',
      actorInfo: { kind: 'token', name: 'GitHub secret scanning' },
      detail: { trigger: 'emergency', workflowId },
    });
    const before = await rotationsOf('ci-db');
    const replay = await deliver(alert(leaked.password), { delivery });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({ result: 'replay', action: 'started' });
    expect(await rotationsOf('ci-db')).toBe(before);
    const reports = await listLeakReports(env.store);
    expect(reports.find((r) => r.deliveryId === delivery)).toMatchObject({ status: 'managed', credentialId: 'ci-db' });
    expect(JSON.stringify(reports)).not.toContain(leaked.password);
  });

  it('a forged signature is refused with 401 and starts nothing', async () => {
    const before = await rotationsOf('ci-db');
    const leaked = await servedLogin(env, 'ci-db');
    expect((await deliver(alert(leaked.password), { secret: 'not-the-webhook-secret' })).status).toBe(401);
    const unsigned = await fetch(`${daemon.httpAddress}/v1/hooks/github/secret-scanning`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-delivery': randomUUID(), 'x-github-event': 'secret_scanning_alert' },
      body: alert(leaked.password),
    });
    expect(unsigned.status).toBe(401);
    expect(await rotationsOf('ci-db')).toBe(before);
    expect(await login(env, leaked)).toBe(true);
  });

  it('an unknown secret is recorded as an unmanaged finding, by fingerprint only', async () => {
    const unknown = `ghp_${randomBytes(18).toString('hex')}`;
    const response = await deliver(alert(unknown));
    expect(await response.json()).toEqual({ result: 'unmanaged' });
    const reports = await listLeakReports(env.store);
    expect(reports.filter((r) => r.status === 'unmanaged')).toHaveLength(1);
    expect(JSON.stringify(reports)).not.toContain(unknown);
    // `rotor audit` reports it as a critical finding.
    const now = new Date();
    const audit = runAudit(await collectFacts(env.store, { now, failureWindowDays: 30 }), { now, policies: [], thresholds: DEFAULT_THRESHOLDS, allowedOwners: [] });
    expect(audit.findings.filter((f) => f.rule === 'leaked-unmanaged').map((f) => f.severity)).toEqual(['critical']);
  });

  it('malformed payloads are refused with 400; other events are ignored', async () => {
    expect((await deliver('{"action":"created"}')).status).toBe(400);
    expect((await deliver('not json')).status).toBe(400);
    expect(await (await deliver('{}', { event: 'push' })).json()).toEqual({ result: 'ignored' });
  });
});
