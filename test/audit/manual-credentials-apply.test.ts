/**
 * Manual credentials where they meet Schedules (so on the Temporal dev server, in real time): the
 * `rotor/reminders` schedule exists only while one is declared, apart from the rotation schedules,
 * and `rotor apply` + `rotor audit` list them (the reminders themselves, on virtual time, are in
 * manual-credentials.test.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { startWebhookReceiver, type WebhookReceiver } from '../harness/webhook.js';
import { manualCredentialYaml } from '../harness/manual-credentials.js';
import { captureOutput, cliFor } from '../harness/cli.js';
import { REMINDERS_JOB, reconcileReminderSchedule } from '../../daemon/job-schedules.js';
import { listRotorSchedules } from '../../daemon/schedules.js';

let env: RotorEnv;
let hook: WebhookReceiver;
let dir: string;

const manualYaml = (id: string, days: number, extra = '') => manualCredentialYaml(env, id, days, extra);

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  hook = await startWebhookReceiver();
  env.env.RELEASE_HOOK = hook.url;
  await env.startWorker();
  dir = await mkdtemp(join(tmpdir(), 'rotor-manual-'));
});
afterAll(async () => {
  await env?.close();
  await hook?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('manual credentials and schedules', () => {
  it('have a reminders schedule only while one is declared, apart from the rotation schedules', async () => {
    expect(await reconcileReminderSchedule(env.client, 1, env.taskQueue)).toBe('create');
    expect(await reconcileReminderSchedule(env.client, 2, env.taskQueue)).toBe('unchanged');
    const described = await env.client.schedule.getHandle(REMINDERS_JOB.scheduleId).describe();
    expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'remindManualCredentials' });
    expect((await listRotorSchedules(env.client)).map((s) => s.scheduleId)).not.toContain(REMINDERS_JOB.scheduleId);
    expect(await reconcileReminderSchedule(env.client, 0, env.taskQueue)).toBe('delete');
  });

  it('are listed by rotor audit, expired ones as high findings, and retired when their document goes', async () => {
    await env.usePolicies(await manualYaml('release-pat', 20));
    const expired = (await manualYaml('vendor-api-key', -400)).replace('system: github', 'system: acme-console').replace('github-fine-grained-pat', 'vendor-api-key');
    await writeFile(join(dir, 'manual.yaml'), expired);
    const rotor = cliFor(env, dir);
    const output = captureOutput();
    try {
      expect(await rotor('apply')).toBe(0);
      expect(await rotor('audit', '--json', '--fail-on', 'high')).toBe(3);
      const report = JSON.parse(output.text().slice(output.text().indexOf('{'))) as { findings: Array<{ subject: string; rule: string; severity: string; title: string }> };
      expect(report.findings).toContainEqual(expect.objectContaining({ subject: 'vendor-api-key', rule: 'expiry', severity: 'high', title: 'Manual credential expired' }));
      // release-pat is no longer declared in the applied directory: retired, not reported.
      expect((await env.store.getCredential('release-pat'))?.status).toBe('retired');
      expect(report.findings.map((f) => f.subject)).not.toContain('release-pat');
    } finally {
      vi.restoreAllMocks();
    }
  });
});
