/**
 * The Microsoft Graph v1.0 calls on an application's client secrets, as Graph documents them:
 * - `GET /v1.0/applications/{id}` (optionally `$select`), passwordCredentials without secretText;
 * - `POST /v1.0/applications/{id}/addPassword` `{passwordCredential: {displayName, startDateTime,
 *   endDateTime}}` → 200 with the new passwordCredential, secretText included (the only time);
 * - `POST /v1.0/applications/{id}/removePassword` `{keyId}` → 204.
 *
 * Authentication: a bearer token this directory issued for https://graph.microsoft.com, else 401
 * `InvalidAuthenticationToken`. Authorisation, as for application permissions: the caller needs
 * Application.ReadWrite.All (any application), or Application.ReadWrite.OwnedBy and to be one of
 * the application's owners; Application.Read.All allows the GET only. Otherwise 403
 * `Authorization_RequestDenied`. A missing application is 404 `Request_ResourceNotFound` for a
 * caller that could see it.
 *
 * Assumption: Graph does not document its answer to removePassword with an unknown keyId; the
 * emulator answers 404 `Request_ResourceNotFound`.
 *
 * The sign-in log (`/beta/auditLogs/signIns`) is answered by signins.ts, service principals (their
 * app role assignments and directory roles) by principals.ts.
 */
import type { AppRecord, Directory, PasswordRecord, TokenRecord } from './directory.js';
import { GRAPH_RESOURCE } from './directory.js';
import { handleServicePrincipals, isServicePrincipalsPath } from './principals.js';
import { handleSignIns, isSignInsPath } from './signins.js';
import { graphError, GUID, parseJsonObject } from './wire.js';

export interface GraphReply {
  status: number;
  body?: unknown;
}

const CHALLENGE = {
  'www-authenticate': 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
};

export function isGraphPath(path: string): boolean {
  return path.startsWith('/v1.0/') || path.startsWith('/beta/');
}

/** The caller's token, or Graph's 401. */
export function authenticateGraph(directory: Directory, token: string | undefined): TokenRecord {
  if (token === undefined) throw graphError(401, 'InvalidAuthenticationToken', 'Access token is empty.', CHALLENGE);
  const record = directory.token(token);
  if (!record) throw graphError(401, 'InvalidAuthenticationToken', 'Access token validation failure.', CHALLENGE);
  if (record.resource !== GRAPH_RESOURCE) throw graphError(401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.', CHALLENGE);
  return record;
}

const DENIED = () => graphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');

/** The application, if the caller's permissions let it read (or, with `write`, change) it. */
function authorize(directory: Directory, caller: TokenRecord, objectId: string, write: boolean): AppRecord {
  const grants = directory.grants(caller.clientId);
  const all = grants.has('Application.ReadWrite.All') || (!write && grants.has('Application.Read.All'));
  const ownedBy = grants.has('Application.ReadWrite.OwnedBy');
  if (!all && !ownedBy) throw DENIED();
  const app = directory.app(objectId);
  if (!all && !app.owners.has(caller.clientId)) throw DENIED();
  return app;
}

function passwordJson(p: PasswordRecord, withSecret: boolean): Record<string, unknown> {
  return {
    customKeyIdentifier: null,
    displayName: p.displayName,
    endDateTime: p.endDateTime.toISOString(),
    hint: p.hint,
    keyId: p.keyId,
    secretText: withSecret ? p.secretText : null,
    startDateTime: p.startDateTime.toISOString(),
  };
}

function dateField(value: unknown, name: string): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const date = typeof value === 'string' ? new Date(value) : new Date(NaN);
  if (Number.isNaN(date.getTime())) throw graphError(400, 'Request_BadRequest', `Invalid value specified for property '${name}' of resource 'PasswordCredential'.`);
  return date;
}

export function handleGraph(
  directory: Directory,
  base: string,
  caller: TokenRecord,
  method: string,
  path: string,
  query: URLSearchParams,
  body: string,
  options: { signInPageSize: number; directoryPageSize: number } = { signInPageSize: 1000, directoryPageSize: 100 },
): GraphReply {
  if (isSignInsPath(path)) return handleSignIns(directory, base, caller, method, path, query, options.signInPageSize);
  if (isServicePrincipalsPath(path)) return handleServicePrincipals(directory, base, caller, method, path, query, options.directoryPageSize);
  const match = /^\/v1\.0\/applications\/([^/]+)(?:\/(addPassword|removePassword))?$/.exec(path);
  if (!match) throw graphError(400, 'BadRequest', `Resource not found for the segment '${path.split('/').pop() ?? ''}'.`);
  const objectId = decodeURIComponent(match[1]!);
  const action = match[2];
  if (!GUID.test(objectId)) throw graphError(400, 'Request_BadRequest', `Invalid object identifier '${objectId}'.`);

  if (!action) {
    if (method !== 'GET') throw graphError(405, 'Request_BadRequest', `Method ${method} is not supported here.`);
    const app = authorize(directory, caller, objectId, false);
    const full: Record<string, unknown> = {
      id: app.objectId,
      appId: app.appId,
      displayName: app.displayName,
      createdDateTime: app.createdDateTime.toISOString(),
      passwordCredentials: app.passwords.map((p) => passwordJson(p, false)),
      keyCredentials: [],
    };
    const select = query.get('$select')?.split(',').map((s) => s.trim()).filter(Boolean);
    const fields = select?.length ? Object.fromEntries(Object.entries(full).filter(([k]) => select.includes(k))) : full;
    return { status: 200, body: { '@odata.context': `${base}/v1.0/$metadata#applications/$entity`, ...fields } };
  }

  if (method !== 'POST') throw graphError(405, 'Request_BadRequest', `Method ${method} is not supported here.`);
  const input = parseJsonObject(body);
  if (!input) throw graphError(400, 'BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.');
  const app = authorize(directory, caller, objectId, true);

  if (action === 'addPassword') {
    const requested = (input.passwordCredential ?? {}) as Record<string, unknown>;
    const startDateTime = dateField(requested.startDateTime, 'startDateTime');
    const endDateTime = dateField(requested.endDateTime, 'endDateTime');
    if (endDateTime && endDateTime.getTime() <= (startDateTime ?? new Date()).getTime()) {
      throw graphError(400, 'Request_BadRequest', "Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.");
    }
    const displayName = typeof requested.displayName === 'string' ? requested.displayName : null;
    const password = directory.addPassword(app, { displayName, ...(startDateTime ? { startDateTime } : {}), ...(endDateTime ? { endDateTime } : {}) });
    return { status: 200, body: { '@odata.context': `${base}/v1.0/$metadata#microsoft.graph.passwordCredential`, ...passwordJson(password, true) } };
  }

  const keyId = input.keyId;
  if (typeof keyId !== 'string' || !GUID.test(keyId)) throw graphError(400, 'Request_BadRequest', "Invalid value specified for property 'keyId'.");
  if (!directory.removePassword(app, keyId)) {
    throw graphError(404, 'Request_ResourceNotFound', `No password credential with keyId '${keyId}' exists on application '${app.objectId}'.`);
  }
  return { status: 204 };
}
