/**
 * The gitlab-token source against the GitLab emulator, with fetch: rotation stages the new token at
 * once and the old one stops working, a retry reuses what was staged, a rotation lost before staging
 * is recovered with Rotor's token, self rotation, throttling, and no token in any error or log line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type CredentialSource } from '../../providers/contracts.js';
import { gitlabToken, GitLabTokenSpecSchema, type GitLabTokenSpec } from '../../providers/gitlab-token/index.js';
import { startGitLabEmulator, type CreatedToken, type GitLabEmulator } from '../harness/gitlab/index.js';
import { createProviderKit } from '../harness/provider-kit.js';

const source = gitlabToken.source as CredentialSource<GitLabTokenSpec>;
let gl: GitLabEmulator;
let admin: CreatedToken;
const kit = createProviderKit({ credentialId: 'gitlab-ci', rotationIdPrefix: 'rot-' });
const { logs, errors, rejection } = kit;
const tokens: string[] = [];

beforeAll(async () => {
  gl = await startGitLabEmulator();
  admin = gl.createPersonalToken({ user: 'rotor', admin: true, name: 'rotor-admin' });
  tokens.push(admin.token);
});

afterAll(async () => {
  await gl?.close();
  const text = [...logs, ...errors.map((e) => e.message)].join('\n');
  for (const token of tokens) expect(text).not.toContain(token);
});

const context = () => kit.context({ GITLAB_TOKEN: admin.token });

function spec(fields: Record<string, unknown>): GitLabTokenSpec {
  return GitLabTokenSpecSchema.parse({ baseUrl: gl.baseUrl, token: 'env:GITLAB_TOKEN', ...fields });
}

function request(current: Material | null, staged: Material | null = null, stage: (m: Material) => Promise<void> = async () => undefined) {
  const stagedLog: Material[] = [];
  return {
    current,
    staged,
    stagedLog,
    async stage(material: Material) {
      tokens.push(material.reveal('token'));
      stagedLog.push(material);
      await stage(material);
    },
  };
}

const asMaterial = (t: CreatedToken) => {
  tokens.push(t.token);
  return new Material(String(t.id), { token: t.token });
};

async function authenticates(token: string): Promise<boolean> {
  const response = await fetch(`${gl.baseUrl}/api/v4/personal_access_tokens/self`, { headers: { 'PRIVATE-TOKEN': token } });
  await response.body?.cancel();
  return response.ok;
}

const rotations = () => gl.requests.filter((r) => r.path.endsWith('/rotate')).length;
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

describe('gitlab-token spec', () => {
  it('needs Rotor\'s token unless the token rotates itself, and caps the lifetime at 365 days', () => {
    expect(() => GitLabTokenSpecSchema.parse({ baseUrl: gl.baseUrl, scope: { personal: 1 } })).toThrow(/token is required/);
    expect(GitLabTokenSpecSchema.parse({ baseUrl: gl.baseUrl, scope: 'self' }).expiresInDays).toBe(30);
    expect(() => spec({ scope: { personal: 1 }, expiresInDays: 366 })).toThrow();
    expect(() => spec({ scope: { project: 'group/app' } })).toThrow();
  });
});

describe('gitlab-token source', () => {
  it('rotates a personal token: stages the new token at once, the old one stops working (single)', async () => {
    const pat = gl.createPersonalToken({ user: 'deployer', name: 'deploy' });
    const s = spec({ scope: { personal: pat.id }, expiresInDays: 10 });
    const ctx = context();
    const req = request(null);
    const created = await source.create(ctx, s, 'single', req);
    expect(req.stagedLog).toEqual([created]);
    expect(created.id).not.toBe(String(pat.id));
    expect(gl.token(Number(created.id))).toMatchObject({ name: 'deploy', expires_at: inDays(10), revoked: false });
    expect(await authenticates(pat.token)).toBe(false);
    await source.verify(ctx, s, created);

    // The next rotation follows the current material's id, not the spec's.
    const next = await source.create(context(), s, 'single', request(created));
    expect(await authenticates(created.reveal('token'))).toBe(false);
    await source.verify(context(), s, next);
  });

  it('a retry with staged material rotates nothing and returns it; a dead staged token is refused', async () => {
    const pat = gl.createPersonalToken({ user: 'deployer' });
    const s = spec({ scope: { personal: pat.id } });
    const created = await source.create(context(), s, 'single', request(asMaterial(pat)));
    const before = rotations();
    expect(await source.create(context(), s, 'single', request(asMaterial(pat), created))).toBe(created);
    expect(rotations()).toBe(before);

    const dead = asMaterial(pat);
    expect(await rejection(source.create(context(), s, 'single', request(null, dead)))).toBeInstanceOf(ProviderRefusal);
  });

  it('recovers a rotation lost before staging: rotates the lost successor with Rotor\'s token', async () => {
    const pat = gl.createPersonalToken({ user: 'deployer', name: 'lost' });
    const s = spec({ scope: { personal: pat.id } });
    const current = asMaterial(pat);
    const crash = request(current, null, async () => {
      throw new Error('primary store unavailable');
    });
    await expect(source.create(context(), s, 'single', crash)).rejects.toThrow(/primary store unavailable/);
    const lost = crash.stagedLog[0]!;
    expect(await authenticates(lost.reveal('token'))).toBe(true);

    const req = request(current);
    const recovered = await source.create(context(), s, 'single', req);
    expect(await authenticates(lost.reveal('token'))).toBe(false);
    expect(await authenticates(recovered.reveal('token'))).toBe(true);
    expect(gl.token(Number(recovered.id))?.previousId).toBe(Number(lost.id));
    expect(logs.join('\n')).toMatch(/rotating the successor a lost earlier attempt created/);
  });

  it('refuses when the token is revoked and nothing could be its successor', async () => {
    const pat = gl.createPersonalToken({ user: 'deployer', name: 'orphan' });
    const s = spec({ scope: { personal: pat.id } });
    const created = await source.create(context(), s, 'single', request(null));
    // The successor is revoked too (say, by hand): there is nothing left to rotate.
    gl.token(Number(created.id))!.revoked = true;
    const before = rotations();
    const refused = await rejection(source.create(context(), s, 'single', request(null)));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toMatch(/no active successor exists/);
    expect(rotations()).toBe(before); // never shows GitLab a revoked token to rotate
  });

  it('rotates project and group tokens with a maintainer or an administrator', async () => {
    const projectToken = gl.createProjectToken(7, { name: 'registry' });
    const projectSpec = spec({ scope: { project: 7, tokenId: projectToken.id } });
    const p = await source.create(context(), projectSpec, 'single', request(null));
    await source.verify(context(), projectSpec, p);
    expect(await authenticates(projectToken.token)).toBe(false);

    const groupToken = gl.createGroupToken('platform', { name: 'ci' });
    const groupSpec = spec({ scope: { group: 'platform', tokenId: groupToken.id } });
    const g = await source.create(context(), groupSpec, 'single', request(null));
    await source.verify(context(), groupSpec, g);
    expect((await source.list(context(), groupSpec)).map((t) => [t.id, t.status])).toEqual([
      [String(groupToken.id), 'inactive'],
      [g.id, 'active'],
    ]);
  });

  it('self: the current token rotates itself; a dead one cannot, and says what to do', async () => {
    const pat = gl.createPersonalToken({ user: 'selfie', scopes: ['api'] });
    const s = GitLabTokenSpecSchema.parse({ baseUrl: gl.baseUrl, scope: 'self' });
    const next = await source.create(context(), s, 'single', request(asMaterial(pat)));
    await source.verify(context(), s, next);
    expect(await authenticates(pat.token)).toBe(false);

    const refused = await rejection(source.create(context(), s, 'single', request(asMaterial(pat))));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toMatch(/no longer authenticates .* store it as the current material/);
  });

  it('revoke and discard change nothing: GitLab revoked the old token when it rotated', async () => {
    const pat = gl.createPersonalToken({ user: 'deployer' });
    const s = spec({ scope: { personal: pat.id } });
    const created = await source.create(context(), s, 'single', request(asMaterial(pat)));
    const before = gl.requests.length;
    await source.discard(context(), s, 'single', created, asMaterial(pat));
    await source.revoke(context(), s, 'single', asMaterial(pat));
    expect(gl.requests.length).toBe(before);
    expect(await authenticates(created.reveal('token'))).toBe(true);
    expect(await rejection(source.create(context(), s, 'dual', request(null)))).toBeInstanceOf(ProviderRefusal);
  });

  it('a throttled GitLab is a retryable error and rotates nothing; preflight checks Rotor\'s token', async () => {
    const pat = gl.createPersonalToken({ user: 'deployer' });
    const s = spec({ scope: { personal: pat.id } });
    gl.faults.add({ match: (r) => r.path.endsWith('/rotate'), status: 429, headers: { 'retry-after': '12' }, body: { message: 'Retry later' } });
    const throttled = await rejection(source.create(context(), s, 'single', request(null)));
    expect(throttled).not.toBeInstanceOf(ProviderRefusal);
    expect(throttled.message).toMatch(/HTTP 429 .*retry after 12s/);
    expect(await authenticates(pat.token)).toBe(true);

    expect(await source.preflight!(context(), s, 'single')).toEqual([]);
    const weak = gl.createPersonalToken({ user: 'weak', scopes: ['read_api'] });
    tokens.push(weak.token);
    const weakCtx = { ...context(), resolveSecret: async () => weak.token };
    expect(await source.preflight!(weakCtx, s, 'single')).toEqual([expect.stringMatching(/lacks the api scope/)]);
  });
});
