/**
 * Manual credentials in the inventory (status 'manual') and the reminders sent about them. The
 * declaration itself (remindBefore, howToRotate, notify) is kept as the row's policy snapshot.
 */
import { createHash } from 'node:crypto';
import type { DeclaredManualCredential } from '../config/load.js';
import type { ManualCredential } from '../config/manual-credential.js';
import type { RotorStore } from './index.js';

/** Records the declared manual credentials and retires those no longer declared. */
export async function syncManualCredentials(store: RotorStore, declared: DeclaredManualCredential[]): Promise<void> {
  for (const { source: _source, ...m } of declared) {
    const hash = createHash('sha256').update(JSON.stringify(m)).digest('hex').slice(0, 16);
    await store.query(
      `INSERT INTO credentials (id, type, owner, purpose, environment, expires, status, policy_hash, policy_snapshot)
       VALUES ($1, $2, $3, $4, $5, $6, 'manual', $7, $8)
       ON CONFLICT (id) DO UPDATE SET type = $2, owner = $3, purpose = $4, environment = $5, expires = $6,
         status = 'manual', policy_hash = $7, policy_snapshot = $8, cadence_ms = NULL, next_due_at = NULL,
         last_seen_at = now(), updated_at = now()`,
      [m.id, m.type, m.owner, m.purpose, m.environment, m.expires, hash, JSON.stringify(m)],
    );
  }
  await store.query(`UPDATE credentials SET status = 'retired', updated_at = now() WHERE status = 'manual' AND NOT (id = ANY($1))`, [
    declared.map((m) => m.id),
  ]);
}

/** The manual credentials in force, as declared. */
export async function listManualCredentials(store: RotorStore): Promise<ManualCredential[]> {
  const { rows } = await store.query<{ policy_snapshot: ManualCredential }>(`SELECT policy_snapshot FROM credentials WHERE status = 'manual' ORDER BY id`);
  return rows.map((r) => r.policy_snapshot);
}

/** Reminders already sent for each credential's current expiry date, as `<id> <reminder>`. */
export async function sentReminders(store: RotorStore): Promise<Set<string>> {
  const { rows } = await store.query<{ credential_id: string; reminder: string }>(
    `SELECT r.credential_id, r.reminder FROM manual_reminders r JOIN credentials c ON c.id = r.credential_id AND c.expires = r.expires`,
  );
  return new Set(rows.map((r) => `${r.credential_id} ${r.reminder}`));
}

export async function recordReminders(store: RotorStore, credentialId: string, expires: string, reminders: string[]): Promise<void> {
  await store.query(
    `INSERT INTO manual_reminders (credential_id, expires, reminder) SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING`,
    [credentialId, expires, reminders],
  );
}
