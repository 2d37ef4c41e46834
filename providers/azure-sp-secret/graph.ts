/**
 * The Microsoft Graph calls of the azure-sp-secret provider: read an application's password
 * credentials, addPassword, removePassword, and read the service-principal sign-in log (drain
 * detection). Plain https (node:https, so the spec's CA applies) with a bearer token from Rotor's
 * ClientSecretCredential. Errors name the application and key ids and Graph's code and message,
 * never a secret; refusals (400, 401, 403, 404) are ProviderRefusals with what to fix, throttling
 * and server errors stay retryable.
 *
 * The sign-in log is read on Graph's beta endpoint: v1.0's signIn resource has neither
 * `signInEventTypes` nor `servicePrincipalCredentialKeyId`, and v1.0 lists interactive user
 * sign-ins only, so service-principal sign-ins exist on beta alone.
 *
 * Posture reads the application's service principal (`GET /v1.0/servicePrincipals(appId='…')`), its
 * app role assignments and the directory roles it is a member of (`…/transitiveMemberOf`, directly
 * or through groups), and Microsoft Graph's own `appRoles` to name the permissions assigned. Lists
 * follow `@odata.nextLink`, re-sent to the spec's Graph endpoint only and only to the same list.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:https';
import type { ClientSecretCredential } from '@azure/identity';
import { ProviderRefusal, type ProviderContext } from '../contracts.js';
import { azureError, origin, rotorCredential, TLS_ERRORS, type AzureTls } from '../azure-shared.js';
import type { AzureSpSecretSpec } from './spec.js';

const REQUEST_TIMEOUT_MS = 15_000;

/** Graph hosts of the national clouds, whose tokens are issued for themselves. */
const GRAPH_HOSTS = new Set(['graph.microsoft.com', 'graph.microsoft.us', 'dod-graph.microsoft.us', 'microsoftgraph.chinacloudapi.cn']);

/**
 * The token scope for the spec's Graph endpoint: a national cloud's Graph is its own audience; any
 * other host (a private endpoint, a proxy, an emulator) stands in for the global one.
 */
export function graphScope(spec: Pick<AzureSpSecretSpec, 'graphEndpoint'>): string {
  const host = new URL(spec.graphEndpoint).hostname;
  return GRAPH_HOSTS.has(host) ? `https://${host}/.default` : 'https://graph.microsoft.com/.default';
}

export interface PasswordInfo {
  keyId: string;
  displayName: string | null;
  startDateTime?: Date;
  endDateTime?: Date;
}

/** Where Graph lists sign-ins, service principals' included (beta only: see the header). */
export const SIGN_INS_PATH = '/beta/auditLogs/signIns';

/** One service-principal sign-in, as drain detection needs it. */
export interface SignInInfo {
  createdDateTime?: Date;
  /** keyId of the client secret (or certificate) used; null when Entra ID matched none (a wrong secret). */
  keyId: string | null;
  /** 0 for a success, else the AADSTS code. */
  errorCode: number;
}

/** Sign-ins read from the log; `complete` is false when pages were left unread (a limit was hit). */
export interface SignInLog {
  signIns: SignInInfo[];
  complete: boolean;
}

/** How much of the sign-in log one call may read: page size, pages, and time. */
export interface SignInLimits {
  top: number;
  maxPages: number;
  budgetMs: number;
}

/** `$filter` for the service-principal sign-ins of one application at or after `since`. */
export function signInFilter(appId: string, since: Date): string {
  return `appId eq '${appId.replace(/'/g, "''")}' and createdDateTime ge ${since.toISOString()} and signInEventTypes/any(t: t eq 'servicePrincipal')`;
}

/** Microsoft Graph's appId: its service principal's app roles are Graph's application permissions. */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';

/** How many pages of one list posture reads before it gives up (Graph's pages hold 100 entries). */
const MAX_LIST_PAGES = 100;

export interface ServicePrincipalInfo {
  id: string;
  appId: string;
  displayName: string;
}

/** An app role granted to a service principal: `appRoleId` of the resource service principal `resourceId`. */
export interface AppRoleAssignmentInfo {
  appRoleId: string;
  resourceId: string;
}

/** A resource service principal and the app roles it defines (id, lower case → value, e.g. `Directory.ReadWrite.All`). */
export interface ResourceAppRoles {
  id: string;
  appRoles: Map<string, string>;
}

/** A directory role a service principal is a member of. */
export interface DirectoryRoleInfo {
  id: string;
  displayName: string | null;
  /** The built-in role's immutable template id (the same in every tenant). */
  roleTemplateId: string | null;
}

/** The Graph permission posture's reads need. */
export const POSTURE_PERMISSION = 'Application.Read.All (or Directory.Read.All)';

export interface ApplicationInfo {
  objectId: string;
  appId: string;
  displayName: string;
  passwords: PasswordInfo[];
}

interface GraphResponse {
  status: number;
  text: string;
  requestId?: string;
  retryAfter?: string;
}

function date(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export class GraphApplications {
  private constructor(
    private readonly ctx: ProviderContext,
    private readonly spec: AzureSpSecretSpec,
    private readonly credential: ClientSecretCredential,
    private readonly rotorClientId: string,
    private readonly tls: AzureTls | undefined,
  ) {}

  /** Runs `work` against the spec's application, signed in as Rotor. */
  static async use<T>(ctx: ProviderContext, spec: AzureSpSecretSpec, work: (graph: GraphApplications) => Promise<T>): Promise<T> {
    const { credential, clientId, tls } = await rotorCredential(ctx, spec);
    return work(new GraphApplications(ctx, spec, credential, clientId, tls));
  }

  private get app(): string {
    return this.spec.applicationObjectId;
  }

  /** The application and its password credentials (Graph never returns a secret's text again). */
  async application(): Promise<ApplicationInfo> {
    const reply = await this.call('read', 'GET', `/v1.0/applications/${this.app}?$select=id,appId,displayName,passwordCredentials`);
    let body: { id?: string; appId?: string; displayName?: string; passwordCredentials?: Array<Record<string, unknown>> };
    try {
      body = JSON.parse(reply.text) as typeof body;
    } catch {
      throw new Error(`cannot read application ${this.app}: Microsoft Graph answered with something that is not JSON${reply.requestId ? ` (request ${reply.requestId})` : ''}`);
    }
    return {
      objectId: body.id ?? this.app,
      appId: body.appId ?? '',
      displayName: body.displayName ?? '',
      passwords: (body.passwordCredentials ?? []).flatMap((p) =>
        typeof p.keyId === 'string'
          ? [{ keyId: p.keyId, displayName: typeof p.displayName === 'string' ? p.displayName : null, startDateTime: date(p.startDateTime), endDateTime: date(p.endDateTime) }]
          : [],
      ),
    };
  }

  /** A new client secret. Its text is in this reply only: the caller must stage it at once. */
  async addPassword(displayName: string, endDateTime: Date): Promise<{ keyId: string; secretText: string }> {
    const reply = await this.call('add a client secret to', 'POST', `/v1.0/applications/${this.app}/addPassword`, { passwordCredential: { displayName, endDateTime: endDateTime.toISOString() } });
    let parsed: { keyId?: unknown; secretText?: unknown };
    try {
      parsed = JSON.parse(reply.text) as typeof parsed;
    } catch {
      parsed = {};
    }
    if (typeof parsed.keyId !== 'string' || typeof parsed.secretText !== 'string' || parsed.secretText === '') {
      throw new Error(`addPassword on application ${this.app} answered without a keyId and secretText${reply.requestId ? ` (request ${reply.requestId})` : ''}`);
    }
    return { keyId: parsed.keyId, secretText: parsed.secretText };
  }

  /** Removes a client secret; false when the application has none with this keyId. */
  async removePassword(keyId: string): Promise<boolean> {
    try {
      await this.call('remove a client secret of', 'POST', `/v1.0/applications/${this.app}/removePassword`, { keyId });
      return true;
    } catch (error) {
      // Graph does not document its answer for an unknown keyId: whatever it refused, look again.
      if (error instanceof ProviderRefusal && /HTTP (400|404)/.test(error.message)) {
        const still = (await this.application()).passwords.some((p) => p.keyId.toLowerCase() === keyId.toLowerCase());
        if (!still) return false;
      }
      throw error;
    }
  }

  /**
   * Service-principal sign-ins of `appId` at or after `since`, newest first, following
   * `@odata.nextLink` within `limits`. Refusals say what is missing (AuditLog.Read.All, the licence).
   */
  async servicePrincipalSignIns(appId: string, since: Date, limits: SignInLimits): Promise<SignInLog> {
    const action = `cannot read the sign-in log of application ${appId}`;
    const started = Date.now();
    const signIns: SignInInfo[] = [];
    let path: string | undefined = `${SIGN_INS_PATH}?$filter=${encodeURIComponent(signInFilter(appId, since))}&$top=${limits.top}`;
    for (let pages = 0; path !== undefined; pages++) {
      if (pages >= limits.maxPages || Date.now() - started > limits.budgetMs) return { signIns, complete: false };
      const reply = await this.exchange(action, 'GET', path);
      if (reply.status < 200 || reply.status >= 300) throw this.signInFailure(action, reply);
      let body: { value?: unknown; '@odata.nextLink'?: unknown };
      try {
        body = JSON.parse(reply.text) as typeof body;
      } catch {
        body = {};
      }
      if (!Array.isArray(body.value)) {
        throw new Error(`${action}: Microsoft Graph answered without a list of sign-ins${reply.requestId ? ` (request ${reply.requestId})` : ''}`);
      }
      for (const item of body.value as Array<Record<string, unknown>>) {
        const status = (item.status ?? {}) as { errorCode?: unknown };
        const created = date(item.createdDateTime);
        signIns.push({
          keyId: typeof item.servicePrincipalCredentialKeyId === 'string' && item.servicePrincipalCredentialKeyId !== '' ? item.servicePrincipalCredentialKeyId : null,
          errorCode: typeof status.errorCode === 'number' ? status.errorCode : 0,
          ...(created ? { createdDateTime: created } : {}),
        });
      }
      const next = body['@odata.nextLink'];
      path = typeof next === 'string' && next !== '' ? this.nextPath(action, next, SIGN_INS_PATH, 'the sign-in log') : undefined;
    }
    return { signIns, complete: true };
  }

  /**
   * The service principal of application `appId` in the tenant, or null when it has none (an app
   * registration without one cannot sign in to the tenant, so nothing is granted to it).
   */
  async servicePrincipal(appId: string): Promise<ServicePrincipalInfo | null> {
    const action = `cannot read the service principal of application ${appId}`;
    const reply = await this.exchange(action, 'GET', `${this.byAppId(appId)}?$select=id,appId,displayName`);
    // Graph's own "no such object"; any other 404 (a wrong graphEndpoint, a proxy) is refused below.
    if (reply.status === 404 && this.describe(action, reply).code === 'Request_ResourceNotFound') return null;
    const body = this.postureBody(action, reply) as { id?: unknown; appId?: unknown; displayName?: unknown };
    if (typeof body.id !== 'string' || body.id === '') throw new Error(`${action}: Microsoft Graph answered without the service principal's id${this.requestOf(reply)}`);
    return { id: body.id, appId: typeof body.appId === 'string' ? body.appId : appId, displayName: typeof body.displayName === 'string' ? body.displayName : '' };
  }

  /** The app roles a resource service principal (Microsoft Graph's, by default) defines, by id. */
  async resourceAppRoles(appId: string = GRAPH_APP_ID): Promise<ResourceAppRoles> {
    const action = `cannot read the app roles of ${appId === GRAPH_APP_ID ? "Microsoft Graph's service principal" : `the service principal of application ${appId}`}`;
    const reply = await this.exchange(action, 'GET', `${this.byAppId(appId)}?$select=id,appRoles`);
    const body = this.postureBody(action, reply) as { id?: unknown; appRoles?: unknown };
    if (typeof body.id !== 'string' || !Array.isArray(body.appRoles)) {
      throw new Error(`${action}: Microsoft Graph answered without the service principal's id and appRoles${this.requestOf(reply)}`);
    }
    const appRoles = new Map<string, string>();
    for (const role of body.appRoles as Array<Record<string, unknown>>) {
      if (typeof role.id === 'string' && typeof role.value === 'string') appRoles.set(role.id.toLowerCase(), role.value);
    }
    return { id: body.id, appRoles };
  }

  /** Every app role granted to the service principal (its application permissions, on any resource). */
  async appRoleAssignments(servicePrincipalId: string): Promise<AppRoleAssignmentInfo[]> {
    const items = await this.readList(
      `cannot read the app role assignments of service principal ${servicePrincipalId}`,
      `/v1.0/servicePrincipals/${encodeURIComponent(servicePrincipalId)}/appRoleAssignments`,
    );
    return items.flatMap((a) => (typeof a.appRoleId === 'string' && typeof a.resourceId === 'string' ? [{ appRoleId: a.appRoleId, resourceId: a.resourceId }] : []));
  }

  /**
   * The directory roles the service principal is a member of, directly or through groups. Graph
   * lists a role the caller may not read with its id alone: that is refused, never taken for "none".
   */
  async directoryRoles(servicePrincipalId: string): Promise<DirectoryRoleInfo[]> {
    const action = `cannot read the directory roles of service principal ${servicePrincipalId}`;
    const items = await this.readList(action, `/v1.0/servicePrincipals/${encodeURIComponent(servicePrincipalId)}/transitiveMemberOf`);
    const roles = items
      .filter((o) => o['@odata.type'] === '#microsoft.graph.directoryRole' && typeof o.id === 'string')
      .map((o) => ({
        id: o.id as string,
        displayName: typeof o.displayName === 'string' && o.displayName !== '' ? o.displayName : null,
        roleTemplateId: typeof o.roleTemplateId === 'string' && o.roleTemplateId !== '' ? o.roleTemplateId : null,
      }));
    const unnamed = roles.filter((r) => r.displayName === null && r.roleTemplateId === null);
    if (unnamed.length > 0) {
      throw new ProviderRefusal(
        `${action}: it is a member of ${unnamed.length === 1 ? 'a directory role' : `${unnamed.length} directory roles`} (${unnamed.map((r) => r.id).join(', ')}) ` +
          `that Microsoft Graph names only to a caller that may read directory roles: Rotor's identity (client ${this.rotorClientId}) also needs the Microsoft Graph ` +
          'application permission RoleManagement.Read.Directory (or Directory.Read.All instead of Application.Read.All), with admin consent',
      );
    }
    return roles;
  }

  /** `/v1.0/servicePrincipals(appId='…')`: Graph addresses a service principal by its application's client id too. */
  private byAppId(appId: string): string {
    return `/v1.0/servicePrincipals(appId='${encodeURIComponent(appId.replace(/'/g, "''"))}')`;
  }

  private requestOf(reply: GraphResponse): string {
    return reply.requestId ? ` (request ${reply.requestId})` : '';
  }

  /** A posture read's JSON body; Graph's refusal as an error saying what to grant. */
  private postureBody(action: string, reply: GraphResponse): Record<string, unknown> {
    if (reply.status < 200 || reply.status >= 300) throw this.postureFailure(action, reply);
    try {
      const body: unknown = JSON.parse(reply.text);
      if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
    } catch {
      // Falls through to the error below.
    }
    throw new Error(`${action}: Microsoft Graph answered with something that is not a JSON object${this.requestOf(reply)}`);
  }

  /** Every entry of a Graph list, following `@odata.nextLink` (to the same list only) up to MAX_LIST_PAGES. */
  private async readList(action: string, path: string): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let next: string | undefined = path;
    for (let pages = 0; next !== undefined; pages++) {
      if (pages >= MAX_LIST_PAGES) {
        throw new ProviderRefusal(`${action}: Microsoft Graph still had more after ${MAX_LIST_PAGES} pages; Rotor does not judge a list it cannot read to the end`);
      }
      const reply = await this.exchange(action, 'GET', next);
      const body = this.postureBody(action, reply);
      if (!Array.isArray(body.value)) throw new Error(`${action}: Microsoft Graph answered without a list${this.requestOf(reply)}`);
      for (const item of body.value as unknown[]) if (item && typeof item === 'object') items.push(item as Record<string, unknown>);
      const link = body['@odata.nextLink'];
      next = typeof link === 'string' && link !== '' ? this.nextPath(action, link, path, 'the list it continues') : undefined;
    }
    return items;
  }

  /** Graph's refusal of a posture read, naming the permission Rotor's identity lacks; throttling and 5xx stay retryable. */
  private postureFailure(action: string, reply: GraphResponse): Error {
    const { text } = this.describe(action, reply);
    if (reply.status === 403) {
      return new ProviderRefusal(
        `${text}. Rotor's identity (client ${this.rotorClientId}) lacks the Microsoft Graph application permission ${POSTURE_PERMISSION}, ` +
          "which posture needs to read an application's service principal, its app role assignments and its directory roles: grant it, with admin consent",
      );
    }
    return this.statusError(text, reply);
  }

  /**
   * A nextLink's path and query, sent to the spec's Graph endpoint like every other call: the token
   * goes nowhere else, and a proxy or private endpoint keeps working. It must stay on `listPath`.
   */
  private nextPath(action: string, link: string, listPath: string, what: string): string {
    let url: URL;
    try {
      url = new URL(link, origin(this.spec.graphEndpoint));
    } catch {
      throw new Error(`${action}: Microsoft Graph answered with an @odata.nextLink that is not a URL`);
    }
    if (!url.pathname.toLowerCase().endsWith(listPath.toLowerCase())) {
      throw new Error(`${action}: Microsoft Graph's @odata.nextLink leads to ${url.pathname}, not to ${what}`);
    }
    return `${listPath}${url.search}`;
  }

  /** Graph's refusal to list sign-ins, naming what to grant or license, and the way out (drainSignal: none). */
  private signInFailure(action: string, reply: GraphResponse): Error {
    const { code, text } = this.describe(action, reply);
    if (reply.status === 403) {
      if (/NonPremiumTenant/i.test(code)) {
        return new ProviderRefusal(
          `${text}. Reading Entra ID's sign-in logs needs a Microsoft Entra ID P1 or P2 licence in tenant ${this.spec.tenantId}: ` +
            'license the tenant, or set drainSignal: none on this credential to rely on the grace period alone',
        );
      }
      return new ProviderRefusal(
        `${text}. Rotor's identity (client ${this.rotorClientId}) lacks the Microsoft Graph application permission AuditLog.Read.All ` +
          '(with admin consent; the tenant also needs an Entra ID P1 or P2 licence), which drain detection needs to read the sign-in log: ' +
          'grant it, or set drainSignal: none on this credential to rely on the grace period alone',
      );
    }
    return this.statusError(text, reply);
  }

  /** Sends one request signed in as Rotor; sign-in and network failures are thrown, any reply is returned. */
  private async exchange(action: string, method: string, path: string, body?: unknown): Promise<GraphResponse> {
    let token: string;
    try {
      const access = await this.credential.getToken(graphScope(this.spec), { abortSignal: this.ctx.signal });
      token = access.token;
    } catch (error) {
      throw await azureError(`Rotor's identity (client ${this.rotorClientId}) cannot sign in to tenant ${this.spec.tenantId} for Microsoft Graph`, error, this.spec, this.tls);
    }
    let reply: GraphResponse;
    try {
      reply = await this.send(method, path, token, body);
    } catch (error) {
      const e = error as { code?: unknown; message?: unknown };
      const code = typeof e.code === 'string' ? e.code : undefined;
      const text = `${action}: ${code ? `${code}: ` : ''}${typeof e.message === 'string' ? e.message : String(error)}`;
      // An untrusted certificate stays untrusted on a retry; a network error may not.
      if (code && TLS_ERRORS.has(code)) throw new ProviderRefusal(`${text}; if a private CA or a TLS-intercepting proxy signs ${new URL(this.spec.graphEndpoint).host}'s certificate, give its PEM as caCertificate`);
      throw new Error(text);
    }
    return reply;
  }

  private async call(what: string, method: string, path: string, body?: unknown): Promise<GraphResponse> {
    const action = `cannot ${what} application ${this.app}`;
    const reply = await this.exchange(action, method, path, body);
    if (reply.status >= 200 && reply.status < 300) return reply;
    throw this.failure(action, reply, method !== 'GET');
  }

  /** `<action>: <code>: <message> (HTTP n, request id)` from Graph's error body. */
  private describe(action: string, reply: GraphResponse): { code: string; text: string } {
    let code = `HTTP${reply.status}`;
    let message = '';
    try {
      const parsed = JSON.parse(reply.text) as { error?: { code?: unknown; message?: unknown } };
      if (typeof parsed.error?.code === 'string') code = parsed.error.code;
      if (typeof parsed.error?.message === 'string') message = parsed.error.message.slice(0, 300);
    } catch {
      message = 'no error details';
    }
    const where = [`HTTP ${reply.status}`, reply.requestId && `request ${reply.requestId}`].filter(Boolean).join(', ');
    return { code, text: `${action}: ${code}: ${message} (${where})` };
  }

  /** Graph's refusal as an error saying what to fix; throttling and server errors stay retryable. */
  private failure(action: string, reply: GraphResponse, write: boolean): Error {
    const { text } = this.describe(action, reply);
    if (reply.status === 403) {
      return new ProviderRefusal(
        `${text}. Rotor's identity (client ${this.rotorClientId}) lacks the Microsoft Graph permission to ${write ? 'change' : 'read'} this application: ` +
          'grant it the application permission Application.ReadWrite.OwnedBy and make it an owner of the application, or grant Application.ReadWrite.All (both need admin consent)',
      );
    }
    if (reply.status === 404) {
      return new ProviderRefusal(
        `${text}. No application has Object ID ${this.app} in tenant ${this.spec.tenantId}: applicationObjectId must be the app registration's Object ID (not its client id ${this.spec.clientId}); ` +
          'with Application.ReadWrite.OwnedBy, Rotor must also be an owner of it',
      );
    }
    return this.statusError(text, reply);
  }

  /** The answer to any other status: 401 and other 4xx refused, 408, 429 and 5xx retryable. */
  private statusError(text: string, reply: GraphResponse): Error {
    if (reply.status === 401) return new ProviderRefusal(`${text}. Microsoft Graph refused Rotor's token: is graphEndpoint the Graph of the authority's cloud?`);
    if (reply.status === 429) return new Error(`${text}; Throttled by Microsoft Graph${reply.retryAfter ? ` (Retry-After ${reply.retryAfter} s)` : ''}: the activity retries with backoff`);
    return reply.status >= 400 && reply.status < 500 && reply.status !== 408 ? new ProviderRefusal(text) : new Error(text);
  }

  private send(method: string, path: string, token: string, body?: unknown): Promise<GraphResponse> {
    const url = new URL(`${origin(this.spec.graphEndpoint)}${path}`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            'client-request-id': randomUUID(),
            ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          },
          ...(this.tls ? { ca: this.tls.ca } : {}),
          timeout: REQUEST_TIMEOUT_MS,
          ...(this.ctx.signal ? { signal: this.ctx.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const requestId = res.headers['request-id'];
            const retryAfter = res.headers['retry-after'];
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
              ...(typeof requestId === 'string' ? { requestId } : {}),
              ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
            });
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer from Microsoft Graph within ${REQUEST_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(payload);
    });
  }
}
