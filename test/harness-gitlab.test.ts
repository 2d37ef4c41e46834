/**
 * The GitLab emulator, driven with fetch as GitLab's REST clients do: token auth, introspection, the
 * rotate endpoints (the old token dies at once), roles and scopes, expiry limits and reuse detection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGitLabEmulator, type GitLabEmulator } from './harness/gitlab/index.js';

let gl: GitLabEmulator;

async function call(method: 'GET' | 'POST', path: string, token?: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gl.baseUrl}/api/v4${path}`, {
    method,
    headers: { ...(token ? { 'PRIVATE-TOKEN': token } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

beforeAll(async () => {
  gl = await startGitLabEmulator();
});

afterAll(async () => {
  await gl?.close();
});

describe('GitLab emulator: auth', () => {
  it('answers 401 Unauthorized without a token and with a wrong one', async () => {
    expect(await call('GET', '/personal_access_tokens/self')).toEqual({ status: 401, body: { message: '401 Unauthorized' } });
    expect(await call('GET', '/personal_access_tokens/self', 'glpat-wrong')).toEqual({ status: 401, body: { message: '401 Unauthorized' } });
  });

  it('introspects the calling token without its value, also with a Bearer header', async () => {
    const pat = gl.createPersonalToken({ name: 'ci', scopes: ['api'] });
    expect(pat.token).toMatch(/^glpat-/);
    const self = await call('GET', '/personal_access_tokens/self', pat.token);
    expect(self.status).toBe(200);
    expect(self.body).toMatchObject({ id: pat.id, name: 'ci', revoked: false, active: true, scopes: ['api'] });
    expect(JSON.stringify(self.body)).not.toContain(pat.token);
    const bearer = await fetch(`${gl.baseUrl}/api/v4/personal_access_tokens/self`, { headers: { authorization: `Bearer ${pat.token}` } });
    expect(bearer.status).toBe(200);
  });

  it('refuses a token that lacks the scope (403 insufficient_scope)', async () => {
    const reader = gl.createPersonalToken({ scopes: ['read_api'] });
    const denied = await call('POST', `/personal_access_tokens/${reader.id}/rotate`, reader.token);
    expect(denied).toMatchObject({ status: 403, body: { error: 'insufficient_scope' } });
  });
});

describe('GitLab emulator: rotation', () => {
  it('rotates a personal token: a new token object, and the old token is revoked at once', async () => {
    const pat = gl.createPersonalToken({ name: 'deploy', scopes: ['api', 'read_repository'] });
    const rotated = await call('POST', `/personal_access_tokens/${pat.id}/rotate`, pat.token, { expires_at: inDays(20) });
    expect(rotated.status).toBe(200);
    expect(Object.keys(rotated.body)).toEqual(expect.arrayContaining(['id', 'name', 'revoked', 'created_at', 'scopes', 'active', 'expires_at', 'token']));
    expect(rotated.body).toMatchObject({ name: 'deploy', revoked: false, active: true, scopes: ['api', 'read_repository'], expires_at: inDays(20) });
    expect(rotated.body.id).not.toBe(pat.id);
    expect((await call('GET', '/personal_access_tokens/self', pat.token)).status).toBe(401);
    expect((await call('GET', '/personal_access_tokens/self', rotated.body.token as string)).body.id).toBe(rotated.body.id);
    expect(gl.token(pat.id)).toMatchObject({ revoked: true });
  });

  it('rotates the calling token with self, one week by default', async () => {
    const pat = gl.createPersonalToken({ scopes: ['self_rotate'] });
    const rotated = await call('POST', '/personal_access_tokens/self/rotate', pat.token);
    expect(rotated).toMatchObject({ status: 200, body: { expires_at: inDays(7) } });
    expect((await call('GET', '/personal_access_tokens/self', pat.token)).status).toBe(401);
  });

  it('refuses an expiry beyond 365 days or in the past', async () => {
    const pat = gl.createPersonalToken();
    expect((await call('POST', `/personal_access_tokens/${pat.id}/rotate`, pat.token, { expires_at: inDays(400) })).status).toBe(400);
    expect((await call('POST', `/personal_access_tokens/${pat.id}/rotate`, pat.token, { expires_at: inDays(-1) })).status).toBe(400);
    expect(gl.token(pat.id)).toMatchObject({ revoked: false });
  });

  it('lets a project maintainer rotate a project token, and forbids anyone else', async () => {
    const projectToken = gl.createProjectToken(42, { name: 'bot', scopes: ['read_registry'] });
    const maintainer = gl.createPersonalToken({ user: 'maintainer' });
    const outsider = gl.createPersonalToken({ user: 'outsider' });
    gl.addMember('project', 42, maintainer.userId, 40);
    expect((await call('POST', `/projects/42/access_tokens/${projectToken.id}/rotate`, outsider.token)).status).toBe(403);
    const rotated = await call('POST', `/projects/42/access_tokens/${projectToken.id}/rotate`, maintainer.token, { expires_at: inDays(30) });
    expect(rotated).toMatchObject({ status: 200, body: { name: 'bot', access_level: 40, scopes: ['read_registry'] } });
    expect((await call('GET', '/personal_access_tokens/self', projectToken.token)).status).toBe(401);
    expect((await call('GET', '/projects/42/access_tokens?state=active', maintainer.token)).body).toEqual([expect.objectContaining({ id: rotated.body.id })]);
  });

  it('lets an administrator rotate a group token', async () => {
    const groupToken = gl.createGroupToken('platform');
    const admin = gl.createPersonalToken({ user: 'root', admin: true });
    const rotated = await call('POST', `/groups/platform/access_tokens/${groupToken.id}/rotate`, admin.token);
    expect(rotated.status).toBe(200);
    expect(gl.token(groupToken.id)).toMatchObject({ revoked: true });
  });

  it('reuse detection: rotating an already rotated token is refused and revokes its successor', async () => {
    const admin = gl.createPersonalToken({ user: 'root', admin: true });
    const pat = gl.createPersonalToken({ user: 'someone' });
    const first = await call('POST', `/personal_access_tokens/${pat.id}/rotate`, admin.token);
    const again = await call('POST', `/personal_access_tokens/${pat.id}/rotate`, admin.token);
    expect(again.status).toBe(400);
    expect(gl.token(first.body.id as number)).toMatchObject({ revoked: true });
    // Presenting the old token itself to self/rotate does the same.
    const other = gl.createPersonalToken({ user: 'someone-else' });
    const next = await call('POST', '/personal_access_tokens/self/rotate', other.token);
    expect((await call('POST', '/personal_access_tokens/self/rotate', other.token)).status).toBe(401);
    expect(gl.token(next.body.id as number)).toMatchObject({ revoked: true });
  });

  it('answers an injected fault instead of rotating', async () => {
    const pat = gl.createPersonalToken();
    gl.faults.add({ match: (r) => r.path.endsWith('/rotate'), status: 503, body: { message: 'maintenance' } });
    expect((await call('POST', `/personal_access_tokens/${pat.id}/rotate`, pat.token)).status).toBe(503);
    expect(gl.token(pat.id)).toMatchObject({ revoked: false });
  });
});
