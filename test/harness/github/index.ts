/**
 * A GitHub REST API emulator for tests, on loopback: Actions, Dependabot and Codespaces secrets (repository,
 * environment, organization) with real sealed-box encryption, and deploy keys. Strict on auth like
 * GitHub: no token → 401 "Requires authentication", an unknown one → 401 "Bad credentials", and a
 * token without the fine-grained permission an endpoint needs → 403. Fault injection and a request log
 * (methods and paths only) let tests throttle it and count calls.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sodium from 'libsodium-wrappers';
import { FaultInjector, respondWithFault } from '../faults.js';
import { LOOPBACK } from '../ports.js';
import { DeployKeys, type DeployKey } from './deploy-keys.js';
import { header, matchRoute, readJsonObject, sendReply, type Reply, type Route } from './http.js';
import { SecretTarget, type SecretRecord } from './secrets.js';

export type { DeployKey } from './deploy-keys.js';
export type { SecretRecord } from './secrets.js';

type Access = 'none' | 'read' | 'write';

/** Fine-grained token permissions the emulated endpoints check (GitHub's names). */
export interface TokenPermissions {
  secrets?: Access;
  environments?: Access;
  dependabot_secrets?: Access;
  codespaces_secrets?: Access;
  organization_secrets?: Access;
  organization_codespaces_secrets?: Access;
  /** Deploy keys. */
  administration?: Access;
}

/** Names a secrets target, as tests and the provider spec do. */
export type SecretKind = 'actions' | 'dependabot' | 'codespaces';
export type SecretTargetRef = { repo: string; environment?: string; kind?: SecretKind } | { org: string; kind?: SecretKind };

export interface GitHubRequest {
  method: string;
  path: string;
}

export interface GitHubEmulator {
  /** `http://127.0.0.1:PORT`, Octokit's baseUrl. */
  baseUrl: string;
  /** Rotor's token, with every permission. */
  token: string;
  faults: FaultInjector;
  requests: GitHubRequest[];
  createRepo(owner: string, name: string): void;
  createEnvironment(owner: string, repo: string, environment: string): void;
  createOrg(org: string): void;
  /** A further token with only these permissions. */
  createToken(permissions: TokenPermissions, login?: string): string;
  /** A secret as stored, decrypted value included: for assertions only. */
  secret(target: SecretTargetRef, name: string): SecretRecord | undefined;
  /** Replaces a target's key pair, so a value sealed for the old key_id is stale. */
  rotatePublicKey(target: SecretTargetRef): void;
  deployKeys(owner: string, repo: string): DeployKey[];
  /** Records that a deploy key was used (GitHub's `last_used`). */
  markDeployKeyUsed(owner: string, repo: string, id: number, at?: Date): void;
  /** Moves the emulator's clock on: GitHub's timestamps have whole seconds. */
  advanceClock(ms: number): void;
  close(): Promise<void>;
}

const ALL: Required<TokenPermissions> = {
  secrets: 'write',
  environments: 'write',
  dependabot_secrets: 'write',
  codespaces_secrets: 'write',
  organization_secrets: 'write',
  organization_codespaces_secrets: 'write',
  administration: 'write',
};

/** The fine-grained permission a secrets endpoint checks, as GitHub names it. */
function secretsPermission(scope: 'repo' | 'env' | 'org', kind: SecretKind): keyof TokenPermissions {
  if (scope === 'env') return 'environments';
  if (kind === 'codespaces') return scope === 'org' ? 'organization_codespaces_secrets' : 'codespaces_secrets';
  if (scope === 'org') return 'organization_secrets';
  return kind === 'dependabot' ? 'dependabot_secrets' : 'secrets';
}

const DOCS = 'https://docs.github.com/rest';
const error = (status: number, message: string): Reply => ({ status, body: { message, documentation_url: DOCS, status: String(status) } });

interface Call {
  login: string;
  permissions: TokenPermissions;
  body: Record<string, unknown>;
}

export async function startGitHubEmulator(): Promise<GitHubEmulator> {
  await sodium.ready;
  let clockOffset = 0;
  const now = () => new Date(Date.now() + clockOffset).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const tokens = new Map<string, { login: string; permissions: TokenPermissions }>();
  const newToken = () => `ghp_${randomBytes(18).toString('base64url')}`;
  const token = newToken();
  tokens.set(token, { login: 'rotor-bot', permissions: ALL });

  const repos = new Set<string>();
  const environments = new Set<string>();
  const orgs = new Set<string>();
  const targets = new Map<string, SecretTarget>();
  let baseUrl = '';
  const deployKeys = new DeployKeys(() => baseUrl, now);
  const faults = new FaultInjector();
  const requests: GitHubRequest[] = [];

  const repoKey = (owner: string, repo: string) => `${owner}/${repo}`.toLowerCase();
  const targetKey = (ref: SecretTargetRef) => {
    const kind = ref.kind ?? 'actions';
    if ('org' in ref) return `org:${ref.org.toLowerCase()}:${kind}`;
    return ref.environment ? `env:${ref.repo.toLowerCase()}:${ref.environment}` : `repo:${ref.repo.toLowerCase()}:${kind}`;
  };
  const target = (ref: SecretTargetRef) => {
    const key = targetKey(ref);
    let found = targets.get(key);
    if (!found) targets.set(key, (found = new SecretTarget('org' in ref, now)));
    return found;
  };

  /** A secrets route; a 404 when its repository, environment or organization does not exist. */
  function secretsRoute(method: string, suffix: string, scope: 'repo' | 'env' | 'org', kind: SecretKind): Route<Call> {
    const prefix =
      scope === 'org' ? `/orgs/:org/${kind}/secrets` : scope === 'env' ? '/repos/:owner/:repo/environments/:environment/secrets' : `/repos/:owner/:repo/${kind}/secrets`;
    const permission = secretsPermission(scope, kind);
    const needs: Access = method === 'GET' ? 'read' : 'write';
    return {
      method,
      pattern: `${prefix}${suffix}`,
      handle(call, p) {
        let ref: SecretTargetRef;
        if (scope === 'org') {
          if (!orgs.has(p.org!.toLowerCase())) return error(404, 'Not Found');
          ref = { org: p.org!, kind };
        } else {
          const repo = repoKey(p.owner!, p.repo!);
          if (!repos.has(repo)) return error(404, 'Not Found');
          if (scope === 'env' && !environments.has(`${repo}/${p.environment}`)) return error(404, 'Not Found');
          ref = scope === 'env' ? { repo, environment: p.environment! } : { repo, kind };
        }
        if (!allows(call.permissions[permission], needs)) return error(403, 'Resource not accessible by personal access token');
        const t = target(ref);
        if (suffix === '/public-key') return t.publicKey();
        if (suffix === '') return t.list();
        if (method === 'GET') return t.read(p.name!);
        if (method === 'PUT') return t.put(p.name!, call.body);
        return t.delete(p.name!);
      },
    };
  }

  const routes: Route<Call>[] = [];
  const places = [['repo', 'actions'], ['repo', 'dependabot'], ['repo', 'codespaces'], ['env', 'actions'], ['org', 'actions'], ['org', 'dependabot'], ['org', 'codespaces']] as const;
  for (const [scope, kind] of places) {
    routes.push(
      secretsRoute('GET', '/public-key', scope, kind),
      secretsRoute('GET', '', scope, kind),
      secretsRoute('GET', '/:name', scope, kind),
      secretsRoute('PUT', '/:name', scope, kind),
      secretsRoute('DELETE', '/:name', scope, kind),
    );
  }
  const keysRoute = (method: string, pattern: string, needs: Access, run: (repo: string, call: Call, p: Record<string, string>) => Reply): Route<Call> => ({
    method,
    pattern,
    handle(call, p) {
      const repo = repoKey(p.owner!, p.repo!);
      if (!repos.has(repo)) return error(404, 'Not Found');
      if (!allows(call.permissions.administration, needs)) return error(403, 'Resource not accessible by personal access token');
      return run(repo, call, p);
    },
  });
  routes.push(
    keysRoute('GET', '/repos/:owner/:repo/keys', 'read', (repo) => deployKeys.list(repo)),
    keysRoute('POST', '/repos/:owner/:repo/keys', 'write', (repo, call) => deployKeys.add(repo, call.login, call.body)),
    keysRoute('GET', '/repos/:owner/:repo/keys/:id', 'read', (repo, _call, p) => deployKeys.read(repo, p.id!)),
    keysRoute('DELETE', '/repos/:owner/:repo/keys/:id', 'write', (repo, _call, p) => deployKeys.delete(repo, p.id!)),
  );

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://github');
    const method = (req.method ?? 'GET').toUpperCase();
    requests.push({ method, path: url.pathname });
    if (await respondWithFault(res, faults.take({ method, path: url.pathname }))) return;

    const authorization = header(req, 'authorization');
    if (!authorization) return sendReply(res, error(401, 'Requires authentication'));
    const match = /^(?:token|bearer)\s+(\S+)$/i.exec(authorization);
    const holder = match ? tokens.get(match[1]!) : undefined;
    if (!holder) return sendReply(res, error(401, 'Bad credentials'));

    const found = matchRoute(routes, method, url.pathname);
    if (!found) return sendReply(res, error(404, 'Not Found'));
    const body = await readJsonObject(req);
    if (body === undefined) return sendReply(res, error(400, 'Problems parsing JSON'));
    sendReply(res, await found.route.handle({ ...holder, body }, found.params));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendReply(res, error(500, `emulator error: ${(e as Error).message}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  baseUrl = `http://${LOOPBACK}:${(server.address() as AddressInfo).port}`;

  return {
    baseUrl,
    token,
    faults,
    requests,
    createRepo: (owner, name) => void repos.add(repoKey(owner, name)),
    createEnvironment(owner, repo, environment) {
      if (!repos.has(repoKey(owner, repo))) throw new Error(`no repository ${owner}/${repo}`);
      environments.add(`${repoKey(owner, repo)}/${environment}`);
    },
    createOrg: (org) => void orgs.add(org.toLowerCase()),
    createToken(permissions, login = 'limited-bot') {
      const t = newToken();
      tokens.set(t, { login, permissions });
      return t;
    },
    secret: (ref, name) => targets.get(targetKey(ref))?.get(name),
    rotatePublicKey: (ref) => target(ref).rotateKey(),
    deployKeys: (owner, repo) => [...deployKeys.keys(repoKey(owner, repo))],
    markDeployKeyUsed(owner, repo, id, at = new Date(Date.now() + clockOffset)) {
      const key = deployKeys.keys(repoKey(owner, repo)).find((k) => k.id === id);
      if (!key) throw new Error(`no deploy key ${id} on ${owner}/${repo}`);
      key.last_used = at.toISOString().replace(/\.\d{3}Z$/, 'Z');
    },
    advanceClock: (ms) => void (clockOffset += ms),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

function allows(granted: Access | undefined, needs: Access): boolean {
  if (needs === 'read') return granted === 'read' || granted === 'write';
  return granted === 'write';
}
