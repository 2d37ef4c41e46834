/**
 * CI credentials end to end through the real worker: a database login whose dependents are two
 * GitHub Actions secrets (repository and environment, sealed with each target's public key) and a
 * Vault path; and a GitLab access token rotated with GitLab's own rotate endpoint (single strategy:
 * GitLab revokes the old token itself).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml, login, rotateDb, servedLogin } from '../harness/db-rotation.js';
import { startGitHubEmulator, type GitHubEmulator } from '../harness/github/index.js';
import { startGitLabEmulator, type GitLabEmulator } from '../harness/gitlab/index.js';
import { servedFields } from '../harness/credential-fixtures.js';

let env: RotorEnv;
let github: GitHubEmulator;
let gitlab: GitLabEmulator;

beforeAll(async () => {
  env = await startRotorEnv();
  github = await startGitHubEmulator();
  gitlab = await startGitLabEmulator();
  env.env.GITHUB_TOKEN = github.token;
  await env.startWorker();
});
afterAll(async () => {
  await env?.close();
  await github?.close();
  await gitlab?.close();
});

describe('GitHub Actions secrets as dependents', () => {
  it('a rotation writes the new password to a repository secret, an environment secret and Vault', async () => {
    github.createRepo('acme', 'payments');
    github.createEnvironment('acme', 'payments', 'production');
    const githubDependent = (name: string, target: string) => `
  - name: ${name}
    type: github-actions-secret
    baseUrl: ${github.baseUrl}
    token: env:GITHUB_TOKEN
    target: ${target}
    secretName: DB_PASSWORD
    field: password`;
    const yaml = dbPolicyYaml(env, 'gh-db', { role: 'gh_app' }).replace(
      /dependents:\n/,
      `dependents:${githubDependent('repo-secret', '{ repo: acme/payments }')}${githubDependent('env-secret', '{ repo: acme/payments, environment: production }')}\n`,
    );
    await env.usePolicies(yaml);
    await rotateDb(env, 'gh-db');
    const first = await servedLogin(env, 'gh-db');
    const result = await rotateDb(env, 'gh-db');
    expect(result.outcome).toBe('succeeded');
    const served = await servedLogin(env, 'gh-db');
    expect(served.password).not.toBe(first.password);
    expect(github.secret({ repo: 'acme/payments' }, 'DB_PASSWORD')?.value).toBe(served.password);
    expect(github.secret({ repo: 'acme/payments', environment: 'production' }, 'DB_PASSWORD')?.value).toBe(served.password);
    expect(await login(env, served)).toBe(true);
    expect(await login(env, first)).toBe(false);
  });
});

describe('GitLab access tokens', () => {
  it('rotates a personal access token with the rotate endpoint; the old token stops working', async () => {
    const admin = gitlab.createPersonalToken({ admin: true, name: 'rotor' });
    const target = gitlab.createPersonalToken({ name: 'ci-deploy', scopes: ['api'] });
    env.env.GITLAB_ADMIN_TOKEN = admin.token;
    await env.usePolicies(`
id: gitlab-ci
owner: team-platform
purpose: CI deploy token for the payments project
environment: test
credential:
  type: gitlab-token
  baseUrl: ${gitlab.baseUrl}
  token: env:GITLAB_ADMIN_TOKEN
  scope: { personal: ${target.id} }
  expiresInDays: 30
strategy: single
store:
  type: vault-kv
  address: ${env.vault.address}
  token: env:VAULT_TOKEN
  path: rotor/gitlab-ci
dependents:
  - name: app
    type: vault-kv
    address: ${env.vault.address}
    token: env:VAULT_TOKEN
    path: apps/gitlab-ci/secret
`);
    const self = (token: string) => fetch(`${gitlab.baseUrl}/api/v4/personal_access_tokens/self`, { headers: { 'PRIVATE-TOKEN': token } });
    expect((await self(target.token)).status).toBe(200);
    const result = await rotateDb(env, 'gitlab-ci');
    expect(result.outcome).toBe('succeeded');
    const served = await servedFields(env, 'gitlab-ci');
    expect(served.token).not.toBe(target.token);
    expect((await self(served.token!)).status).toBe(200);
    expect((await self(target.token)).status).toBe(401);

    const again = await rotateDb(env, 'gitlab-ci');
    expect(again.outcome).toBe('succeeded');
    const next = await servedFields(env, 'gitlab-ci');
    expect((await self(next.token!)).status).toBe(200);
    expect((await self(served.token!)).status).toBe(401);
  });
});
