/**
 * The throughput floor's activities: the least a rotation's steps must do against the same servers.
 * Every step writes one store row; `create` sets the role's password on a pooled admin connection,
 * `verify` logs in afresh as the role, `propagate` and `promote` write one Vault version through one
 * kept client. No policy loading, no material, no audit chain, no decisions.
 */
import pg from 'pg';
import vault from 'node-vault';

export interface FloorTargets {
  store: pg.Pool;
  admin: pg.Pool;
  login: { host: string; port: number; database: string };
  vault: vault.client;
}

export function floorActivities(t: FloorTargets) {
  return {
    async floorStep(id: string, step: string): Promise<void> {
      const role = `floor_${id.replace(/-/g, '_')}`;
      if (step === 'create') await t.admin.query(`ALTER ROLE ${pg.escapeIdentifier(role)} WITH LOGIN PASSWORD 'floor-password'`);
      if (step === 'verify') {
        const client = new pg.Client({ ...t.login, user: role, password: 'floor-password' });
        await client.connect();
        await client.end();
      }
      if (step === 'propagate' || step === 'promote') await t.vault.write(`secret/data/floor/${id}`, { data: { step } });
      await t.store.query(`INSERT INTO floor_steps (id, step) VALUES ($1, $2)`, [id, step]);
    },
  };
}
export type FloorActivities = ReturnType<typeof floorActivities>;
