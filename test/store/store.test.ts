import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { auditHash, RotorStore } from '../../store/index.js';
import { verifyAuditChain } from '../../store/discovery.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';

let postgres: PostgresServer;
let store: RotorStore;

beforeAll(async () => {
  postgres = await startPostgres();
  store = await RotorStore.connect(postgres.url, { migrate: true });
});
afterAll(async () => {
  await store?.close();
  await postgres?.stop();
});

const entry = { id: 'orders-db', type: 'postgres-password', owner: 'team-a', purpose: 'orders login', environment: 'prod', policyHash: 'h1', cadenceMs: 30 * 86_400_000 };

describe('RotorStore', () => {
  it('migrates twice without harm (many workers start at once)', async () => {
    const again = await RotorStore.connect(postgres.url, { migrate: true });
    await again.close();
    const { rows } = await store.query<{ n: string }>('SELECT count(*) AS n FROM rotor_migrations');
    const files = (await readdir(new URL('../../store/migrations', import.meta.url))).filter((f) => f.endsWith('.sql'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(Number(rows[0]!.n)).toBe(files.length);
  });

  it('records a run; a repeated start is a no-op; success sets last rotated, next due and current material', async () => {
    await store.upsertCredentials([entry]);
    const run = { rotationId: 'r1', credentialId: 'orders-db', workflowId: 'rotate/orders-db', runId: 'r1', trigger: 'manual' as const };
    const audit = (event: string) => ({ credentialId: 'orders-db', rotationId: 'r1', actor: 'rotor', event });
    await store.startRun(run, audit('rotation.started'));
    await store.startRun({ ...run, trigger: 'emergency' }, audit('rotation.started'));
    await store.recordStep('r1', 'material.created', 'succeeded', undefined, audit('material.created'));
    await store.recordNewMaterial(run, null, { id: 'orders_app_a', fingerprints: { password: 'f1' } });
    await store.recordNewMaterial(run, null, { id: 'orders_app_a', fingerprints: { password: 'f1' } });
    const first = await store.finishRun('r1', 'succeeded', undefined, audit('rotation.finished'));
    const late = await store.finishRun('r1', 'failed', 'a late retry must not overwrite the outcome', audit('rotation.finished'));
    // What the run was before each close: a retry learns it was closed already (metrics count once).
    expect(first?.outcome).toBe('running');
    expect(late?.outcome).toBe('succeeded');
    expect(await store.finishRun('no-such-run', 'failed', undefined, { ...audit('rotation.finished'), rotationId: 'no-such-run' })).toBeUndefined();
    const saved = await store.getRun('r1');
    expect(saved).toMatchObject({ trigger: 'manual', outcome: 'succeeded', step: 'material.created', newMaterial: 'orders_app_a', error: null });
    const credential = await store.getCredential('orders-db');
    expect(credential!.currentMaterial).toBe('orders_app_a');
    expect(credential!.nextDueAt!.getTime() - credential!.lastRotatedAt!.getTime()).toBe(entry.cadenceMs);
    expect(await store.findMaterial('f1')).toHaveLength(1);
    // Each write carried its audit row in the same statement, chained like any other append.
    expect((await store.listAudit({ rotationId: 'r1' })).map((e) => e.event)).toEqual([
      'rotation.started', 'rotation.started', 'material.created', 'rotation.finished', 'rotation.finished',
    ]);
    expect((await verifyAuditChain(store)).ok).toBe(true);
  });

  it('keeps the audit log append-only and hash-chained', async () => {
    await store.appendAudit({ credentialId: 'orders-db', actor: 'rotor', event: 'one', detail: { n: 1 } });
    await store.appendAudit({ credentialId: 'orders-db', actor: 'rotor', event: 'two' });
    const { rows } = await store.query<{ prev_hash: string; hash: string }>('SELECT prev_hash, hash FROM audit_log ORDER BY seq');
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
    await expect(store.query(`UPDATE audit_log SET event = 'forged'`)).rejects.toThrow(/append-only/);
    await expect(store.query(`DELETE FROM audit_log`)).rejects.toThrow(/append-only/);
  });

  it('audit appends at once chain into one verifiable order, each hash the one auditHash computes', async () => {
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.appendAudit({ credentialId: `c-${i % 4}`, actor: 'rotor', event: 'concurrent', detail: { i, nested: { b: 1, a: 'é' } } })));
    const report = await verifyAuditChain(store);
    expect(report).toMatchObject({ ok: true });
    const { rows } = await store.query<{ at: Date; credential_id: string; actor: string; event: string; detail: Record<string, unknown>; prev_hash: string; hash: string }>(
      'SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1',
    );
    const last = rows[0]!;
    expect(auditHash(last.prev_hash, last.at.toISOString(), { credentialId: last.credential_id, actor: last.actor, event: last.event }, last.detail)).toBe(last.hash);
  });

  it('an audit append takes no lock that serialises the whole system (the old advisory lock is free to hold elsewhere)', async () => {
    const other = new pg.Client({ connectionString: postgres.url });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1)', [0x0a0d17]); // the lock every append used to take
      await store.appendAudit({ actor: 'rotor', event: 'not.blocked' });
      expect((await verifyAuditChain(store)).ok).toBe(true);
    } finally {
      await other.end();
    }
  });

  it('batches the inventory: many credentials in one call, and an update keeps their history', async () => {
    const many = Array.from({ length: 2500 }, (_, i) => ({ ...entry, id: `batch-${i}`, expires: i % 2 ? '2030-01-31' : undefined, snapshot: { i } }));
    await store.upsertCredentials(many);
    await store.upsertCredentials(many.map((e) => ({ ...e, owner: 'team-b' })));
    const listed = (await store.listCredentials()).filter((c) => c.id.startsWith('batch-'));
    expect(listed).toHaveLength(2500);
    expect(listed.every((c) => c.owner === 'team-b' && c.status === 'managed')).toBe(true);
    expect((await store.getCredential('batch-1'))!.expires).toBe('2030-01-31');
    expect(await store.policySnapshot('batch-7')).toEqual({ i: 7 });
  });

  it('a transaction rolls back everything when its work throws', async () => {
    await expect(
      store.transaction(async (tx) => {
        await tx.query(`UPDATE credentials SET owner = 'rolled-back' WHERE id = 'orders-db'`);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await store.getCredential('orders-db'))!.owner).toBe('team-a');
  });
});
