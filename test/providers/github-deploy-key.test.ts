/**
 * The github-deploy-key source against the GitHub emulator, through the real Octokit client: the key
 * is staged before GitHub sees it, a retry reuses (or re-adds) it, verify/discard/revoke find keys by
 * public key, usage drives drain detection, and no private key reaches an error or a log line.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type CredentialSource } from '../../providers/contracts.js';
import { GitHubUnavailable } from '../../providers/github-actions-secret/github.js';
import { githubDeployKey, GitHubDeployKeySpecSchema, type GitHubDeployKeySpec } from '../../providers/github-deploy-key/index.js';
import { generateSshKeyPair, publicKeyOfPrivate } from '../../providers/github-deploy-key/ssh-key.js';
import { startGitHubEmulator, type GitHubEmulator } from '../harness/github/index.js';
import { createProviderKit } from '../harness/provider-kit.js';

const source = githubDeployKey.source as CredentialSource<GitHubDeployKeySpec>;
let gh: GitHubEmulator;
const kit = createProviderKit({ credentialId: 'deploy-app', rotationIdPrefix: 'rot-' });
const { logs, errors, rejection } = kit;
const privateKeys: string[] = [];
let repoCount = 0;

beforeAll(async () => {
  gh = await startGitHubEmulator();
});

afterAll(async () => {
  await gh?.close();
  const text = [...logs, ...errors.map((e) => e.message)].join('\n');
  for (const key of privateKeys) expect(text).not.toContain(key.split('\n')[1]);
  expect(text).not.toContain(gh.token);
});

const context = (rotationId?: string) => kit.context({ GITHUB_TOKEN: gh.token }, rotationId);

/** A fresh repository per test, so key lists do not mix. */
function freshRepo(): { spec: GitHubDeployKeySpec; owner: string; repo: string } {
  const repo = `app${++repoCount}`;
  gh.createRepo('acme', repo);
  return { spec: GitHubDeployKeySpecSchema.parse({ baseUrl: gh.baseUrl, token: 'env:GITHUB_TOKEN', repo: `acme/${repo}` }), owner: 'acme', repo };
}

/** A create request that records what was staged and how many keys GitHub had at that moment. */
function request(staged: Material | null = null, current: Material | null = null, onStage: () => void = () => undefined) {
  const stagedLog: Material[] = [];
  return {
    staged,
    current,
    stagedLog,
    async stage(material: Material) {
      onStage();
      privateKeys.push(material.reveal('privateKey'));
      stagedLog.push(material);
    },
  };
}

describe('github-deploy-key', () => {
  it('stages the key before adding it, titled with the rotation; material id is the SSH fingerprint', async () => {
    const { spec, owner, repo } = freshRepo();
    const ctx = context('rot-first');
    let keysWhenStaged = -1;
    const req = request(null, null, () => (keysWhenStaged = gh.deployKeys(owner, repo).length));
    const material = await source.create(ctx, spec, 'dual', req);
    expect(keysWhenStaged).toBe(0);
    expect(req.stagedLog).toEqual([material]);
    expect(material.id).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(material.fieldNames()).toEqual(['privateKey', 'publicKey']);
    const [key] = gh.deployKeys(owner, repo);
    expect(key).toMatchObject({ key: material.reveal('publicKey'), read_only: true, title: 'rotor deploy-app rot-first' });
    await source.verify(ctx, spec, material);
  });

  it('writes a private key OpenSSH itself loads', async (testCtx) => {
    let hasSshKeygen = true;
    try {
      execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
    } catch (error) {
      hasSshKeygen = (error as { code?: string }).code !== 'ENOENT';
    }
    if (!hasSshKeygen) return testCtx.skip();
    const pair = generateSshKeyPair('rotor');
    privateKeys.push(pair.privateKey);
    const dir = mkdtempSync(join(tmpdir(), 'rotor-key-'));
    try {
      writeFileSync(join(dir, 'id'), pair.privateKey, { mode: 0o600 });
      expect(execFileSync('ssh-keygen', ['-y', '-f', join(dir, 'id')], { encoding: 'utf8' }).trim()).toBe(`${pair.publicKey} rotor`);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'x', '-f', join(dir, 'theirs')]);
      const theirs = execFileSync('ssh-keygen', ['-y', '-f', join(dir, 'theirs')], { encoding: 'utf8' }).trim();
      expect(publicKeyOfPrivate(execFileSync('cat', [join(dir, 'theirs')], { encoding: 'utf8' }))).toBe(theirs.split(' ').slice(0, 2).join(' '));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a retry reuses the staged key: no second key, and it is re-added if it went missing', async () => {
    const { spec, owner, repo } = freshRepo();
    const ctx = context();
    const first = await source.create(ctx, spec, 'dual', request());
    const retried = await source.create(ctx, spec, 'dual', request(first));
    expect(retried).toBe(first);
    expect(gh.deployKeys(owner, repo)).toHaveLength(1);

    // The POST never landed (or someone deleted the key): the retry adds the same key again.
    const id = gh.deployKeys(owner, repo)[0]!.id;
    await fetch(`${gh.baseUrl}/repos/${owner}/${repo}/keys/${id}`, { method: 'DELETE', headers: { authorization: `token ${gh.token}` } });
    await expect(source.verify(ctx, spec, first)).rejects.toThrow(/is not on acme\/app/);
    await source.create(ctx, spec, 'dual', request(first));
    expect(gh.deployKeys(owner, repo).map((k) => k.key)).toEqual([first.reveal('publicKey')]);
    await source.verify(ctx, spec, first);
  });

  it('refuses a key already in use by another repository', async () => {
    const a = freshRepo();
    const b = freshRepo();
    const material = await source.create(context(), a.spec, 'dual', request());
    const refused = await rejection(source.create(context(), b.spec, 'dual', request(material)));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toMatch(/HTTP 422 .*key is already in use/);
  });

  it('discard deletes the created key but never the current one; revoke deletes the old key, twice is fine', async () => {
    const { spec, owner, repo } = freshRepo();
    const old = await source.create(context(), spec, 'dual', request());
    const next = await source.create(context(), spec, 'dual', request(null, old));
    expect(gh.deployKeys(owner, repo)).toHaveLength(2);

    expect(await rejection(source.discard(context(), spec, 'dual', old, old))).toBeInstanceOf(ProviderRefusal);
    await source.discard(context(), spec, 'dual', next, old);
    await source.discard(context(), spec, 'dual', next, old);
    expect(gh.deployKeys(owner, repo).map((k) => k.key)).toEqual([old.reveal('publicKey')]);

    await source.revoke(context(), spec, 'dual', old);
    await source.revoke(context(), spec, 'dual', old);
    expect(gh.deployKeys(owner, repo)).toEqual([]);
  });

  it('revokes old material seeded with only a private key, or only a GitHub key id', async () => {
    const { spec, owner, repo } = freshRepo();
    const seeded = await source.create(context(), spec, 'dual', request());
    await source.revoke(context(), spec, 'dual', new Material('hand-made', { privateKey: seeded.reveal('privateKey') }));
    expect(gh.deployKeys(owner, repo)).toEqual([]);

    const again = await source.create(context(), spec, 'dual', request());
    const id = gh.deployKeys(owner, repo)[0]!.id;
    await source.revoke(context(), spec, 'dual', new Material(String(id), { privateKey: 'not a key' }));
    expect(gh.deployKeys(owner, repo)).toEqual([]);
    expect(again.id).not.toBe(seeded.id);
  });

  it('lists keys by fingerprint with last use, and drain detection reads last_used', async () => {
    const { spec, owner, repo } = freshRepo();
    const old = await source.create(context(), spec, 'dual', request());
    const promotedAt = new Date();
    expect(await source.inUse!(context(), spec, old, promotedAt)).toMatchObject({ inUse: false, detail: expect.stringMatching(/never used/) });
    const id = gh.deployKeys(owner, repo)[0]!.id;
    gh.markDeployKeyUsed(owner, repo, id, new Date(promotedAt.getTime() + 60_000));
    expect(await source.inUse!(context(), spec, old, promotedAt)).toMatchObject({ inUse: true });
    const [listed] = await source.list(context(), spec);
    expect(listed).toMatchObject({ id: old.id, status: 'active', lastUsedAt: expect.any(String), principal: expect.stringContaining(`deploy key ${id}`) });
  });

  it('only the dual strategy; a 5xx is retryable; a token without Administration is a refusal', async () => {
    const { spec } = freshRepo();
    expect(await rejection(source.create(context(), spec, 'single', request()))).toBeInstanceOf(ProviderRefusal);

    gh.faults.add({ match: (r) => r.method === 'POST', status: 500, body: { message: 'Server Error' } });
    const req = request();
    const failed = await rejection(source.create(context(), spec, 'dual', req));
    expect(failed).toBeInstanceOf(GitHubUnavailable);
    // The key was staged before the failure: the retry adds the same one.
    const material = await source.create(context(), spec, 'dual', request(req.stagedLog[0]!));
    expect(material.id).toBe(req.stagedLog[0]!.id);

    const limited = gh.createToken({ secrets: 'write' });
    const ctx = { ...context(), resolveSecret: async () => limited };
    expect(await source.preflight!(ctx, spec, 'dual')).toEqual([expect.stringMatching(/HTTP 403/)]);
    expect(await rejection(source.create(ctx, spec, 'dual', request()))).toBeInstanceOf(ProviderRefusal);
  });
});
