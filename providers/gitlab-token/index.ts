/**
 * GitLab personal, project and group access tokens, rotated with GitLab's rotate API.
 *
 * `single` strategy only: a rotate call returns a new token (new id) and revokes the old one in the
 * same instant, so old and new never overlap; dependents hold a dead token until propagation reaches
 * them. Material is `Material(<token id>, { token })`.
 *
 * The unavoidable window: the new token exists only in GitLab's rotate response until `req.stage()`
 * stores it. If the process dies in between, the new token is lost and the old one is already revoked.
 * Mitigation: the response is staged in the same call, at once; and a retry that finds nothing staged
 * and the token to rotate already revoked looks up its successor (same name, newer id, active: the
 * lost token) and rotates THAT with Rotor's token, which revokes the lost one and yields a fresh token.
 * Rotor never presents a revoked token to a rotate endpoint: GitLab's reuse detection would answer by
 * revoking the whole family. `self` rotation has no such recovery (the only credential is the dead
 * token): a lost self rotation needs a human, and the error says so.
 */
import { Material } from '../../lib/material.js';
import {
  defineCredential,
  ProviderRefusal,
  type CreateRequest,
  type CredentialSource,
  type DiscoveredCredential,
  type ProviderContext,
  type Strategy,
} from '../contracts.js';
import { GitLabApi, GitLabRefusal, type GitLabToken } from './gitlab.js';
import { GitLabTokenSpecSchema, type GitLabTokenSpec } from './spec.js';

export { GitLabTokenSpecSchema, type GitLabTokenSpec } from './spec.js';

const DAY = 86_400_000;
const PAGE = 100;

const expiresAt = (spec: GitLabTokenSpec) => new Date(Date.now() + spec.expiresInDays * DAY).toISOString().slice(0, 10);

async function adminToken(ctx: ProviderContext, spec: GitLabTokenSpec): Promise<string> {
  if (!spec.token) throw new ProviderRefusal(`gitlab-token: no token is configured to call GitLab with`);
  return ctx.resolveSecret(spec.token);
}

/** The id to rotate: the current material's (ids change at every rotation), else the one in the spec. */
function tokenIdToRotate(spec: GitLabTokenSpec, current: Material | null): number {
  if (current && /^\d+$/.test(current.id)) return Number(current.id);
  const { scope } = spec;
  if (scope === 'self') throw new ProviderRefusal('a self-rotated token has no id to rotate by');
  return 'personal' in scope ? scope.personal : scope.tokenId;
}

/** Rotates the token that authenticates the call. */
async function rotateSelf(ctx: ProviderContext, api: GitLabApi, spec: GitLabTokenSpec, current: Material | null): Promise<GitLabToken> {
  const token = current?.has('token') ? current.reveal('token') : await adminToken(ctx, spec);
  try {
    return await api.request<GitLabToken>('cannot rotate the current GitLab token', 'POST', '/personal_access_tokens/self/rotate', token, { expires_at: expiresAt(spec) });
  } catch (error) {
    if (!(error instanceof GitLabRefusal && error.status === 401)) throw error;
    throw new ProviderRefusal(
      'cannot rotate the current GitLab token: it no longer authenticates (revoked, expired, or rotated by an attempt whose new token was lost). ' +
        'Create a new token in GitLab and store it as the current material; scope self cannot recover on its own',
    );
  }
}

/** The active token an earlier, lost rotation of `old` created: same name, newer id. */
async function successorOf(api: GitLabApi, admin: string, old: GitLabToken): Promise<GitLabToken> {
  const filter = api.spec.scope !== 'self' && 'personal' in api.spec.scope && old.user_id !== undefined ? `&user_id=${old.user_id}` : '';
  const tokens = await listAll(api, admin, `${api.base()}?state=active${filter}`);
  const successors = tokens.filter((t) => t.name === old.name && t.id > old.id && t.active && !t.revoked);
  if (successors.length === 1) return successors[0]!;
  const why = successors.length === 0 ? 'no active successor exists' : `${successors.length} active tokens named "${old.name}" could be its successor`;
  throw new ProviderRefusal(`GitLab token ${old.id} (${api.owner()}) is revoked or expired and ${why}: create a new token by hand and store it as the current material`);
}

/** Rotates by id with Rotor's token, recovering from a lost earlier rotation (see the header). */
async function rotateById(ctx: ProviderContext, api: GitLabApi, spec: GitLabTokenSpec, current: Material | null): Promise<GitLabToken> {
  const admin = await adminToken(ctx, spec);
  let id = tokenIdToRotate(spec, current);
  const target = await api.request<GitLabToken>(`cannot read GitLab token ${id} (${api.owner()})`, 'GET', `${api.base()}/${id}`, admin);
  if (target.revoked || !target.active) {
    const successor = await successorOf(api, admin, target);
    ctx.logger.warn({ tokenId: id, successorId: successor.id }, 'gitlab token already revoked: rotating the successor a lost earlier attempt created');
    id = successor.id;
  }
  return api.request<GitLabToken>(`cannot rotate GitLab token ${id} (${api.owner()})`, 'POST', `${api.base()}/${id}/rotate`, admin, { expires_at: expiresAt(spec) });
}

async function create(ctx: ProviderContext, spec: GitLabTokenSpec, strategy: Strategy, req: CreateRequest): Promise<Material> {
  if (strategy !== 'single') throw new ProviderRefusal(`gitlab-token supports only the single strategy (GitLab revokes the old token when it rotates), not ${strategy}`);
  if (req.staged) {
    // The rotation happened on an earlier attempt: GitLab already revoked the old token, keep the staged one.
    await verify(ctx, spec, req.staged);
    return req.staged;
  }
  const api = new GitLabApi(ctx, spec);
  const rotated = spec.scope === 'self' ? await rotateSelf(ctx, api, spec, req.current) : await rotateById(ctx, api, spec, req.current);
  if (typeof rotated.token !== 'string' || rotated.token === '') throw new Error(`GitLab's rotate response for ${api.owner()} holds no token`);
  const material = new Material(String(rotated.id), { token: rotated.token });
  try {
    await req.stage(material);
  } catch (error) {
    ctx.logger.error({ tokenId: rotated.id }, 'rotated gitlab token could not be staged: a retry rotates it again with Rotor\'s token');
    throw error;
  }
  ctx.logger.info({ tokenId: rotated.id, previous: req.current?.id ?? null, expiresAt: rotated.expires_at }, 'gitlab token rotated');
  return material;
}

/** The token authenticates, is active and is the token the material names. */
async function verify(ctx: ProviderContext, spec: GitLabTokenSpec, material: Material): Promise<void> {
  const api = new GitLabApi(ctx, spec);
  const self = await api.request<GitLabToken>(`GitLab token ${material.id} does not authenticate`, 'GET', '/personal_access_tokens/self', material.reveal('token'));
  if (String(self.id) !== material.id) throw new ProviderRefusal(`material ${material.id} authenticates as GitLab token ${self.id}`);
  if (!self.active || self.revoked) throw new ProviderRefusal(`GitLab token ${material.id} is not active`);
}

/**
 * Nothing to undo: the rotate call already revoked the old token, and GitLab cannot un-rotate. The new
 * token stays the only valid one; rollback must keep it in the dependents (see the report).
 */
async function discard(ctx: ProviderContext, _spec: GitLabTokenSpec, _strategy: Strategy, created: Material, current: Material | null): Promise<void> {
  ctx.logger.warn(
    { tokenId: created.id, revokedTokenId: current?.id ?? null },
    'gitlab token cannot be discarded: GitLab revoked the previous token when it rotated, the new token is the only valid one',
  );
}

/** GitLab revoked the old token at rotation (single strategy): nothing is left to revoke. */
async function revoke(ctx: ProviderContext, _spec: GitLabTokenSpec, _strategy: Strategy, old: Material): Promise<void> {
  ctx.logger.debug({ tokenId: old.id }, 'gitlab token was revoked by its rotation');
}

async function listAll(api: GitLabApi, token: string, path: string): Promise<GitLabToken[]> {
  const all: GitLabToken[] = [];
  const join = path.includes('?') ? '&' : '?';
  for (let page = 1; ; page++) {
    const batch = await api.request<GitLabToken[]>(`cannot list GitLab tokens (${api.owner()})`, 'GET', `${path}${join}per_page=${PAGE}&page=${page}`, token);
    all.push(...batch);
    if (batch.length < PAGE) return all;
  }
}

/** Tokens Rotor's token can see for this scope (for `self`: only the configured token itself), with expiry. */
async function list(ctx: ProviderContext, spec: GitLabTokenSpec): Promise<DiscoveredCredential[]> {
  const api = new GitLabApi(ctx, spec);
  const token = await adminToken(ctx, spec);
  const tokens =
    spec.scope === 'self' ? [await api.request<GitLabToken>('cannot read the GitLab token', 'GET', '/personal_access_tokens/self', token)] : await listAll(api, token, api.base());
  return tokens.map((t) => ({
    id: String(t.id),
    principal: `${api.owner()}${t.user_id !== undefined ? ` (user ${t.user_id})` : ''}: ${t.name}`,
    createdAt: t.created_at,
    ...(t.last_used_at ? { lastUsedAt: t.last_used_at } : {}),
    usageTracked: true,
    ...(t.expires_at ? { expiresAt: t.expires_at } : {}),
    status: t.revoked ? 'inactive' : t.active ? 'active' : 'expired',
  }));
}

/** Rotor's token authenticates and has the api scope the rotate endpoints need. */
async function preflight(ctx: ProviderContext, spec: GitLabTokenSpec): Promise<string[]> {
  if (!spec.token) return [];
  try {
    const self = await new GitLabApi(ctx, spec).request<GitLabToken>('Rotor\'s GitLab token does not authenticate', 'GET', '/personal_access_tokens/self', await ctx.resolveSecret(spec.token));
    return self.scopes.includes('api') ? [] : [`Rotor's GitLab token ${self.id} lacks the api scope (has ${self.scopes.join(', ') || 'none'})`];
  } catch (error) {
    return [(error as Error).message];
  }
}

const source: CredentialSource<GitLabTokenSpec> = { strategies: ['single'], createRevokesOld: true, create, verify, discard, revoke, list, preflight };

export const gitlabToken = defineCredential({
  type: 'gitlab-token',
  workflow: 'rotateCiToken',
  defaultEvery: '30d',
  maxAgeDays: 90,
  // The id is GitLab's token id, not a field.
  produces: { fields: ['token'], idField: null },
  spec: GitLabTokenSpecSchema,
  source,
});
