/**
 * Posture for client secrets: which grants of the application's service principal are broader than
 * any one workload needs, i.e. those whose holder can take over the tenant (make itself or anyone
 * Global Administrator, add a secret to any application, consent any permission):
 * - Microsoft Graph application permissions (app role assignments to Graph's service principal,
 *   named through Graph's own `appRoles`): Directory.ReadWrite.All, RoleManagement.ReadWrite.Directory,
 *   AppRoleAssignment.ReadWrite.All, Application.ReadWrite.All, User.ReadWrite.All,
 *   Group.ReadWrite.All, Domain.ReadWrite.All;
 * - membership, directly or through a group, in the directory roles Global Administrator,
 *   Privileged Role Administrator, Privileged Authentication Administrator, Application
 *   Administrator and Cloud Application Administrator, recognised by their immutable role template
 *   ids (display names have changed before: Global Administrator was "Company Administrator").
 * An application without a service principal in the tenant holds nothing there.
 *
 * Not seen: roles through Privileged Identity Management (eligible, not active), roles scoped to an
 * administrative unit, custom roles, and Azure RBAC on subscriptions (none are directoryRoles).
 *
 * Rotor's identity needs the Microsoft Graph application permission Application.Read.All (or
 * Directory.Read.All), and to name the directory roles the service principal holds,
 * RoleManagement.Read.Directory (Directory.Read.All covers it): Graph lists a role the caller may
 * not read with its id alone, which is refused rather than taken for a harmless role.
 */
import type { PrivilegeFacts, ProviderContext } from '../contracts.js';
import { GRAPH_APP_ID, GraphApplications, type DirectoryRoleInfo } from './graph.js';
import type { AzureSpSecretSpec } from './spec.js';

/** Graph application permissions that amount to control of the tenant. */
export const TAKEOVER_PERMISSIONS: readonly string[] = [
  'Directory.ReadWrite.All',
  'RoleManagement.ReadWrite.Directory',
  'AppRoleAssignment.ReadWrite.All',
  'Application.ReadWrite.All',
  'User.ReadWrite.All',
  'Group.ReadWrite.All',
  'Domain.ReadWrite.All',
];

/** Privileged built-in directory roles by role template id (the same in every tenant). */
export const PRIVILEGED_ROLES: ReadonlyMap<string, string> = new Map([
  ['62e90394-69f5-4237-9190-012177145e10', 'Global Administrator'],
  ['e8611ab8-c189-46e8-94e1-60213ab1f814', 'Privileged Role Administrator'],
  ['7be44c8a-adaf-4e2a-84d6-ab2649e08a13', 'Privileged Authentication Administrator'],
  ['9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3', 'Application Administrator'],
  ['158c047a-c907-4556-b7ef-446551a6b5f7', 'Cloud Application Administrator'],
]);

/** Display names of the same roles, for a role listed without its template id; Global Administrator's old name too. */
const PRIVILEGED_ROLE_NAMES: ReadonlyMap<string, string> = new Map([
  ...[...PRIVILEGED_ROLES.values()].map((name): [string, string] => [name.toLowerCase(), name]),
  ['company administrator', 'Global Administrator'],
]);

/** The privileged role's name, or undefined for any other role. */
function privilegedRole(role: DirectoryRoleInfo): string | undefined {
  if (role.roleTemplateId) return PRIVILEGED_ROLES.get(role.roleTemplateId.toLowerCase());
  return role.displayName ? PRIVILEGED_ROLE_NAMES.get(role.displayName.toLowerCase()) : undefined;
}

/** Tenant-takeover Graph permissions and privileged directory roles of the application's service principal. */
export async function servicePrincipalPrivileges(ctx: ProviderContext, spec: AzureSpSecretSpec): Promise<PrivilegeFacts> {
  return GraphApplications.use(ctx, spec, async (graph) => {
    const principal = await graph.servicePrincipal(spec.clientId);
    if (!principal) {
      ctx.logger.warn({ clientId: spec.clientId }, 'application has no service principal in the tenant: it holds no permissions there');
      return { broad: [] };
    }
    const permissions = new Set<string>();
    const assignments = await graph.appRoleAssignments(principal.id);
    if (assignments.length > 0) {
      const msGraph = await graph.resourceAppRoles(GRAPH_APP_ID);
      for (const a of assignments) {
        if (a.resourceId.toLowerCase() !== msGraph.id.toLowerCase()) continue;
        const value = msGraph.appRoles.get(a.appRoleId.toLowerCase());
        if (value !== undefined && TAKEOVER_PERMISSIONS.includes(value)) permissions.add(value);
      }
    }
    const roles = new Set<string>();
    for (const role of await graph.directoryRoles(principal.id)) {
      const name = privilegedRole(role);
      if (name) roles.add(name);
    }
    const broad = [
      ...TAKEOVER_PERMISSIONS.filter((p) => permissions.has(p)).map((p) => `Graph application permission ${p}`),
      ...[...PRIVILEGED_ROLES.values()].filter((r) => roles.has(r)).map((r) => `directory role ${r}`),
    ];
    ctx.logger.info({ clientId: spec.clientId, servicePrincipalId: principal.id, appRoleAssignments: assignments.length, broad: broad.length }, 'azure service principal privileges read');
    return { broad };
  });
}
