/**
 * Privileges for MySQL and MariaDB logins, read from SHOW GRANTS: what the admin lacks for rotation
 * (pre-flight), what the rotated accounts hold beyond an application's needs (posture), and locking a
 * login for good (decommission).
 */
import type { Material } from '../../lib/material.js';
import type { PrivilegeFacts, ProviderContext, Strategy } from '../contracts.js';
import { accountExists, disableAccount, showGrants, withAdmin, type Session } from './db.js';
import { loginUsers, type MysqlPasswordSpec } from './spec.js';

/** The privileges a grant line gives on `on` (`*.*` or `` `mysql`.* ``); empty when it grants elsewhere. */
function privilegesOn(line: string, on: string): string[] {
  const match = /^GRANT (.+?) ON (\S+) TO /.exec(line);
  if (!match || match[2] !== on) return [];
  return match[1]!.split(',').map((p) => p.trim().toUpperCase());
}

function holds(lines: string[], privilege: string, on: string[]): boolean {
  return lines.some((l) => on.some((o) => {
    const privs = privilegesOn(l, o);
    return privs.includes('ALL PRIVILEGES') || privs.includes(privilege);
  }));
}

/** What the admin's own grants (SHOW GRANTS) lack for each step of this strategy. */
export async function adminProblems(session: Session, spec: MysqlPasswordSpec, strategy: Strategy, own: string[]): Promise<string[]> {
  const who = `'${spec.admin.user}' on ${spec.host}:${spec.port}`;
  const problems: string[] = [];
  if (!holds(own, 'CREATE USER', ['*.*'])) problems.push(`${who} lacks the global CREATE USER privilege (needed to set passwords)`);
  const canRead = holds(own, 'SELECT', ['*.*', '`mysql`.*']);
  if (!canRead) problems.push(`${who} lacks SELECT on \`mysql\`.* (needed to read accounts and grants)`);
  if (!holds(own, 'PROCESS', ['*.*'])) problems.push(`${who} lacks the global PROCESS privilege (needed to see the old login's sessions before revoke)`);
  if (strategy === 'dual' && canRead && session.flavour.mariadb && !holds(own, 'UPDATE', ['*.*', '`mysql`.*'])) {
    // MariaDB sets another account's default role only with UPDATE on the mysql schema: without it the logins must exist already.
    for (const login of loginUsers(spec.user)) {
      const ready =
        (await accountExists(session, login, spec.userHost)) &&
        (await showGrants(session, login, spec.userHost)).some((l) => /^SET DEFAULT ROLE/i.test(l) && l.includes(`\`${spec.user}\``));
      if (!ready) {
        problems.push(
          `${who} lacks UPDATE on \`mysql\`.* to set the default role of '${login}'@'${spec.userHost}'; ` +
            `create it once: CREATE USER '${login}'@'${spec.userHost}' ACCOUNT LOCK; GRANT \`${spec.user}\` TO '${login}'@'${spec.userHost}'; SET DEFAULT ROLE \`${spec.user}\` FOR '${login}'@'${spec.userHost}'`,
        );
      }
    }
  }
  return problems;
}

/** Global privileges an application login should not hold. */
const BROAD_GLOBAL = ['ALL PRIVILEGES', 'SUPER', 'CREATE USER', 'FILE', 'SHUTDOWN', 'PROCESS', 'RELOAD'];

/** What one grantee's grants give beyond an application's needs. */
function broadGrants(grantee: string, lines: string[]): string[] {
  const found: string[] = [];
  for (const line of lines) {
    const global = privilegesOn(line, '*.*').filter((p) => BROAD_GLOBAL.includes(p));
    if (global.length > 0) found.push(`${grantee} has ${global.join(', ')} on *.*`);
    if (/\bWITH GRANT OPTION\b/i.test(line)) found.push(`${grantee} has GRANT OPTION (${/ ON (\S+) TO /.exec(line)?.[1] ?? 'a grant'})`);
    if (/\bWITH ADMIN OPTION\b/i.test(line)) found.push(`${grantee} may grant a role onward (WITH ADMIN OPTION)`);
  }
  return found;
}

/**
 * SUPER, ALL PRIVILEGES (or other server-wide admin privileges), GRANT OPTION on the credential's
 * accounts and on the role the dual logins share, and accounts that accept logins from any host (`%`).
 */
export async function accountPrivileges(ctx: ProviderContext, spec: MysqlPasswordSpec): Promise<PrivilegeFacts> {
  return withAdmin(ctx, spec, `cannot read the grants of '${spec.user}'`, async (session) => {
    const broad: string[] = [];
    const roles = new Set<string>();
    for (const user of [spec.user, ...loginUsers(spec.user)]) {
      if (!(await accountExists(session, user, spec.userHost))) continue;
      const grantee = `'${user}'@'${spec.userHost}'`;
      const lines = await showGrants(session, user, spec.userHost);
      broad.push(...broadGrants(grantee, lines));
      if (spec.userHost === '%') broad.push(`${grantee} accepts logins from any host ('%')`);
      for (const line of lines) {
        const role = /^GRANT [`']([^`']+)[`'](?:@[`'][^`']*[`'])? TO /.exec(line)?.[1];
        if (role) roles.add(role);
      }
    }
    for (const role of roles) {
      const lines = await showGrants(session, role, session.flavour.mariadb ? null : '%').catch(() => []);
      broad.push(...broadGrants(`role \`${role}\``, lines));
    }
    return { broad };
  });
}

/** Locks the material's login with an unknowable password, even when it is the last that works. */
export async function retireAccount(ctx: ProviderContext, spec: MysqlPasswordSpec, strategy: Strategy, material: Material): Promise<void> {
  const user = strategy === 'single' ? spec.user : material.has('username') ? material.reveal('username') : material.id;
  await withAdmin(ctx, spec, `cannot retire account '${user}'`, async (session) => {
    if (await accountExists(session, user, spec.userHost)) await disableAccount(session, user, spec.userHost);
  });
  ctx.logger.info({ user, host: spec.userHost }, 'mysql login retired');
}
