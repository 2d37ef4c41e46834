/**
 * Posture and decommission for PostgreSQL logins: role attributes broader than an application
 * login needs, and turning a login off for good (revoke keeps the last login that works; a retired
 * identity needs exactly that).
 */
import type { Material } from '../../lib/material.js';
import type { PrivilegeFacts, ProviderContext, Strategy } from '../contracts.js';
import { disableLogin, roleExists, withAdmin } from './db.js';
import { loginRoles, type PostgresPasswordSpec } from './spec.js';

/** SUPERUSER, CREATEROLE or BYPASSRLS on the credential's role or its login roles. */
export async function rolePrivileges(ctx: ProviderContext, spec: PostgresPasswordSpec): Promise<PrivilegeFacts> {
  const rows = await withAdmin(ctx, spec, `cannot read the attributes of role "${spec.role}"`, async ({ client }) => {
    const result = await client.query<{ rolname: string; rolsuper: boolean; rolcreaterole: boolean; rolbypassrls: boolean }>(
      'SELECT rolname, rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname',
      [[spec.role, ...loginRoles(spec.role)]],
    );
    return result.rows;
  });
  const broad: string[] = [];
  for (const r of rows) {
    const attributes = [r.rolsuper && 'SUPERUSER', r.rolcreaterole && 'CREATEROLE', r.rolbypassrls && 'BYPASSRLS'].filter(Boolean);
    if (attributes.length > 0) broad.push(`role "${r.rolname}" has ${attributes.join(', ')}`);
  }
  return { broad };
}

/** NOLOGIN and no password on the material's login role, even when it is the last that works. */
export async function retireLogin(ctx: ProviderContext, spec: PostgresPasswordSpec, strategy: Strategy, material: Material): Promise<void> {
  const role = strategy === 'single' ? spec.role : material.id;
  await withAdmin(ctx, spec, `cannot retire role "${role}"`, async ({ client }) => {
    if (await roleExists(client, role)) await disableLogin(client, role);
  });
  ctx.logger.info({ role, database: spec.database }, 'postgres login role retired');
}
