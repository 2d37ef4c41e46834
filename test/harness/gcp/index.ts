/**
 * A GCP emulator for tests: Google's OAuth token endpoint, IAM v1 service-account keys, Secret
 * Manager v1 (REST), Policy Analyzer v1's key last-authentication activity and Cloud Resource
 * Manager v1's project IAM policy (getIamPolicy) in one HTTP server on loopback, for the real Google clients
 * (google-auth-library, @googleapis/iam, @google-cloud/secret-manager over its REST transport).
 * Nothing of GCP can be installed here, so this stands in for it.
 *
 * Each request: log it, ask the FaultInjector (its FaultRequest path is the URL path, e.g.
 * `/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com/keys`), then either grant a token
 * (`POST /token`) or authenticate the bearer (opaque token or self-signed JWT, see token.ts),
 * authorise the caller's permission on the resource (tests grant them), and handle the call.
 *
 * Point clients at it with: IAM `rootUrl: emulator.iamRootUrl`; Policy Analyzer at
 * `emulator.policyAnalyzerRootUrl`; Resource Manager at `emulator.resourceManagerRootUrl`; Secret Manager
 * `apiEndpoint: '127.0.0.1', port, fallback: true, protocol: 'http'`; token requests at
 * `emulator.tokenEndpoint` (google-auth-library always posts to Google's URL, so the caller
 * redirects it; the key files the emulator issues name it as token_uri).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultInjector, respondWithFault } from '../faults.js';
import { LOOPBACK } from '../ports.js';
import { IamState, projectOfEmail, USER_MANAGED_KEY_LIMIT } from './iam.js';
import { PolicyAnalyzerState } from './policy-analyzer.js';
import { ResourceManagerState, type PolicyBinding, type PolicyCondition } from './resource-manager.js';
import { SecretManagerState, type SecretVersionView } from './secret-manager.js';
import { TokenService } from './token.js';
import { GcpError, jsonBody, OAuthError, readBody, sendJson } from './wire.js';

export { gcpFault } from './wire.js';
export { GOOGLE_TOKEN_URL } from './token.js';
export { ROLES, USER_MANAGED_KEY_LIMIT } from './iam.js';
export { GET_IAM_POLICY_PERMISSION, type PolicyBinding, type PolicyCondition } from './resource-manager.js';

export interface GcpRequest {
  api: 'oauth' | 'iam' | 'secretmanager' | 'policyanalyzer' | 'resourcemanager' | 'unknown';
  method: string;
  /** URL path, decoded, without the query. */
  path: string;
  /** The authenticated caller's email, if any. */
  caller?: string;
  /** Whether the caller sent an opaque token or a self-signed JWT. */
  via?: 'access-token' | 'self-signed-jwt';
  status: number;
  /** Canonical code (or OAuth error) of a refused request. */
  error?: string;
}

export interface GcpServiceAccount {
  email: string;
  projectId: string;
  /** Id of the key made with the account (absent with `withKey: false`). */
  keyId: string;
  /** Its credentials file, as `gcloud iam service-accounts keys create` writes it. */
  keyJson: string;
}

export interface GcpKeyView {
  keyId: string;
  keyType: 'USER_MANAGED' | 'SYSTEM_MANAGED';
  disabled: boolean;
  validAfter: Date;
  validBefore: Date;
}

export interface GcpEmulator {
  /** `http://127.0.0.1:PORT`. */
  endpoint: string;
  /** The OAuth token endpoint, `…/token`. */
  tokenEndpoint: string;
  /** @googleapis/iam's `rootUrl` (with the trailing slash it expects). */
  iamRootUrl: string;
  /** Policy Analyzer's API root (with a trailing slash), for a spec's `policyAnalyzerEndpoint`. */
  policyAnalyzerRootUrl: string;
  /** Cloud Resource Manager's API root (with a trailing slash), for a spec's `resourceManagerEndpoint`. */
  resourceManagerRootUrl: string;
  /** Secret Manager client options: apiEndpoint and port. */
  apiEndpoint: string;
  port: number;
  faults: FaultInjector;
  /** Every request, without bodies or tokens. */
  requests: GcpRequest[];
  iam: {
    /** A service account (its project is taken from the email) with one key that works at once. */
    createServiceAccount(email: string): Promise<GcpServiceAccount>;
    /** Another user-managed key, valid at once (unless disabled), as if made at `validAfter`. */
    addKey(email: string, options?: { disabled?: boolean; validAfter?: Date }): Promise<{ keyId: string; keyJson: string }>;
    /** The account's keys, system-managed included, without secrets. */
    keys(email: string): GcpKeyView[];
    /** How long a key made through the API is refused by the token endpoint after creation. */
    setPropagationDelay(ms: number): void;
    /** Ends the propagation delay of every key made so far: they are accepted from now on. */
    propagateNow(): void;
    /** Lifetime of keys made from now on (the key-expiry org policy); null: they never expire. */
    setKeyLifetime(ms: number | null): void;
    /** Grants a member a predefined role or permissions on a resource: `projects/p`, a service-account email, `projects/p/secrets/s`. */
    grant(member: string, resource: string, roleOrPermissions: string | readonly string[]): void;
    /** Takes grants back (all on the resource, or the permissions named). */
    revoke(member: string, resource: string, permissions?: readonly string[]): void;
    /** Every private key, credentials file and access token the emulator issued, for leak scans. */
    issuedSecrets(): string[];
  };
  policyAnalyzer: {
    /** When a key last authenticated (token granted for a JWT it signed, or a self-signed JWT taken), lag or not. */
    lastAuthentication(keyId: string): Date | undefined;
    /** How long an authentication takes to show in queries (Google: up to a day or two); default 0. */
    setReportingLag(ms: number): void;
  };
  resourceManager: {
    /**
     * Binds a member (`serviceAccount:<email>`, `user:…`, `group:…`) to a role in the project's IAM
     * policy, with a condition or not; no permission needed. An unconditional binding to a role in
     * ROLES also grants its permissions on the project.
     */
    bind(project: string, role: string, member: string, condition?: PolicyCondition): void;
    /** The project's bindings, conditions included. */
    bindings(project: string): PolicyBinding[];
  };
  secretManager: {
    /** A secret (`projects/p/secrets/s`) with versions holding the payloads, in order; no permission needed. */
    createSecret(name: string, options?: { payloads?: string[]; annotations?: Record<string, string>; aliases?: Record<string, number> }): void;
    versions(name: string): SecretVersionView[];
    aliases(name: string): Record<string, number>;
    annotations(name: string): Record<string, string>;
    /** A version's payload (number, alias or `latest`) whatever its state; undefined once destroyed. */
    payload(name: string, version: string | number): string | undefined;
    /** Every payload ever added, for leak scans. */
    payloads(): string[];
  };
  close(): Promise<void>;
}

export interface GcpEmulatorOptions {
  /** Delay before a key made through the API is accepted; default 0. */
  propagationDelayMs?: number;
}

const IAM_PATH = /^\/v1\/projects\/([^/]+)\/serviceAccounts\/([^/:]+)(.*)$/;
const SECRETS_PATH = /^\/v1\/projects\/([^/]+)\/secrets(?:\/([^/:]+))?(.*)$/;
const ACTIVITIES_PATH = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/activityTypes\/([^/]+)\/activities:query$/;
const PROJECT_POLICY_PATH = /^\/v1\/projects\/([^/]+):getIamPolicy$/;

export async function startGcpEmulator(options: GcpEmulatorOptions = {}): Promise<GcpEmulator> {
  const faults = new FaultInjector();
  const requests: GcpRequest[] = [];
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, new GcpError('INTERNAL', `emulator error: ${(error as Error).message}`).body());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://${LOOPBACK}:${port}`;
  const tokenEndpoint = `${endpoint}/token`;
  const iam = new IamState(tokenEndpoint);
  iam.propagationDelayMs = options.propagationDelayMs ?? 0;
  const analyzer = new PolicyAnalyzerState(iam);
  const tokens = new TokenService(iam, tokenEndpoint, (key, at) => analyzer.record(key, at));
  const secretManager = new SecretManagerState(iam);
  const resourceManager = new ResourceManagerState(iam);
  iam.policyGrants = (member, project, permission) => resourceManager.grants(project, member, permission);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', endpoint);
    const method = req.method ?? 'GET';
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = url.pathname;
    }
    const body = await readBody(req);
    const iamMatch = IAM_PATH.exec(path);
    const secretsMatch = iamMatch ? null : SECRETS_PATH.exec(path);
    const activitiesMatch = iamMatch || secretsMatch ? null : ACTIVITIES_PATH.exec(path);
    const policyMatch = iamMatch || secretsMatch || activitiesMatch ? null : PROJECT_POLICY_PATH.exec(path);
    const api: GcpRequest['api'] =
      path === '/token' ? 'oauth' : iamMatch ? 'iam' : secretsMatch ? 'secretmanager' : activitiesMatch ? 'policyanalyzer' : policyMatch ? 'resourcemanager' : 'unknown';
    const entry: GcpRequest = { api, method, path, status: 200 };
    requests.push(entry);
    if (await respondWithFault(res, faults.take({ method, path }))) {
      entry.status = res.statusCode;
      return;
    }

    if (api === 'oauth') {
      try {
        if (method !== 'POST') throw new OAuthError('invalid_request', 'The token endpoint takes POST.');
        const reply = tokens.grant(new URLSearchParams(body.toString('utf8')));
        sendJson(res, 200, reply, { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate' });
      } catch (error) {
        if (!(error instanceof OAuthError)) throw error;
        entry.status = 400;
        entry.error = error.error;
        sendJson(res, 400, { error: error.error, error_description: error.description });
      }
      return;
    }

    try {
      if (api === 'unknown') throw new GcpError('NOT_FOUND', `The emulator serves no ${method} ${path}.`);
      const caller = tokens.authenticate(header(req, 'authorization'));
      entry.caller = caller.email;
      entry.via = caller.via;
      const input = method === 'GET' || method === 'DELETE' ? {} : jsonBody(body);
      const reply = iamMatch
        ? await iam.handle(method, iamMatch[1]!, iamMatch[2]!, iamMatch[3]!, url, input, caller.email)
        : activitiesMatch
          ? analyzer.handle(method, activitiesMatch[1]!, activitiesMatch[2]!, activitiesMatch[3]!, url, caller.email)
          : policyMatch
            ? resourceManager.handle(method, policyMatch[1]!, url, input, caller.email)
            : secretManager.handle(method, secretsMatch![1]!, secretsMatch![2], secretsMatch![3]!, url, input, caller.email);
      sendJson(res, 200, reply);
    } catch (error) {
      if (!(error instanceof GcpError)) throw error;
      entry.status = error.httpStatus;
      entry.error = error.status;
      sendJson(res, error.httpStatus, error.body(), error.headers);
    }
  }

  /** A service-account email, or a resource name as it is. */
  const resourceName = (resource: string) => {
    if (!resource.includes('@') || resource.startsWith('projects/')) return resource;
    const project = iam.accounts.get(resource)?.projectId ?? projectOfEmail(resource);
    if (!project) throw new Error(`cannot tell the project of ${resource}`);
    return `projects/${project}/serviceAccounts/${resource}`;
  };

  return {
    endpoint,
    tokenEndpoint,
    iamRootUrl: `${endpoint}/`,
    policyAnalyzerRootUrl: `${endpoint}/`,
    resourceManagerRootUrl: `${endpoint}/`,
    apiEndpoint: LOOPBACK,
    port,
    faults,
    requests,
    iam: {
      async createServiceAccount(email) {
        const account = await iam.createServiceAccount(email);
        const { key, keyFile } = await iam.createKey(email, { immediate: true });
        return { email, projectId: account.projectId, keyId: key.id, keyJson: keyFile };
      },
      async addKey(email, opts = {}) {
        if (iam.userKeysOf(email).length >= USER_MANAGED_KEY_LIMIT) throw new Error(`${email} already has ${USER_MANAGED_KEY_LIMIT} user-managed keys`);
        const { key, keyFile } = await iam.createKey(email, { immediate: true, ...opts });
        return { keyId: key.id, keyJson: keyFile };
      },
      keys: (email) =>
        [...iam.keys.values()]
          .filter((k) => k.email === email)
          .map((k) => ({ keyId: k.id, keyType: k.keyType, disabled: k.disabled, validAfter: k.validAfter, validBefore: k.validBefore })),
      setPropagationDelay(ms) {
        iam.propagationDelayMs = ms;
      },
      propagateNow() {
        for (const key of iam.keys.values()) if (key.keyType === 'USER_MANAGED') key.usableFrom = 0;
      },
      setKeyLifetime(ms) {
        iam.keyLifetimeMs = ms;
      },
      grant: (member, resource, roleOrPermissions) => iam.grant(member, resourceName(resource), roleOrPermissions),
      revoke: (member, resource, permissions) => iam.revoke(member, resourceName(resource), permissions),
      issuedSecrets: () => [...iam.issuedSecrets],
    },
    policyAnalyzer: {
      lastAuthentication: (keyId) => analyzer.lastAuthentication(keyId),
      setReportingLag(ms) {
        analyzer.lagMs = ms;
      },
    },
    resourceManager: {
      bind: (project, role, member, condition) => resourceManager.bind(project, role, member, condition),
      bindings: (project) => resourceManager.bindings(project),
    },
    secretManager: {
      createSecret: (name, opts) => secretManager.create(name, opts),
      versions: (name) => secretManager.versions(name),
      aliases: (name) => secretManager.aliases(name),
      annotations: (name) => secretManager.annotations(name),
      payload: (name, version) => secretManager.payload(name, version),
      payloads: () => [...secretManager.payloads],
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
