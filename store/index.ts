import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import { describePostgresUrl, explainTlsFailure, postgresConfigFromUrl } from '../lib/postgres-tls.js';

export type Trigger = 'scheduled' | 'manual' | 'emergency';
export type Outcome = 'running' | 'succeeded' | 'rolled_back' | 'failed' | 'aborted';
export type StepStatus = 'started' | 'succeeded' | 'failed' | 'skipped';

export interface CredentialRow {
  id: string;
  type: string;
  owner: string | null;
  purpose: string | null;
  environment: string | null;
  expires: string | null;
  status: 'managed' | 'unmanaged' | 'retired' | 'manual';
  policyHash: string | null;
  currentMaterial: string | null;
  lastRotatedAt: Date | null;
  nextDueAt: Date | null;
}

export interface RunRow {
  rotationId: string;
  credentialId: string;
  workflowId: string;
  runId: string;
  trigger: Trigger;
  reason: string | null;
  outcome: Outcome;
  step: string | null;
  error: string | null;
  oldMaterial: string | null;
  newMaterial: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

export interface AuditEvent {
  credentialId?: string;
  rotationId?: string;
  actor: string;
  /** The rest of the actor of a human or token action (daemon/auth/actor.ts actorRecord). */
  actorInfo?: { kind: string; subject: string; name: string; roles?: string[] };
  /** The reason the actor gave. */
  reason?: string;
  event: string;
  /** References and outcomes only: never a secret value. */
  detail?: Record<string, unknown>;
}

export interface InventoryEntry {
  id: string;
  type: string;
  owner: string;
  purpose: string;
  environment: string;
  expires?: string;
  policyHash: string;
  cadenceMs?: number;
  /** The policy itself (secret references only), for decommissioning after its file is gone. */
  snapshot?: unknown;
}

/** DATE columns stay 'YYYY-MM-DD' strings: a Date would shift with the process time zone. */
const DATE_OID = 1082;
const typeParser = ((oid: number, format?: 'text' | 'binary') =>
  oid === DATE_OID ? (value: string) => value : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser;

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));
const MIGRATIONS_TABLE = 'rotor_migrations';

/** The store's schema is older than this Rotor: only `rotor migrate` (or the daemon) changes it. */
export class StoreSchemaBehind extends Error {
  override readonly name = 'StoreSchemaBehind';
}

/** The store could not be reached or refused the connection (TLS, login). */
export class StoreConnectError extends Error {
  override readonly name = 'StoreConnectError';
}
/** Serialises schedule reconciles of all replicas (daemon/apply.ts). */
export const RECONCILE_LOCK = 0x0a0d18;
/** Inventory rows written per statement by upsertCredentials. */
const UPSERT_BATCH = 1000;

/** What a transaction's work may do: queries on the transaction's own connection. */
export interface StoreTransaction {
  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** Rotor's own PostgreSQL: inventory, rotation runs and their steps, and the audit log. */
export class RotorStore {
  private constructor(private readonly pool: pg.Pool) {}

  /**
   * Connects and checks the schema. With `migrate` (`rotor migrate`, the daemon at start) pending
   * migrations are applied first; otherwise a schema behind this Rotor is refused (StoreSchemaBehind),
   * so read-only commands never change it.
   */
  static async connect(databaseUrl: string, options: { migrate?: boolean } = {}): Promise<RotorStore> {
    const config = postgresConfigFromUrl(databaseUrl);
    const pool = new pg.Pool({ ...config, max: 5, types: { getTypeParser: typeParser } });
    // A dropped idle connection must not crash the daemon; the next query reconnects.
    pool.on('error', () => undefined);
    const store = new RotorStore(pool);
    try {
      await pool.query('SELECT 1').catch((error: unknown) => {
        const reason = explainTlsFailure(error) ?? (error instanceof Error ? error.message : String(error));
        throw new StoreConnectError(`cannot connect to the Rotor store at ${describePostgresUrl(databaseUrl)}: ${reason}`);
      });
      if (options.migrate) await store.migrate(config);
      const pending = await store.pendingMigrations();
      if (pending.length > 0) {
        throw new StoreSchemaBehind(`the Rotor store's schema is behind this Rotor (${pending.length} migration${pending.length === 1 ? '' : 's'} pending: ${pending.join(', ')}): run \`rotor migrate\``);
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return store;
  }

  /** Applies pending migrations; safe to run from many processes at once (they wait on an advisory lock). */
  private async migrate(config: pg.ClientConfig): Promise<void> {
    // Our own client, so a connection the server ends (a restart, a shutdown) is an error we
    // handle, not an uncaught one from inside the migration runner.
    const client = new pg.Client(config);
    client.on('error', () => undefined);
    await client.connect();
    try {
      await runner({
        dbClient: client,
        dir: MIGRATIONS_DIR,
        direction: 'up',
        migrationsTable: MIGRATIONS_TABLE,
        singleTransaction: true,
        // Replicas start together: wait for another's migration instead of failing on its lock.
        advisoryLockMode: 'wait',
        log: () => undefined,
      });
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Migrations this Rotor ships that the store has not applied, in order. */
  async pendingMigrations(): Promise<string[]> {
    const shipped = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, '')).sort();
    const { rows } = await this.pool.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [MIGRATIONS_TABLE]);
    if (!rows[0]?.exists) return shipped;
    const applied = new Set((await this.pool.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE}`)).rows.map((r) => r.name));
    return shipped.filter((name) => !applied.has(name));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /**
   * Records managed credentials from the policies; keeps their rotation history. One statement per
   * thousand entries (a reconcile of 100,000 policies is 100 round trips, not 100,000), all in one
   * transaction: the inventory never shows half a reconcile.
   */
  async upsertCredentials(entries: InventoryEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.transaction(async (tx) => {
      for (let i = 0; i < entries.length; i += UPSERT_BATCH) {
        const batch = entries.slice(i, i + UPSERT_BATCH);
        const column = <T>(pick: (e: InventoryEntry) => T) => batch.map(pick);
        await tx.query(
          `INSERT INTO credentials (id, type, owner, purpose, environment, expires, status, policy_hash, cadence_ms, policy_snapshot)
           SELECT id, type, owner, purpose, environment, expires, 'managed', policy_hash, cadence_ms, policy_snapshot
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[], $7::text[], $8::bigint[], $9::jsonb[])
             AS e(id, type, owner, purpose, environment, expires, policy_hash, cadence_ms, policy_snapshot)
           ON CONFLICT (id) DO UPDATE SET type = excluded.type, owner = excluded.owner, purpose = excluded.purpose,
             environment = excluded.environment, expires = excluded.expires, status = 'managed', policy_hash = excluded.policy_hash,
             cadence_ms = excluded.cadence_ms, policy_snapshot = COALESCE(excluded.policy_snapshot, credentials.policy_snapshot),
             last_seen_at = now(), updated_at = now(),
             next_due_at = CASE WHEN credentials.last_rotated_at IS NULL THEN NULL
                                ELSE credentials.last_rotated_at + (excluded.cadence_ms * interval '1 millisecond') END`,
          [
            column((e) => e.id),
            column((e) => e.type),
            column((e) => e.owner),
            column((e) => e.purpose),
            column((e) => e.environment),
            column((e) => e.expires ?? null),
            column((e) => e.policyHash),
            column((e) => e.cadenceMs ?? null),
            column((e) => (e.snapshot === undefined ? null : JSON.stringify(e.snapshot))),
          ],
        );
      }
    });
  }

  /** Marks credentials whose policy was removed; their history stays. */
  async retireCredentials(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query(`UPDATE credentials SET status = 'retired', updated_at = now() WHERE id = ANY($1) AND status = 'managed'`, [ids]);
  }

  /** The last policy recorded for a credential, or undefined. */
  async policySnapshot(id: string): Promise<unknown> {
    const { rows } = await this.pool.query(`SELECT policy_snapshot FROM credentials WHERE id = $1`, [id]);
    return rows[0]?.policy_snapshot ?? undefined;
  }

  async getCredential(id: string): Promise<CredentialRow | undefined> {
    const { rows } = await this.pool.query(`SELECT * FROM credentials WHERE id = $1`, [id]);
    return rows[0] && toCredential(rows[0]);
  }

  async listCredentials(): Promise<CredentialRow[]> {
    const { rows } = await this.pool.query(`SELECT * FROM credentials ORDER BY id`);
    return rows.map(toCredential);
  }

  /**
   * Opens a run and appends its audit event, in one statement; a retry with the same rotation id
   * leaves the existing run unchanged.
   */
  async startRun(run: { rotationId: string; credentialId: string; workflowId: string; runId: string; trigger: Trigger; reason?: string }, audit: AuditEvent): Promise<void> {
    const params: unknown[] = [run.rotationId, run.credentialId, run.workflowId, run.runId, run.trigger, run.reason ?? null];
    await this.pool.query(
      `WITH r AS (INSERT INTO rotation_runs (rotation_id, credential_id, workflow_id, run_id, trigger, reason)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (rotation_id) DO NOTHING), ${auditStatement(audit, params)}`,
      params,
    );
  }

  /** One row of the run's steps (and the run's current step); with `audit`, its audit event in the same statement. */
  async recordStep(rotationId: string, step: string, status: StepStatus, detail?: string, audit?: AuditEvent): Promise<void> {
    const params: unknown[] = [rotationId, step, status, detail ?? null];
    const insert = 's AS (INSERT INTO rotation_steps (rotation_id, step, status, detail) VALUES ($1, $2, $3, $4))';
    const update = 'UPDATE rotation_runs SET step = $2 WHERE rotation_id = $1';
    await this.pool.query(audit ? `WITH ${insert}, r AS (${update}), ${auditStatement(audit, params)}` : `WITH ${insert} ${update}`, params);
  }

  /**
   * The run's old and new material ids, and the new material's value fingerprints (for leak
   * lookups), in one statement. A retry writes the same again; the fingerprints once per field.
   */
  async recordNewMaterial(run: { credentialId: string; rotationId: string }, oldMaterialId: string | null, material: { id: string; fingerprints: Record<string, string> }): Promise<void> {
    const fields = Object.keys(material.fingerprints);
    await this.pool.query(
      `WITH r AS (UPDATE rotation_runs SET old_material = COALESCE($4, old_material), new_material = $3 WHERE rotation_id = $2)
       INSERT INTO material_fingerprints (credential_id, material_id, field, fingerprint, rotation_id)
       SELECT $1, $3, f.field, f.fingerprint, $2 FROM unnest($5::text[], $6::text[]) AS f(field, fingerprint)
       ON CONFLICT (rotation_id, field) DO NOTHING`,
      [run.credentialId, run.rotationId, material.id, oldMaterialId, fields, fields.map((f) => material.fingerprints[f])],
    );
  }

  async setCurrentMaterial(credentialId: string, materialId: string): Promise<void> {
    await this.pool.query(`UPDATE credentials SET current_material = $2, updated_at = now() WHERE id = $1`, [credentialId, materialId]);
  }

  /**
   * Closes a run and appends its audit event, in one statement; on success the inventory learns the
   * new material and the next due date. Idempotent for the run. Returns the run's start and outcome
   * as they were before (undefined when there is no such run), e.g. to count a rotation once.
   */
  async finishRun(rotationId: string, outcome: Exclude<Outcome, 'running'>, error: string | undefined, audit: AuditEvent): Promise<{ startedAt: Date; outcome: Outcome } | undefined> {
    const params: unknown[] = [rotationId, outcome, error ?? null];
    // Every part of one statement sees the rows as they were before it: `before` is the run unchanged.
    const { rows } = await this.pool.query(
      `WITH before AS (SELECT started_at, outcome FROM rotation_runs WHERE rotation_id = $1),
       run AS (
         UPDATE rotation_runs SET outcome = $2, error = $3, finished_at = now()
         WHERE rotation_id = $1 AND outcome = 'running' RETURNING credential_id, new_material),
       c AS (
         UPDATE credentials SET last_rotated_at = now(), current_material = run.new_material, updated_at = now(),
           next_due_at = CASE WHEN cadence_ms IS NULL THEN NULL ELSE now() + cadence_ms * interval '1 millisecond' END
         FROM run WHERE credentials.id = run.credential_id AND $2::text = 'succeeded'),
       ${auditStatement(audit, params)}
       RETURNING (SELECT started_at FROM before) AS started_at, (SELECT outcome FROM before) AS outcome`,
      params,
    );
    const r = rows[0];
    return r?.started_at ? { startedAt: r.started_at as Date, outcome: r.outcome as Outcome } : undefined;
  }

  async getRun(rotationId: string): Promise<RunRow | undefined> {
    const { rows } = await this.pool.query(`SELECT * FROM rotation_runs WHERE rotation_id = $1`, [rotationId]);
    return rows[0] && toRun(rows[0]);
  }

  async listRuns(credentialId: string, limit = 50): Promise<RunRow[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM rotation_runs WHERE credential_id = $1 ORDER BY started_at DESC LIMIT $2`,
      [credentialId, limit],
    );
    return rows.map(toRun);
  }

  async listSteps(rotationId: string): Promise<Array<{ step: string; status: StepStatus; detail: string | null; at: Date }>> {
    const { rows } = await this.pool.query(
      `SELECT step, status, detail, at FROM rotation_steps WHERE rotation_id = $1 ORDER BY at, ctid`,
      [rotationId],
    );
    return rows;
  }

  /** Records the fingerprints of a rotation's new material (idempotent per rotation and field). One statement. */
  async recordFingerprints(credentialId: string, rotationId: string, materialId: string, fingerprints: Record<string, string>): Promise<void> {
    const fields = Object.keys(fingerprints);
    if (fields.length === 0) return;
    await this.pool.query(
      `INSERT INTO material_fingerprints (credential_id, material_id, field, fingerprint, rotation_id)
       SELECT $1, $2, f.field, f.fingerprint, $3 FROM unnest($4::text[], $5::text[]) AS f(field, fingerprint)
       ON CONFLICT (rotation_id, field) DO NOTHING`,
      [credentialId, materialId, rotationId, fields, fields.map((f) => fingerprints[f])],
    );
  }

  /** Credentials whose material has this public id or this value fingerprint, newest first. */
  async findMaterial(publicIdOrFingerprint: string): Promise<Array<{ credentialId: string; materialId: string; rotationId: string; createdAt: Date }>> {
    const { rows } = await this.pool.query(
      `SELECT DISTINCT ON (credential_id, material_id) credential_id, material_id, rotation_id, created_at
       FROM material_fingerprints WHERE material_id = $1 OR fingerprint = $1
       ORDER BY credential_id, material_id, created_at DESC`,
      [publicIdOrFingerprint],
    );
    return rows.map((r) => ({ credentialId: r.credential_id, materialId: r.material_id, rotationId: r.rotation_id, createdAt: r.created_at }));
  }

  /**
   * Appends one hash-chained audit row, in one statement (auditStatement): the update of the chain's
   * head row (audit_chain_head) takes its row lock, computes the new hash in SQL from the head's
   * hash, and the insert follows; the lock is held for that statement only, not for round trips.
   */
  async appendAudit(event: AuditEvent): Promise<void> {
    const params: unknown[] = [];
    await this.pool.query(`WITH ${auditStatement(event, params)}`, params);
  }

  async listAudit(filter: { credentialId?: string; rotationId?: string } = {}): Promise<Array<AuditEvent & { seq: number; at: Date }>> {
    const { rows } = await this.pool.query(
      `SELECT seq, at, credential_id, rotation_id, actor, actor_info, reason, event, detail FROM audit_log
       WHERE ($1::text IS NULL OR credential_id = $1) AND ($2::text IS NULL OR rotation_id = $2) ORDER BY seq`,
      [filter.credentialId ?? null, filter.rotationId ?? null],
    );
    return rows.map((r) => ({
      seq: Number(r.seq),
      at: r.at,
      credentialId: r.credential_id ?? undefined,
      rotationId: r.rotation_id ?? undefined,
      actor: r.actor,
      ...(r.actor_info ? { actorInfo: r.actor_info } : {}),
      ...(r.reason !== null ? { reason: r.reason } : {}),
      event: r.event,
      detail: r.detail,
    }));
  }

  /**
   * Runs `work` holding a PostgreSQL session advisory lock: another process asking for the same key
   * waits until `work` is done. A connection that dies frees the lock with it.
   */
  async withAdvisoryLock<T>(key: number, work: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('SELECT pg_advisory_lock($1)', [key]);
      try {
        return await work();
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [key]).catch((error: Error) => void (broken = error));
      }
    } finally {
      // A connection whose unlock failed is closed rather than returned still holding the lock.
      client.release(broken);
    }
  }

  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it throws. The one
   * place Rotor's store opens a transaction.
   */
  async transaction<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work({ query: (sql, params = []) => client.query(sql, params) });
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollback: Error) => void (broken = rollback));
      throw error;
    } finally {
      // A connection whose rollback failed is closed rather than returned mid-transaction.
      client.release(broken);
    }
  }

  /** Answers when the store does (the daemon's /readyz). */
  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** Managed credentials past their next due date (a metric). */
  async overdueCount(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM credentials WHERE status = 'managed' AND next_due_at < now()`);
    return Number(rows[0]?.n ?? 0);
  }

  /** When each credential was last rotated successfully (a metric). */
  async lastRotations(): Promise<Array<{ id: string; at: Date }>> {
    const { rows } = await this.pool.query<{ id: string; at: Date }>(`SELECT id, last_rotated_at AS at FROM credentials WHERE last_rotated_at IS NOT NULL`);
    return rows;
  }

  /** Rotation ids of a credential's runs that an emergency upgraded while they ran (`rotation.upgraded`). */
  async upgradedRotationIds(credentialId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ rotation_id: string }>(
      `SELECT rotation_id FROM audit_log WHERE credential_id = $1 AND event = 'rotation.upgraded' AND rotation_id IS NOT NULL`,
      [credentialId],
    );
    return rows.map((r) => r.rotation_id);
  }

  /**
   * A raw query, for the store's own modules (store/*.ts) and tests (e.g. the leak scan of the audit
   * table). Code outside store/ asks RotorStore's methods instead.
   */
  query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(sql, params);
  }
}

/**
 * The chain hash of one audit row. `detail` is hashed with its keys sorted: jsonb reorders keys, so
 * only a canonical form can be recomputed from the stored row (`rotor audit verify-log`).
 */
export function auditHash(prevHash: string, at: string, e: AuditEvent, detail: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify([prevHash, ...auditFields(at, e, detail)])).digest('hex');
}

/** What a row's hash covers after the previous hash. */
function auditFields(at: string, e: AuditEvent, detail: Record<string, unknown>): unknown[] {
  const fields: unknown[] = [at, e.credentialId ?? null, e.rotationId ?? null, e.actor, e.event, sortedKeys(JSON.parse(JSON.stringify(detail)))];
  // Rows with an actor's details or a reason (migration 009) hash them too; older rows hash as they always did.
  if (e.actorInfo || e.reason !== undefined) fields.push(sortedKeys(e.actorInfo ?? null), e.reason ?? null);
  return fields;
}

/**
 * auditHash's canonical JSON after its first element (`"at",…]`): appendAudit prefixes `["<prevHash>",`
 * in SQL, where the previous hash is known. A hash is hex, so it needs no escaping.
 */
/**
 * The end of a statement that appends `event` to the hash-chained audit log: a `head AS (…)` part
 * to follow `WITH` (or a comma) and the INSERT, its values pushed onto `params`. A write joined to
 * it in the same statement is atomic with its audit row, at one round trip. The hash is
 * auditHash's, byte for byte: JSON of [prevHash, ...rest], the rest serialised here.
 */
function auditStatement(event: AuditEvent, params: unknown[]): string {
  const at = new Date().toISOString();
  const detail = event.detail ?? {};
  const $ = params.length;
  params.push(
    at, event.credentialId ?? null, event.rotationId ?? null, event.actor, event.event, JSON.stringify(detail), auditHashTail(at, event, detail),
    event.actorInfo ? JSON.stringify(event.actorInfo) : null, event.reason ?? null,
  );
  return `head AS (
      UPDATE audit_chain_head SET prev_hash = hash, hash = encode(sha256(convert_to('["' || hash || '",' || $${$ + 7}, 'UTF8')), 'hex')
      RETURNING prev_hash, hash)
    INSERT INTO audit_log (at, credential_id, rotation_id, actor, event, detail, prev_hash, hash, actor_info, reason)
    SELECT $${$ + 1}::timestamptz, $${$ + 2}::text, $${$ + 3}::text, $${$ + 4}::text, $${$ + 5}::text, $${$ + 6}::jsonb, head.prev_hash, head.hash, $${$ + 8}::jsonb, $${$ + 9}::text FROM head`;
}

function auditHashTail(at: string, e: AuditEvent, detail: Record<string, unknown>): string {
  return JSON.stringify(auditFields(at, e, detail)).slice(1);
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortedKeys((value as Record<string, unknown>)[k])]));
}

function toCredential(r: Record<string, unknown>): CredentialRow {
  return {
    id: r.id as string,
    type: r.type as string,
    owner: r.owner as string | null,
    purpose: r.purpose as string | null,
    environment: r.environment as string | null,
    expires: r.expires as string | null,
    status: r.status as CredentialRow['status'],
    policyHash: r.policy_hash as string | null,
    currentMaterial: r.current_material as string | null,
    lastRotatedAt: r.last_rotated_at as Date | null,
    nextDueAt: r.next_due_at as Date | null,
  };
}

function toRun(r: Record<string, unknown>): RunRow {
  return {
    rotationId: r.rotation_id as string,
    credentialId: r.credential_id as string,
    workflowId: r.workflow_id as string,
    runId: r.run_id as string,
    trigger: r.trigger as Trigger,
    reason: r.reason as string | null,
    outcome: r.outcome as Outcome,
    step: r.step as string | null,
    error: r.error as string | null,
    oldMaterial: r.old_material as string | null,
    newMaterial: r.new_material as string | null,
    startedAt: r.started_at as Date,
    finishedAt: r.finished_at as Date | null,
  };
}
