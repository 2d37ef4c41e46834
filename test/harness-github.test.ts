/**
 * The GitHub emulator, driven through the real Octokit client: if these hold, providers tested against
 * it see what GitHub's REST API would answer (auth, sealed-box secrets, deploy keys, faults).
 */
import { Octokit } from '@octokit/rest';
import sodium from 'libsodium-wrappers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealForGitHub } from '../providers/github-actions-secret/sealed-box.js';
import { generateSshKeyPair } from '../providers/github-deploy-key/ssh-key.js';
import { startGitHubEmulator, type GitHubEmulator } from './harness/github/index.js';

let gh: GitHubEmulator;
let octokit: Octokit;

const client = (auth?: string) => new Octokit({ ...(auth ? { auth } : {}), baseUrl: gh.baseUrl, request: { retries: 0 } });

/** The HTTP status and body of an Octokit call that must fail. */
async function failure(call: Promise<unknown>): Promise<{ status: number; data: { message?: string; errors?: { message: string }[] } }> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e as { status: number; response: { data: { message?: string } } },
  );
  if (!error) throw new Error('expected the call to fail');
  return { status: error.status, data: error.response.data };
}

beforeAll(async () => {
  gh = await startGitHubEmulator();
  octokit = client(gh.token);
  gh.createRepo('acme', 'app');
  gh.createRepo('acme', 'other');
  gh.createEnvironment('acme', 'app', 'production');
  gh.createOrg('acme');
});

afterAll(async () => {
  await gh?.close();
});

describe('sealed boxes', () => {
  it('a sealed value opens with the matching private key and not with another', async () => {
    await sodium.ready;
    const pair = sodium.crypto_box_keypair();
    const other = sodium.crypto_box_keypair();
    const sealed = sodium.from_base64(await sealForGitHub(sodium.to_base64(pair.publicKey, sodium.base64_variants.ORIGINAL), 's3cr3t-value'), sodium.base64_variants.ORIGINAL);
    expect(sodium.to_string(sodium.crypto_box_seal_open(sealed, pair.publicKey, pair.privateKey))).toBe('s3cr3t-value');
    expect(() => sodium.crypto_box_seal_open(sealed, other.publicKey, other.privateKey)).toThrow();
  });

  it('refuses a public key that is not 32 bytes of base64', async () => {
    await expect(sealForGitHub('AAAA', 'x')).rejects.toThrow(/expected 32/);
  });
});

describe('GitHub emulator: auth', () => {
  it('answers 401 without a token and 401 Bad credentials with a wrong one', async () => {
    const anonymous = await failure(client().rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'app' }));
    expect(anonymous.status).toBe(401);
    const wrong = await failure(client('ghp_not-a-real-token').rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'app' }));
    expect(wrong).toMatchObject({ status: 401, data: { message: 'Bad credentials' } });
  });

  it('answers 403 when the token lacks the permission, and lets a read permission read', async () => {
    const reader = client(gh.createToken({ secrets: 'read' }));
    await expect(reader.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'app' })).resolves.toMatchObject({ status: 200 });
    const denied = await failure(reader.rest.actions.deleteRepoSecret({ owner: 'acme', repo: 'app', secret_name: 'X' }));
    expect(denied).toMatchObject({ status: 403, data: { message: 'Resource not accessible by personal access token' } });
    const none = client(gh.createToken({}));
    expect((await failure(none.rest.repos.listDeployKeys({ owner: 'acme', repo: 'app' }))).status).toBe(403);
  });
});

describe('GitHub emulator: secrets', () => {
  async function put(name: string, value: string, target = { owner: 'acme', repo: 'app' }) {
    const { data: key } = await octokit.rest.actions.getRepoPublicKey(target);
    return octokit.rest.actions.createOrUpdateRepoSecret({ ...target, secret_name: name, encrypted_value: await sealForGitHub(key.key, value), key_id: key.key_id });
  }

  it('stores a sealed value (201, then 204 on update) and serves only its metadata', async () => {
    expect((await put('api_token', 'first')).status).toBe(201);
    expect((await put('API_TOKEN', 'second')).status).toBe(204);
    expect(gh.secret({ repo: 'acme/app' }, 'API_TOKEN')?.value).toBe('second');
    const { data } = await octokit.rest.actions.getRepoSecret({ owner: 'acme', repo: 'app', secret_name: 'api_token' });
    expect(Object.keys(data).sort()).toEqual(['created_at', 'name', 'updated_at']);
    expect(data.name).toBe('API_TOKEN');
    expect(data.updated_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const { data: list } = await octokit.rest.actions.listRepoSecrets({ owner: 'acme', repo: 'app' });
    expect(JSON.stringify(list)).not.toContain('second');
  });

  it('refuses a value sealed for a stale key_id, and one that does not open', async () => {
    const { data: key } = await octokit.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'app' });
    const encrypted = await sealForGitHub(key.key, 'value');
    gh.rotatePublicKey({ repo: 'acme/app' });
    const stale = await failure(octokit.rest.actions.createOrUpdateRepoSecret({ owner: 'acme', repo: 'app', secret_name: 'STALE', encrypted_value: encrypted, key_id: key.key_id }));
    expect(stale.status).toBe(422);
    expect(stale.data.message).toMatch(/stale/);

    const { data: fresh } = await octokit.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'app' });
    const garbage = await failure(
      octokit.rest.actions.createOrUpdateRepoSecret({ owner: 'acme', repo: 'app', secret_name: 'GARBAGE', encrypted_value: Buffer.from('x'.repeat(60)).toString('base64'), key_id: fresh.key_id }),
    );
    expect(garbage.status).toBe(422);
    expect(gh.secret({ repo: 'acme/app' }, 'GARBAGE')).toBeUndefined();
  });

  it('keeps one key pair per target: a value sealed for the repository does not open in an environment', async () => {
    const { data: repoKey } = await octokit.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'app' });
    const { data: envKey } = await octokit.request('GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key', { owner: 'acme', repo: 'app', environment_name: 'production' });
    expect(envKey.key).not.toBe(repoKey.key);
    const crossed = await failure(
      octokit.request('PUT /repos/{owner}/{repo}/environments/{environment_name}/secrets/{secret_name}', {
        owner: 'acme',
        repo: 'app',
        environment_name: 'production',
        secret_name: 'CROSSED',
        encrypted_value: await sealForGitHub(repoKey.key, 'v'),
        key_id: envKey.key_id,
      }),
    );
    expect(crossed.status).toBe(422);
  });

  it('answers 404 for an unknown environment or repository, and needs a visibility for organization secrets', async () => {
    expect((await failure(octokit.request('GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key', { owner: 'acme', repo: 'app', environment_name: 'nope' }))).status).toBe(404);
    expect((await failure(octokit.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'missing' }))).status).toBe(404);
    const { data: key } = await octokit.rest.actions.getOrgPublicKey({ org: 'acme' });
    const encrypted_value = await sealForGitHub(key.key, 'org-value');
    const noVisibility = await failure(
      octokit.request('PUT /orgs/{org}/actions/secrets/{secret_name}' as string, { org: 'acme', secret_name: 'ORG_TOKEN', encrypted_value, key_id: key.key_id }),
    );
    expect(noVisibility.status).toBe(422);
    await octokit.rest.actions.createOrUpdateOrgSecret({ org: 'acme', secret_name: 'ORG_TOKEN', encrypted_value, key_id: key.key_id, visibility: 'private' });
    const { data } = await octokit.rest.actions.getOrgSecret({ org: 'acme', secret_name: 'ORG_TOKEN' });
    expect(data.visibility).toBe('private');
  });

  it('deletes a secret (204), then answers 404', async () => {
    await put('TO_DELETE', 'v');
    expect((await octokit.rest.actions.deleteRepoSecret({ owner: 'acme', repo: 'app', secret_name: 'TO_DELETE' })).status).toBe(204);
    expect((await failure(octokit.rest.actions.getRepoSecret({ owner: 'acme', repo: 'app', secret_name: 'TO_DELETE' }))).status).toBe(404);
  });
});

describe('GitHub emulator: deploy keys', () => {
  it('adds, lists, reads and deletes an ed25519 key', async () => {
    const { publicKey } = generateSshKeyPair('test');
    const { data: created, status } = await octokit.rest.repos.createDeployKey({ owner: 'acme', repo: 'app', title: 'ci', key: `${publicKey} a comment`, read_only: true });
    expect(status).toBe(201);
    expect(created).toMatchObject({ key: publicKey, title: 'ci', read_only: true, last_used: null, verified: true });
    const { data: listed } = await octokit.rest.repos.listDeployKeys({ owner: 'acme', repo: 'app' });
    expect(listed.map((k) => k.id)).toContain(created.id);
    expect((await octokit.rest.repos.getDeployKey({ owner: 'acme', repo: 'app', key_id: created.id })).data.key).toBe(publicKey);
    expect((await octokit.rest.repos.deleteDeployKey({ owner: 'acme', repo: 'app', key_id: created.id })).status).toBe(204);
    expect((await failure(octokit.rest.repos.deleteDeployKey({ owner: 'acme', repo: 'app', key_id: created.id }))).status).toBe(404);
  });

  it('refuses a key already in use, here or in another repository, and a malformed key', async () => {
    const { publicKey } = generateSshKeyPair('test');
    await octokit.rest.repos.createDeployKey({ owner: 'acme', repo: 'app', key: publicKey });
    const again = await failure(octokit.rest.repos.createDeployKey({ owner: 'acme', repo: 'app', key: publicKey }));
    expect(again.status).toBe(422);
    expect(again.data.errors?.[0]?.message).toBe('key is already in use');
    expect((await failure(octokit.rest.repos.createDeployKey({ owner: 'acme', repo: 'other', key: publicKey }))).status).toBe(422);
    expect((await failure(octokit.rest.repos.createDeployKey({ owner: 'acme', repo: 'app', key: 'ssh-ed25519 AAAAnotakey' }))).status).toBe(422);
    expect((await failure(octokit.rest.repos.createDeployKey({ owner: 'acme', repo: 'app', key: 'ssh-rsa AAAAB3NzaC1yc2E=' }))).status).toBe(422);
  });
});

describe('GitHub emulator: faults', () => {
  it('answers an injected 429 with its retry-after header, once', async () => {
    gh.faults.add({ match: (r) => r.path.endsWith('/public-key'), status: 429, headers: { 'retry-after': '7' }, body: { message: 'API rate limit exceeded' } });
    const throttled = await failure(octokit.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'app' }));
    expect(throttled).toMatchObject({ status: 429, data: { message: 'API rate limit exceeded' } });
    await expect(octokit.rest.actions.getRepoPublicKey({ owner: 'acme', repo: 'app' })).resolves.toMatchObject({ status: 200 });
  });
});
