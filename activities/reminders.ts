/**
 * Reminders for manual credentials (config/manual-credential.ts): for each one, which of its
 * `remindBefore` points (and its expiry) have been reached and not yet reminded of. One message
 * per credential and run, about the most urgent point reached; every point reached is then marked
 * sent, so a job that ran late does not send three reminders at once, and a retried run sends none
 * twice.
 */
import { heartbeating } from './heartbeat.js';
import { ApplicationFailure } from '@temporalio/activity';
import { durationMs } from '../config/duration.js';
import type { ManualCredential } from '../config/manual-credential.js';
import { expiryInstant } from '../config/policy.js';
import type { Logger } from '../lib/logger.js';
import { postNotification } from '../lib/notify.js';
import type { RotorStore } from '../store/index.js';
import { listManualCredentials, recordReminders, sentReminders } from '../store/manual.js';

const DAY_MS = 86_400_000;
export const EXPIRED = 'expired';

export interface ReminderDeps {
  store: RotorStore;
  logger: Logger;
  resolveSecret(ref: string): Promise<string>;
}

export interface ReminderOutcome {
  /** `<credential id> <reminder>` for each message sent (or logged, without a webhook). */
  sent: string[];
}

export interface ReminderActivities {
  /** `now` is the workflow's clock, so tests on the virtual clock see the same time. */
  sendDueReminders(input: { now: number }): Promise<ReminderOutcome>;
}

/** The points reached by `now` and not yet sent, most urgent first; empty when none. */
export function dueReminders(credential: ManualCredential, now: number, sent: Set<string>): string[] {
  const expiresAt = expiryInstant(credential.expires);
  const points = [
    ...credential.remindBefore.map((before) => ({ reminder: before, at: expiresAt - durationMs(before) })),
    { reminder: EXPIRED, at: expiresAt },
  ];
  return points
    .filter((p) => p.at <= now && !sent.has(`${credential.id} ${p.reminder}`))
    .sort((a, b) => b.at - a.at)
    .map((p) => p.reminder);
}

export function reminderText(credential: ManualCredential, now: number): string {
  const expiresAt = expiryInstant(credential.expires);
  const days = Math.ceil((expiresAt - now) / DAY_MS);
  const when = expiresAt <= now ? `expired on ${credential.expires}` : `expires on ${credential.expires} (in ${days} day${days === 1 ? '' : 's'})`;
  const how = credential.howToRotate ? ` How: ${credential.howToRotate}.` : '';
  return (
    `[rotor] ${credential.id} (${credential.owner}, ${credential.environment}): the ${credential.type} on ${credential.system} ${when}. ` +
    `Rotor cannot rotate it by API: rotate it by hand, then move expires forward in its file.${how}`
  );
}

export function createReminderActivities(deps: ReminderDeps): ReminderActivities {
  return heartbeating({
    async sendDueReminders({ now }) {
      const sent = await sentReminders(deps.store);
      const outcome: ReminderOutcome = { sent: [] };
      const failed: string[] = [];
      for (const credential of await listManualCredentials(deps.store)) {
        const due = dueReminders(credential, now, sent);
        if (due.length === 0) continue;
        const reminder = due[0]!;
        try {
          const text = reminderText(credential, now);
          if (credential.notify) {
            const url = await deps.resolveSecret(credential.notify.webhook);
            await postNotification(url, text, { credential: credential.id, event: 'manual_rotation_due', reminder, expires: credential.expires, owner: credential.owner });
          } else {
            deps.logger.warn({ credentialId: credential.id, reminder, expires: credential.expires }, 'manual credential due for rotation (no notify webhook declared)');
          }
          await recordReminders(deps.store, credential.id, credential.expires, due);
          await deps.store.appendAudit({
            credentialId: credential.id,
            actor: 'rotor',
            event: 'reminder.sent',
            detail: { reminder, expires: credential.expires, channel: credential.notify ? 'webhook' : 'log' },
          });
          outcome.sent.push(`${credential.id} ${reminder}`);
        } catch (error) {
          failed.push(`${credential.id}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      // The ones sent are recorded, so the retry Temporal makes sends only what failed.
      if (failed.length > 0) throw ApplicationFailure.retryable(`reminders not sent: ${failed.join('; ')}`, 'ReminderNotSent');
      return outcome;
    },
  });
}
