/**
 * The gcp-sa-key provider against the GCP emulator, through the real @googleapis/iam and
 * google-auth-library clients: the new key is staged the moment it exists, a retry never makes a
 * second key nor leaves one nobody holds, the ten-key limit is refused by name, verify waits out
 * propagation, revoke really kills the old key at the token endpoint, drain detection reads the old
 * key's last authentication from Policy Analyzer (and refuses, never guesses, when it may not),
 * posture names the broad roles the project's IAM policy binds to the account (and refuses, never
 * says "nothing broad", when it cannot read the policy), and no private key or token reaches an
 * error or a log.
 */
import { generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type CreateRequest, type CredentialSource } from '../../providers/contracts.js';
import {
  DRAIN_PERMISSION,
  gcpSaKey,
  GcpSaKeySpecSchema,
  KEYS_PER_ACCOUNT,
  POSTURE_PERMISSION,
  POSTURE_ROLE,
  type GcpSaKeySpec,
} from '../../providers/gcp-sa-key/index.js';
import { gcpFault, startGcpEmulator, type GcpEmulator, type GcpServiceAccount } from '../harness/gcp/index.js';
import { keyAuthenticates } from '../harness/gcp/fixture.js';
import { createProviderKit, recordingRequest } from '../harness/provider-kit.js';

const PROJECT = 'app-project';
let gcp: GcpEmulator;
let rotor: GcpServiceAccount;
const source = gcpSaKey.source as CredentialSource<GcpSaKeySpec>;
const kit = createProviderKit({ credentialId: 'test-gcp-key' });
const { logs, errors, rejection } = kit;

beforeAll(async () => {
  gcp = await startGcpEmulator();
  rotor = await gcp.iam.createServiceAccount('rotor@rotor-admin.iam.gserviceaccount.com');
  // Drain detection reads key activity of the project; projects made by quietProject() lack this grant.
  gcp.iam.grant(rotor.email, `projects/${PROJECT}`, 'roles/policyanalyzer.activityAnalysisViewer');
});

afterAll(async () => {
  await gcp?.close();
});

const context = (rotationId?: string, credentials: string = rotor.keyJson) => kit.context({ ROTOR_GCP_KEY: credentials }, rotationId);

function spec(serviceAccount: string, extra: Record<string, unknown> = {}): GcpSaKeySpec {
  return GcpSaKeySpecSchema.parse({
    serviceAccount,
    iamEndpoint: gcp.iamRootUrl,
    policyAnalyzerEndpoint: gcp.policyAnalyzerRootUrl,
    resourceManagerEndpoint: gcp.resourceManagerRootUrl,
    tokenEndpoint: gcp.tokenEndpoint,
    credentials: 'env:ROTOR_GCP_KEY',
    // The drain tests give exact windows; the lookback has a test of its own.
    drainLookback: '0s',
    ...extra,
  });
}

/** A service account with one key in service, as Material, that Rotor may manage (in `project`, PROJECT by default). */
async function appAccount(options: { grant?: boolean; project?: string } = {}): Promise<{ account: GcpServiceAccount; current: Material }> {
  const account = await gcp.iam.createServiceAccount(`app-${randomUUID().slice(0, 8)}@${options.project ?? PROJECT}.iam.gserviceaccount.com`);
  if (options.grant !== false) gcp.iam.grant(rotor.email, account.email, 'roles/iam.serviceAccountKeyAdmin');
  return { account, current: new Material(account.keyId, { keyId: account.keyId, keyJson: account.keyJson }) };
}

/** A CreateRequest whose stage() records what it got and how many emulator requests had been made. */
const request = (current: Material | null, staged: Material | null = null) => recordingRequest(() => gcp.requests.length, current, staged);

/** A CreateRequest whose stage() fails `failures` times (every time by default), as if the primary store were down. */
function failingRequest(current: Material | null, failures = Number.POSITIVE_INFINITY) {
  let attempts = 0;
  const staged: Material[] = [];
  const req: CreateRequest = {
    staged: null,
    current,
    stage: async (material) => {
      attempts += 1;
      if (attempts <= failures) throw new Error('primary store unavailable');
      staged.push(material);
    },
  };
  return { req, staged, attempts: () => attempts };
}

const works = (material: Material) => keyAuthenticates(gcp, material.reveal('keyJson'));
const userKeyIds = (email: string) =>
  gcp.iam
    .keys(email)
    .filter((k) => k.keyType === 'USER_MANAGED')
    .map((k) => k.keyId)
    .sort();
const keyPosts = () => gcp.requests.filter((r) => r.api === 'iam' && r.method === 'POST' && r.path.endsWith('/keys'));

describe('gcp-sa-key: spec', () => {
  it('parses a minimal spec and refuses secret values where references belong', () => {
    expect(GcpSaKeySpecSchema.parse({ serviceAccount: 'app@p-roject.iam.gserviceaccount.com' })).toEqual({ serviceAccount: 'app@p-roject.iam.gserviceaccount.com', drainLookback: '48h' });
    expect(GcpSaKeySpecSchema.safeParse({ serviceAccount: 'app@p-roject.iam.gserviceaccount.com', credentials: rotor.keyJson }).success).toBe(false);
    expect(GcpSaKeySpecSchema.safeParse({ serviceAccount: 'app@example.com' }).success).toBe(false);
    expect(GcpSaKeySpecSchema.safeParse({ serviceAccount: 'app@p-roject.iam.gserviceaccount.com', iamEndpoint: 'ftp://x' }).success).toBe(false);
    expect(GcpSaKeySpecSchema.safeParse({ serviceAccount: 'app@p-roject.iam.gserviceaccount.com', extra: 1 }).success).toBe(false);
    expect(GcpSaKeySpecSchema.safeParse({ serviceAccount: 'app@p-roject.iam.gserviceaccount.com', drainSignal: 'none' }).success).toBe(true);
    expect(GcpSaKeySpecSchema.safeParse({ serviceAccount: 'app@p-roject.iam.gserviceaccount.com', drainSignal: 'grace' }).success).toBe(false);
    expect(GcpSaKeySpecSchema.safeParse({ serviceAccount: 'app@p-roject.iam.gserviceaccount.com', policyAnalyzerEndpoint: 'ftp://x' }).success).toBe(false);
    expect(GcpSaKeySpecSchema.safeParse({ serviceAccount: 'app@p-roject.iam.gserviceaccount.com', resourceManagerEndpoint: 'ftp://x' }).success).toBe(false);
    expect(GcpSaKeySpecSchema.safeParse({ serviceAccount: 'app@p-roject.iam.gserviceaccount.com', resourceManagerEndpoint: 'http://127.0.0.1:1/' }).success).toBe(true);
    expect(gcpSaKey).toMatchObject({ type: 'gcp-sa-key', workflow: 'rotateGcpServiceAccountKey', defaultEvery: '90d' });
    expect(source.strategies).toEqual(['dual']);
  });
});

describe('gcp-sa-key: create', () => {
  it('stages the new key right after the create call, before any other call', async () => {
    const { account, current } = await appAccount();
    const { req, calls } = request(current);
    const created = await source.create(context(), spec(account.email), 'dual', req);

    expect(calls).toHaveLength(1);
    expect(calls[0]!.material).toBe(created);
    const last = gcp.requests[calls[0]!.requestsSoFar - 1]!;
    expect(last).toMatchObject({ api: 'iam', method: 'POST', status: 200, caller: rotor.email });
    expect(last.path).toBe(`/v1/projects/${PROJECT}/serviceAccounts/${account.email}/keys`);
    expect(gcp.requests.length).toBe(calls[0]!.requestsSoFar); // nothing after the stage
    expect(created.id).toMatch(/^[0-9a-f]{40}$/);
    expect(created.fieldNames()).toEqual(['keyId', 'keyJson']);
    expect(created.reveal('keyId')).toBe(created.id);
    expect(JSON.parse(created.reveal('keyJson'))).toMatchObject({ type: 'service_account', private_key_id: created.id, client_email: account.email });
    expect(userKeyIds(account.email)).toEqual([current.id, created.id].sort());
    expect(await works(created)).toBe(true);
  });

  it('on a retry with staged material returns the same key, re-enabled, and creates none', async () => {
    const { account, current } = await appAccount();
    const created = await source.create(context(), spec(account.email), 'dual', request(current).req);
    await source.disable!(context(), spec(account.email), created);
    const before = keyPosts().length;
    const retry = request(current, created);
    const again = await source.create(context(), spec(account.email), 'dual', retry.req);
    expect(again).toBe(created);
    expect(keyPosts().length).toBe(before);
    expect(retry.calls).toHaveLength(0);
    expect(userKeyIds(account.email)).toEqual([current.id, created.id].sort());
    expect(gcp.iam.keys(account.email).find((k) => k.keyId === created.id)?.disabled).toBe(false);
  });

  it('refuses a retry whose staged key was deleted outside Rotor', async () => {
    const { account, current } = await appAccount();
    const gone = new Material('f'.repeat(40), { keyId: 'f'.repeat(40), keyJson: '{}' });
    const refused = await rejection(source.create(context(), spec(account.email), 'dual', request(current, gone).req));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain(`key ${gone.id} staged by this rotation no longer exists in service account ${account.email}`);
  });

  it('when staging keeps failing, deletes the key it made: the retried create leaves no orphan', async () => {
    const { account, current } = await appAccount();
    const ctx = context();
    const failing = failingRequest(current);
    const failure = await rejection(source.create(ctx, spec(account.email), 'dual', failing.req));
    expect(failure.message).toBe('primary store unavailable');
    expect(failing.attempts()).toBe(3);
    expect(userKeyIds(account.email)).toEqual([current.id]);
    const orphan = keyPosts().at(-1)!;
    expect(orphan.status).toBe(200);
    expect(logs.some((l) => l.includes('could not be staged') && l.includes(account.email))).toBe(true);

    const retry = request(current);
    const created = await source.create(context(ctx.rotationId), spec(account.email), 'dual', retry.req);
    expect(userKeyIds(account.email)).toEqual([current.id, created.id].sort());
    expect(retry.calls).toHaveLength(1);
  });

  it('stages again after a passing failure and keeps the one key it made', async () => {
    const { account, current } = await appAccount();
    const before = keyPosts().length;
    const flaky = failingRequest(current, 1);
    const created = await source.create(context(), spec(account.email), 'dual', flaky.req);
    expect(flaky.attempts()).toBe(2);
    expect(flaky.staged).toEqual([created]);
    expect(keyPosts().length).toBe(before + 1);
    expect(userKeyIds(account.email)).toEqual([current.id, created.id].sort());
  });

  it('refuses when the account holds ten user-managed keys, naming every one, and creates none', async () => {
    const { account, current } = await appAccount();
    const old = new Date(Date.now() - 30 * 86_400_000);
    const disabled = await gcp.iam.addKey(account.email, { disabled: true, validAfter: old });
    for (let i = 0; i < KEYS_PER_ACCOUNT - 2; i++) await gcp.iam.addKey(account.email);
    const before = keyPosts().length;
    const refused = await rejection(source.create(context(), spec(account.email), 'dual', request(current).req));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain(`service account ${account.email} already has 10 user-managed keys, GCP's limit of 10, and Rotor manages only ${current.id}`);
    for (const id of userKeyIds(account.email)) expect(refused.message).toContain(id);
    expect(refused.message).toContain(`${disabled.keyId} (disabled, created ${old.toISOString()})`);
    expect(refused.message).toContain(`${current.id} (enabled, created`);
    expect(keyPosts().length).toBe(before);
    expect(userKeyIds(account.email)).toHaveLength(10);

    // IAM itself refuses an eleventh key the same way, should the list have been stale.
    const { account: other } = await appAccount();
    for (let i = 0; i < KEYS_PER_ACCOUNT - 1; i++) await gcp.iam.addKey(other.email);
    gcp.faults.add({ match: (r) => r.method === 'GET' && r.path.endsWith(`${other.email}/keys`), status: 200, body: {} });
    const byIam = await rejection(source.create(context(), spec(other.email), 'dual', request(null).req));
    expect(byIam).toBeInstanceOf(ProviderRefusal);
    expect(byIam.message).toContain('FAILED_PRECONDITION: Precondition check failed.');
    expect(byIam.message).toContain('GCP allows 10 user-managed keys per service account');
  });

  it('refuses the single strategy', async () => {
    const { account, current } = await appAccount();
    expect(await rejection(source.create(context(), spec(account.email), 'single', request(current).req))).toBeInstanceOf(ProviderRefusal);
  });

  it('surfaces throttling (429) as retryable, naming the account', async () => {
    const { account, current } = await appAccount();
    gcp.faults.add({ match: (r) => r.method === 'POST' && r.path.endsWith(`${account.email}/keys`), ...gcpFault('RESOURCE_EXHAUSTED', 'Rate exceeded.') });
    const throttled = await rejection(source.create(context(), spec(account.email), 'dual', request(current).req));
    expect(throttled).not.toBeInstanceOf(ProviderRefusal);
    expect(throttled.message).toBe(`cannot create a key for service account ${account.email}: RESOURCE_EXHAUSTED: Rate exceeded. (HTTP 429)`);
    expect(userKeyIds(account.email)).toEqual([current.id]);

    // A listing is retried once by the client; a second 429 reaches Rotor.
    gcp.faults.add({ match: (r) => r.method === 'GET' && r.path.endsWith(`${account.email}/keys`), ...gcpFault('RESOURCE_EXHAUSTED', 'Rate exceeded.'), times: 2 });
    const listed = await rejection(source.list(context(), spec(account.email)));
    expect(listed).not.toBeInstanceOf(ProviderRefusal);
    expect(listed.message).toContain('RESOURCE_EXHAUSTED');
  });

  it('refuses clearly when Rotor lacks permission on the account (403)', async () => {
    const { account, current } = await appAccount({ grant: false });
    const denied = await rejection(source.create(context(), spec(account.email), 'dual', request(current).req));
    expect(denied).toBeInstanceOf(ProviderRefusal);
    expect(denied.message).toBe(
      `cannot list the keys of service account ${account.email}: PERMISSION_DENIED: Permission 'iam.serviceAccountKeys.list' denied on resource (or it may not exist). (HTTP 403)`,
    );
    expect(userKeyIds(account.email)).toEqual([current.id]);
  });

  it("refuses when Rotor's own key is not accepted by the token endpoint", async () => {
    const { account, current } = await appAccount();
    const forged = JSON.stringify({
      ...JSON.parse(rotor.keyJson),
      private_key: generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey,
    });
    const refused = await rejection(source.create(context(randomUUID(), forged), spec(account.email), 'dual', request(current).req));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('invalid_grant: Invalid JWT Signature.');
    const garbage = await rejection(source.list(context(randomUUID(), 'not json'), spec(account.email)));
    expect(garbage).toBeInstanceOf(ProviderRefusal);
    expect(garbage.message).toContain("Rotor's credentials (env:ROTOR_GCP_KEY) is not a service-account key file");
  });
});

describe('gcp-sa-key: verify, disable, revoke, discard, retire', () => {
  it('verify fails retryably while the new key propagates, then passes', async () => {
    const { account, current } = await appAccount();
    gcp.iam.setPropagationDelay(3_600_000);
    try {
      const created = await source.create(context(), spec(account.email), 'dual', request(current).req);
      const early = await rejection(source.verify(context(), spec(account.email), created));
      expect(early).not.toBeInstanceOf(ProviderRefusal);
      expect(early.message).toBe(
        `key ${created.id} of service account ${account.email} is not accepted yet (new keys can take a minute to work): invalid_grant: Invalid JWT Signature.`,
      );
      gcp.iam.propagateNow();
      await source.verify(context(), spec(account.email), created);
    } finally {
      gcp.iam.setPropagationDelay(0);
    }
  });

  it('verify refuses a key of another account, a file of another key, and a disabled or deleted key', async () => {
    const { account } = await appAccount();
    const stranger = await appAccount();
    const wrongAccount = await rejection(source.verify(context(), spec(account.email), stranger.current));
    expect(wrongAccount).toBeInstanceOf(ProviderRefusal);
    expect(wrongAccount.message).toContain(`belongs to ${stranger.account.email}, not to service account ${account.email}`);

    const other = await gcp.iam.addKey(account.email);
    const mislabelled = new Material(account.keyId, { keyId: account.keyId, keyJson: other.keyJson });
    expect((await rejection(source.verify(context(), spec(account.email), mislabelled))).message).toContain(`holds key ${other.keyId}, not key ${account.keyId}`);

    const extra = await gcp.iam.addKey(account.email);
    const material = new Material(extra.keyId, extra);
    await source.disable!(context(), spec(account.email), material);
    const disabled = await rejection(source.verify(context(), spec(account.email), material));
    expect(disabled).toBeInstanceOf(ProviderRefusal);
    expect(disabled.message).toContain(`key ${extra.keyId} of service account ${account.email} is disabled`);
    await source.retire!(context(), spec(account.email), 'dual', material);
    const deleted = await rejection(source.verify(context(), spec(account.email), material));
    expect(deleted).toBeInstanceOf(ProviderRefusal);
    expect(deleted.message).toContain(`key ${extra.keyId} no longer exists`);
  });

  it('disable makes the token endpoint refuse the old key', async () => {
    const { account, current } = await appAccount();
    await source.create(context(), spec(account.email), 'dual', request(current).req);
    expect(await works(current)).toBe(true);
    await source.disable!(context(), spec(account.email), current);
    expect(await works(current)).toBe(false);
    expect(gcp.requests.at(-1)).toMatchObject({ api: 'oauth', status: 400, error: 'invalid_grant' });
  });

  it('revoke deletes the old key, which the token endpoint then refuses; a repeat succeeds; the new key keeps working', async () => {
    const { account, current } = await appAccount();
    const created = await source.create(context(), spec(account.email), 'dual', request(current).req);
    await source.disable!(context(), spec(account.email), current);
    await source.revoke(context(), spec(account.email), 'dual', current);
    expect(userKeyIds(account.email)).toEqual([created.id]);
    expect(await works(current)).toBe(false);
    expect(gcp.requests.at(-1)).toMatchObject({ api: 'oauth', status: 400, error: 'invalid_grant' });
    expect(await works(created)).toBe(true);
    await source.revoke(context(), spec(account.email), 'dual', current);
    await source.disable!(context(), spec(account.email), current); // gone counts as disabled
  });

  it('revoke refuses to delete the only enabled key of the account', async () => {
    const { account, current } = await appAccount();
    await gcp.iam.addKey(account.email, { disabled: true });
    const refused = await rejection(source.revoke(context(), spec(account.email), 'dual', current));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('only enabled user-managed key');
    expect(await works(current)).toBe(true);
  });

  it('discard deletes the created key (again: no-op) and refuses to discard the current one; retire deletes even the last key', async () => {
    const { account, current } = await appAccount();
    const created = await source.create(context(), spec(account.email), 'dual', request(current).req);
    await source.discard(context(), spec(account.email), 'dual', created, current);
    expect(userKeyIds(account.email)).toEqual([current.id]);
    expect(await works(created)).toBe(false);
    await source.discard(context(), spec(account.email), 'dual', created, current);
    expect(await rejection(source.discard(context(), spec(account.email), 'dual', current, current))).toBeInstanceOf(ProviderRefusal);
    expect(await works(current)).toBe(true);
    await source.retire!(context(), spec(account.email), 'dual', current);
    await source.retire!(context(), spec(account.email), 'dual', current);
    expect(userKeyIds(account.email)).toEqual([]);
  });
});

describe('gcp-sa-key: list and preflight', () => {
  it('lists user-managed keys with status, creation and expiry', async () => {
    const { account, current } = await appAccount();
    const idle = await gcp.iam.addKey(account.email, { disabled: true });
    gcp.iam.setKeyLifetime(86_400_000);
    try {
      const expired = await gcp.iam.addKey(account.email, { validAfter: new Date(Date.now() - 2 * 86_400_000) });
      const expiring = await gcp.iam.addKey(account.email);
      const listed = await source.list(context(), spec(account.email));
      const byId = new Map(listed.map((c) => [c.id, c]));
      expect(listed).toHaveLength(4); // the system-managed key is Google's, not listed
      expect(byId.get(current.id)).toMatchObject({ principal: account.email, status: 'active' });
      expect(byId.get(current.id)!.expiresAt).toBeUndefined();
      expect(byId.get(current.id)!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(byId.get(idle.keyId)).toMatchObject({ status: 'inactive' });
      expect(byId.get(expired.keyId)).toMatchObject({ status: 'expired' });
      expect(byId.get(expiring.keyId)).toMatchObject({ status: 'active' });
      expect(Date.parse(byId.get(expiring.keyId)!.expiresAt!)).toBeGreaterThan(Date.now());
    } finally {
      gcp.iam.setKeyLifetime(null);
    }
  });

  it('reports the last authentication of each key from Policy Analyzer, and use as unknown where it cannot be read', async () => {
    const { account, current } = await appAccount();
    const idle = await gcp.iam.addKey(account.email);
    expect(await works(current)).toBe(true);
    const byId = new Map((await source.list(context(), spec(account.email))).map((c) => [c.id, c]));
    expect(byId.get(current.id)).toMatchObject({ usageTracked: true, lastUsedAt: gcp.policyAnalyzer.lastAuthentication(current.id)!.toISOString() });
    expect(byId.get(idle.keyId)).toMatchObject({ usageTracked: true });
    expect(byId.get(idle.keyId)!.lastUsedAt).toBeUndefined(); // never authenticated: posture may call it unused

    const off = await source.list(context(), spec(account.email, { drainSignal: 'none' }));
    expect(off.map((c) => [c.usageTracked, c.lastUsedAt])).toEqual(off.map(() => [false, undefined]));
    const other = await appAccount({ project: `quiet-${randomBytes(4).toString('hex')}` });
    const denied = await source.list(context(), spec(other.account.email));
    expect(denied.map((c) => c.usageTracked)).toEqual([false]);
  });

  it('preflight passes with the key admin role and names each missing permission otherwise', async () => {
    const { account } = await appAccount();
    expect(await source.preflight!(context(), spec(account.email), 'dual')).toEqual([]);

    const { account: bare } = await appAccount({ grant: false });
    gcp.iam.grant(rotor.email, bare.email, ['iam.serviceAccountKeys.list', 'iam.serviceAccountKeys.get']);
    expect(await source.preflight!(context(), spec(bare.email), 'dual')).toEqual([
      `Rotor's identity lacks iam.serviceAccountKeys.create, iam.serviceAccountKeys.delete, iam.serviceAccountKeys.disable, iam.serviceAccountKeys.enable on service account ${bare.email}: grant it roles/iam.serviceAccountKeyAdmin on that account`,
    ]);

    for (let i = 0; i < KEYS_PER_ACCOUNT - 1; i++) await gcp.iam.addKey(account.email);
    const full = await source.preflight!(context(), spec(account.email), 'dual');
    expect(full).toHaveLength(1);
    expect(full[0]).toContain(`service account ${account.email} has 10 user-managed keys, GCP's limit`);

    const missing = await source.preflight!(context(), spec(`ghost-acct@${PROJECT}.iam.gserviceaccount.com`), 'dual');
    expect(missing).toEqual([expect.stringContaining('NOT_FOUND')]);
  });
});

describe('gcp-sa-key: drain detection (Policy Analyzer key last authentication)', () => {
  const LAG = '(Policy Analyzer data lags up to a day or two)';
  const activityQueries = () => gcp.requests.filter((r) => r.api === 'policyanalyzer');
  /** A fresh project where Rotor holds no Policy Analyzer grant. */
  const quietProject = () => `quiet-${randomBytes(4).toString('hex')}`;

  it('is in use when the old key authenticated after since, naming the key, the time and the lag', async () => {
    const { account, current } = await appAccount();
    await source.create(context(), spec(account.email), 'dual', request(current).req);
    const since = new Date(Date.now() - 1);
    expect(await works(current)).toBe(true); // a consumer still on the old key
    const last = gcp.policyAnalyzer.lastAuthentication(current.id)!;
    expect(last.getTime()).toBeGreaterThan(since.getTime());

    const before = activityQueries().length;
    const usage = await source.inUse!(context(), spec(account.email), current, since);
    expect(usage).toEqual({ inUse: true, detail: `key ${current.id} last authenticated ${last.toISOString()} ${LAG}` });
    const queries = activityQueries().slice(before);
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatchObject({
      method: 'GET',
      path: `/v1/projects/${PROJECT}/locations/global/activityTypes/serviceAccountKeyLastAuthentication/activities:query`,
      caller: rotor.email,
      status: 200,
    });
  });

  it('is not in use when the old key authenticated only before since, or only the new key did', async () => {
    const { account, current } = await appAccount();
    const created = await source.create(context(), spec(account.email), 'dual', request(current).req);
    // Never authenticated: nothing recorded, not in use.
    expect(await source.inUse!(context(), spec(account.email), current, new Date(0))).toEqual({
      inUse: false,
      detail: `key ${current.id} has no recorded authentication ${LAG}`,
    });

    expect(await works(current)).toBe(true);
    const last = gcp.policyAnalyzer.lastAuthentication(current.id)!;
    // The previous check ran at (or after) that authentication: nothing since.
    const quiet = await source.inUse!(context(), spec(account.email), current, last);
    expect(quiet).toEqual({ inUse: false, detail: `key ${current.id} last authenticated ${last.toISOString()} ${LAG}` });
    // One millisecond earlier, the same authentication counts.
    expect((await source.inUse!(context(), spec(account.email), current, new Date(last.getTime() - 1))).inUse).toBe(true);

    // Consumers moved to the new key: its authentications are not the old key's.
    expect(await works(created)).toBe(true);
    expect(gcp.policyAnalyzer.lastAuthentication(created.id)!.getTime()).toBeGreaterThanOrEqual(last.getTime());
    expect(await source.inUse!(context(), spec(account.email), current, last)).toEqual(quiet);
    expect(gcp.policyAnalyzer.lastAuthentication(current.id)).toEqual(last);
  });

  it('looks back drainLookback from now, so an authentication reported late still counts', async () => {
    const { account, current } = await appAccount();
    expect(await works(current)).toBe(true);
    const last = gcp.policyAnalyzer.lastAuthentication(current.id)!;
    // The previous check ran after the authentication, but the report could have come after the check.
    expect((await source.inUse!(context(), spec(account.email), current, new Date(last.getTime() + 1))).inUse).toBe(false);
    expect((await source.inUse!(context(), spec(account.email, { drainLookback: '48h' }), current, new Date(last.getTime() + 1))).inUse).toBe(true);
    expect(GcpSaKeySpecSchema.parse({ serviceAccount: account.email }).drainLookback).toBe('48h');
  });

  it('sees only what Policy Analyzer has reported: an authentication inside the lag is not visible yet', async () => {
    const { account, current } = await appAccount();
    const since = new Date(Date.now() - 1);
    gcp.policyAnalyzer.setReportingLag(36 * 3_600_000);
    try {
      expect(await works(current)).toBe(true);
      expect(await source.inUse!(context(), spec(account.email), current, since)).toEqual({
        inUse: false,
        detail: `key ${current.id} has no recorded authentication ${LAG}`,
      });
    } finally {
      gcp.policyAnalyzer.setReportingLag(0);
    }
    expect((await source.inUse!(context(), spec(account.email), current, since)).inUse).toBe(true);
  });

  it('refuses (403) naming the permission, the role and drainSignal: none, instead of calling the key drained', async () => {
    const { account, current } = await appAccount({ project: quietProject() });
    const project = account.projectId;
    expect(await works(current)).toBe(true);
    const denied = await rejection(source.inUse!(context(), spec(account.email), current, new Date(0)));
    expect(denied).toBeInstanceOf(ProviderRefusal);
    expect(denied.message).toBe(
      `cannot query Policy Analyzer for the last authentication of key ${current.id} of service account ${account.email}: PERMISSION_DENIED: ` +
        `Permission '${DRAIN_PERMISSION}' denied on resource '//cloudresourcemanager.googleapis.com/projects/${project}' (or it may not exist). (HTTP 403). ` +
        `Rotor's identity needs ${DRAIN_PERMISSION} on project ${project} (roles/policyanalyzer.activityAnalysisViewer), and the Policy Analyzer API enabled there; ` +
        'or set drainSignal: none in the credential to rely on the grace period alone',
    );
    // Granted on the project, the same check reads the activity.
    gcp.iam.grant(rotor.email, `projects/${project}`, [DRAIN_PERMISSION]);
    expect((await source.inUse!(context(), spec(account.email), current, new Date(0))).inUse).toBe(true);
  });

  it('a failing or throttled query is retryable, never a verdict', async () => {
    const { account, current } = await appAccount();
    gcp.faults.add({ match: (r) => r.path.endsWith('/activities:query'), ...gcpFault('UNAVAILABLE', 'The service is currently unavailable.'), times: 2 });
    const failed = await rejection(source.inUse!(context(), spec(account.email), current, new Date(0)));
    expect(failed).not.toBeInstanceOf(ProviderRefusal);
    expect(failed.message).toBe(
      `cannot query Policy Analyzer for the last authentication of key ${current.id} of service account ${account.email}: UNAVAILABLE: The service is currently unavailable. (HTTP 503)`,
    );
    // One blip is absorbed by the client's single retry.
    gcp.faults.add({ match: (r) => r.path.endsWith('/activities:query'), ...gcpFault('RESOURCE_EXHAUSTED', 'Quota exceeded.'), times: 1 });
    expect(await source.inUse!(context(), spec(account.email), current, new Date(0))).toMatchObject({ inUse: false });
  });

  it('with drainSignal: none reads no signal and says so', async () => {
    const { account, current } = await appAccount({ project: quietProject() });
    expect(await works(current)).toBe(true); // used, and Rotor may not read it
    const before = activityQueries().length;
    const usage = await source.inUse!(context(), spec(account.email, { drainSignal: 'none' }), current, new Date(0));
    expect(usage).toEqual({ inUse: false, detail: 'drain signal disabled by policy' });
    expect(activityQueries().length).toBe(before);
    expect(await source.preflight!(context(), spec(account.email, { drainSignal: 'none' }), 'dual')).toEqual([]);
  });

  it('refuses when the project cannot be told from the account, unless the spec names it', async () => {
    const email = '123456789012-compute@developer.gserviceaccount.com';
    const old = new Material('a'.repeat(40), { keyId: 'a'.repeat(40), keyJson: '{}' });
    const refused = await rejection(source.inUse!(context(), spec(email), old, new Date(0)));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain(`cannot tell the project of service account ${email} for Policy Analyzer: set "project" in the credential`);
    const named = await source.inUse!(context(), spec(email, { project: PROJECT }), old, new Date(0));
    expect(named).toEqual({ inUse: false, detail: `key ${old.id} has no recorded authentication ${LAG}` });
    expect(activityQueries().at(-1)).toMatchObject({ path: expect.stringContaining(`/v1/projects/${PROJECT}/locations/global/`), status: 200 });
  });

  it('preflight reports a missing Policy Analyzer permission, and passes once it is granted', async () => {
    const { account } = await appAccount({ project: quietProject() });
    const project = account.projectId;
    expect(await source.preflight!(context(), spec(account.email), 'dual')).toEqual([
      `Rotor's identity lacks ${DRAIN_PERMISSION} on project ${project} (drain detection): grant it roles/policyanalyzer.activityAnalysisViewer there and enable the Policy Analyzer API, ` +
        `or set drainSignal: none to rely on the grace period alone (Policy Analyzer said PERMISSION_DENIED: Permission '${DRAIN_PERMISSION}' denied on resource ` +
        `'//cloudresourcemanager.googleapis.com/projects/${project}' (or it may not exist). (HTTP 403))`,
    ]);
    gcp.iam.grant(rotor.email, `projects/${project}`, 'roles/policyanalyzer.activityAnalysisViewer');
    expect(await source.preflight!(context(), spec(account.email), 'dual')).toEqual([]);
  });
});

describe('gcp emulator: authentication is strict', () => {
  const keysUrl = () => `${gcp.endpoint}/v1/projects/-/serviceAccounts/${rotor.email}/keys`;

  it('refuses API calls without a token, with an unknown token, and with a self-signed JWT of an unknown key', async () => {
    gcp.iam.grant(rotor.email, rotor.email, 'roles/iam.serviceAccountKeyAdmin');
    const missing = await fetch(keysUrl());
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: { status: string } }).error.status).toBe('UNAUTHENTICATED');
    expect(missing.headers.get('www-authenticate')).toContain('invalid_token');
    const unknown = await fetch(keysUrl(), { headers: { authorization: 'Bearer ya29.not-a-token' } });
    expect(unknown.status).toBe(401);

    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const { sign } = await import('node:crypto');
    const encode = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const input = `${encode({ alg: 'RS256', typ: 'JWT', kid: rotor.keyId })}.${encode({ iss: rotor.email, sub: rotor.email, scope: 'https://www.googleapis.com/auth/cloud-platform', iat: now, exp: now + 600 })}`;
    const forged = `${input}.${sign('RSA-SHA256', Buffer.from(input), privateKey).toString('base64url')}`;
    expect((await fetch(keysUrl(), { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401);
    // The same claims signed with Rotor's real key pass: the refusal above was about the signature.
    const real = `${input}.${sign('RSA-SHA256', Buffer.from(input), JSON.parse(rotor.keyJson).private_key as string).toString('base64url')}`;
    expect((await fetch(keysUrl(), { headers: { authorization: `Bearer ${real}` } })).status).toBe(200);
  });

  it('the token endpoint refuses a wrong grant type and an assertion for an unknown account', async () => {
    const post = (body: Record<string, string>) => fetch(gcp.tokenEndpoint, { method: 'POST', body: new URLSearchParams(body) });
    const wrongGrant = await post({ grant_type: 'client_credentials' });
    expect(wrongGrant.status).toBe(400);
    expect(await wrongGrant.json()).toMatchObject({ error: 'unsupported_grant_type' });
    const garbage = await post({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: 'a.b.c' });
    expect(await garbage.json()).toMatchObject({ error: 'invalid_grant' });
  });
});

const encode = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
/** A self-signed JWT by a key file, as google-gax clients send them. */
function selfSigned(keyJson: string): string {
  const file = JSON.parse(keyJson) as { client_email: string; private_key_id: string; private_key: string };
  const now = Math.floor(Date.now() / 1000);
  const input = `${encode({ alg: 'RS256', typ: 'JWT', kid: file.private_key_id })}.${encode({ iss: file.client_email, sub: file.client_email, scope: 'https://www.googleapis.com/auth/cloud-platform', iat: now, exp: now + 600 })}`;
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), file.private_key).toString('base64url')}`;
}

describe('gcp emulator: Policy Analyzer key activity', () => {
  const activitiesUrl = (project: string, query: Record<string, string> = {}) =>
    `${gcp.policyAnalyzerRootUrl}v1/projects/${project}/locations/global/activityTypes/serviceAccountKeyLastAuthentication/activities:query?${new URLSearchParams(query)}`;
  const keyName = (account: GcpServiceAccount, keyId: string) => `//iam.googleapis.com/projects/${account.projectId}/serviceAccounts/${account.email}/keys/${keyId}`;
  const asRotor = () => ({ authorization: `Bearer ${selfSigned(rotor.keyJson)}` });
  interface Page {
    activities?: Array<{ fullResourceName: string; activityType: string; observationPeriod: unknown; activity: { lastAuthenticatedTime: string; serviceAccountKey: { fullResourceName: string } } }>;
    nextPageToken?: string;
  }

  it('records a self-signed JWT accepted by an API as an authentication by its key, even when the call is then denied', async () => {
    const { account } = await appAccount();
    expect(gcp.policyAnalyzer.lastAuthentication(account.keyId)).toBeUndefined();
    const since = Date.now() - 1;
    const call = await fetch(`${gcp.endpoint}/v1/projects/${PROJECT}/secrets/nothing-here`, { headers: { authorization: `Bearer ${selfSigned(account.keyJson)}` } });
    expect(call.status).toBe(403);
    expect(gcp.policyAnalyzer.lastAuthentication(account.keyId)!.getTime()).toBeGreaterThan(since);
  });

  it('answers in Google\'s shape for the filtered key, 401 without a valid token, 403 without the permission, 400 for a malformed filter', async () => {
    const { account } = await appAccount();
    expect(await works(new Material(account.keyId, { keyId: account.keyId, keyJson: account.keyJson }))).toBe(true);
    const name = keyName(account, account.keyId);
    const filtered = await fetch(activitiesUrl(PROJECT, { filter: `activities.full_resource_name="${name}"` }), { headers: asRotor() });
    expect(filtered.status).toBe(200);
    const page = (await filtered.json()) as Page;
    expect(page.nextPageToken).toBeUndefined();
    expect(page.activities).toEqual([
      {
        activityType: 'serviceAccountKeyLastAuthentication',
        fullResourceName: name,
        observationPeriod: { startTime: expect.any(String), endTime: expect.any(String) },
        activity: {
          lastAuthenticatedTime: gcp.policyAnalyzer.lastAuthentication(account.keyId)!.toISOString(),
          serviceAccountKey: { fullResourceName: name, projectNumber: expect.stringMatching(/^\d{12}$/), serviceAccountId: expect.stringMatching(/^\d{21}$/) },
        },
      },
    ]);
    const camel = (await (await fetch(activitiesUrl(PROJECT, { filter: `activities.fullResourceName = "${name}"` }), { headers: asRotor() })).json()) as Page;
    expect(camel.activities?.map((a) => a.fullResourceName)).toEqual([name]);

    expect((await fetch(activitiesUrl(PROJECT))).status).toBe(401);
    expect((await fetch(activitiesUrl(PROJECT), { headers: { authorization: 'Bearer ya29.not-a-token' } })).status).toBe(401);

    const stranger = await fetch(activitiesUrl(PROJECT), { headers: { authorization: `Bearer ${selfSigned(account.keyJson)}` } });
    expect(stranger.status).toBe(403);
    expect(((await stranger.json()) as { error: { status: string; message: string } }).error).toMatchObject({ status: 'PERMISSION_DENIED', message: expect.stringContaining(DRAIN_PERMISSION) });

    for (const filter of [`full_resource_name="${name}"`, `activities.full_resource_name:"${name}"`, `activities.full_resource_name=${name}`, `activities.full_resource_name="${name}" AND x`]) {
      const bad = await fetch(activitiesUrl(PROJECT, { filter }), { headers: asRotor() });
      expect(bad.status, filter).toBe(400);
      expect(((await bad.json()) as { error: { status: string } }).error.status).toBe('INVALID_ARGUMENT');
    }
    expect((await fetch(activitiesUrl(PROJECT, { pageSize: 'many' }), { headers: asRotor() })).status).toBe(400);
  });

  it('pages with pageSize and pageToken, and refuses a token of another query', async () => {
    const project = `paged-${randomBytes(4).toString('hex')}`;
    gcp.iam.grant(rotor.email, `projects/${project}`, 'roles/policyanalyzer.activityAnalysisViewer');
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { account } = await appAccount({ project });
      expect(await works(new Material(account.keyId, { keyId: account.keyId, keyJson: account.keyJson }))).toBe(true);
      names.push(keyName(account, account.keyId));
    }
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const reply = await fetch(activitiesUrl(project, { pageSize: '1', ...(token ? { pageToken: token } : {}) }), { headers: asRotor() });
      expect(reply.status).toBe(200);
      const page = (await reply.json()) as Page;
      expect(page.activities).toHaveLength(1);
      seen.push(...page.activities!.map((a) => a.fullResourceName));
      token = page.nextPageToken;
      pages += 1;
    } while (token && pages < 10);
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual([...names].sort());

    const first = (await (await fetch(activitiesUrl(project, { pageSize: '2' }), { headers: asRotor() })).json()) as Page;
    expect(first.activities).toHaveLength(2);
    const mixed = await fetch(activitiesUrl(project, { pageSize: '2', filter: `activities.full_resource_name="${names[0]}"`, pageToken: first.nextPageToken! }), { headers: asRotor() });
    expect(mixed.status).toBe(400);
  });
});

describe('gcp-sa-key: posture (the project IAM policy)', () => {
  const policyReads = () => gcp.requests.filter((r) => r.api === 'resourcemanager');
  const privileges = (email: string, extra: Record<string, unknown> = {}) => source.privileges!(context(), spec(email, extra));
  const tokenCreatorUntil2030 = { title: 'until 2030', expression: "request.time < timestamp('2030-01-01T00:00:00Z')" };
  /**
   * A fresh project; Rotor may read its policy by a grant the policy does not list (as one inherited
   * from the organization), unless `readable` is false.
   */
  function postureProject(readable = true): string {
    const project = `posture-${randomBytes(4).toString('hex')}`;
    if (readable) gcp.iam.grant(rotor.email, `projects/${project}`, POSTURE_ROLE);
    return project;
  }

  it('finds nothing broad for an account with narrow roles, reading the project policy once, as Rotor', async () => {
    const project = postureProject();
    const { account } = await appAccount({ project });
    const member = `serviceAccount:${account.email}`;
    gcp.resourceManager.bind(project, 'roles/storage.objectViewer', member);
    gcp.resourceManager.bind(project, 'roles/logging.logWriter', member);
    gcp.resourceManager.bind(project, 'roles/viewer', member);
    gcp.resourceManager.bind(project, 'roles/owner', 'user:dana@example.com');
    const before = policyReads().length;
    expect(await privileges(account.email)).toEqual({ broad: [] });
    const reads = policyReads().slice(before);
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({ method: 'POST', path: `/v1/projects/${project}:getIamPolicy`, caller: rotor.email, status: 200 });
    expect(source.privileges).toBeTypeOf('function'); // discovery calls it for every provider that has it
  });

  it('names owner, editor and the roles that take over identities or the project IAM, conditional ones marked', async () => {
    const project = postureProject();
    const { account } = await appAccount({ project });
    const member = `serviceAccount:${account.email}`;
    gcp.resourceManager.bind(project, 'roles/editor', member);
    gcp.resourceManager.bind(project, 'roles/iam.serviceAccountTokenCreator', member, tokenCreatorUntil2030);
    gcp.resourceManager.bind(project, 'roles/storage.admin', member);
    expect((await privileges(account.email)).broad.sort()).toEqual([`roles/editor on project ${project}`, `roles/iam.serviceAccountTokenCreator on project ${project} (conditional)`]);

    for (const role of ['roles/owner', 'roles/iam.serviceAccountKeyAdmin', 'roles/iam.serviceAccountAdmin', 'roles/resourcemanager.projectIamAdmin', 'roles/iam.securityAdmin']) {
      gcp.resourceManager.bind(project, role, member);
    }
    const all = [
      `roles/editor on project ${project}`,
      `roles/iam.securityAdmin on project ${project}`,
      `roles/iam.serviceAccountAdmin on project ${project}`,
      `roles/iam.serviceAccountKeyAdmin on project ${project}`,
      `roles/iam.serviceAccountTokenCreator on project ${project} (conditional)`,
      `roles/owner on project ${project}`,
      `roles/resourcemanager.projectIamAdmin on project ${project}`,
    ];
    expect((await privileges(account.email)).broad.sort()).toEqual(all);
    // A conditional binding of a role also granted without condition adds nothing.
    gcp.resourceManager.bind(project, 'roles/owner', member, tokenCreatorUntil2030);
    expect((await privileges(account.email)).broad.sort()).toEqual(all);
  });

  it("other members' bindings are not the account's: other accounts, a deleted account of the same email, users, groups", async () => {
    const project = postureProject();
    const { account } = await appAccount({ project });
    const { account: other } = await appAccount({ project });
    gcp.resourceManager.bind(project, 'roles/owner', `serviceAccount:${other.email}`);
    gcp.resourceManager.bind(project, 'roles/editor', `deleted:serviceAccount:${account.email}?uid=123456789012345678901`);
    gcp.resourceManager.bind(project, 'roles/editor', `user:${account.email}`);
    gcp.resourceManager.bind(project, 'roles/iam.serviceAccountTokenCreator', 'group:ops@example.com');
    gcp.resourceManager.bind(project, 'roles/iam.serviceAccountKeyAdmin', `serviceAccount:${rotor.email}`);
    expect(await privileges(account.email)).toEqual({ broad: [] });
    expect(await privileges(other.email)).toEqual({ broad: [`roles/owner on project ${project}`] });
  });

  it('refuses (403) naming the permission and a role, instead of saying nothing is broad', async () => {
    const project = postureProject(false);
    const { account } = await appAccount({ project });
    gcp.resourceManager.bind(project, 'roles/owner', `serviceAccount:${account.email}`);
    const denied = await rejection(privileges(account.email));
    expect(denied).toBeInstanceOf(ProviderRefusal);
    expect(denied.message).toBe(
      `cannot read the IAM policy of project ${project} (posture of service account ${account.email}): PERMISSION_DENIED: The caller does not have permission (HTTP 403). ` +
        `Rotor's identity needs ${POSTURE_PERMISSION} on project ${project} (e.g. roles/iam.securityReviewer); Google gives the same answer when the project does not exist`,
    );
    // A conditional binding grants nothing the emulator can vouch for; an unconditional one in the project's own policy does.
    gcp.resourceManager.bind(project, POSTURE_ROLE, `serviceAccount:${rotor.email}`, tokenCreatorUntil2030);
    expect(await rejection(privileges(account.email))).toBeInstanceOf(ProviderRefusal);
    gcp.resourceManager.bind(project, POSTURE_ROLE, `serviceAccount:${rotor.email}`);
    expect(await privileges(account.email)).toEqual({ broad: [`roles/owner on project ${project}`] });
  });

  it('refuses when the project cannot be told from the account, unless the spec names it; a project that does not exist is refused too', async () => {
    const email = '123456789012-compute@developer.gserviceaccount.com';
    const before = policyReads().length;
    const refused = await rejection(privileges(email));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toBe(`cannot tell the project of service account ${email} to read its IAM policy (posture): set "project" in the credential`);
    expect(policyReads().length).toBe(before);

    const project = postureProject();
    gcp.resourceManager.bind(project, 'roles/editor', `serviceAccount:${email}`);
    expect(await privileges(email, { project })).toEqual({ broad: [`roles/editor on project ${project}`] });

    const nowhere = postureProject(); // granted, but no such project
    const missing = await rejection(privileges(email, { project: nowhere }));
    expect(missing).toBeInstanceOf(ProviderRefusal);
    expect(missing.message).toContain(`cannot read the IAM policy of project ${nowhere} (posture of service account ${email}): PERMISSION_DENIED`);
  });

  it('a failing or throttled read is retryable, never "nothing broad"; one blip is absorbed', async () => {
    const project = postureProject();
    const { account } = await appAccount({ project });
    gcp.resourceManager.bind(project, 'roles/editor', `serviceAccount:${account.email}`);
    const isPolicyRead = (r: { path: string }) => r.path === `/v1/projects/${project}:getIamPolicy`;
    gcp.faults.add({ match: isPolicyRead, ...gcpFault('UNAVAILABLE', 'The service is currently unavailable.'), times: 2 });
    const failed = await rejection(privileges(account.email));
    expect(failed).not.toBeInstanceOf(ProviderRefusal);
    expect(failed.message).toBe(
      `cannot read the IAM policy of project ${project} (posture of service account ${account.email}): UNAVAILABLE: The service is currently unavailable. (HTTP 503)`,
    );
    gcp.faults.add({ match: isPolicyRead, ...gcpFault('RESOURCE_EXHAUSTED', 'Quota exceeded.'), times: 2 });
    const throttled = await rejection(privileges(account.email));
    expect(throttled).not.toBeInstanceOf(ProviderRefusal);
    expect(throttled.message).toContain('RESOURCE_EXHAUSTED: Quota exceeded. (HTTP 429)');
    gcp.faults.add({ match: isPolicyRead, ...gcpFault('RESOURCE_EXHAUSTED', 'Quota exceeded.'), times: 1 });
    expect(await privileges(account.email)).toEqual({ broad: [`roles/editor on project ${project}`] });
  });
});

describe('gcp emulator: Resource Manager project IAM policy', () => {
  const policyUrl = (project: string) => `${gcp.resourceManagerRootUrl}v1/projects/${project}:getIamPolicy`;
  /** POSTs as Rotor by default; `token: null` sends no Authorization header. */
  const post = (project: string, body: unknown, token: string | null = selfSigned(rotor.keyJson)) =>
    fetch(policyUrl(project), { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  interface Policy {
    version: number;
    etag: string;
    bindings?: Array<{ role: string; members: string[]; condition?: { title: string; expression: string } }>;
  }
  const v3 = { options: { requestedPolicyVersion: 3 } };

  it("answers in Google's shape: version 3 with conditions when asked, version 1 with withcond roles otherwise", async () => {
    const project = `shape-${randomBytes(4).toString('hex')}`;
    gcp.iam.grant(rotor.email, `projects/${project}`, POSTURE_ROLE);
    const condition = { title: 'until 2030', expression: "request.time < timestamp('2030-01-01T00:00:00Z')" };
    gcp.resourceManager.bind(project, 'roles/viewer', 'user:dana@example.com');
    const plain = (await (await post(project, v3)).json()) as Policy;
    expect(plain).toEqual({ version: 1, etag: expect.any(String), bindings: [{ role: 'roles/viewer', members: ['user:dana@example.com'] }] });

    gcp.resourceManager.bind(project, 'roles/viewer', 'group:ops@example.com');
    gcp.resourceManager.bind(project, 'roles/editor', 'serviceAccount:x@shape-proj.iam.gserviceaccount.com', condition);
    const full = (await (await post(project, v3)).json()) as Policy;
    expect(full.version).toBe(3);
    expect(full.etag).not.toBe(plain.etag);
    expect(full.bindings).toEqual([
      { role: 'roles/viewer', members: ['user:dana@example.com', 'group:ops@example.com'] },
      { role: 'roles/editor', members: ['serviceAccount:x@shape-proj.iam.gserviceaccount.com'], condition },
    ]);
    for (const body of [{}, { options: { requestedPolicyVersion: 1 } }]) {
      const old = (await (await post(project, body)).json()) as Policy;
      expect(old.version).toBe(1);
      expect(old.bindings?.[1]).toEqual({ role: expect.stringMatching(/^roles\/editor_withcond_[0-9a-f]{20}$/), members: ['serviceAccount:x@shape-proj.iam.gserviceaccount.com'] });
    }
    expect(gcp.resourceManager.bindings(project)).toEqual(full.bindings);

    const empty = `empty-${randomBytes(4).toString('hex')}`;
    gcp.iam.grant(rotor.email, `projects/${empty}`, POSTURE_ROLE);
    await gcp.iam.createServiceAccount(`solo@${empty}.iam.gserviceaccount.com`);
    expect(await (await post(empty, v3)).json()).toEqual({ version: 1, etag: expect.any(String) });
  });

  it('401 without a valid token, 403 without the permission or for an unknown project, 400 for a bad request, 404 for GET', async () => {
    const project = `strict-${randomBytes(4).toString('hex')}`;
    gcp.iam.grant(rotor.email, `projects/${project}`, POSTURE_ROLE);
    const { account } = await appAccount({ project });
    expect((await post(project, v3)).status).toBe(200);

    const anonymous = await post(project, v3, null);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { status: string } }).error.status).toBe('UNAUTHENTICATED');
    expect((await post(project, v3, 'ya29.not-a-token')).status).toBe(401);

    const stranger = await post(project, v3, selfSigned(account.keyJson));
    expect(stranger.status).toBe(403);
    expect(await stranger.json()).toEqual({ error: { code: 403, message: 'The caller does not have permission', status: 'PERMISSION_DENIED' } });
    const nowhere = `nowhere-${randomBytes(4).toString('hex')}`;
    gcp.iam.grant(rotor.email, `projects/${nowhere}`, POSTURE_ROLE);
    expect((await post(nowhere, v3)).status).toBe(403);

    for (const body of [{ options: { requestedPolicyVersion: 2 } }, { options: { requestedPolicyVersion: 'three' } }, { policy: {} }, { options: { version: 3 } }, [1]]) {
      const bad = await post(project, body);
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(((await bad.json()) as { error: { status: string } }).error.status).toBe('INVALID_ARGUMENT');
    }
    expect((await post(project, { options: { requestedPolicyVersion: '3' } })).status).toBe(200);
    expect((await fetch(policyUrl(project), { headers: { authorization: `Bearer ${selfSigned(rotor.keyJson)}` } })).status).toBe(404);
    expect(() => gcp.resourceManager.bind(project, 'roles/owner', account.email)).toThrow(/not an IAM member/);
  });
});

describe('gcp-sa-key: no secret leaks', () => {
  it('no private key or token appears in any thrown error or log line', () => {
    const secrets = gcp.iam.issuedSecrets();
    expect(errors.length).toBeGreaterThan(10);
    expect(secrets.length).toBeGreaterThan(40);
    const text = kit.errorsAndLogsText();
    expect(text).toContain(`@${PROJECT}.iam.gserviceaccount.com`); // accounts and key ids are public and do appear
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});
