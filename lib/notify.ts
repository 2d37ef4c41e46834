/**
 * Posts a Slack-compatible message (`{"text": …}`, plus a `rotor` object for machines) to a
 * notification webhook. The URL itself is a secret (Slack webhooks carry a token), so errors name
 * the status only.
 */
export async function postNotification(url: string, text: string, rotor: Record<string, unknown>): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text, rotor }),
    signal: AbortSignal.timeout(10_000),
  });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`notification webhook answered ${response.status}`);
}
