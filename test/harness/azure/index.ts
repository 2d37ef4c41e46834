/**
 * An Azure emulator for tests: Microsoft Entra ID (token endpoint), Microsoft Graph (an
 * application's client secrets, the sign-in log) and Key Vault (secrets) behind ONE https server on 127.0.0.1, for
 * the real `@azure/identity` and `@azure/keyvault-secrets` clients. Nothing of Azure can be
 * installed here, so this stands in for it. The same origin is the authority host, the Graph
 * endpoint and the vault URL; paths tell the services apart:
 *   `/{tenant}/v2.0/.well-known/openid-configuration`, `/{tenant}/oauth2/v2.0/token` → Entra ID
 *   `/v1.0/…`, `/beta/…` → Graph;  `/secrets…`, `/deletedsecrets…` → Key Vault.
 * Every client-credentials sign-in of a known app is written to the sign-in log, which Graph serves
 * at `/beta/auditLogs/signIns` (AuditLog.Read.All; see signins.ts).
 *
 * Each request: read it, log it (service, method, path, caller's client id, outcome; never bodies or
 * tokens), ask the FaultInjector (the FaultRequest path is the URL path, e.g.
 * `/v1.0/applications/<id>/addPassword`), authenticate (a token this emulator issued, unexpired, for
 * the service's audience), authorise (Graph application permissions / Key Vault RBAC roles the test
 * granted), then handle it. Key Vault answers a request without a token with the 401 challenge
 * `WWW-Authenticate: Bearer authorization="<authority>/<tenant>", resource="https://vault.azure.net"`.
 *
 * The server certificate is signed by a CA made at run time: clients trust `caPem` (Rotor's
 * `caCertificate`), never NODE_TLS_REJECT_UNAUTHORIZED.
 */
import { randomUUID } from 'node:crypto';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultInjector, respondWithFault } from '../faults.js';
import { LOOPBACK } from '../ports.js';
import { isAadPath, openIdConfiguration, tokenRequest } from './aad.js';
import { Directory, GRAPH_RESOURCE, VAULT_RESOURCE, type DirectoryRoleName, type GraphPermission, type SignInRecord, type TokenRecord } from './directory.js';
import { authenticateGraph, handleGraph, isGraphPath } from './graph.js';
import { KeyVaultState, type VaultRole } from './keyvault.js';
import { loopbackTls } from './tls.js';
import { AzureHttpError, bearer, header, keyVaultError, readBody, sendEmpty, sendJson, type AzureService } from './wire.js';

export { azureFault } from './wire.js';
export type { DirectoryRoleName, GraphPermission } from './directory.js';
export { DIRECTORY_ROLE_TEMPLATES, GRAPH_APP_ID, GRAPH_APP_ROLES } from './directory.js';
export type { VaultRole } from './keyvault.js';

export interface AzureRequest {
  service: AzureService | 'unknown';
  method: string;
  /** Path without the query string. */
  path: string;
  /** The client id that called (token requests: the one asking; Graph and Key Vault: the token's). */
  clientId?: string;
  status: number;
  /** The error code of a refused request (`invalid_client`, `Authorization_RequestDenied`, `SecretDisabled`). */
  error?: string;
}

/** An app registration with one client secret that works at once. */
export interface AzureTestApp {
  objectId: string;
  /** The appId, what a client signs in as. */
  clientId: string;
  /** Object id of the app's service principal in the tenant. */
  servicePrincipalId: string;
  tenantId: string;
  displayName: string;
  keyId: string;
  clientSecret: string;
}

/** One sign-in log entry, as a test reads it. */
export interface AzureSignInInfo {
  id: string;
  createdDateTime: Date;
  /** The app's client id. */
  appId: string;
  /** keyId of the client secret used (`servicePrincipalCredentialKeyId`); null when none matched. */
  keyId: string | null;
  correlationId: string;
  /** 0 for a success, else the AADSTS code. */
  errorCode: number;
}

export interface AzurePasswordInfo {
  keyId: string;
  displayName: string | null;
  hint: string;
  startDateTime: Date;
  endDateTime: Date;
}

export interface AzureEmulator {
  /** `https://127.0.0.1:PORT`: the authority host, the Graph endpoint and the vault URL. */
  url: string;
  authorityHost: string;
  graphEndpoint: string;
  vaultUrl: string;
  tenantId: string;
  /** PEM of the CA that signed the server certificate, for `tlsOptions.ca` / `caCertificate`. */
  caPem: string;
  faults: FaultInjector;
  /** Every request, without bodies or tokens. */
  requests: AzureRequest[];
  /** A raw https call, for what the SDKs never send (no token, a forged one). */
  raw(method: string, path: string, token?: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }>;
  directory: {
    /** An app registration with one client secret valid at once, and optional Graph permissions. */
    registerApp(displayName: string, options?: { graphPermissions?: GraphPermission[] }): AzureTestApp;
    /** Another client secret, valid at once (as if made long ago); dates as Graph's addPassword takes them. */
    addPassword(objectId: string, options?: { displayName?: string; startDateTime?: Date; endDateTime?: Date }): { keyId: string; secretText: string };
    /** The application's client secrets, without their values. */
    passwords(objectId: string): AzurePasswordInfo[];
    /** Grants (admin-consents) a Graph application permission: an app role assignment to Graph's service principal. */
    grantGraph(clientId: string, permission: GraphPermission): void;
    revokeGraph(clientId: string, permission: GraphPermission): void;
    /** The same as grantGraph, named for posture tests: the app's service principal gets Graph's app role `permission`. */
    assignGraphAppRole(clientId: string, permission: GraphPermission): void;
    /**
     * Makes the app's service principal a member of a built-in directory role (activating it), or with
     * `viaGroup` a member of that role-assignable group (made on first use), which is the role's member.
     */
    addToDirectoryRole(clientId: string, role: DirectoryRoleName, options?: { viaGroup?: string }): void;
    /** Largest page of service principals, app role assignments and memberships Graph answers (its default is 100). */
    setDirectoryPageSize(size: number): void;
    /** Makes `ownerClientId`'s service principal an owner of the application (for Application.ReadWrite.OwnedBy). */
    addOwner(objectId: string, ownerClientId: string): void;
    /** How long a NEW secret is refused (invalid_client) after addPassword, like Entra ID's replication. */
    setPropagationDelay(ms: number): void;
    /** Ends every token of a client, as if their hour had passed. */
    expireTokens(clientId: string): void;
    /** Every client secret and access token the emulator issued, for leak scans. */
    issuedSecrets(): string[];
    /** The sign-in log, oldest first; only the client's entries when a client id is given. */
    signIns(clientId?: string): AzureSignInInfo[];
    /**
     * Writes a sign-in to the log as if it had happened at `at` (Graph-facing tests that need one
     * outside the real clock); sign-ins through the token endpoint are logged by themselves.
     */
    recordSignIn(clientId: string, keyId: string | null, at: Date, options?: { errorCode?: number }): AzureSignInInfo;
    /** Largest page of the sign-in log Graph answers (Graph's is 1,000), to exercise paging. */
    setSignInPageSize(size: number): void;
    /** Whether the tenant has the Entra ID P1/P2 licence that reading sign-in logs needs (it has by default). */
    setPremiumLicence(licensed: boolean): void;
  };
  keyVault: {
    grant(clientId: string, role: VaultRole): void;
    /** Versions of a secret in creation order, without values (empty when there is none). */
    versions(name: string): Array<{ version: string; enabled: boolean; tags: Record<string, string>; created: number }>;
    /** Largest list page the vault answers (Key Vault's is 25), to exercise paging. */
    setPageSize(size: number): void;
  };
  close(): Promise<void>;
}

export interface AzureEmulatorOptions {
  tenantId?: string;
  /** Delay before a secret made by addPassword authenticates; default 0. */
  propagationDelayMs?: number;
}

export async function startAzureEmulator(options: AzureEmulatorOptions = {}): Promise<AzureEmulator> {
  const tls = await loopbackTls();
  const tenantId = (options.tenantId ?? randomUUID()).toLowerCase();
  const directory = new Directory(tenantId, options.propagationDelayMs ?? 0);
  const faults = new FaultInjector();
  const requests: AzureRequest[] = [];
  let base = '';
  const vault = new KeyVaultState(() => base);
  let signInPageSize = 1000;
  let directoryPageSize = 100;

  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'InternalServerError', message: `emulator error: ${(error as Error).message}` } });
    });
  });

  function classify(path: string): AzureService | 'unknown' {
    if (isAadPath(path)) return 'aad';
    if (isGraphPath(path)) return 'graph';
    if (/^\/(secrets|deletedsecrets)(\/|$)/.test(path)) return 'keyvault';
    return 'unknown';
  }

  /** Key Vault's 401 with the challenge that tells the client where to get a token, and for which resource. */
  function authenticateVault(token: string | undefined): TokenRecord {
    const challenge = { 'www-authenticate': `Bearer authorization="${base}/${tenantId}", resource="${VAULT_RESOURCE}"` };
    if (token === undefined) throw keyVaultError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', undefined, challenge);
    const record = directory.token(token);
    if (!record) throw keyVaultError(401, 'Unauthorized', 'AKV10032: Invalid issuer or token validation failed.', undefined, challenge);
    if (record.resource !== VAULT_RESOURCE) throw keyVaultError(401, 'Unauthorized', `AKV10022: Invalid audience. Expected ${VAULT_RESOURCE}.`, undefined, challenge);
    return record;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', base);
    const method = (req.method ?? 'GET').toUpperCase();
    const service = classify(url.pathname);
    const entry: AzureRequest = { service, method, path: url.pathname, status: 200 };
    requests.push(entry);
    if (await respondWithFault(res, faults.take({ method, path: url.pathname }))) {
      entry.status = res.statusCode;
      return;
    }
    const graphHeaders = { 'request-id': randomUUID(), 'client-request-id': header(req, 'client-request-id') ?? randomUUID() };
    try {
      if (service === 'aad') {
        const tenant = url.pathname.split('/')[1]!;
        if (url.pathname.endsWith('/openid-configuration') && method === 'GET') {
          const reply = openIdConfiguration(directory, base, tenant);
          return sendJson(res, reply.status, reply.body);
        }
        if (url.pathname.endsWith('/token') && method === 'POST') {
          const form = new URLSearchParams(body);
          const basic = basicAuth(header(req, 'authorization'));
          entry.clientId = form.get('client_id') ?? basic?.id;
          const reply = tokenRequest(directory, tenant, form, basic, header(req, 'client-request-id'));
          return sendJson(res, reply.status, reply.body, { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' });
        }
        throw new AzureHttpError(405, 'method_not_allowed', { error: 'invalid_request', error_description: `${method} is not supported here.` });
      }
      if (service === 'graph') {
        const caller = authenticateGraph(directory, bearer(req));
        entry.clientId = caller.clientId;
        const reply = handleGraph(directory, base, caller, method, url.pathname, url.searchParams, body, { signInPageSize, directoryPageSize });
        entry.status = reply.status;
        return reply.body === undefined ? sendEmpty(res, reply.status, graphHeaders) : sendJson(res, reply.status, reply.body, graphHeaders);
      }
      if (service === 'keyvault') {
        const caller = authenticateVault(bearer(req));
        entry.clientId = caller.clientId;
        const reply = vault.handle(caller, method, url.pathname, url.searchParams, body);
        entry.status = reply.status;
        const headers = { 'x-ms-request-id': randomUUID(), 'x-ms-keyvault-service-version': '1.9.0.0' };
        return reply.body === undefined ? sendEmpty(res, reply.status, headers) : sendJson(res, reply.status, reply.body, headers);
      }
      throw new AzureHttpError(404, 'NotFound', { error: { code: 'NotFound', message: `No Azure service emulated at ${url.pathname}` } });
    } catch (error) {
      if (!(error instanceof AzureHttpError)) throw error;
      entry.status = error.status;
      entry.error = error.code;
      sendJson(res, error.status, error.body, { ...(service === 'graph' ? graphHeaders : {}), ...error.headers });
    }
  }

  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as AddressInfo;
  base = `https://${LOOPBACK}:${port}`;

  return {
    url: base,
    authorityHost: base,
    graphEndpoint: base,
    vaultUrl: base,
    tenantId,
    caPem: tls.caPem,
    faults,
    requests,
    raw: (method, path, token) =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(`${base}${path}`, { method, ca: tls.caPem, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
        });
        req.on('error', reject);
        req.end();
      }),
    directory: {
      registerApp(displayName, opts = {}) {
        const app = directory.registerApp(displayName);
        const password = directory.addPassword(app, { displayName: 'initial' }, true);
        for (const permission of opts.graphPermissions ?? []) directory.grant(app.appId, permission);
        return { objectId: app.objectId, clientId: app.appId, servicePrincipalId: app.servicePrincipalId, tenantId, displayName, keyId: password.keyId, clientSecret: password.secretText };
      },
      addPassword(objectId, opts = {}) {
        const password = directory.addPassword(directory.app(objectId), opts, true);
        return { keyId: password.keyId, secretText: password.secretText };
      },
      passwords: (objectId) =>
        directory.app(objectId).passwords.map((p) => ({ keyId: p.keyId, displayName: p.displayName, hint: p.hint, startDateTime: p.startDateTime, endDateTime: p.endDateTime })),
      grantGraph: (clientId, permission) => directory.grant(clientId, permission),
      revokeGraph: (clientId, permission) => void directory.grants(clientId).delete(permission),
      assignGraphAppRole: (clientId, permission) => directory.grant(clientId, permission),
      addToDirectoryRole(clientId, role, opts = {}) {
        const app = directory.appByClientId(clientId);
        if (!app) throw new Error(`no application with client id ${clientId}`);
        const target = directory.directoryRole(role);
        if (opts.viaGroup === undefined) {
          target.members.add(app.servicePrincipalId);
        } else {
          const group = directory.roleAssignableGroup(opts.viaGroup);
          group.members.add(app.servicePrincipalId);
          target.members.add(group.id);
        }
      },
      setDirectoryPageSize(size) {
        if (!(size >= 1)) throw new Error(`directory page size must be at least 1, got ${size}`);
        directoryPageSize = size;
      },
      addOwner: (objectId, ownerClientId) => void directory.app(objectId).owners.add(ownerClientId),
      setPropagationDelay(ms) {
        directory.propagationDelayMs = ms;
      },
      expireTokens: (clientId) => directory.expireTokens(clientId),
      issuedSecrets: () => [...directory.issuedSecrets],
      signIns: (clientId) => directory.signIns.filter((r) => clientId === undefined || r.appId === clientId.toLowerCase()).map(signInInfo),
      recordSignIn(clientId, keyId, at, opts = {}) {
        const app = directory.appByClientId(clientId);
        if (!app) throw new Error(`no application with client id ${clientId}`);
        return signInInfo(directory.recordSignIn({ app, keyId, resource: GRAPH_RESOURCE, createdDateTime: at, errorCode: opts.errorCode ?? 0 }));
      },
      setSignInPageSize(size) {
        if (!(size >= 1)) throw new Error(`sign-in page size must be at least 1, got ${size}`);
        signInPageSize = size;
      },
      setPremiumLicence(licensed) {
        directory.premiumLicence = licensed;
      },
    },
    keyVault: {
      grant: (clientId, role) => vault.grant(clientId, role),
      versions: (name) => (vault.live(name)?.versions ?? []).map((v) => ({ version: v.version, enabled: v.enabled, tags: { ...v.tags }, created: v.created })),
      setPageSize(size) {
        vault.pageSize = size;
      },
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function signInInfo(r: SignInRecord): AzureSignInInfo {
  return { id: r.id, createdDateTime: r.createdDateTime, appId: r.appId, keyId: r.keyId, correlationId: r.correlationId, errorCode: r.errorCode };
}

/** `Authorization: Basic base64(urlencoded id : urlencoded secret)`, the other way OAuth clients send credentials. */
function basicAuth(value: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(value ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
}
