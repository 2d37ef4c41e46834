/**
 * Discovered credentials and the lifecycle facts posture needs, on top of RotorStore's own tables
 * (migration 003). Functions take the store rather than growing the class.
 */
import type { DiscoveredCredential } from '../providers/contracts.js';
import { auditHash, type AuditEvent, type RotorStore } from './index.js';

export interface ScanResult {
  sourceType: string;
  principal: string;
  credentials: DiscoveredCredential[];
  /** Over-privilege evidence of the principal, when its provider tells; null: not read this time (the last evidence stays). */
  broadPrivileges: string[] | null;
}

export interface DiscoveredRow {
  sourceType: string;
  principal: string;
  credentialId: string;
  firstSeenAt: Date;
  lastSeenAt: Date;
  createdAt: Date | null;
  lastUsedAt: Date | null;
  /** See DiscoveredCredential.usageTracked. */
  usageTracked: boolean;
  expiresAt: Date | null;
  status: 'active' | 'inactive' | 'expired' | 'gone';
  /** The policy whose material this is; null: unmanaged. */
  managedBy: string | null;
  broadPrivileges: string[];
}

/**
 * Records one scan of one principal: new credentials are inserted, known ones refreshed, and those
 * an earlier scan listed but this one did not are marked gone. Returns the ids seen for the first time.
 */
export async function recordScan(store: RotorStore, scan: ScanResult): Promise<string[]> {
  const fresh: string[] = [];
  for (const c of scan.credentials) {
    const { rows } = await store.query<{ inserted: boolean }>(
      `INSERT INTO discovered_credentials (source_type, principal, credential_id, created_at, last_used_at, usage_tracked, expires_at, status, broad_privileges)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (source_type, principal, credential_id) DO UPDATE SET last_seen_at = now(),
         created_at = EXCLUDED.created_at, last_used_at = EXCLUDED.last_used_at, usage_tracked = EXCLUDED.usage_tracked,
         expires_at = EXCLUDED.expires_at, status = EXCLUDED.status,
         broad_privileges = CASE WHEN $10 THEN EXCLUDED.broad_privileges ELSE discovered_credentials.broad_privileges END
       RETURNING (xmax = 0) AS inserted`,
      [scan.sourceType, scan.principal, c.id, c.createdAt ?? null, c.lastUsedAt ?? null, c.usageTracked, c.expiresAt ?? null, c.status, JSON.stringify(scan.broadPrivileges ?? []), scan.broadPrivileges !== null],
    );
    if (rows[0]?.inserted) fresh.push(c.id);
  }
  await store.query(
    `UPDATE discovered_credentials SET status = 'gone' WHERE source_type = $1 AND principal = $2 AND status <> 'gone' AND NOT (credential_id = ANY($3))`,
    [scan.sourceType, scan.principal, scan.credentials.map((c) => c.id)],
  );
  return fresh;
}

/**
 * Matches discovered credentials to policies: managed when its id is a policy's current material
 * (inventory) or material Rotor created for it (fingerprints, which include the previous one in grace).
 */
export async function matchManaged(store: RotorStore): Promise<{ managed: number; unmanaged: number }> {
  await store.query(
    `UPDATE discovered_credentials d SET managed_by = (
       SELECT c.id FROM credentials c
       WHERE c.type = d.source_type AND (c.current_material = d.credential_id OR EXISTS (
         SELECT 1 FROM material_fingerprints m WHERE m.credential_id = c.id AND m.material_id = d.credential_id))
       ORDER BY c.current_material = d.credential_id DESC, c.id LIMIT 1)`,
  );
  const { rows } = await store.query<{ managed: number; unmanaged: number }>(
    `SELECT count(*) FILTER (WHERE managed_by IS NOT NULL)::int AS managed, count(*) FILTER (WHERE managed_by IS NULL)::int AS unmanaged
     FROM discovered_credentials WHERE status <> 'gone'`,
  );
  return rows[0] ?? { managed: 0, unmanaged: 0 };
}

export async function listDiscovered(store: RotorStore): Promise<DiscoveredRow[]> {
  const { rows } = await store.query(`SELECT * FROM discovered_credentials ORDER BY source_type, principal, credential_id`);
  return rows.map((r) => ({
    sourceType: r.source_type,
    principal: r.principal,
    credentialId: r.credential_id,
    firstSeenAt: r.first_seen_at,
    lastSeenAt: r.last_seen_at,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    usageTracked: r.usage_tracked,
    expiresAt: r.expires_at,
    status: r.status,
    managedBy: r.managed_by,
    broadPrivileges: r.broad_privileges ?? [],
  }));
}

export interface InventoryFacts {
  id: string;
  type: string;
  owner: string | null;
  purpose: string | null;
  environment: string | null;
  expires: string | null;
  status: 'managed' | 'unmanaged' | 'retired' | 'manual';
  currentMaterial: string | null;
  lastRotatedAt: Date | null;
  nextDueAt: Date | null;
  cadenceMs: number | null;
  firstSeenAt: Date;
  decommissionedAt: Date | null;
}

/** The inventory with the columns posture needs (RotorStore's CredentialRow omits some). */
export async function listInventory(store: RotorStore): Promise<InventoryFacts[]> {
  const { rows } = await store.query(`SELECT * FROM credentials ORDER BY id`);
  return rows.map((r) => ({
    id: r.id,
    type: r.type,
    owner: r.owner,
    purpose: r.purpose,
    environment: r.environment,
    expires: r.expires,
    status: r.status,
    currentMaterial: r.current_material,
    lastRotatedAt: r.last_rotated_at,
    nextDueAt: r.next_due_at,
    cadenceMs: r.cadence_ms === null ? null : Number(r.cadence_ms),
    firstSeenAt: r.first_seen_at,
    decommissionedAt: r.decommissioned_at,
  }));
}

export interface FailedRun {
  credentialId: string;
  rotationId: string;
  outcome: 'failed' | 'rolled_back';
  step: string | null;
  startedAt: Date;
}

/** Rotations that failed or rolled back since `since` (errors are left out: findings quote no provider text). */
export async function failedRunsSince(store: RotorStore, since: Date): Promise<FailedRun[]> {
  const { rows } = await store.query(
    `SELECT credential_id, rotation_id, outcome, step, started_at FROM rotation_runs
     WHERE outcome IN ('failed', 'rolled_back') AND started_at >= $1 ORDER BY started_at`,
    [since],
  );
  return rows.map((r) => ({ credentialId: r.credential_id, rotationId: r.rotation_id, outcome: r.outcome, step: r.step, startedAt: r.started_at }));
}

/** Marks a credential decommissioned: retired, and kept retired while its policy file still exists. */
export async function markDecommissioned(store: RotorStore, credentialId: string): Promise<void> {
  await store.query(`UPDATE credentials SET status = 'retired', decommissioned_at = COALESCE(decommissioned_at, now()), updated_at = now() WHERE id = $1`, [credentialId]);
}

export type ChainProblem =
  | { kind: 'modified'; seq: number; detail: string }
  | { kind: 'missing'; seq: number; detail: string }
  | { kind: 'truncated'; seq: number; detail: string };

/** A row's seq and hash recorded outside Rotor: the chain must still hold it, unchanged. */
export interface ChainAnchor {
  seq: number;
  hash: string;
}

export interface ChainReport {
  ok: boolean;
  rows: number;
  /** The last row: record it outside Rotor and pass it as the anchor of the next check. */
  head?: ChainAnchor;
  /** The first row where the chain breaks; later rows are not judged (they chain from a broken link). */
  problem?: ChainProblem;
}

/**
 * Recomputes the audit log's hash chain from the first row: a row whose content no longer hashes to
 * its stored hash was modified; a row whose prev_hash is not its predecessor's hash, or a gap in seq,
 * means rows were deleted (or inserted out of band). The chain alone cannot show that its newest
 * rows were cut off, or that all of it was rewritten: an anchor (a head recorded earlier, outside
 * Rotor) can, since that row must still be there with the same hash.
 */
export async function verifyAuditChain(store: RotorStore, anchor?: ChainAnchor): Promise<ChainReport> {
  const { rows } = await store.query<{
    seq: string; at: Date; credential_id: string | null; rotation_id: string | null; actor: string; event: string;
    detail: Record<string, unknown>; prev_hash: string; hash: string; actor_info: AuditEvent['actorInfo'] | null; reason: string | null;
  }>(`SELECT seq, at, credential_id, rotation_id, actor, actor_info, reason, event, detail, prev_hash, hash FROM audit_log ORDER BY seq`);
  let previousHash = '0'.repeat(64);
  let previousSeq: number | undefined;
  for (const r of rows) {
    const seq = Number(r.seq);
    if (r.prev_hash !== previousHash) {
      const gap = previousSeq === undefined ? `the first row (seq ${seq}) does not start the chain` : `rows between seq ${previousSeq} and ${seq} are missing`;
      return { ok: false, rows: rows.length, problem: { kind: 'missing', seq, detail: `${gap}: prev_hash does not match the hash before it` } };
    }
    const event: AuditEvent = {
      credentialId: r.credential_id ?? undefined,
      rotationId: r.rotation_id ?? undefined,
      actor: r.actor,
      event: r.event,
      ...(r.actor_info ? { actorInfo: r.actor_info } : {}),
      ...(r.reason !== null ? { reason: r.reason } : {}),
    };
    if (auditHash(r.prev_hash, r.at.toISOString(), event, r.detail) !== r.hash) {
      return { ok: false, rows: rows.length, problem: { kind: 'modified', seq, detail: `row seq ${seq} (${r.event}) no longer matches its hash: its content was changed` } };
    }
    previousHash = r.hash;
    previousSeq = seq;
  }
  const last = rows.at(-1);
  const head = last ? { seq: Number(last.seq), hash: last.hash } : undefined;
  if (anchor) {
    const held = rows.find((r) => Number(r.seq) === anchor.seq);
    if (!held) {
      const detail = `the anchored row seq ${anchor.seq} is gone (the log ends at seq ${head?.seq ?? 'none'}): its newest rows were cut off`;
      return { ok: false, rows: rows.length, head, problem: { kind: 'truncated', seq: anchor.seq, detail } };
    }
    if (held.hash !== anchor.hash) {
      const detail = `row seq ${anchor.seq} no longer has the anchored hash: the chain was rewritten from there or before`;
      return { ok: false, rows: rows.length, head, problem: { kind: 'modified', seq: anchor.seq, detail } };
    }
  }
  return { ok: true, rows: rows.length, head };
}
