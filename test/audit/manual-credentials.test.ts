/**
 * Credentials no API can rotate (`kind: manual-credential`), on real PostgreSQL, the Temporal test
 * server's virtual clock and a real worker: they are kept in the inventory, the `rotor/reminders`
 * job reminds the owner's webhook once per point before expiry (and once more when expired), a
 * late run sends one message not three, moving `expires` forward starts over, and `rotor audit`
 * lists them. The webhook URL (a secret) never reaches workflow history.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@temporalio/client';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { startWebhookReceiver, type WebhookReceiver } from '../harness/webhook.js';
import { manualCredentialYaml } from '../harness/manual-credentials.js';
import { historyText } from '../harness/leaks.js';
import type { ReminderOutcome } from '../../activities/reminders.js';

let env: RotorEnv;
let hook: WebhookReceiver;
let dir: string;
let runs = 0;

const manualYaml = (id: string, days: number, extra = '') => manualCredentialYaml(env, id, days, extra);

/**
 * One run of the reminders job, with virtual time held still: the test moves time itself
 * (advance), and a run has no timer of its own, so nothing may skip while it runs.
 */
async function remind(options: { skipTime?: boolean } = {}): Promise<string[]> {
  // skipTime: let virtual time run to the run's own timers (a refused webhook's retry backoff).
  const client = options.skipTime ? env.client : new Client({ connection: env.temporal.connection, namespace: env.temporal.namespace });
  const outcome = (await client.workflow.execute('remindManualCredentials', { taskQueue: env.taskQueue, workflowId: `reminders-${++runs}` })) as ReminderOutcome;
  return outcome.sent.sort();
}

beforeAll(async () => {
  env = await startRotorEnv();
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

describe('manual credentials', () => {
  it('are reminded of before expiry, once per point, and again after expires moves forward', async () => {
    await env.usePolicies(await manualYaml('release-pat', 20));
    const row = await env.store.getCredential('release-pat');
    expect(row).toMatchObject({ status: 'manual', type: 'github-fine-grained-pat', owner: 'team-release' });

    expect(await remind()).toEqual([]);
    await env.temporal.advance('7d');
    expect(await remind()).toEqual(['release-pat 14d']);
    expect(hook.delivered.at(-1)).toMatchObject({ rotor: { credential: 'release-pat', reminder: '14d', event: 'manual_rotation_due' } });
    expect(hook.delivered.at(-1)!.text).toMatch(/release-pat \(team-release, production\): the github-fine-grained-pat on github expires on .* \(in 1[34] days\).*rotate it by hand.*runbooks\/release-pat/);
    // Run again the same day: nothing new to say.
    expect(await remind()).toEqual([]);

    // The job did not run for three weeks: one message about expiry, not one per missed point.
    await env.temporal.advance('21d');
    expect(await remind()).toEqual(['release-pat expired']);
    expect(hook.delivered.at(-1)!.text).toMatch(/expired on/);
    expect(await remind()).toEqual([]);
    expect(hook.delivered).toHaveLength(2);

    // Rotated by hand; the owner moves expires forward and the reminders start over.
    await env.usePolicies(await manualYaml('release-pat', 10));
    expect(await remind()).toEqual(['release-pat 14d']);

    const audit = await env.store.query<{ detail: unknown }>(`SELECT detail FROM audit_log WHERE credential_id = $1 AND event = 'reminder.sent' ORDER BY seq`, ['release-pat']);
    expect(audit.rows.map((e) => e.detail)).toEqual([
      expect.objectContaining({ reminder: '14d', channel: 'webhook' }),
      expect.objectContaining({ reminder: 'expired' }),
      expect.objectContaining({ reminder: '14d' }),
    ]);
    for (let i = 1; i <= runs; i++) {
      expect(historyText(await env.client.workflow.getHandle(`reminders-${i}`).fetchHistory())).not.toContain('not-a-real-token');
    }
  });

  it('retry a refused webhook and still send each reminder once', async () => {
    await env.usePolicies(await manualYaml('ci-pat', 2));
    const before = hook.delivered.length;
    const attempts = hook.attempts;
    hook.refusals = 1;
    expect(await remind({ skipTime: true })).toEqual(['ci-pat 3d']);
    expect(hook.attempts - attempts).toBe(2);
    expect(hook.delivered.slice(before).map((d) => d.rotor.credential)).toEqual(['ci-pat']);
  });
});
