/** The owner's notifications: a Slack-compatible message to the policy's webhook, retried with backoff by Temporal. */
import { postNotification } from '../lib/notify.js';
import type { NotificationEvent } from '../workflows/types.js';
import type { ActivityDeps, Ref } from './step.js';

export function notifyActivities(deps: ActivityDeps) {
  return {
    async notify(ref: Ref & { event: NotificationEvent; text: string }): Promise<void> {
      const policy = deps.policy(ref.credentialId);
      if (!policy?.notify) return;
      const url = await deps.resolveSecret(policy.notify.webhook);
      const text = `[rotor] ${ref.credentialId} (${policy.owner}, ${policy.environment}): ${ref.text}`;
      await postNotification(url, text, { credential: ref.credentialId, rotation: ref.rotationId, event: ref.event, owner: policy.owner });
      await deps.store.appendAudit({ ...ref, actor: 'rotor', event: 'notification.sent', detail: { event: ref.event } });
    },
  };
}
