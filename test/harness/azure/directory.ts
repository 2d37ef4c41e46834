/**
 * Microsoft Entra ID in memory: one tenant, its app registrations with their client secrets
 * (password credentials), the Microsoft Graph application permissions and ownerships granted to
 * apps, and the access tokens it issued. Rules kept from Entra ID:
 * - the service makes the secret (`<3 chars>8Q~<34 chars>`, 40 in all) and returns it once, from
 *   addPassword; reads only ever show its first three characters (`hint`);
 * - keyIds, app ids and object ids are GUIDs;
 * - a secret authenticates between startDateTime and endDateTime, and a new one only after a
 *   propagation delay (Entra replicates new credentials; the first sign-ins fail meanwhile);
 * - a token is bound to one client, one tenant and one resource (audience), and expires;
 * - every client-credentials sign-in of a known application lands in the tenant's sign-in log as a
 *   service-principal sign-in: successes with the keyId of the secret used
 *   (`servicePrincipalCredentialKeyId`), failures with their AADSTS error code (and the keyId when the
 *   secret is known but expired; a wrong secret names none). Reading the log needs an Entra ID P1/P2
 *   licence, which the tenant has unless a test takes it away;
 * - every app registration has a service principal in the tenant (its own object id), and Microsoft
 *   Graph is a resource service principal (appId 00000003-0000-0000-c000-000000000000) whose
 *   `appRoles` are Graph's application permissions, with the ids Microsoft Graph publishes. A Graph
 *   application permission granted (admin-consented) to an app IS an app role assignment of its
 *   service principal to Graph's: `grants()` is the one record of both;
 * - directory roles exist once activated (here: when they get their first member), carry the
 *   built-in role's immutable `roleTemplateId`, and hold service principals and role-assignable
 *   groups as members; a group's members inherit its roles (transitiveMemberOf).
 */
import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { aadError, graphError } from './wire.js';

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
export const VAULT_RESOURCE = 'https://vault.azure.net';

/** Microsoft Graph's appId: the resource service principal whose app roles are Graph's application permissions. */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';

/** Graph application permissions (app roles) the emulator knows, with the ids Microsoft Graph publishes. */
export const GRAPH_APP_ROLES = {
  'Application.Read.All': '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30',
  'Application.ReadWrite.All': '1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9',
  'Application.ReadWrite.OwnedBy': '18a4783c-866b-4cc7-a460-3d5e5662c884',
  'AppRoleAssignment.ReadWrite.All': '06b708a9-e830-4db3-a914-8e69da51d44f',
  'AuditLog.Read.All': 'b0afded3-3588-46d8-8b3d-9842eff778da',
  'Directory.Read.All': '7ab1d382-f21e-4acd-a863-ba3e13f7da61',
  'Directory.ReadWrite.All': '19dbc75e-c2e2-444c-a770-ec69d8559fc7',
  'Domain.ReadWrite.All': '7e05723c-0bb0-42da-be95-ae9f08a6e53c',
  'Group.Read.All': '5b567255-7703-4780-807c-7be8301ae99b',
  'Group.ReadWrite.All': '62a82d76-70ea-41e2-9197-370581804d09',
  'GroupMember.Read.All': '98830695-27a2-44f7-8c18-0c3ebc9698f6',
  'RoleManagement.Read.Directory': '483bed4a-2ad3-4361-a73b-c83ccdbdc53c',
  'RoleManagement.ReadWrite.Directory': '9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8',
  'User.Read.All': 'df021288-bdef-4463-88db-98f22de89214',
  'User.ReadWrite.All': '741f803b-c850-494e-b5df-cde7c675a1ca',
} as const;

export type GraphPermission = keyof typeof GRAPH_APP_ROLES;

/** Built-in Entra ID roles the emulator knows, by display name, with their immutable role template ids. */
export const DIRECTORY_ROLE_TEMPLATES = {
  'Global Administrator': '62e90394-69f5-4237-9190-012177145e10',
  'Privileged Role Administrator': 'e8611ab8-c189-46e8-94e1-60213ab1f814',
  'Privileged Authentication Administrator': '7be44c8a-adaf-4e2a-84d6-ab2649e08a13',
  'Application Administrator': '9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3',
  'Cloud Application Administrator': '158c047a-c907-4556-b7ef-446551a6b5f7',
  'User Administrator': 'fe930be7-5e62-47db-91af-98c3a49a38b1',
  'Directory Readers': '88d8e3e3-8f55-4a1e-953a-9b9898b8876b',
} as const;

export type DirectoryRoleName = keyof typeof DIRECTORY_ROLE_TEMPLATES;

/** An activated directory role: members are object ids of service principals and role-assignable groups. */
export interface DirectoryRoleRecord {
  id: string;
  displayName: DirectoryRoleName;
  roleTemplateId: string;
  members: Set<string>;
}

/** A security group; members are object ids (service principals, groups). */
export interface GroupRecord {
  id: string;
  displayName: string;
  isAssignableToRole: boolean;
  members: Set<string>;
}

/** Resource app ids and names, as sign-in records show the resource a token was for. */
const RESOURCE_APPS: Record<string, { id: string; name: string }> = {
  [GRAPH_RESOURCE]: { id: '00000003-0000-0000-c000-000000000000', name: 'Microsoft Graph' },
  [VAULT_RESOURCE]: { id: 'cfa8b339-82a2-471a-a3c9-0fc0be7a4093', name: 'Azure Key Vault' },
};

/** Graph's default lifetime of a password when addPassword names no endDateTime. */
const DEFAULT_PASSWORD_LIFETIME_MS = 2 * 365 * 86_400_000;
const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~';

export interface PasswordRecord {
  keyId: string;
  displayName: string | null;
  secretText: string;
  /** First three characters of the secret, the only part Graph ever shows again. */
  hint: string;
  startDateTime: Date;
  endDateTime: Date;
  /** Epoch ms from which the secret authenticates (propagation). */
  validFrom: number;
}

export interface AppRecord {
  /** The application object's id (Graph's `id`, "Object ID" in the portal). */
  objectId: string;
  /** The client id (Graph's `appId`). */
  appId: string;
  displayName: string;
  createdDateTime: Date;
  passwords: PasswordRecord[];
  /** Client ids of the service principals that own this application. */
  owners: Set<string>;
  /** Object id of the application's service principal in this tenant (sign-in records name it). */
  servicePrincipalId: string;
}

/** One entry of the sign-in log: a client-credentials sign-in of a service principal. */
export interface SignInRecord {
  id: string;
  /** Order of recording, to break ties between equal times. */
  seq: number;
  createdDateTime: Date;
  appId: string;
  appDisplayName: string;
  servicePrincipalId: string;
  /** keyId of the client secret used; null when the secret matched none. */
  keyId: string | null;
  correlationId: string;
  resource: string;
  /** 0 for a success, else the AADSTS code. */
  errorCode: number;
  failureReason: string | null;
}

export interface TokenRecord {
  clientId: string;
  tenantId: string;
  /** The resource (audience) the token was issued for, e.g. https://vault.azure.net. */
  resource: string;
  expiresAt: number;
}

function randomSecret(): string {
  const pick = (n: number) => Array.from({ length: n }, () => SECRET_ALPHABET[randomInt(SECRET_ALPHABET.length)]).join('');
  return `${pick(3)}8Q~${pick(34)}`;
}

export class Directory {
  /** Applications by object id. */
  readonly apps = new Map<string, AppRecord>();
  /** Graph application permissions granted (admin-consented) to each client id. */
  readonly permissions = new Map<string, Set<GraphPermission>>();
  readonly tokens = new Map<string, TokenRecord>();
  /** Every client secret and access token issued, for leak scans. */
  readonly issuedSecrets: string[] = [];
  /** The sign-in log, oldest first. */
  readonly signIns: SignInRecord[] = [];
  /** When each Graph permission was granted (`<clientId> <permission>`), as its app role assignment shows. */
  readonly grantedAt = new Map<string, Date>();
  /** Object id of Microsoft Graph's service principal in this tenant. */
  readonly graphServicePrincipalId = randomUUID();
  /** Activated directory roles, by role template id. */
  readonly directoryRoles = new Map<string, DirectoryRoleRecord>();
  /** Groups by object id. */
  readonly groups = new Map<string, GroupRecord>();
  /** Whether the tenant has the Entra ID P1/P2 licence that reading sign-in logs needs. */
  premiumLicence = true;
  tokenLifetimeSeconds = 3599;

  constructor(
    readonly tenantId: string,
    public propagationDelayMs: number,
  ) {}

  registerApp(displayName: string): AppRecord {
    const app: AppRecord = {
      objectId: randomUUID(),
      appId: randomUUID(),
      displayName,
      createdDateTime: new Date(),
      passwords: [],
      owners: new Set(),
      servicePrincipalId: randomUUID(),
    };
    this.apps.set(app.objectId, app);
    return app;
  }

  /** The application, or Graph's 404. */
  app(objectId: string): AppRecord {
    const app = this.apps.get(objectId.toLowerCase());
    if (!app) {
      throw graphError(404, 'Request_ResourceNotFound', `Resource '${objectId}' does not exist or one of its queried reference-property objects are not present.`);
    }
    return app;
  }

  appByClientId(appId: string): AppRecord | undefined {
    return [...this.apps.values()].find((a) => a.appId === appId.toLowerCase());
  }

  /** A new password; `immediate` skips the propagation delay (secrets a test seeds before Rotor runs). */
  addPassword(app: AppRecord, request: { displayName?: string | null; startDateTime?: Date; endDateTime?: Date }, immediate = false): PasswordRecord {
    const now = Date.now();
    const startDateTime = request.startDateTime ?? new Date(now);
    const secretText = randomSecret();
    const password: PasswordRecord = {
      keyId: randomUUID(),
      displayName: request.displayName ?? null,
      secretText,
      hint: secretText.slice(0, 3),
      startDateTime,
      endDateTime: request.endDateTime ?? new Date(startDateTime.getTime() + DEFAULT_PASSWORD_LIFETIME_MS),
      validFrom: Math.max(startDateTime.getTime(), immediate ? 0 : now + this.propagationDelayMs),
    };
    app.passwords.push(password);
    this.issuedSecrets.push(secretText);
    return password;
  }

  /** Removes a password; false when the app has none with this keyId. */
  removePassword(app: AppRecord, keyId: string): boolean {
    const before = app.passwords.length;
    app.passwords = app.passwords.filter((p) => p.keyId !== keyId.toLowerCase());
    return app.passwords.length < before;
  }

  /**
   * client_credentials with a client secret for `resource`: the app it authenticates, or Entra ID's
   * refusal. Either way a known app's attempt is written to the sign-in log.
   */
  authenticate(clientId: string, secret: string, resource: string, correlationId: string = randomUUID(), now = Date.now()): AppRecord {
    const app = this.appByClientId(clientId);
    if (!app) {
      throw aadError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${this.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    const matching = app.passwords.filter((p) => p.secretText === secret && now >= p.validFrom);
    const valid = matching.find((p) => now < p.endDateTime.getTime());
    const log = (keyId: string | null, errorCode: number, failureReason: string | null) =>
      this.recordSignIn({ app, keyId, resource, correlationId, errorCode, failureReason, createdDateTime: new Date(now) });
    if (valid) {
      log(valid.keyId, 0, null);
      return app;
    }
    if (matching.length > 0) {
      log(matching[0]!.keyId, 7000222, 'The provided client secret keys are expired.');
      throw aadError(
        401,
        'invalid_client',
        7000222,
        `The provided client secret keys for app '${app.appId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
      );
    }
    log(null, 7000215, 'Invalid client secret is provided.');
    throw aadError(
      401,
      'invalid_client',
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.appId}'.`,
    );
  }

  /** Writes a service-principal sign-in to the log (the token endpoint does; tests may backdate one). */
  recordSignIn(entry: { app: AppRecord; keyId: string | null; resource: string; createdDateTime: Date; correlationId?: string; errorCode?: number; failureReason?: string | null }): SignInRecord {
    const record: SignInRecord = {
      id: randomUUID(),
      seq: this.signIns.length,
      createdDateTime: entry.createdDateTime,
      appId: entry.app.appId,
      appDisplayName: entry.app.displayName,
      servicePrincipalId: entry.app.servicePrincipalId,
      keyId: entry.keyId,
      correlationId: entry.correlationId ?? randomUUID(),
      resource: entry.resource,
      errorCode: entry.errorCode ?? 0,
      failureReason: entry.failureReason ?? null,
    };
    this.signIns.push(record);
    return record;
  }

  /** The resource's app id and display name, as a sign-in record shows them. */
  static resourceApp(resource: string): { id: string; name: string } {
    return RESOURCE_APPS[resource] ?? { id: resource, name: resource };
  }

  issueToken(app: AppRecord, resource: string): { token: string; expiresIn: number } {
    const token = randomBytes(48).toString('base64url');
    this.tokens.set(token, { clientId: app.appId, tenantId: this.tenantId, resource, expiresAt: Date.now() + this.tokenLifetimeSeconds * 1000 });
    this.issuedSecrets.push(token);
    return { token, expiresIn: this.tokenLifetimeSeconds };
  }

  /** The record of a token this directory issued and that has not expired. */
  token(value: string | undefined, now = Date.now()): TokenRecord | undefined {
    const record = value === undefined ? undefined : this.tokens.get(value);
    return record && now < record.expiresAt ? record : undefined;
  }

  /** Expires every token of a client (as if their lifetime had passed), e.g. to force a new sign-in. */
  expireTokens(clientId: string): void {
    for (const record of this.tokens.values()) if (record.clientId === clientId) record.expiresAt = 0;
  }

  grants(clientId: string): Set<GraphPermission> {
    let granted = this.permissions.get(clientId);
    if (!granted) this.permissions.set(clientId, (granted = new Set()));
    return granted;
  }

  /** Grants (admin-consents) a Graph application permission: an app role assignment to Graph's service principal. */
  grant(clientId: string, permission: GraphPermission): void {
    if (!Object.hasOwn(GRAPH_APP_ROLES, permission)) throw new Error(`no Microsoft Graph app role ${permission}`);
    const granted = this.grants(clientId);
    if (!granted.has(permission)) this.grantedAt.set(`${clientId} ${permission}`, new Date());
    granted.add(permission);
  }

  /** Whether the caller holds any of these Graph permissions. */
  holds(clientId: string, ...permissions: GraphPermission[]): boolean {
    const granted = this.grants(clientId);
    return permissions.some((p) => granted.has(p));
  }

  /** The application whose service principal has this object id. */
  appByServicePrincipalId(id: string): AppRecord | undefined {
    return [...this.apps.values()].find((a) => a.servicePrincipalId === id.toLowerCase());
  }

  /** The id an app role assignment has: stable per principal and app role (Graph's are opaque strings). */
  static assignmentId(principalId: string, appRoleId: string): string {
    return createHash('sha256').update(`${principalId}|${appRoleId}`).digest('base64url').slice(0, 43);
  }

  /** The directory role, activated on first use. */
  directoryRole(name: DirectoryRoleName): DirectoryRoleRecord {
    const templateId = DIRECTORY_ROLE_TEMPLATES[name];
    if (!templateId) throw new Error(`no built-in directory role ${name}`);
    let role = this.directoryRoles.get(templateId);
    if (!role) this.directoryRoles.set(templateId, (role = { id: randomUUID(), displayName: name, roleTemplateId: templateId, members: new Set() }));
    return role;
  }

  /** The role-assignable group of this name, made on first use. */
  roleAssignableGroup(displayName: string): GroupRecord {
    let group = [...this.groups.values()].find((g) => g.displayName === displayName);
    if (!group) {
      group = { id: randomUUID(), displayName, isAssignableToRole: true, members: new Set() };
      this.groups.set(group.id, group);
    }
    return group;
  }

  /** Groups and directory roles the object is a direct member of. */
  memberOf(objectId: string): Array<GroupRecord | DirectoryRoleRecord> {
    return [...this.groups.values(), ...this.directoryRoles.values()].filter((c) => c.members.has(objectId));
  }

  /** Groups and directory roles the object is a member of, directly or through groups. */
  transitiveMemberOf(objectId: string): Array<GroupRecord | DirectoryRoleRecord> {
    const found: Array<GroupRecord | DirectoryRoleRecord> = [];
    const seen = new Set<string>();
    const queue = [objectId];
    while (queue.length > 0) {
      const member = queue.shift()!;
      for (const container of this.memberOf(member)) {
        if (seen.has(container.id)) continue;
        seen.add(container.id);
        found.push(container);
        if (this.groups.has(container.id)) queue.push(container.id);
      }
    }
    return found;
  }
}
