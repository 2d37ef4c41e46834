/**
 * Policy Analyzer's key activity in memory: the last time each service-account key authenticated,
 * and the one REST method that reads it,
 * `GET /v1/projects/{project}/locations/global/activityTypes/serviceAccountKeyLastAuthentication/activities:query`.
 * Rules kept from GCP:
 * - a key authenticates when the token endpoint grants a token for a JWT it signed, or when an
 *   API accepts a self-signed JWT by it; the time recorded is the time of that request;
 * - the data lags: an authentication shows only once `lagMs` has passed (0 by default, settable);
 * - activity outlives the key: a deleted key's last authentication is still reported;
 * - the caller needs `policyanalyzer.serviceAccountKeyLastAuthenticationActivities.query` on the
 *   project, else PERMISSION_DENIED;
 * - `filter` takes `activities.full_resource_name="…"` (or `activities.fullResourceName`), several
 *   joined by OR; anything else is INVALID_ARGUMENT, as are a non-numeric pageSize and a page token
 *   of another query; `pageSize` above 1000 is taken as 1000, non-positive ones are ignored.
 */
import type { IamState, KeyRecord } from './iam.js';
import { GcpError, permissionDenied, timestamp } from './wire.js';

export const KEY_ACTIVITY = 'serviceAccountKeyLastAuthentication';
export const KEY_ACTIVITY_PERMISSION = 'policyanalyzer.serviceAccountKeyLastAuthenticationActivities.query';
const MAX_PAGE_SIZE = 1000;
const OBSERVATION_WINDOW_MS = 90 * 86_400_000;

interface AuthenticationRecord {
  keyId: string;
  email: string;
  projectId: string;
  /** Epoch ms of every authentication, ascending. */
  times: number[];
}

const FILTER_TERM = /^activities\.(?:full_resource_name|fullResourceName)\s*=\s*"([^"\\]*)"$/;

export class PolicyAnalyzerState {
  /** How long an authentication takes to show in queries. */
  lagMs = 0;
  private readonly byKey = new Map<string, AuthenticationRecord>();

  constructor(private readonly iam: IamState) {}

  /** Records that `key` authenticated at `at` (epoch ms). */
  record(key: KeyRecord, at = Date.now()): void {
    const account = this.iam.accounts.get(key.email);
    if (!account) return;
    const record = this.byKey.get(key.id) ?? { keyId: key.id, email: key.email, projectId: account.projectId, times: [] };
    this.byKey.set(key.id, record);
    record.times.push(at);
    record.times.sort((a, b) => a - b);
  }

  /** The last authentication of a key, lag or not; undefined when it never authenticated. */
  lastAuthentication(keyId: string): Date | undefined {
    const last = this.byKey.get(keyId)?.times.at(-1);
    return last === undefined ? undefined : new Date(last);
  }

  /** The last authentication a query may report now (older than the lag). */
  private visible(record: AuthenticationRecord, now: number): number | undefined {
    const horizon = now - this.lagMs;
    return record.times.filter((t) => t <= horizon).at(-1);
  }

  private fullName(record: AuthenticationRecord): string {
    return `//iam.googleapis.com/projects/${record.projectId}/serviceAccounts/${record.email}/keys/${record.keyId}`;
  }

  /** One `activities:query` call; `projectRef` is an id or a number, as in the path. */
  handle(method: string, projectRef: string, location: string, activityType: string, url: URL, caller: string, now = Date.now()): Record<string, unknown> {
    if (method !== 'GET') throw new GcpError('NOT_FOUND', `The emulator has no Policy Analyzer method ${method} ${url.pathname}.`);
    const filter = parseFilter(url.searchParams.get('filter') ?? '');
    const pageSize = parsePageSize(url.searchParams.get('pageSize'));
    if (location !== 'global') throw new GcpError('INVALID_ARGUMENT', `Location ${location} is not supported; activities are queried at locations/global.`);
    if (activityType !== KEY_ACTIVITY) {
      if (activityType === 'serviceAccountLastAuthentication') throw new GcpError('UNIMPLEMENTED', 'The emulator serves serviceAccountKeyLastAuthentication activities only.');
      throw new GcpError('INVALID_ARGUMENT', `Unsupported activity type: ${activityType}.`);
    }
    const project = this.iam.projects.get(projectRef) ?? [...this.iam.projects.values()].find((p) => p.number === projectRef);
    const resource = `projects/${project?.id ?? projectRef}`;
    if (!this.iam.can(caller, resource, KEY_ACTIVITY_PERMISSION)) {
      throw permissionDenied(
        KEY_ACTIVITY_PERMISSION,
        `Permission '${KEY_ACTIVITY_PERMISSION}' denied on resource '//cloudresourcemanager.googleapis.com/${resource}' (or it may not exist).`,
        'policyanalyzer.googleapis.com',
      );
    }
    if (!project) throw new GcpError('NOT_FOUND', `Project ${projectRef} not found.`);

    const matching = [...this.byKey.values()]
      .filter((r) => r.projectId === project.id)
      .map((r) => ({ record: r, name: this.fullName(r), at: this.visible(r, now) }))
      .filter((a): a is { record: AuthenticationRecord; name: string; at: number } => a.at !== undefined && (filter === null || filter.includes(a.name)))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

    const query = `${project.id}|${url.searchParams.get('filter') ?? ''}`;
    const offset = parsePageToken(url.searchParams.get('pageToken'), query);
    const page = matching.slice(offset, offset + pageSize);
    const next = offset + page.length;
    const horizon = new Date(now - this.lagMs);
    const activities = page.map(({ record, name, at }) => {
      const account = this.iam.accounts.get(record.email);
      return {
        activityType: KEY_ACTIVITY,
        fullResourceName: name,
        observationPeriod: { startTime: timestamp(new Date(horizon.getTime() - OBSERVATION_WINDOW_MS)), endTime: timestamp(horizon) },
        activity: {
          lastAuthenticatedTime: timestamp(new Date(at)),
          serviceAccountKey: { fullResourceName: name, projectNumber: project.number, ...(account ? { serviceAccountId: account.uniqueId } : {}) },
        },
      };
    });
    return {
      ...(activities.length ? { activities } : {}),
      ...(next < matching.length ? { nextPageToken: Buffer.from(JSON.stringify({ q: query, o: next })).toString('base64url') } : {}),
    };
  }
}

/** The full resource names a filter asks for; null without a filter. */
function parseFilter(text: string): string[] | null {
  if (text.trim() === '') return null;
  return text.split(/\s+OR\s+/).map((term) => {
    const match = FILTER_TERM.exec(term.trim());
    if (!match) throw new GcpError('INVALID_ARGUMENT', `Invalid filter "${text}": supported is activities.full_resource_name = "<full resource name>", joined by OR.`);
    return match[1]!;
  });
}

function parsePageSize(text: string | null): number {
  if (text === null || text === '') return MAX_PAGE_SIZE;
  if (!/^-?\d+$/.test(text)) throw new GcpError('INVALID_ARGUMENT', `Invalid value at 'page_size' (TYPE_INT32), "${text}"`);
  const size = Number(text);
  return size <= 0 ? MAX_PAGE_SIZE : Math.min(size, MAX_PAGE_SIZE);
}

function parsePageToken(text: string | null, query: string): number {
  if (text === null || text === '') return 0;
  try {
    const token = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as { q?: unknown; o?: unknown };
    if (token.q === query && typeof token.o === 'number' && Number.isInteger(token.o) && token.o >= 0) return token.o;
  } catch {
    // falls through to the refusal
  }
  throw new GcpError('INVALID_ARGUMENT', 'Invalid page token: it does not belong to this query.');
}
