/**
 * Who may do what, the rules and the operator's files: authorize() for each role, the roles and
 * named-tokens files refused whole with file:line (hostile input), and the single legacy token.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorize, type Actor } from '../../daemon/auth/actor.js';
import { addOwnRefs, secretRefAllowlist, secretRefRefusal } from '../../config/secret-ref.js';
import { authFromEnv, legacyToken, loadRolesFile, loadTokensFile, MAX_AUTH_FILE_BYTES, rolesOf } from '../../daemon/auth/config.js';

const person = (groups: string[], roles: Actor['roles'], subject = 'u1'): Actor => ({ kind: 'oidc', subject, name: subject, groups, roles });
const payments = { id: 'pay-db', owner: 'team-payments' };
const shipping = { id: 'ship-db', owner: 'team-shipping' };

describe('authorize', () => {
  it('a viewer sees and does nothing else', () => {
    const viewer = person(['team-payments'], ['viewer']);
    expect(authorize(viewer, 'view', payments)).toEqual({ allowed: true });
    for (const action of ['rotate', 'emergency', 'approve', 'reject', 'retry', 'rollback', 'continue', 'revokeNow', 'abort', 'leak'] as const) {
      expect(authorize(viewer, action, payments).allowed).toBe(false);
    }
  });

  it('an owner-operator acts on its team’s credentials only, and never approves or declares an emergency', () => {
    const owner = person(['team-payments'], ['owner-operator']);
    for (const action of ['rotate', 'retry', 'rollback', 'continue', 'revokeNow', 'abort', 'leak'] as const) {
      expect(authorize(owner, action, payments)).toEqual({ allowed: true });
      expect(authorize(owner, action, shipping)).toMatchObject({ allowed: false, why: expect.stringContaining('owned by team-shipping') });
    }
    for (const action of ['emergency', 'approve', 'reject'] as const) {
      expect(authorize(owner, action, payments)).toMatchObject({ allowed: false, why: expect.stringContaining('security role') });
    }
    expect(authorize(owner, 'rotate', { id: 'orphan', owner: null }).allowed).toBe(false);
  });

  it('security: emergencies and approvals on every credential, but not its own request', () => {
    const security = person(['secops'], ['security'], 'bob');
    for (const action of ['emergency', 'approve', 'reject'] as const) expect(authorize(security, action, shipping)).toEqual({ allowed: true });
    expect(authorize(security, 'rotate', shipping).allowed).toBe(false);
    expect(authorize(security, 'approve', shipping, { requestedBy: 'oidc:bob' })).toMatchObject({ allowed: false, why: expect.stringContaining('requested this rotation') });
    expect(authorize(security, 'reject', shipping, { requestedBy: 'bob' }).allowed).toBe(false);
    expect(authorize(security, 'approve', shipping, { requestedBy: 'oidc:alice' }).allowed).toBe(true);
  });

  it('the legacy token is security and owner-operator of every credential', () => {
    const rotor = legacyToken('x'.repeat(32));
    const actor: Actor = { kind: 'token', subject: rotor.name, name: rotor.name, groups: rotor.groups, roles: rotor.roles };
    for (const action of ['rotate', 'emergency', 'approve', 'abort'] as const) expect(authorize(actor, action, shipping).allowed).toBe(true);
  });

  it('no role, no action', () => {
    expect(authorize(person(['x'], []), 'view', payments).allowed).toBe(false);
  });
});

describe('the operator’s files', () => {
  let dir: string;
  beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'rotor-auth-'))));
  afterAll(async () => rm(dir, { recursive: true, force: true }));
  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const resolve = async (ref: string) => ({ 'env:CI_TOKEN': 'c'.repeat(40), 'env:SHORT': 'q7Zx9' })[ref] ?? Promise.reject(new Error('not set'));

  it('roles: group → roles, the roles of several groups combined', async () => {
    const roles = await loadRolesFile(await file('roles.yaml', 'groups:\n  team-payments: [owner-operator]\n  secops: [security, viewer]\n'));
    expect(rolesOf(['team-payments', 'secops', 'unknown'], roles)).toEqual(['viewer', 'owner-operator', 'security']);
  });

  it('roles: an unknown role, an unknown key or an alias is refused with file:line', async () => {
    const bad = await file('bad-roles.yaml', 'groups:\n  team-payments: [owner-operator]\n  secops: [admin]\n');
    await expect(loadRolesFile(bad)).rejects.toThrow(new RegExp(`${bad}:3: groups.secops.0: `));
    const extra = await file('extra.yaml', 'groups: {}\nsuperusers: [eve]\n');
    await expect(loadRolesFile(extra)).rejects.toThrow(new RegExp(`${extra}:2: .*superusers`));
    const alias = await file('alias.yaml', 'groups:\n  a: &r [viewer]\n  b: *r\n');
    await expect(loadRolesFile(alias)).rejects.toThrow(/aliases are not accepted/);
  });

  it('roles and tokens files larger than the bound are refused unread', async () => {
    const big = await file('big.yaml', `groups:\n${'  g: [viewer]\n'.repeat(MAX_AUTH_FILE_BYTES / 10)}`);
    await expect(loadRolesFile(big)).rejects.toThrow(/at most 65536 are read/);
  });

  it('tokens: named, with roles and groups; a short token, a literal value or a duplicate name is refused without printing it', async () => {
    const ok = await file('tokens.yaml', 'tokens:\n  - name: ci-payments\n    token: env:CI_TOKEN\n    roles: [owner-operator]\n    groups: [team-payments]\n');
    expect(await loadTokensFile(ok, resolve)).toEqual([{ name: 'ci-payments', secret: 'c'.repeat(40), ref: 'env:CI_TOKEN', roles: ['owner-operator'], groups: ['team-payments'] }]);
    const short = await file('short.yaml', 'tokens:\n  - name: weak\n    token: env:SHORT\n    roles: [viewer]\n');
    const error = await loadTokensFile(short, resolve).catch((e: Error) => e);
    expect(String(error)).toMatch(/weak\) has 5 characters; at least 32/);
    expect(String(error)).not.toContain('q7Zx9');
    const literal = await file('literal.yaml', `tokens:\n  - name: lit\n    token: ${'s'.repeat(40)}\n    roles: [viewer]\n`);
    const refused = await loadTokensFile(literal, resolve).catch((e: Error) => e);
    expect(String(refused)).toMatch(new RegExp(`${literal}:3: tokens.0.token: must be a secret reference`));
    expect(String(refused)).not.toContain('s'.repeat(40));
    const twice = await file('twice.yaml', 'tokens:\n  - { name: a, token: "env:CI_TOKEN", roles: [viewer] }\n  - { name: a, token: "env:CI_TOKEN", roles: [viewer] }\n');
    await expect(loadTokensFile(twice, resolve)).rejects.toThrow(/a is used twice/);
    const rotor = await file('rotor.yaml', 'tokens:\n  - { name: rotor, token: "env:CI_TOKEN", roles: [viewer] }\n');
    await expect(loadTokensFile(rotor, resolve)).rejects.toThrow(/ROTOR_API_TOKEN_REF/);
  });

  it('the named tokens’ references are Rotor’s own: a policy referencing one is refused', async () => {
    const tokens = await loadTokensFile(await file('own.yaml', 'tokens:\n  - name: ci\n    token: env:CI_TOKEN\n    roles: [viewer]\n'), resolve);
    expect(secretRefRefusal('env:CI_TOKEN', secretRefAllowlist({}))).toBeUndefined();
    const allow = addOwnRefs(secretRefAllowlist({}), tokens.map((t) => t.ref));
    expect(secretRefRefusal('env:CI_TOKEN', allow)).toMatch(/Rotor's own secrets/);
  });

  it('OIDC settings are all or none; OIDC without a roles file is refused', async () => {
    await expect(authFromEnv({ ROTOR_OIDC_ISSUER: 'https://idp.example' }, resolve)).rejects.toThrow(/needs ROTOR_OIDC_CLIENT_ID, ROTOR_OIDC_REDIRECT_URL/);
    const all = { ROTOR_OIDC_ISSUER: 'https://idp.example', ROTOR_OIDC_CLIENT_ID: 'rotor', ROTOR_OIDC_REDIRECT_URL: 'https://rotor.example/ui/callback' };
    await expect(authFromEnv(all, resolve)).rejects.toThrow(/needs ROTOR_ROLES_FILE/);
    const roles = await file('r.yaml', 'groups: {}\n');
    expect((await authFromEnv({ ...all, ROTOR_ROLES_FILE: roles }, resolve)).oidc).toMatchObject({ groupsClaim: 'groups', scopes: 'openid profile' });
    expect(await authFromEnv({}, resolve)).toEqual({ tokens: [], roles: {} });
  });
});

describe('rotor daemon refuses a bad configuration before connecting anything', () => {
  let dir: string;
  beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'rotor-auth-daemon-'))));
  afterAll(async () => rm(dir, { recursive: true, force: true }));
  const ROTOR = fileURLToPath(new URL('../../bin/rotor.js', import.meta.url));
  const daemon = (env: Record<string, string>) =>
    new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [ROTOR, 'daemon'], {
        env: { PATH: process.env.PATH ?? '', ROTOR_LOG_LEVEL: 'silent', ROTOR_POLICIES: dir, ROTOR_API_TOKEN_REF: 'env:T', T: randomBytes(24).toString('base64url'), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c) => (output += String(c)));
      child.stderr.on('data', (c) => (output += String(c)));
      child.once('error', reject);
      child.once('exit', (code) => resolve({ code, output }));
    });

  it('a roles file with an unknown role: exit 2 naming file:line', async () => {
    const roles = join(dir, 'roles.yaml');
    await writeFile(roles, 'groups:\n  ops: [viewer]\n  root: [superuser]\n');
    const { code, output } = await daemon({ ROTOR_ROLES_FILE: roles });
    expect(code).toBe(2);
    expect(output).toContain(`${roles}:3: groups.root.0`);
  });

  it('a client secret given as a value, not a reference: refused by name, without any of it', async () => {
    const value = `s${randomBytes(16).toString('hex')}`;
    const { code, output } = await daemon({ ROTOR_OIDC_CLIENT_SECRET_REF: value });
    expect(code).toBe(2);
    expect(output).toContain('ROTOR_OIDC_CLIENT_SECRET_REF is not a secret reference');
    expect(output).not.toContain(value.slice(1, 9));
  });
});
