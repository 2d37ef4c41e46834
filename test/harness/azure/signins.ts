/**
 * Microsoft Graph's sign-in log, `GET /beta/auditLogs/signIns`, for service-principal sign-ins as
 * Graph documents them:
 * - service-principal sign-ins are only listed on beta, selected by `signInEventTypes/any(t: t eq
 *   'servicePrincipal')`; v1.0's signIn has no signInEventTypes (nor servicePrincipalCredentialKeyId)
 *   and lists interactive user sign-ins only, of which this emulator has none;
 * - `$filter` with `and` of: `appId eq '<id>'`, `createdDateTime ge|gt|le|lt|eq <DateTimeOffset>`
 *   (unquoted), `signInEventTypes/any(t: t eq '<type>')`. Anything else is Graph's 400: the
 *   filter is parsed strictly, so a provider sending another form fails here as it would there;
 * - newest first; `$top` up to 1,000 (the default and the largest page); further pages through an
 *   absolute `@odata.nextLink` carrying a `$skiptoken`;
 * - application permission AuditLog.Read.All, else 403 `Authentication_MSGraphPermissionMissing`;
 *   a tenant without an Entra ID P1/P2 licence answers 403
 *   `Authentication_RequestFromNonPremiumTenantOrB2CTenant`.
 *
 * Assumptions (Graph documents neither): the skiptoken names the last record served, so records
 * logged between two pages do not shift the next one; a `$top` above 1,000 is served as 1,000.
 */
import { Directory, type SignInRecord, type TokenRecord } from './directory.js';
import type { GraphReply } from './graph.js';
import { graphError } from './wire.js';

const SIGN_INS = /^\/(v1\.0|beta)\/auditlogs\/signins$/i;
const MAX_PAGE = 1000;
const EVENT_TYPES = new Set(['interactiveUser', 'nonInteractiveUser', 'servicePrincipal', 'managedIdentity', 'unknownFutureValue']);

export function isSignInsPath(path: string): boolean {
  return SIGN_INS.test(path);
}

interface Query {
  appId?: string;
  created: Array<{ op: 'eq' | 'ge' | 'gt' | 'le' | 'lt'; at: number }>;
  eventTypes: string[];
}

const badFilter = (why: string) => graphError(400, 'BadRequest', `Invalid filter clause: ${why}`);

/** Parses the $filter forms listed in the header; throws Graph's 400 for anything else. */
export function parseSignInFilter(text: string, version: 'v1.0' | 'beta'): Query {
  const query: Query = { created: [], eventTypes: [] };
  const clauses: Array<[RegExp, (m: RegExpExecArray) => void]> = [
    [
      /appId eq '((?:[^']|'')*)'/y,
      (m) => {
        if (query.appId !== undefined) throw badFilter('appId is compared twice');
        query.appId = m[1]!.replace(/''/g, "'");
      },
    ],
    [
      /createdDateTime (eq|ge|gt|le|lt) (\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d{1,7})?)?(?:Z|[+-]\d\d:\d\d))/y,
      (m) => {
        const at = Date.parse(m[2]!);
        if (Number.isNaN(at)) throw badFilter(`'${m[2]}' is not a valid DateTimeOffset`);
        query.created.push({ op: m[1] as Query['created'][number]['op'], at });
      },
    ],
    [
      /signInEventTypes\/any\((\w+):\s*(\w+) eq '(\w+)'\)/y,
      (m) => {
        if (version === 'v1.0') throw graphError(400, 'BadRequest', "Could not find a property named 'signInEventTypes' on type 'microsoft.graph.signIn'.");
        if (m[1] !== m[2]) throw badFilter(`the range variable '${m[2]}' is not defined`);
        if (!EVENT_TYPES.has(m[3]!)) throw badFilter(`'${m[3]}' is not a signInEventType`);
        query.eventTypes.push(m[3]!);
      },
    ],
  ];
  let at = 0;
  for (;;) {
    const clause = clauses.find(([pattern]) => {
      pattern.lastIndex = at;
      return pattern.test(text);
    });
    if (!clause) throw badFilter(`cannot read '${text.slice(at, at + 60)}'`);
    const [pattern, apply] = clause;
    pattern.lastIndex = at;
    const match = pattern.exec(text)!;
    apply(match);
    at = pattern.lastIndex;
    if (at === text.length) return query;
    const and = / and /y;
    and.lastIndex = at;
    if (!and.test(text)) throw badFilter(`expected 'and' at '${text.slice(at, at + 60)}'`);
    at = and.lastIndex;
  }
}

function matches(record: SignInRecord, query: Query): boolean {
  if (query.appId !== undefined && record.appId !== query.appId.toLowerCase()) return false;
  const t = record.createdDateTime.getTime();
  for (const { op, at } of query.created) {
    const ok = op === 'eq' ? t === at : op === 'ge' ? t >= at : op === 'gt' ? t > at : op === 'le' ? t <= at : t < at;
    if (!ok) return false;
  }
  // Every record here is a service-principal sign-in; with no event-type clause Graph lists interactive ones only.
  return query.eventTypes.length > 0 ? query.eventTypes.includes('servicePrincipal') : false;
}

/** Newest first; equal times: the later recorded first. */
const newestFirst = (a: SignInRecord, b: SignInRecord) => b.createdDateTime.getTime() - a.createdDateTime.getTime() || b.seq - a.seq;

function signInJson(r: SignInRecord): Record<string, unknown> {
  const resource = Directory.resourceApp(r.resource);
  return {
    id: r.id,
    createdDateTime: r.createdDateTime.toISOString(),
    userDisplayName: null,
    userPrincipalName: null,
    userId: '',
    appId: r.appId,
    appDisplayName: r.appDisplayName,
    ipAddress: '127.0.0.1',
    clientAppUsed: null,
    correlationId: r.correlationId,
    conditionalAccessStatus: 'notApplied',
    isInteractive: false,
    resourceDisplayName: resource.name,
    resourceId: resource.id,
    servicePrincipalId: r.servicePrincipalId,
    servicePrincipalName: r.appDisplayName,
    servicePrincipalCredentialKeyId: r.keyId,
    servicePrincipalCredentialThumbprint: '',
    clientCredentialType: 'clientSecret',
    signInEventTypes: ['servicePrincipal'],
    status: {
      errorCode: r.errorCode,
      failureReason: r.errorCode === 0 ? null : r.failureReason,
      additionalDetails: null,
    },
  };
}

function skipToken(after: SignInRecord): string {
  return Buffer.from(JSON.stringify([after.createdDateTime.getTime(), after.seq])).toString('base64url');
}

function readSkipToken(token: string): { time: number; seq: number } {
  try {
    const [time, seq] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[];
    if (typeof time === 'number' && typeof seq === 'number') return { time, seq };
  } catch {
    // Falls through to Graph's refusal.
  }
  throw graphError(400, 'BadRequest', 'Invalid $skiptoken.');
}

/**
 * `GET /{version}/auditLogs/signIns`. `pageSize` caps a page below 1,000 (a test's way to exercise
 * paging without thousands of records).
 */
export function handleSignIns(directory: Directory, base: string, caller: TokenRecord, method: string, path: string, params: URLSearchParams, pageSize: number): GraphReply {
  const version = SIGN_INS.exec(path)![1] as 'v1.0' | 'beta';
  if (method !== 'GET') throw graphError(405, 'Request_BadRequest', `Method ${method} is not supported here.`);
  if (!directory.grants(caller.clientId).has('AuditLog.Read.All')) {
    throw graphError(403, 'Authentication_MSGraphPermissionMissing', 'Calling principal does not have required MSGraph permissions AuditLog.Read.All');
  }
  if (!directory.premiumLicence) {
    throw graphError(403, 'Authentication_RequestFromNonPremiumTenantOrB2CTenant', "Neither tenant is B2C or tenant doesn't have premium license");
  }
  for (const name of params.keys()) {
    if (name.startsWith('$') && !['$filter', '$top', '$skiptoken'].includes(name)) {
      throw graphError(400, 'BadRequest', `Query option '${name}' is not allowed. Make sure that the query option is supported on this request.`);
    }
  }
  const filter = params.get('$filter');
  const query = filter === null ? { created: [], eventTypes: [] } : parseSignInFilter(filter, version);
  const topText = params.get('$top');
  if (topText !== null && !/^\d+$/.test(topText)) throw graphError(400, 'BadRequest', `Invalid value '${topText}' for query option '$top'.`);
  const top = topText === null ? MAX_PAGE : Number(topText);
  if (top < 1) throw graphError(400, 'BadRequest', `Invalid value '${topText}' for query option '$top'.`);
  const size = Math.min(top, MAX_PAGE, pageSize);

  let all = directory.signIns.filter((r) => matches(r, query)).sort(newestFirst);
  const token = params.get('$skiptoken');
  if (token !== null) {
    const after = readSkipToken(token);
    all = all.filter((r) => r.createdDateTime.getTime() < after.time || (r.createdDateTime.getTime() === after.time && r.seq < after.seq));
  }
  const page = all.slice(0, size);
  const body: Record<string, unknown> = { '@odata.context': `${base}/${version}/$metadata#auditLogs/signIns` };
  if (all.length > size) {
    // Graph's own nextLink spells the segment in lower case; clients must follow it as it is.
    const next = new URLSearchParams();
    if (filter !== null) next.set('$filter', filter);
    next.set('$top', String(top));
    next.set('$skiptoken', skipToken(page.at(-1)!));
    body['@odata.nextLink'] = `${base}/${version}/auditLogs/signins?${next.toString().replace(/%24/g, '$')}`;
  }
  body.value = page.map(signInJson);
  return { status: 200, body };
}
