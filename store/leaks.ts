/**
 * Leaks reported to Rotor (GitHub secret scanning alerts, `rotor leak`): what was leaked, by
 * fingerprint only, and what Rotor did about it. One row per leak — the alert and the fingerprint of
 * the value — whatever delivery id it came under, so a replay under a new id starts nothing.
 */
import type { RotorStore } from './index.js';

/** What Rotor did about a leak: see migration 008. */
export type LeakAction = 'pending' | 'started' | 'already-revoked' | 'none';

export interface LeakReport {
  /** What identifies the leak: the source, the alert and the fingerprint of the leaked value. */
  leakKey?: string;
  /** The delivery that first reported it. */
  deliveryId: string;
  source: string;
  secretType?: string;
  fingerprint: string;
  location?: string;
  credentialId?: string;
  status: 'managed' | 'unmanaged';
  action?: LeakAction;
  /** The reason the emergency rotation carries (no secret: alert number, type, location). */
  reason?: string;
  workflowId?: string;
  attempts?: number;
  lastError?: string;
  /** Set when read back from the store. */
  receivedAt?: Date;
}

/** Records a leak once; false when this leak (same key) was recorded before. */
export async function recordLeakReport(store: RotorStore, r: LeakReport & { leakKey: string; action: LeakAction }): Promise<boolean> {
  const { rowCount } = await store.query(
    `INSERT INTO leak_reports (leak_key, delivery_id, source, secret_type, fingerprint, location, credential_id, status, action, reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (leak_key) DO NOTHING`,
    [r.leakKey, r.deliveryId, r.source, r.secretType ?? null, r.fingerprint, r.location ?? null, r.credentialId ?? null, r.status, r.action, r.reason ?? null],
  );
  return rowCount === 1;
}

type StoredLeak = LeakReport & { leakKey: string; action: LeakAction };

export async function getLeakReport(store: RotorStore, leakKey: string): Promise<StoredLeak | undefined> {
  const { rows } = await store.query<LeakRow>(`SELECT * FROM leak_reports WHERE leak_key = $1`, [leakKey]);
  return rows[0] && toReport(rows[0]);
}

/**
 * Takes a pending leak for starting its emergency, for `holdMs`: false when it is not pending or
 * another start holds it (a redelivery racing Rotor's own retry).
 */
export async function claimPendingLeak(store: RotorStore, leakKey: string, holdMs: number): Promise<boolean> {
  const { rowCount } = await store.query(
    `UPDATE leak_reports SET claimed_until = now() + ($2::bigint * interval '1 millisecond'), attempts = attempts + 1, updated_at = now()
     WHERE leak_key = $1 AND action = 'pending' AND (claimed_until IS NULL OR claimed_until < now())`,
    [leakKey, holdMs],
  );
  return rowCount === 1;
}

/** The emergency of a pending leak started (durably: Temporal accepted it). */
export async function markLeakStarted(store: RotorStore, leakKey: string, workflowId: string): Promise<void> {
  await store.query(
    `UPDATE leak_reports SET action = 'started', workflow_id = $2, last_error = NULL, claimed_until = NULL, updated_at = now() WHERE leak_key = $1`,
    [leakKey, workflowId],
  );
}

/** Starting the emergency failed: the leak stays pending (retried), the claim is released. */
export async function markLeakStartFailed(store: RotorStore, leakKey: string, error: string): Promise<void> {
  await store.query(`UPDATE leak_reports SET last_error = $2, claimed_until = NULL, updated_at = now() WHERE leak_key = $1`, [leakKey, error.slice(0, 500)]);
}

/** Leaks whose emergency has not started yet and that no start holds now, oldest first. */
export async function pendingLeaks(store: RotorStore): Promise<StoredLeak[]> {
  const { rows } = await store.query<LeakRow>(
    `SELECT * FROM leak_reports WHERE action = 'pending' AND (claimed_until IS NULL OR claimed_until < now()) ORDER BY received_at`,
  );
  return rows.map(toReport);
}

export async function listLeakReports(store: RotorStore): Promise<StoredLeak[]> {
  const { rows } = await store.query<LeakRow>(`SELECT * FROM leak_reports ORDER BY received_at DESC`);
  return rows.map(toReport);
}

/** A material Rotor created, as `findMaterial` returns it. */
export interface MaterialMatch {
  credentialId: string;
  materialId: string;
  rotationId: string;
  createdAt: Date;
}

/** How a leaked material is already dead, or null while it may still work. */
export interface RevokedMaterial {
  credentialId: string;
  materialId: string;
  /** revoked: Rotor revoked (or retired) it; replaced: a later rotation overwrote the same id (in place). */
  how: 'revoked' | 'replaced';
  at: Date;
}

/**
 * Whether the material a match names — the one created by the match's rotation — is dead already:
 * Rotor revoked or retired that id in a later run (or a decommission), or a later rotation
 * created new material under the same id (an in-place password change, or the standby login of a
 * dual pair given a new password, which happens only after its old one was revoked).
 */
export async function revokedMaterial(store: RotorStore, match: MaterialMatch): Promise<RevokedMaterial | null> {
  const { rows } = await store.query<{ how: 'revoked' | 'replaced'; at: Date }>(
    `SELECT how, at FROM (
       SELECT 'revoked' AS how, a.at FROM audit_log a LEFT JOIN rotation_runs r ON r.rotation_id = a.rotation_id
        WHERE a.credential_id = $1 AND a.event IN ('material.revoked', 'material.retired') AND a.detail->>'material' = $2
          AND (r.started_at > (SELECT started_at FROM rotation_runs WHERE rotation_id = $3) OR (r.rotation_id IS NULL AND a.at > $4))
       UNION ALL
       SELECT 'replaced', f.created_at FROM material_fingerprints f
        WHERE f.credential_id = $1 AND f.material_id = $2 AND f.rotation_id <> $3 AND f.created_at > $4
     ) dead ORDER BY at LIMIT 1`,
    [match.credentialId, match.materialId, match.rotationId, match.createdAt],
  );
  return rows[0] ? { credentialId: match.credentialId, materialId: match.materialId, how: rows[0].how, at: rows[0].at } : null;
}

type LeakRow = Record<string, string | null> & { received_at: Date; attempts: number };

function toReport(r: LeakRow): StoredLeak {
  return {
    leakKey: r.leak_key!,
    deliveryId: r.delivery_id!,
    source: r.source!,
    secretType: r.secret_type ?? undefined,
    fingerprint: r.fingerprint!,
    location: r.location ?? undefined,
    credentialId: r.credential_id ?? undefined,
    status: r.status as LeakReport['status'],
    action: r.action as LeakAction,
    reason: r.reason ?? undefined,
    workflowId: r.workflow_id ?? undefined,
    attempts: r.attempts,
    lastError: r.last_error ?? undefined,
    receivedAt: r.received_at,
  };
}
