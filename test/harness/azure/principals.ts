/**
 * Microsoft Graph v1.0's service principals, as Graph documents them, for posture:
 * - `GET /v1.0/servicePrincipals/{id}` and `GET /v1.0/servicePrincipals(appId='{appId}')` (optionally
 *   `$select`), 404 `Request_ResourceNotFound` when the tenant has none; `GET /v1.0/servicePrincipals`
 *   optionally with `$filter=appId eq '{appId}'` (no other filter), a collection;
 * - `GET …/appRoleAssignments`: the app roles granted to the service principal (its application
 *   permissions): `{id, appRoleId, principalId, principalType, resourceId, resourceDisplayName, …}`;
 * - `GET …/memberOf` and `GET …/transitiveMemberOf`: the groups and directory roles it is a member
 *   of (directly; or also through groups), each with its `@odata.type`;
 * - Microsoft Graph's own service principal lists its `appRoles` (`{id, value, allowedMemberTypes, …}`).
 *
 * Authentication as in graph.ts. Authorisation, application permissions: Application.Read.All,
 * Application.ReadWrite.All, Directory.Read.All or Directory.ReadWrite.All, else 403
 * `Authorization_RequestDenied`, before any 404. As Graph documents for directoryObject collections,
 * a member whose type the caller may not read is still listed, but with its `@odata.type` and `id`
 * only, every other property null: directory roles need RoleManagement.Read.Directory (or
 * RoleManagement.ReadWrite.Directory, Directory.Read.All, Directory.ReadWrite.All), groups
 * GroupMember.Read.All (or Group.Read.All, Group.ReadWrite.All, Directory.*).
 *
 * Collections page at 100 entries (Graph's default for directory objects; `$top` up to 999) with an
 * absolute `@odata.nextLink` carrying a `$skiptoken`. Query options other than `$select`, `$top`,
 * `$skiptoken` (and `$filter` on the collection of service principals) are Graph's 400.
 *
 * Assumptions (Graph documents none of these): the skiptoken is an offset into the collection as
 * it is when read; Application.ReadWrite.OwnedBy reaches only service principals the caller owns,
 * and this emulator makes no caller an owner of a service principal, so it is refused here; OData
 * casts (`…/transitiveMemberOf/microsoft.graph.directoryRole`) are not emulated (Graph wants advanced
 * query parameters for them): clients list the collection and pick entries by `@odata.type`.
 */
import { Directory, GRAPH_APP_ID, GRAPH_APP_ROLES, type AppRecord, type DirectoryRoleRecord, type GraphPermission, type GroupRecord, type TokenRecord } from './directory.js';
import type { GraphReply } from './graph.js';
import { graphError, GUID } from './wire.js';

const SERVICE_PRINCIPALS = /^\/v1\.0\/servicePrincipals(?:\/([^/()]+)|\(appId='((?:[^']|'')*)'\))?(?:\/([^/]+))?$/i;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 999;

export function isServicePrincipalsPath(path: string): boolean {
  return /^\/v1\.0\/servicePrincipals(\/|\(|$)/i.test(path);
}

const READ_PRINCIPALS: GraphPermission[] = ['Application.Read.All', 'Application.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];
const READ_ROLES: GraphPermission[] = ['RoleManagement.Read.Directory', 'RoleManagement.ReadWrite.Directory', 'Directory.Read.All', 'Directory.ReadWrite.All'];
const READ_GROUPS: GraphPermission[] = ['GroupMember.Read.All', 'Group.Read.All', 'Group.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];

/** A service principal as this emulator holds it: an app registration's, or Microsoft Graph's. */
interface Principal {
  id: string;
  appId: string;
  displayName: string;
  app?: AppRecord;
}

const NOT_FOUND = (what: string) => graphError(404, 'Request_ResourceNotFound', `Resource '${what}' does not exist or one of its queried reference-property objects are not present.`);

function graphPrincipal(directory: Directory): Principal {
  return { id: directory.graphServicePrincipalId, appId: GRAPH_APP_ID, displayName: 'Microsoft Graph' };
}

function byAppId(directory: Directory, appId: string): Principal | undefined {
  if (appId.toLowerCase() === GRAPH_APP_ID) return graphPrincipal(directory);
  const app = directory.appByClientId(appId);
  return app && { id: app.servicePrincipalId, appId: app.appId, displayName: app.displayName, app };
}

function byId(directory: Directory, id: string): Principal | undefined {
  if (id.toLowerCase() === directory.graphServicePrincipalId) return graphPrincipal(directory);
  const app = directory.appByServicePrincipalId(id);
  return app && { id: app.servicePrincipalId, appId: app.appId, displayName: app.displayName, app };
}

function appRolesJson(): Array<Record<string, unknown>> {
  return Object.entries(GRAPH_APP_ROLES).map(([value, id]) => ({
    allowedMemberTypes: ['Application'],
    description: `Allows the app to use ${value} without a signed-in user.`,
    displayName: value,
    id,
    isEnabled: true,
    origin: 'Application',
    value,
  }));
}

function principalJson(directory: Directory, p: Principal): Record<string, unknown> {
  return {
    id: p.id,
    deletedDateTime: null,
    accountEnabled: true,
    appDisplayName: p.displayName,
    appId: p.appId,
    appOwnerOrganizationId: p.app ? directory.tenantId : 'f8cdef31-a31e-4b4a-93e4-5f571e91255a',
    displayName: p.displayName,
    servicePrincipalNames: [p.appId],
    servicePrincipalType: 'Application',
    signInAudience: 'AzureADMyOrg',
    appRoles: p.app ? [] : appRolesJson(),
    oauth2PermissionScopes: [],
  };
}

function assignmentsJson(directory: Directory, p: Principal): Array<Record<string, unknown>> {
  if (!p.app) return [];
  return [...directory.grants(p.appId)].map((permission) => {
    const appRoleId = GRAPH_APP_ROLES[permission];
    return {
      id: Directory.assignmentId(p.id, appRoleId),
      deletedDateTime: null,
      appRoleId,
      createdDateTime: (directory.grantedAt.get(`${p.appId} ${permission}`) ?? p.app!.createdDateTime).toISOString(),
      principalDisplayName: p.displayName,
      principalId: p.id,
      principalType: 'ServicePrincipal',
      resourceDisplayName: 'Microsoft Graph',
      resourceId: directory.graphServicePrincipalId,
    };
  });
}

function membershipJson(directory: Directory, caller: TokenRecord, container: GroupRecord | DirectoryRoleRecord): Record<string, unknown> {
  if ('roleTemplateId' in container) {
    const full = directory.holds(caller.clientId, ...READ_ROLES);
    return {
      '@odata.type': '#microsoft.graph.directoryRole',
      id: container.id,
      deletedDateTime: null,
      description: full ? `Built-in role ${container.displayName}.` : null,
      displayName: full ? container.displayName : null,
      roleTemplateId: full ? container.roleTemplateId : null,
    };
  }
  const full = directory.holds(caller.clientId, ...READ_GROUPS);
  return {
    '@odata.type': '#microsoft.graph.group',
    id: container.id,
    deletedDateTime: null,
    displayName: full ? container.displayName : null,
    isAssignableToRole: full ? container.isAssignableToRole : null,
    securityEnabled: full ? true : null,
    mailEnabled: full ? false : null,
  };
}

function select(entity: Record<string, unknown>, params: URLSearchParams): Record<string, unknown> {
  const fields = params.get('$select')?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!fields?.length) return entity;
  return Object.fromEntries(Object.entries(entity).filter(([k]) => k === '@odata.type' || fields.includes(k)));
}

function requireOptions(params: URLSearchParams, allowed: string[]): void {
  for (const name of params.keys()) {
    if (name.startsWith('$') && !allowed.includes(name)) {
      throw graphError(400, 'BadRequest', `Query option '${name}' is not allowed. Make sure that the query option is supported on this request.`);
    }
  }
}

function skipToken(path: string, offset: number): string {
  return Buffer.from(JSON.stringify([path.toLowerCase(), offset])).toString('base64url');
}

function readSkipToken(path: string, token: string): number {
  try {
    const [at, offset] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[];
    if (at === path.toLowerCase() && typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // Falls through to Graph's refusal.
  }
  throw graphError(400, 'Directory_ExpiredPageToken', 'The specified page token value has expired and can no longer be included in your request.');
}

/** One page of a collection, `@odata.nextLink` naming the next (same path, its `$top`, a skiptoken). */
function page(base: string, path: string, params: URLSearchParams, entities: Array<Record<string, unknown>>, pageSize: number, context: string): GraphReply {
  const topText = params.get('$top');
  if (topText !== null && !/^\d+$/.test(topText)) throw graphError(400, 'BadRequest', `Invalid value '${topText}' for query option '$top'.`);
  const top = topText === null ? DEFAULT_PAGE : Number(topText);
  if (top < 1 || top > MAX_PAGE) throw graphError(400, 'Request_UnsupportedQuery', `Invalid page size specified: '${topText}'. Must be between 1 and ${MAX_PAGE} inclusive.`);
  const size = Math.min(top, pageSize);
  const token = params.get('$skiptoken');
  const offset = token === null ? 0 : readSkipToken(path, token);
  const body: Record<string, unknown> = { '@odata.context': `${base}/v1.0/$metadata#${context}` };
  if (offset + size < entities.length) {
    const next = new URLSearchParams();
    for (const [k, v] of params) if (k !== '$skiptoken') next.set(k, v);
    next.set('$skiptoken', skipToken(path, offset + size));
    body['@odata.nextLink'] = `${base}${path}?${next.toString().replace(/%24/g, '$')}`;
  }
  body.value = entities.slice(offset, offset + size).map((e) => select(e, params));
  return { status: 200, body };
}

/** `GET /v1.0/servicePrincipals…`; `pageSize` caps a page below Graph's default (tests exercise paging with it). */
export function handleServicePrincipals(directory: Directory, base: string, caller: TokenRecord, method: string, path: string, params: URLSearchParams, pageSize: number): GraphReply {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw graphError(400, 'BadRequest', 'The request URI is not valid.');
  }
  const match = SERVICE_PRINCIPALS.exec(decoded);
  if (!match) throw graphError(400, 'BadRequest', `Resource not found for the segment '${path.split('/').pop() ?? ''}'.`);
  const [, id, appIdText, relation] = match;
  if (method !== 'GET') throw graphError(405, 'Request_BadRequest', `Method ${method} is not supported here.`);
  if (id !== undefined && !GUID.test(id)) throw graphError(400, 'Request_BadRequest', `Invalid object identifier '${id}'.`);
  const appId = appIdText?.replace(/''/g, "'");
  if (appId !== undefined && !GUID.test(appId)) throw graphError(400, 'Request_BadRequest', `Invalid object identifier '${appId}'.`);
  if (relation !== undefined && !['approleassignments', 'memberof', 'transitivememberof'].includes(relation.toLowerCase())) {
    throw graphError(400, 'BadRequest', `Resource not found for the segment '${relation}'.`);
  }
  if (!directory.holds(caller.clientId, ...READ_PRINCIPALS)) throw graphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');

  if (id === undefined && appId === undefined) {
    if (relation !== undefined) throw graphError(400, 'BadRequest', `Resource not found for the segment '${relation}'.`);
    requireOptions(params, ['$filter', '$select', '$top', '$skiptoken']);
    const filter = params.get('$filter');
    let all = [...directory.apps.values()].map((a) => byId(directory, a.servicePrincipalId)!);
    all.unshift(graphPrincipal(directory));
    if (filter !== null) {
      const eq = /^appId eq '((?:[^']|'')*)'$/.exec(filter.trim());
      if (!eq) throw graphError(400, 'Request_UnsupportedQuery', `Unsupported or invalid query filter clause specified for property 'appId' of resource 'ServicePrincipal'.`);
      const wanted = eq[1]!.replace(/''/g, "'").toLowerCase();
      all = all.filter((p) => p.appId === wanted);
    }
    return page(base, path, params, all.map((p) => principalJson(directory, p)), pageSize, 'servicePrincipals');
  }

  const principal = id !== undefined ? byId(directory, id) : byAppId(directory, appId!);
  if (!principal) throw NOT_FOUND(id ?? `servicePrincipals(appId='${appId}')`);
  if (relation === undefined) {
    requireOptions(params, ['$select']);
    return { status: 200, body: { '@odata.context': `${base}/v1.0/$metadata#servicePrincipals/$entity`, ...select(principalJson(directory, principal), params) } };
  }
  requireOptions(params, ['$select', '$top', '$skiptoken']);
  if (relation.toLowerCase() === 'approleassignments') {
    return page(base, path, params, assignmentsJson(directory, principal), pageSize, `servicePrincipals('${principal.id}')/appRoleAssignments`);
  }
  const containers = relation.toLowerCase() === 'memberof' ? directory.memberOf(principal.id) : directory.transitiveMemberOf(principal.id);
  return page(base, path, params, containers.map((c) => membershipJson(directory, caller, c)), pageSize, 'directoryObjects');
}
