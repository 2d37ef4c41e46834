/**
 * GitHub deploy keys: an SSH key that opens one repository. Keys are immutable, so rotation is `dual`:
 * add the new key, move dependents to it, then delete the old one.
 *
 * Material is `Material(<SHA256 fingerprint>, { privateKey, publicKey })`: the private key in OpenSSH
 * format (see ssh-key.ts), the public key as `ssh-ed25519 AAAA…`. The id is the key's SSH fingerprint
 * and not GitHub's key id, because the material must be staged before the key is added (GitHub's id
 * exists only after the POST) and a re-added key gets a new GitHub id. Every lookup goes by public key;
 * the key's title carries the credential and rotation ids for people reading GitHub's settings page.
 */
import { Material } from '../../lib/material.js';
import {
  defineCredential,
  ProviderRefusal,
  type CreateRequest,
  type CredentialSource,
  type DiscoveredCredential,
  type ProviderContext,
  type Usage,
  type Strategy,
} from '../contracts.js';
import { connectGitHub, GitHubRefusal, type GitHubApi } from '../github-actions-secret/github.js';
import { GitHubDeployKeySpecSchema, type GitHubDeployKeySpec } from './spec.js';
import { generateSshKeyPair, normalizePublicKey, publicKeyOfPrivate, sshFingerprint } from './ssh-key.js';

export { GitHubDeployKeySpecSchema, type GitHubDeployKeySpec } from './spec.js';


interface DeployKey {
  id: number;
  key: string;
  title: string;
  created_at: string;
  read_only: boolean;
  last_used?: string | null;
  enabled?: boolean;
}

const PAGE = 100;

function repoParams(spec: GitHubDeployKeySpec) {
  const [owner, repo] = spec.repo.split('/') as [string, string];
  return { owner, repo };
}

async function listKeys(api: GitHubApi, spec: GitHubDeployKeySpec): Promise<DeployKey[]> {
  const keys: DeployKey[] = [];
  for (let page = 1; ; page++) {
    const batch = await api.request<DeployKey[]>(`cannot list the deploy keys of ${spec.repo}`, 'GET /repos/{owner}/{repo}/keys', { ...repoParams(spec), per_page: PAGE, page });
    keys.push(...batch);
    if (batch.length < PAGE) return keys;
  }
}

/** The public key line of material: its publicKey field, else derived from its OpenSSH private key. */
function publicKeyOf(material: Material): string | null {
  if (material.has('publicKey')) return normalizePublicKey(material.reveal('publicKey'));
  if (!material.has('privateKey')) return null;
  try {
    return publicKeyOfPrivate(material.reveal('privateKey'));
  } catch {
    return null;
  }
}

/** The repository's deploy key holding this material: by public key, or by GitHub id for material seeded with one. */
async function findKey(api: GitHubApi, spec: GitHubDeployKeySpec, material: Material): Promise<DeployKey | null> {
  const keys = await listKeys(api, spec);
  const publicKey = publicKeyOf(material);
  if (publicKey) return keys.find((k) => normalizePublicKey(k.key) === publicKey) ?? null;
  if (/^\d+$/.test(material.id)) return keys.find((k) => String(k.id) === material.id) ?? null;
  throw new ProviderRefusal(`cannot tell which deploy key of ${spec.repo} material ${material.id} is: it has no publicKey, no OpenSSH privateKey and no GitHub key id`);
}

async function addKey(ctx: ProviderContext, api: GitHubApi, spec: GitHubDeployKeySpec, material: Material, publicKey: string): Promise<void> {
  const title = `${spec.title} ${ctx.credentialId} ${ctx.rotationId}`;
  try {
    await api.request(`cannot add deploy key ${material.id} to ${spec.repo}`, 'POST /repos/{owner}/{repo}/keys', { ...repoParams(spec), title, key: publicKey, read_only: spec.readOnly });
  } catch (error) {
    // "key is already in use": a concurrent attempt added it here (fine), or another repository holds it.
    if (!(error instanceof GitHubRefusal && error.status === 422) || !(await findKey(api, spec, material))) throw error;
  }
}

async function create(ctx: ProviderContext, spec: GitHubDeployKeySpec, strategy: Strategy, req: CreateRequest): Promise<Material> {
  if (strategy !== 'dual') throw new ProviderRefusal(`github-deploy-key supports only the dual strategy (deploy keys are immutable), not ${strategy}`);
  const api = await connectGitHub(ctx, spec);
  let material = req.staged;
  if (!material) {
    const pair = generateSshKeyPair(`rotor ${ctx.credentialId}`);
    material = new Material(pair.fingerprint, { privateKey: pair.privateKey, publicKey: pair.publicKey });
    // Staged before GitHub knows the key: a crash after the POST never leaves a key Rotor cannot name.
    await req.stage(material);
  }
  const publicKey = publicKeyOf(material);
  if (!publicKey) throw new ProviderRefusal(`staged material ${material.id} has no usable public key`);
  const existing = await findKey(api, spec, material);
  if (!existing) await addKey(ctx, api, spec, material, publicKey);
  ctx.logger.info({ repo: spec.repo, material: material.id, reused: req.staged !== null, readded: req.staged !== null && !existing }, 'github deploy key on the repository');
  return material;
}

/**
 * GitHub offers no way to test an SSH key over the API, so: the private key belongs to the public key
 * (a signature round trip), and that key is on the repository with the access the spec asks for.
 */
async function verify(ctx: ProviderContext, spec: GitHubDeployKeySpec, material: Material): Promise<void> {
  let derived: string;
  try {
    derived = publicKeyOfPrivate(material.reveal('privateKey'));
  } catch (error) {
    throw new ProviderRefusal(`material ${material.id}: ${(error as Error).message}`);
  }
  if (material.has('publicKey') && normalizePublicKey(material.reveal('publicKey')) !== derived) {
    throw new ProviderRefusal(`material ${material.id}: the private key does not belong to its publicKey field`);
  }
  const key = await findKey(await connectGitHub(ctx, spec), spec, material);
  if (!key) throw new Error(`deploy key ${material.id} is not on ${spec.repo}`);
  if (key.enabled === false) throw new Error(`deploy key ${material.id} on ${spec.repo} is disabled (an organization policy may forbid deploy keys)`);
  if (key.read_only !== spec.readOnly) throw new ProviderRefusal(`deploy key ${material.id} on ${spec.repo} is ${key.read_only ? 'read-only' : 'read-write'}, the policy asks otherwise`);
}

/** Deletes the key holding `material`; a key already gone counts as deleted. */
async function deleteKey(ctx: ProviderContext, spec: GitHubDeployKeySpec, material: Material, why: string): Promise<void> {
  const api = await connectGitHub(ctx, spec);
  const key = await findKey(api, spec, material);
  if (!key) return;
  await api.optional(`cannot delete deploy key ${material.id} from ${spec.repo}`, 'DELETE /repos/{owner}/{repo}/keys/{key_id}', { ...repoParams(spec), key_id: key.id });
  ctx.logger.info({ repo: spec.repo, material: material.id, githubKeyId: key.id }, why);
}

async function discard(ctx: ProviderContext, spec: GitHubDeployKeySpec, _strategy: Strategy, created: Material, current: Material | null): Promise<void> {
  if (current && (current.id === created.id || publicKeyOf(current) === publicKeyOf(created))) {
    throw new ProviderRefusal(`refusing to discard deploy key ${created.id}: it is the current material`);
  }
  await deleteKey(ctx, spec, created, 'github deploy key discarded');
}

async function revoke(ctx: ProviderContext, spec: GitHubDeployKeySpec, _strategy: Strategy, old: Material): Promise<void> {
  await deleteKey(ctx, spec, old, 'github deploy key revoked');
}

async function list(ctx: ProviderContext, spec: GitHubDeployKeySpec): Promise<DiscoveredCredential[]> {
  const keys = await listKeys(await connectGitHub(ctx, spec), spec);
  return keys.map((k) => ({
    id: sshFingerprint(k.key),
    principal: `${spec.repo} deploy key ${k.id} "${k.title}" (${k.read_only ? 'read-only' : 'read-write'})`,
    createdAt: k.created_at,
    ...(k.last_used ? { lastUsedAt: k.last_used } : {}),
    usageTracked: true,
    status: k.enabled === false ? 'inactive' : 'active',
  }));
}

/** GitHub records when a deploy key was last used: drained when that is before the promotion. */
async function inUse(ctx: ProviderContext, spec: GitHubDeployKeySpec, old: Material, since: Date): Promise<Usage> {
  const key = await findKey(await connectGitHub(ctx, spec), spec, old);
  if (!key) return { inUse: false, detail: `deploy key ${old.id} is no longer on ${spec.repo}` };
  if (!key.last_used) return { inUse: false, detail: `deploy key ${old.id} was never used` };
  const used = new Date(key.last_used).getTime() >= since.getTime();
  return { inUse: used, detail: `deploy key ${old.id} last used ${key.last_used}` };
}

/** Rotor's token can list the repository's deploy keys (adding one needs Administration: write). */
async function preflight(ctx: ProviderContext, spec: GitHubDeployKeySpec): Promise<string[]> {
  try {
    await listKeys(await connectGitHub(ctx, spec), spec);
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

const source: CredentialSource<GitHubDeployKeySpec> = { strategies: ['dual'], create, verify, discard, revoke, list, inUse, preflight };

export const githubDeployKey = defineCredential({
  type: 'github-deploy-key',
  workflow: 'rotateCiToken',
  defaultEvery: '30d',
  maxAgeDays: 90,
  // The id is the key's fingerprint, not a field.
  produces: { fields: ['privateKey', 'publicKey'], idField: null },
  spec: GitHubDeployKeySpecSchema,
  source,
});
