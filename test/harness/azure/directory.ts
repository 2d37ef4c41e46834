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
 *   licence, which the tenant has unless a test takes it away.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { aadError, graphError } from './wire.js';

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
export const VAULT_RESOURCE = 'https://vault.azure.net';

/** Graph application permissions (app roles) the emulator knows. */
export type GraphPermission = 'Application.Read.All' | 'Application.ReadWrite.All' | 'Application.ReadWrite.OwnedBy' | 'AuditLog.Read.All';

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
}
