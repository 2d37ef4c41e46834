/**
 * Replicas starting together all migrate the store at start: they must wait for each other's
 * migration (node-pg-migrate's advisory lock in `wait` mode), not fail because one holds it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { RotorStore } from '../../store/index.js';

let postgres: PostgresServer;
beforeAll(async () => {
  postgres = await startPostgres();
});
afterAll(async () => {
  await postgres?.stop();
});

it('four stores (as four replicas) migrating one fresh database at once all succeed, and the schema is there once', async () => {
  const connecting = await Promise.allSettled(Array.from({ length: 4 }, () => RotorStore.connect(postgres.url, { migrate: true })));
  const stores = connecting.flatMap((c) => (c.status === 'fulfilled' ? [c.value] : []));
  try {
    expect(connecting.filter((c) => c.status === 'rejected').map((c) => String((c as PromiseRejectedResult).reason))).toEqual([]);
    const { rows } = await stores[0]!.query<{ name: string }>('SELECT name FROM rotor_migrations');
    expect(new Set(rows.map((r) => r.name)).size).toBe(rows.length);
    expect(rows.length).toBeGreaterThan(0);
  } finally {
    for (const s of stores) await s.close();
  }
});
