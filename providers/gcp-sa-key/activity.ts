/**
 * Drain detection for gcp-sa-key: when a key last authenticated, from Policy Analyzer's
 * `serviceAccountKeyLastAuthentication` activities (`GET
 * {root}v1/projects/{project}/locations/global/activityTypes/serviceAccountKeyLastAuthentication/activities:query`,
 * filtered on the key's full resource name), through Rotor's own auth client.
 *
 * Google documents the data as lagging (up to a day or two), and its times may be coarse, so an
 * answer of "not used since" is only as good as a grace longer than that lag. A refused query is
 * never read as "drained": it fails, naming the permission and the `drainSignal: none` way out.
 */
import type { AuthClient } from 'google-auth-library';
import { ProviderRefusal, type ProviderContext } from '../contracts.js';
import { gcpAuth, gcpErrorInfo, gcpFailure, REQUEST_TIMEOUT_MS } from '../gcp-shared.js';
import { projectOf, type GcpSaKeySpec } from './spec.js';

export const POLICY_ANALYZER_URL = 'https://policyanalyzer.googleapis.com/';
export const ACTIVITY_TYPE = 'serviceAccountKeyLastAuthentication';
/** What querying key activity needs on the account's project. */
export const DRAIN_PERMISSION = 'policyanalyzer.serviceAccountKeyLastAuthenticationActivities.query';
/** The predefined role that grants it. */
export const DRAIN_ROLE = 'roles/policyanalyzer.activityAnalysisViewer';
/** Said with every answer: the data is not live. */
export const LAG_NOTE = 'Policy Analyzer data lags up to a day or two';

/** Pages followed before giving up (a filtered query names one key: one page is the norm). */
const MAX_PAGES = 20;

/** A key's full resource name, as Policy Analyzer names it. */
export function keyResourceName(project: string, email: string, keyId: string): string {
  return `//iam.googleapis.com/projects/${project}/serviceAccounts/${email}/keys/${keyId}`;
}

/** Policy Analyzer refused Rotor (403): missing permission, or the API not enabled. `google` is Google's own word. */
export class PolicyAnalyzerDenied extends ProviderRefusal {
  constructor(
    message: string,
    readonly project: string,
    readonly google: string,
  ) {
    super(message);
  }
}

interface ActivityReply {
  activities?: Array<{
    fullResourceName?: string;
    activityType?: string;
    activity?: { lastAuthenticatedTime?: string; serviceAccountKey?: { fullResourceName?: string } };
  }>;
  nextPageToken?: string;
}

export class KeyActivity {
  private constructor(
    private readonly ctx: ProviderContext,
    private readonly auth: AuthClient,
    private readonly root: string,
    readonly project: string,
    readonly email: string,
  ) {}

  /** Runs `work` with a Policy Analyzer client for the spec's project; refuses when the project is unknown. */
  static async use<T>(ctx: ProviderContext, spec: GcpSaKeySpec, work: (activity: KeyActivity) => Promise<T>): Promise<T> {
    const project = projectOf(spec);
    if (!project) {
      throw new ProviderRefusal(
        `cannot tell the project of service account ${spec.serviceAccount} for Policy Analyzer: set "project" in the credential, or set drainSignal: none to rely on the grace period alone`,
      );
    }
    const auth = await gcpAuth(ctx, spec);
    const endpoint = spec.policyAnalyzerEndpoint ?? POLICY_ANALYZER_URL;
    return work(new KeyActivity(ctx, auth, endpoint.endsWith('/') ? endpoint : `${endpoint}/`, project, spec.serviceAccount));
  }

  private get url(): string {
    return `${this.root}v1/projects/${encodeURIComponent(this.project)}/locations/global/activityTypes/${ACTIVITY_TYPE}/activities:query`;
  }

  /** When the key last authenticated as far as Policy Analyzer knows; null when it has no record. */
  async lastAuthenticated(keyId: string): Promise<Date | null> {
    const name = keyResourceName(this.project, this.email, keyId);
    // Matched by account and key, whatever form of the project the reply uses.
    const suffix = `/serviceAccounts/${this.email}/keys/${keyId}`;
    let latest: Date | null = null;
    let pageToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const reply = await this.query(`key ${keyId}`, { filter: `activities.full_resource_name="${name}"`, ...(pageToken ? { pageToken } : {}) });
      for (const a of reply.activities ?? []) {
        const resource = a.fullResourceName ?? a.activity?.serviceAccountKey?.fullResourceName ?? '';
        if (a.activityType !== undefined && a.activityType !== ACTIVITY_TYPE) continue;
        if (!resource.endsWith(suffix)) continue;
        const text = a.activity?.lastAuthenticatedTime;
        if (text === undefined) continue;
        const at = new Date(text);
        if (Number.isNaN(at.getTime())) throw new Error(`Policy Analyzer answered key ${keyId} of service account ${this.email} with a last authentication time that is not a time`);
        if (!latest || at > latest) latest = at;
      }
      pageToken = reply.nextPageToken || undefined;
      if (!pageToken) return latest;
    }
    throw new Error(`Policy Analyzer kept paging past ${MAX_PAGES} pages for key ${keyId} of service account ${this.email}`);
  }

  /** A one-result query on the project: proves Rotor may read key activity there. */
  async probe(): Promise<void> {
    await this.query(`project ${this.project}`, { pageSize: 1 });
  }

  private async query(what: string, params: Record<string, string | number>): Promise<ActivityReply> {
    this.ctx.signal?.throwIfAborted();
    try {
      const reply = await this.auth.request<ActivityReply>({
        url: this.url,
        method: 'GET',
        params,
        timeout: REQUEST_TIMEOUT_MS,
        // One retry for a blip, no more: Temporal retries the activity with backoff and records it.
        retry: true,
        retryConfig: { retry: 1, noResponseRetries: 1 },
        ...(this.ctx.signal ? { signal: this.ctx.signal } : {}),
      });
      return reply.data ?? {};
    } catch (error) {
      const action = `cannot query Policy Analyzer for the last authentication of ${what} of service account ${this.email}`;
      const info = gcpErrorInfo(error);
      if (info.code === 'PERMISSION_DENIED' || info.httpStatus === 403) {
        const google = `${info.code ? `${info.code}: ` : ''}${info.message.slice(0, 400)}${info.httpStatus ? ` (HTTP ${info.httpStatus})` : ''}`;
        throw new PolicyAnalyzerDenied(
          `${action}: ${google}. Rotor's identity needs ${DRAIN_PERMISSION} on project ${this.project} (${DRAIN_ROLE}), ` +
            'and the Policy Analyzer API enabled there; or set drainSignal: none in the credential to rely on the grace period alone',
          this.project,
          google,
        );
      }
      throw gcpFailure(action, error);
    }
  }
}
