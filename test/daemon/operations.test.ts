/**
 * What operators use after the fact: owner notifications (Slack-compatible webhook, retried,
 * never carrying a secret), `rotor leak` (find the credential of a leaked value and rotate it as an
 * emergency) and `rotor history`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { startWebhookReceiver, type WebhookReceiver } from '../harness/webhook.js';
import { dbPolicyYaml, login, rotateDb, servedLogin } from '../harness/db-rotation.js';
import { captureOutput, cliFor } from '../harness/cli.js';
import { rotationWorkflowId } from '../../daemon/rotations.js';
import type { RotationResult } from '../../workflows/types.js';

let env: RotorEnv;
let hook: WebhookReceiver;
let healthStatus = 200;
let dir: string;
let output: ReturnType<typeof captureOutput>;

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  await env.startWorker();
  hook = await startWebhookReceiver({ '/health': () => healthStatus });
  const base = hook.base;
  env.env.NOTIFY_URL = hook.url;
  const withNotify = (id: string, role: string, health = false) =>
    dbPolicyYaml(env, id, { role, healthCheckUrl: health ? `${base}/health` : undefined, extra: 'notify:\n  webhook: env:NOTIFY_URL' });
  const yaml = [withNotify('notify-db', 'notify_app', true), withNotify('leaky-db', 'leaky_app')].join('\n---\n');
  await env.usePolicies(yaml);
  dir = await mkdtemp(join(tmpdir(), 'rotor-ops-'));
  await writeFile(join(dir, 'policies.yaml'), yaml);
});
afterAll(async () => {
  await env?.close();
  await hook?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  output = captureOutput();
});
afterEach(() => vi.restoreAllMocks());

const cli = (...args: string[]) => cliFor(env, dir)(...args);

describe('notifications', () => {
  it('tell the owner about a rollback, retrying a failing webhook, without any secret', async () => {
    await rotateDb(env, 'notify-db');
    healthStatus = 503;
    hook.refusals = 2; // the first two deliveries fail; Temporal retries the notification
    const attemptsBefore = hook.attempts;
    const result = await rotateDb(env, 'notify-db');
    healthStatus = 200;
    expect(hook.refusals).toBe(0);
    expect(hook.attempts - attemptsBefore).toBe(3);
    expect(result.outcome).toBe('rolled_back');
    const rollback = hook.delivered.find((d) => d.rotor.event === 'rolled_back');
    expect(rollback?.text).toMatch(/notify-db \(team-payments, test\): rotation rolled back: .*answered 503/);
    const password = (await servedLogin(env, 'notify-db')).password;
    expect(JSON.stringify(hook.delivered)).not.toContain(password);
    const sent = (await env.store.listAudit({ rotationId: result.rotationId })).filter((e) => e.event === 'notification.sent');
    expect(sent.length).toBeGreaterThan(0);
    expect(JSON.stringify(sent)).not.toContain('not-a-real-token');
  });
});

describe('rotor leak', () => {
  it('finds the credential of a leaked password and rotates it as an emergency', async () => {
    await rotateDb(env, 'leaky-db');
    const leaked = await servedLogin(env, 'leaky-db');
    expect(await cli('leak', leaked.password, '--dry-run', '--json')).toBe(0);
    expect(JSON.parse(output.text())).toEqual([{ credential: 'leaky-db', started: false }]);
    output.clear();
    expect(await cli('leak', leaked.password, '--reason', 'pasted in a ticket', '--json')).toBe(0);
    expect(output.text()).not.toContain(leaked.password);
    const [started] = JSON.parse(output.text()) as Array<{ workflowId: string; runId: string }>;
    expect(started!.workflowId).toBe(rotationWorkflowId('leaky-db'));
    const result = (await env.client.workflow.getHandle(started!.workflowId, started!.runId).result()) as RotationResult;
    expect(result.outcome).toBe('succeeded');
    expect(await login(env, leaked)).toBe(false);
    expect(hook.delivered.map((d) => d.rotor.event)).toEqual(expect.arrayContaining(['emergency_started', 'emergency_finished']));
  });

  it('refuses a value no credential has, starting nothing (exit 2)', async () => {
    expect(await cli('leak', 'some-value-nobody-issued')).toBe(2);
    expect(output.text()).toMatch(/no managed credential/);
    expect(output.text()).not.toContain('some-value-nobody-issued');
  });
});

describe('rotor history', () => {
  it('lists past runs from Temporal joined with their outcome in the store', async () => {
    expect(await cli('history', 'leaky-db', '--json')).toBe(0);
    const rows = JSON.parse(output.text()) as Array<{ trigger: string; outcome: string; status: string }>;
    expect(rows.map((r) => [r.trigger, r.outcome, r.status])).toEqual([
      ['emergency', 'succeeded', 'COMPLETED'],
      ['manual', 'succeeded', 'COMPLETED'],
    ]);
  });
});
