/**
 * The github-actions-secret dependent against the GitHub emulator, through the real Octokit client:
 * sealed writes to repository, environment, organization and Dependabot secrets, receipts that carry
 * a fingerprint and GitHub's updated_at, check, restore, retries, throttling, and no value in any
 * error or log line.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintValue, Material } from '../../lib/material.js';
import { ProviderRefusal, type ProviderContext, type Receipt } from '../../providers/contracts.js';
import { GitHubUnavailable } from '../../providers/github-actions-secret/github.js';
import { githubActionsSecret, GitHubActionsSecretSpecSchema, type GitHubActionsSecretSpec } from '../../providers/github-actions-secret/index.js';
import { startGitHubEmulator, type GitHubEmulator, type SecretTargetRef } from '../harness/github/index.js';
import { createProviderKit } from '../harness/provider-kit.js';

/** The dependent with the signatures proposed to the lead (check gets the receipt, restore the previous material). */
const dependent = githubActionsSecret.dependent as unknown as {
  write(ctx: ProviderContext, spec: GitHubActionsSecretSpec, material: Material): Promise<Receipt>;
  check(ctx: ProviderContext, spec: GitHubActionsSecretSpec, material: Material, receipt?: Receipt): Promise<void>;
  restore(ctx: ProviderContext, spec: GitHubActionsSecretSpec, receipt: Receipt, previous?: Material | null): Promise<void>;
  preflight(ctx: ProviderContext, spec: GitHubActionsSecretSpec): Promise<string[]>;
};

let gh: GitHubEmulator;
const kit = createProviderKit({ credentialId: 'ci-token', rotationIdPrefix: 'rot-' });
const { logs, errors, rejection } = kit;
const secrets: string[] = [];
let tokenInUse = '';

beforeAll(async () => {
  gh = await startGitHubEmulator();
  tokenInUse = gh.token;
  gh.createRepo('acme', 'app');
  gh.createEnvironment('acme', 'app', 'production');
  gh.createOrg('acme');
});

afterAll(async () => {
  await gh?.close();
  // No secret value or token ever reached a log line or an error message.
  const text = [...logs, ...errors.map((e) => e.message)].join('\n');
  for (const value of [...secrets, gh.token]) expect(text).not.toContain(value);
});

const context = () => kit.context({ GITHUB_TOKEN: tokenInUse });

function spec(fields: Record<string, unknown>): GitHubActionsSecretSpec {
  return GitHubActionsSecretSpecSchema.parse({ baseUrl: gh.baseUrl, token: 'env:GITHUB_TOKEN', secretName: 'DEPLOY_TOKEN', target: { repo: 'acme/app' }, ...fields });
}

function material(id: string, fields: Record<string, string> = { token: `tok-${randomUUID()}` }): Material {
  secrets.push(...Object.entries(fields).filter(([k]) => k !== 'username').map(([, v]) => v));
  return new Material(id, fields);
}

describe('github-actions-secret spec', () => {
  it('accepts the three targets and refuses Dependabot environment secrets and reserved names', () => {
    expect(spec({ target: { repo: 'acme/app', environment: 'production' } }).target).toEqual({ repo: 'acme/app', environment: 'production' });
    expect(spec({ target: { org: 'acme', visibility: 'selected', selectedRepositoryIds: [1] } }).kind).toBe('actions');
    expect(() => spec({ kind: 'dependabot', target: { repo: 'acme/app', environment: 'production' } })).toThrow(/only Actions has environment secrets/);
    expect(() => spec({ kind: 'codespaces', target: { repo: 'acme/app', environment: 'production' } })).toThrow(/only Actions has environment secrets/);
    expect(() => spec({ secretName: 'GITHUB_TOKEN' })).toThrow(/GITHUB_/);
    expect(() => spec({ token: 'ghp_literal' })).toThrow(/secret reference/);
  });
});

describe('github-actions-secret dependent', () => {
  it('writes a repository secret sealed, with a receipt of fingerprint@updated_at; check passes', async () => {
    const s = spec({ secretName: 'REPO_NEW' });
    const next = material('key-1');
    const receipt = await dependent.write(context(), s, next);
    expect(gh.secret({ repo: 'acme/app' }, 'REPO_NEW')?.value).toBe(next.reveal('token'));
    const stored = gh.secret({ repo: 'acme/app' }, 'REPO_NEW')!;
    expect(receipt).toEqual({ version: `${fingerprintValue(next.reveal('token'))}@${stored.updated_at}`, previousVersion: null });
    await dependent.check(context(), s, next, receipt);
  });

  it('write → restore puts back the previous material; the receipt names the version before', async () => {
    const s = spec({ secretName: 'REPO_ROTATED' });
    const old = material('key-old');
    await dependent.write(context(), s, old);
    const before = gh.secret({ repo: 'acme/app' }, 'REPO_ROTATED')!.updated_at;
    gh.advanceClock(2_000);
    const next = material('key-new');
    const receipt = await dependent.write(context(), s, next);
    expect(receipt.previousVersion).toBe(`unknown@${before}`);
    expect(gh.secret({ repo: 'acme/app' }, 'REPO_ROTATED')?.value).toBe(next.reveal('token'));

    await dependent.restore(context(), s, receipt, old);
    expect(gh.secret({ repo: 'acme/app' }, 'REPO_ROTATED')?.value).toBe(old.reveal('token'));
    await dependent.restore(context(), s, receipt, old); // a retry changes nothing
    expect(gh.secret({ repo: 'acme/app' }, 'REPO_ROTATED')?.value).toBe(old.reveal('token'));
  });

  it('writes an environment secret; restore deletes what the write created', async () => {
    const s = spec({ secretName: 'ENV_TOKEN', target: { repo: 'acme/app', environment: 'production' } });
    const next = material('key-env');
    const receipt = await dependent.write(context(), s, next);
    const env: SecretTargetRef = { repo: 'acme/app', environment: 'production' };
    expect(gh.secret(env, 'ENV_TOKEN')?.value).toBe(next.reveal('token'));
    expect(gh.secret({ repo: 'acme/app' }, 'ENV_TOKEN')).toBeUndefined();
    await dependent.check(context(), s, next, receipt);

    await dependent.restore(context(), s, receipt, null);
    expect(gh.secret(env, 'ENV_TOKEN')).toBeUndefined();
    await dependent.restore(context(), s, receipt, null); // already gone: done
  });

  it('writes organization secrets with their visibility, and Dependabot secrets apart from Actions ones', async () => {
    const next = material('key-org');
    await dependent.write(context(), spec({ secretName: 'ORG_TOKEN', target: { org: 'acme', visibility: 'private' } }), next);
    expect(gh.secret({ org: 'acme' }, 'ORG_TOKEN')).toMatchObject({ value: next.reveal('token'), visibility: 'private' });

    const bot = material('key-bot');
    await dependent.write(context(), spec({ secretName: 'NPM_TOKEN', kind: 'dependabot' }), bot);
    expect(gh.secret({ repo: 'acme/app', kind: 'dependabot' }, 'NPM_TOKEN')?.value).toBe(bot.reveal('token'));
    expect(gh.secret({ repo: 'acme/app' }, 'NPM_TOKEN')).toBeUndefined();
  });

  it('writes Codespaces secrets apart from Actions ones, and names the permission a token lacks', async () => {
    const dev = material('key-dev');
    await dependent.write(context(), spec({ secretName: 'DEV_TOKEN', kind: 'codespaces' }), dev);
    expect(gh.secret({ repo: 'acme/app', kind: 'codespaces' }, 'DEV_TOKEN')?.value).toBe(dev.reveal('token'));
    expect(gh.secret({ repo: 'acme/app' }, 'DEV_TOKEN')).toBeUndefined();
    await dependent.write(context(), spec({ secretName: 'DEV_TOKEN', kind: 'codespaces', target: { org: 'acme', visibility: 'all' } }), dev);
    expect(gh.secret({ org: 'acme', kind: 'codespaces' }, 'DEV_TOKEN')).toMatchObject({ value: dev.reveal('token'), visibility: 'all' });

    tokenInUse = gh.createToken({ secrets: 'write' });
    try {
      const refused = await rejection(dependent.write(context(), spec({ secretName: 'DEV_TOKEN', kind: 'codespaces' }), material('key-dev-2')));
      expect(refused.message).toMatch(/Codespaces secret DEV_TOKEN of acme\/app/);
      expect(refused.message).toMatch(/403/);
    } finally {
      tokenInUse = gh.token;
    }
  });

  it('writes the chosen field of a material with several, and refuses to guess', async () => {
    const db = material('app_a', { username: 'app_a', password: `pw-${randomUUID()}` });
    const refused = await rejection(dependent.write(context(), spec({ secretName: 'DB_PASSWORD' }), db));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toMatch(/has 2 fields \(password, username\): set "field"/);
    await dependent.write(context(), spec({ secretName: 'DB_PASSWORD', field: 'password' }), db);
    expect(gh.secret({ repo: 'acme/app' }, 'DB_PASSWORD')?.value).toBe(db.reveal('password'));
  });

  it('a retried write finds its earlier work: the same value, the receipt for the last write', async () => {
    const s = spec({ secretName: 'RETRIED' });
    const next = material('key-retry');
    const first = await dependent.write(context(), s, next);
    gh.advanceClock(1_000);
    const second = await dependent.write(context(), s, next);
    expect(second.version.split('@')[0]).toBe(first.version.split('@')[0]);
    expect(gh.secret({ repo: 'acme/app' }, 'RETRIED')?.value).toBe(next.reveal('token'));
    await dependent.check(context(), s, next, second);
  });

  it('check fails when someone wrote after Rotor, for another material, or without a receipt', async () => {
    const s = spec({ secretName: 'CHECKED' });
    const next = material('key-check');
    const receipt = await dependent.write(context(), s, next);
    await expect(dependent.check(context(), s, material('key-other'), receipt)).rejects.toThrow(/another value/);
    expect(await rejection(dependent.check(context(), s, next))).toBeInstanceOf(ProviderRefusal);

    gh.advanceClock(1_000);
    await dependent.write(context(), s, material('key-foreign')); // someone else's write
    const changed = await rejection(dependent.check(context(), s, next, receipt));
    expect(changed.message).toMatch(/written again at .* after Rotor wrote material key-check/);
  });

  it('restore refuses without the previous material, and will not delete a secret written again since', async () => {
    const s = spec({ secretName: 'GUARDED' });
    await dependent.write(context(), s, material('key-a'));
    const receipt = await dependent.write(context(), s, material('key-b'));
    expect((await rejection(dependent.restore(context(), s, receipt, null))).message).toMatch(/holds no previous material/);

    const created = spec({ secretName: 'GUARDED_NEW' });
    const createdReceipt = await dependent.write(context(), created, material('key-c'));
    gh.advanceClock(1_000);
    await dependent.write(context(), created, material('key-d'));
    expect(await rejection(dependent.restore(context(), created, createdReceipt, null))).toBeInstanceOf(ProviderRefusal);
    expect(gh.secret({ repo: 'acme/app' }, 'GUARDED_NEW')).toBeDefined();
  });

  it('seals again when GitHub rotated its public key between the read and the write', async () => {
    let rotated = false;
    gh.faults.add({
      // Never answers: only rotates the key once, right before the first PUT is handled.
      match: (r) => {
        if (r.method === 'PUT' && r.path.endsWith('/KEY_RACE') && !rotated) {
          rotated = true;
          gh.rotatePublicKey({ repo: 'acme/app' });
        }
        return false;
      },
      times: Infinity,
    });
    const next = material('key-race');
    await dependent.write(context(), spec({ secretName: 'KEY_RACE' }), next);
    gh.faults.clear();
    expect(rotated).toBe(true);
    expect(gh.secret({ repo: 'acme/app' }, 'KEY_RACE')?.value).toBe(next.reveal('token'));
  });

  it('a throttled (429 retry-after) or failing (502) GitHub is a retryable error, not a refusal', async () => {
    gh.faults.add({ match: (r) => r.method === 'PUT', status: 429, headers: { 'retry-after': '30' }, body: { message: 'API rate limit exceeded' } });
    const throttled = await rejection(dependent.write(context(), spec({ secretName: 'THROTTLED' }), material('key-t')));
    expect(throttled).toBeInstanceOf(GitHubUnavailable);
    expect(throttled).not.toBeInstanceOf(ProviderRefusal);
    expect((throttled as GitHubUnavailable).retryAfterSeconds).toBe(30);
    expect(throttled.message).toMatch(/HTTP 429 .*retry after 30s/);

    gh.faults.add({ match: (r) => r.path.endsWith('/public-key'), status: 502, body: 'Bad Gateway' });
    expect(await rejection(dependent.write(context(), spec({ secretName: 'THROTTLED' }), material('key-u')))).toBeInstanceOf(GitHubUnavailable);

    gh.faults.add({ status: 403, headers: { 'x-ratelimit-remaining': '0' }, body: { message: 'API rate limit exceeded for installation' } });
    expect(await rejection(dependent.write(context(), spec({ secretName: 'THROTTLED' }), material('key-v')))).toBeInstanceOf(GitHubUnavailable);
  });

  it('a token without the permission is a refusal, and preflight names it', async () => {
    tokenInUse = gh.createToken({ secrets: 'read' });
    try {
      const denied = await rejection(dependent.write(context(), spec({ secretName: 'DENIED' }), material('key-d')));
      expect(denied).toBeInstanceOf(ProviderRefusal);
      expect(denied.message).toMatch(/cannot write Actions secret DENIED of acme\/app: GitHub answered HTTP 403/);
      expect(await dependent.preflight(context(), spec({ secretName: 'DENIED' }))).toEqual([]);
      tokenInUse = gh.createToken({});
      expect(await dependent.preflight(context(), spec({ secretName: 'DENIED' }))).toEqual([expect.stringMatching(/HTTP 403/)]);
      tokenInUse = 'ghp_revoked';
      expect(await dependent.preflight(context(), spec({ secretName: 'DENIED' }))).toEqual([expect.stringMatching(/HTTP 401 \(Bad credentials\)/)]);
    } finally {
      tokenInUse = gh.token;
    }
  });
});
