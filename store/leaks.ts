import type { RotorStore } from './index.js';

export interface LeakReport {
  deliveryId: string;
  source: string;
  secretType?: string;
  fingerprint: string;
  location?: string;
  credentialId?: string;
  status: 'managed' | 'unmanaged';
  /** Set when read back from the store. */
  receivedAt?: Date;
}

/** Records a leak report once; false when this delivery was seen before (a replay). */
export async function recordLeakReport(store: RotorStore, r: LeakReport): Promise<boolean> {
  const { rowCount } = await store.query(
    `INSERT INTO leak_reports (delivery_id, source, secret_type, fingerprint, location, credential_id, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (delivery_id) DO NOTHING`,
    [r.deliveryId, r.source, r.secretType ?? null, r.fingerprint, r.location ?? null, r.credentialId ?? null, r.status],
  );
  return rowCount === 1;
}

export async function listLeakReports(store: RotorStore): Promise<LeakReport[]> {
  const { rows } = await store.query<Record<string, string | null> & { received_at: Date }>(`SELECT * FROM leak_reports ORDER BY received_at DESC`);
  return rows.map((r) => ({
    deliveryId: r.delivery_id!,
    source: r.source!,
    secretType: r.secret_type ?? undefined,
    fingerprint: r.fingerprint!,
    location: r.location ?? undefined,
    credentialId: r.credential_id ?? undefined,
    status: r.status as LeakReport['status'],
    receivedAt: r.received_at,
  }));
}
