/**
 * The aws-iam-access-key provider against our AWS emulator and against moto (test/harness/aws/targets.ts),
 * through the real IAM and STS clients: the new key is staged the moment it exists, a retry never
 * makes a second key, verify waits out IAM's propagation delay (ours only), revoke really kills the
 * old key, and no secret reaches an error or a log. Against moto Rotor holds only the README's policy.
 */
import { randomUUID } from 'node:crypto';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type CredentialSource } from '../../providers/contracts.js';
import { awsIamAccessKey, AwsIamAccessKeySpecSchema, lastUsed, type AwsIamAccessKeySpec } from '../../providers/aws-iam-access-key/index.js';
import { awsFault, type AwsEmulator, type AwsTestUser } from '../harness/aws/index.js';
import { awsTargets, type AwsTarget } from '../harness/aws/targets.js';
import { crashingRequest, createProviderKit, recordingRequest } from '../harness/provider-kit.js';

const source = awsIamAccessKey.source as CredentialSource<AwsIamAccessKeySpec>;

describe('aws-iam-access-key: spec', () => {
  it('defaults region and allowDeleteInactive and refuses secret values where references belong', () => {
    expect(AwsIamAccessKeySpecSchema.parse({ userName: 'app' })).toEqual({ userName: 'app', region: 'us-east-1', allowDeleteInactive: false });
    expect(AwsIamAccessKeySpecSchema.safeParse({ userName: 'app', credentials: { accessKeyId: 'AKIA0000', secretAccessKey: 'plain' } }).success).toBe(false);
    expect(AwsIamAccessKeySpecSchema.safeParse({ userName: 'bad name!' }).success).toBe(false);
    expect(awsIamAccessKey).toMatchObject({ type: 'aws-iam-access-key', workflow: 'rotateAwsAccessKey', defaultEvery: '90d' });
    expect(source.strategies).toEqual(['dual']);
  });
});

describe.each(awsTargets)('aws-iam-access-key against $name', (kind) => {
  let target: AwsTarget;
  /** Our emulator, in the tests that need what only it can do (they run only against it). */
  let aws: AwsEmulator;
  let admin: AwsTestUser;
  const kit = createProviderKit({ credentialId: 'test-aws-key' });
  const { logs, errors, rejection } = kit;
  /** Secrets of keys the provider made, for the leak check (moto's issued list holds only the harness's). */
  const madeSecrets: string[] = [];
  const ours = kind.name === 'our emulator';

  beforeAll(async () => {
    target = await kind.start();
    aws = target.ours!;
    admin = await target.iam.rotorUser();
  });

  afterAll(async () => {
    await target?.close();
  });

  const context = (rotationId?: string) => kit.context({ ROTOR_AWS_KEY_ID: admin.accessKeyId, ROTOR_AWS_SECRET: admin.secretAccessKey }, rotationId);

  function spec(userName: string, extra: Record<string, unknown> = {}): AwsIamAccessKeySpec {
    return AwsIamAccessKeySpecSchema.parse({
      userName,
      endpoint: target.endpoint,
      credentials: { accessKeyId: 'env:ROTOR_AWS_KEY_ID', secretAccessKey: 'env:ROTOR_AWS_SECRET' },
      ...extra,
    });
  }

  /** A user with one key in service, as Material. */
  async function appUser(): Promise<{ user: AwsTestUser; current: Material }> {
    const user = await target.iam.createUser(`app-${randomUUID().slice(0, 8)}`);
    return { user, current: new Material(user.accessKeyId, { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey }) };
  }

  /** A CreateRequest whose stage() records what it got (and, against ours, how many AWS requests had been made). */
  function request(current: Material | null, staged: Material | null = null) {
    const recorded = recordingRequest(() => aws?.requests.length ?? 0, current, staged);
    const stage = recorded.req.stage;
    recorded.req.stage = async (material) => {
      if (material.has('secretAccessKey')) madeSecrets.push(material.reveal('secretAccessKey'));
      await stage(material);
    };
    return recorded;
  }

  async function stsWorks(material: Material): Promise<boolean> {
    const sts = new STSClient({
      endpoint: target.endpoint,
      region: target.region,
      maxAttempts: 1,
      credentials: { accessKeyId: material.reveal('accessKeyId'), secretAccessKey: material.reveal('secretAccessKey') },
    });
    return sts.send(new GetCallerIdentityCommand({})).then(
      () => true,
      () => false,
    );
  }

  const keyIds = async (userName: string) => (await target.iam.accessKeys(userName)).map((k) => k.accessKeyId).sort();
  /** Successful CreateAccessKey calls our emulator saw (0 against moto: there the key lists prove it). */
  const creates = () => aws?.requests.filter((r) => r.action === 'CreateAccessKey' && r.status === 200).length ?? 0;

  /** Polls until `check` resolves true (no fixed sleeps); fails after `timeoutMs`. */
  async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  describe('aws-iam-access-key: create', () => {
    it.runIf(ours)('stages the new key right after CreateAccessKey, before any other call', async () => {
      const { user, current } = await appUser();
      const { req, calls } = request(current);
      const created = await source.create(context(), spec(user.userName), 'dual', req);

      expect(calls).toHaveLength(1);
      expect(calls[0]!.material).toBe(created);
      expect(aws.requests[calls[0]!.requestsSoFar - 1]).toMatchObject({ action: 'CreateAccessKey', status: 200 });
      expect(aws.requests.length).toBe(calls[0]!.requestsSoFar); // nothing after the stage
      expect(created.id).toMatch(/^AKIA[A-Z2-7]{16}$/);
      expect(created.fieldNames()).toEqual(['accessKeyId', 'secretAccessKey']);
      expect(created.reveal('accessKeyId')).toBe(created.id);
      expect(await keyIds(user.userName)).toEqual([current.id, created.id].sort());
    });

    it('on a retry with staged material returns the same key and creates none', async () => {
      const { user, current } = await appUser();
      const first = request(current);
      const created = await source.create(context(), spec(user.userName), 'dual', first.req);
      const before = creates();
      const retry = request(current, created);
      const again = await source.create(context(), spec(user.userName), 'dual', retry.req);
      expect(again).toBe(created);
      expect(creates()).toBe(before);
      expect(retry.calls).toHaveLength(0);
      expect(await keyIds(user.userName)).toEqual([current.id, created.id].sort());
    });

    it('refuses a retry whose staged key was deleted outside Rotor', async () => {
      const { user, current } = await appUser();
      const gone = new Material('AKIA' + 'M'.repeat(16), { accessKeyId: 'AKIA' + 'M'.repeat(16), secretAccessKey: 'x'.repeat(40) });
      const refused = await rejection(source.create(context(), spec(user.userName), 'dual', request(current, gone).req));
      expect(refused).toBeInstanceOf(ProviderRefusal);
      expect(refused.message).toContain(`access key ${gone.id} staged by this rotation no longer exists`);
    });

    it('after a crash between CreateAccessKey and stage, a retry deletes the orphan instead of hitting the 2-key limit', async () => {
      const { user, current } = await appUser();
      const ctx = context();
      await rejection(source.create(ctx, spec(user.userName), 'dual', crashingRequest(current)));
      const [orphan] = (await keyIds(user.userName)).filter((id) => id !== current.id);
      expect(orphan).toBeDefined();

      const retry = request(current);
      const created = await source.create(context(ctx.rotationId), spec(user.userName), 'dual', retry.req);
      expect(await keyIds(user.userName)).toEqual([current.id, created.id].sort());
      expect(created.id).not.toBe(orphan);
      expect(logs.some((l) => l.includes(orphan!) && l.includes('never staged'))).toBe(true);
    });

    it('refuses when both slots hold keys Rotor does not manage, naming them', async () => {
      const { user } = await appUser();
      const other = await target.iam.addAccessKey(user.userName);
      const otherCreated = (await target.iam.accessKeys(user.userName)).find((k) => k.accessKeyId === other.accessKeyId)!.createdAt;
      const before = creates();
      const refused = await rejection(source.create(context(), spec(user.userName), 'dual', request(null).req));
      expect(refused).toBeInstanceOf(ProviderRefusal);
      expect(refused.message).toContain(`${user.accessKeyId} (Active, created`);
      expect(refused.message).toContain(`${other.accessKeyId} (Active, created ${otherCreated.toISOString().slice(0, 10)}`);
      expect(refused.message).toContain('already has two access keys');
      expect(creates()).toBe(before);
      expect(await keyIds(user.userName)).toEqual([user.accessKeyId, other.accessKeyId].sort());
    });

    it('another rotation does not take an unused key it did not make for an orphan', async () => {
      const { user, current } = await appUser();
      await rejection(source.create(context(), spec(user.userName), 'dual', crashingRequest(current)));
      const [leftover] = (await keyIds(user.userName)).filter((id) => id !== current.id);
      const refused = await rejection(source.create(context(), spec(user.userName), 'dual', request(current).req));
      expect(refused).toBeInstanceOf(ProviderRefusal);
      expect(refused.message).toContain(`${leftover} (Active`);
      expect(refused.message).toContain('never used');
      expect(await keyIds(user.userName)).toEqual([current.id, leftover!].sort());
    });

    it('the same rotation keeps a key someone else made and used meanwhile', async () => {
      const { user } = await appUser();
      const ctx = context();
      // No current material: the user's first key is unmanaged, and the crash leaves an orphan beside it.
      const first = await keyIds(user.userName);
      await rejection(source.create(ctx, spec(user.userName), 'dual', crashingRequest(null)));
      const orphan = (await keyIds(user.userName)).find((id) => !first.includes(id))!;
      await source.discard(context(), spec(user.userName), 'dual', new Material(orphan, { accessKeyId: orphan, secretAccessKey: 'unused' }), null);
      const someoneElses = await target.iam.addAccessKey(user.userName);
      await stsWorks(new Material(someoneElses.accessKeyId, someoneElses));
      const refused = await rejection(source.create(context(ctx.rotationId), spec(user.userName), 'dual', request(null).req));
      expect(refused).toBeInstanceOf(ProviderRefusal);
      expect(await keyIds(user.userName)).toEqual([...first, someoneElses.accessKeyId].sort());
    });

    it('with allowDeleteInactive deletes an Inactive unmanaged key to make room, and logs it', async () => {
      const { user, current } = await appUser();
      const inactive = await target.iam.addAccessKey(user.userName, { status: 'Inactive' });
      const created = await source.create(context(), spec(user.userName, { allowDeleteInactive: true }), 'dual', request(current).req);
      expect(await keyIds(user.userName)).toEqual([current.id, created.id].sort());
      expect(logs.some((l) => l.includes(inactive.accessKeyId) && l.includes('allowDeleteInactive'))).toBe(true);
    });

    it('refuses the single strategy', async () => {
      const { user, current } = await appUser();
      expect(await rejection(source.create(context(), spec(user.userName), 'single', request(current).req))).toBeInstanceOf(ProviderRefusal);
    });

    it.runIf(ours)('reports throttling as retryable', async () => {
      const { user, current } = await appUser();
      aws.faults.add({ status: 429, ...awsFault('iam', 'Throttling', 'Rate exceeded'), match: (r) => r.path === '/iam/ListAccessKeys', times: 2 });
      const throttled = await rejection(source.create(context(), spec(user.userName), 'dual', request(current).req));
      expect(throttled).not.toBeInstanceOf(ProviderRefusal);
      expect(throttled.message).toContain('Throttling');
      expect(throttled.message).toContain(`IAM user "${user.userName}"`);
    });

    it('reports a denied IAM action as a refusal', async () => {
      const { user, current } = await appUser();
      const limited = await target.iam.rotorUser(`limited-${randomUUID().slice(0, 8)}`);
      await target.iam.deny(limited.userName, 'iam:ListAccessKeys');
      const ctx = context();
      const denied = await rejection(
        source.create({ ...ctx, resolveSecret: async (ref) => (ref.endsWith('KEY_ID') ? limited.accessKeyId : limited.secretAccessKey) }, spec(user.userName), 'dual', request(current).req),
      );
      expect(denied).toBeInstanceOf(ProviderRefusal);
      expect(denied.message).toContain('AccessDenied');
    });
  });

  describe('aws-iam-access-key: verify, disable, revoke, discard', () => {
    it.runIf(ours)('verify fails retryably while IAM propagates the new key, then passes', async () => {
      const { user, current } = await appUser();
      aws.iam.setPropagationDelay(400);
      try {
        const created = await source.create(context(), spec(user.userName), 'dual', request(current).req);
        const early = await rejection(source.verify(context(), spec(user.userName), created));
        expect(early).not.toBeInstanceOf(ProviderRefusal);
        expect(early.message).toContain('not accepted yet');
        expect(early.message).toContain('InvalidClientTokenId');
        await waitFor(() => source.verify(context(), spec(user.userName), created).then(() => true, () => false));
      } finally {
        aws.iam.setPropagationDelay(0);
      }
    });

    it('verify refuses a key of another user and a secret that does not match', async () => {
      const { user } = await appUser();
      const stranger = await appUser();
      const wrongUser = await rejection(source.verify(context(), spec(user.userName), stranger.current));
      expect(wrongUser).toBeInstanceOf(ProviderRefusal);
      expect(wrongUser.message).toContain(`not as IAM user "${user.userName}"`);
      const forged = new Material(user.accessKeyId, { accessKeyId: user.accessKeyId, secretAccessKey: stranger.user.secretAccessKey });
      const badSecret = await rejection(source.verify(context(), spec(user.userName), forged));
      expect(badSecret).toBeInstanceOf(ProviderRefusal);
      expect(badSecret.message).toContain('SignatureDoesNotMatch');
    });

    it('disable makes the old key fail', async () => {
      const { user, current } = await appUser();
      await source.create(context(), spec(user.userName), 'dual', request(current).req);
      await source.disable!(context(), spec(user.userName), current);
      expect((await target.iam.accessKeys(user.userName)).find((k) => k.accessKeyId === current.id)?.status).toBe('Inactive');
      // AWS refuses an Inactive key; moto lets it sign (a deviation, listed in the README).
      if (!target.deviations.has('inactive-key-authenticates')) expect(await stsWorks(current)).toBe(false);
    });

    it('revoke deletes the old key, which STS then refuses; a repeat succeeds; the new key keeps working', async () => {
      const { user, current } = await appUser();
      const created = await source.create(context(), spec(user.userName), 'dual', request(current).req);
      expect(await stsWorks(current)).toBe(true);
      await source.disable!(context(), spec(user.userName), current);
      await source.revoke(context(), spec(user.userName), 'dual', current);
      expect(await keyIds(user.userName)).toEqual([created.id]);
      expect(await stsWorks(current)).toBe(false);
      expect(await stsWorks(created)).toBe(true);
      await source.revoke(context(), spec(user.userName), 'dual', current);
      await source.disable!(context(), spec(user.userName), current); // gone counts as disabled
    });

    it('revoke refuses to delete the only active key of the user', async () => {
      const { user, current } = await appUser();
      const refused = await rejection(source.revoke(context(), spec(user.userName), 'dual', current));
      expect(refused).toBeInstanceOf(ProviderRefusal);
      expect(refused.message).toContain('only active access key');
      expect(await stsWorks(current)).toBe(true);
    });

    it('discard deletes the created key (again: no-op) and refuses to discard the current one', async () => {
      const { user, current } = await appUser();
      const created = await source.create(context(), spec(user.userName), 'dual', request(current).req);
      await source.discard(context(), spec(user.userName), 'dual', created, current);
      expect(await keyIds(user.userName)).toEqual([current.id]);
      expect(await stsWorks(created)).toBe(false);
      await source.discard(context(), spec(user.userName), 'dual', created, current);
      expect(await rejection(source.discard(context(), spec(user.userName), 'dual', current, current))).toBeInstanceOf(ProviderRefusal);
      expect(await stsWorks(current)).toBe(true);
    });
  });

  describe('aws-iam-access-key: list and lastUsed', () => {
    it('lists the keys with status, creation and last use', async () => {
      const { user, current } = await appUser();
      const idle = await target.iam.addAccessKey(user.userName, { status: 'Inactive' });
      const before = Date.now();
      expect(await stsWorks(current)).toBe(true);
      const listed = await source.list(context(), spec(user.userName));
      const byId = new Map(listed.map((c) => [c.id, c]));
      expect(byId.get(current.id)).toMatchObject({ principal: user.userName, status: 'active' });
      expect(Date.parse(byId.get(current.id)!.lastUsedAt!)).toBeGreaterThanOrEqual(before - 1000);
      expect(byId.get(idle.accessKeyId)).toMatchObject({ status: 'inactive' });
      expect(byId.get(idle.accessKeyId)!.lastUsedAt).toBeUndefined();
      expect(byId.get(idle.accessKeyId)!.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);

      const used = await lastUsed(context(), spec(user.userName), current.id);
      expect(used).toMatchObject({ service: 'sts', region: 'us-east-1' });
      expect(await lastUsed(context(), spec(user.userName), idle.accessKeyId)).toEqual({ at: undefined, service: undefined, region: undefined });
      expect(await lastUsed(context(), spec(user.userName), 'AKIA' + 'N'.repeat(16))).toBeNull();
    });
  });

  describe('aws-iam-access-key: posture', () => {
    it('names broad grants: AWS admin policies, and inline or customer managed policies allowing * or iam:*', async () => {
      const { user } = await appUser();
      const privileges = source.privileges!;
      expect(await privileges(context(), spec(user.userName))).toEqual({ broad: [] });
      await target.iam.attachPolicy(user.userName, 'arn:aws:iam::aws:policy/ReadOnlyAccess');
      const narrow = await target.iam.createPolicy(`read-${user.userName}`, { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: '*' }] });
      await target.iam.attachPolicy(user.userName, narrow);
      expect(await privileges(context(), spec(user.userName))).toEqual({ broad: [] });

      const wide = await target.iam.createPolicy(`ops-${user.userName}`, { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:*', Resource: '*' }] });
      await target.iam.attachPolicy(user.userName, wide);
      await target.iam.attachPolicy(user.userName, 'arn:aws:iam::aws:policy/AdministratorAccess');
      await target.iam.putUserPolicy(user.userName, 'everything', { Version: '2012-10-17', Statement: { Effect: 'Allow', Action: '*', Resource: '*' } });
      expect((await privileges(context(), spec(user.userName))).broad.sort()).toEqual([
        'AdministratorAccess attached',
        'inline policy "everything" allows Action "*"',
        `managed policy "ops-${user.userName}" allows Action "iam:*"`,
      ]);
    });

    it('a missing permission to read a managed policy is named', async () => {
      const { user } = await appUser();
      await target.iam.attachPolicy(user.userName, await target.iam.createPolicy(`x-${user.userName}`, { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] }));
      await target.iam.deny(admin.userName, 'iam:GetPolicyVersion');
      const refused = await rejection(source.privileges!(context(), spec(user.userName)));
      expect(refused.message).toMatch(/cannot read the policies of IAM user "app-[\w-]+".*iam:GetPolicyVersion/);
    });
  });

  describe('aws-iam-access-key: no secret leaks', () => {
    it('no secret access key appears in any thrown error or log line', () => {
      const secrets = [...new Set([...target.iam.issuedSecrets(), ...madeSecrets])];
      expect(errors.length).toBeGreaterThan(5);
      expect(secrets.length).toBeGreaterThan(10);
      const text = kit.errorsAndLogsText();
      for (const secret of secrets) expect(text).not.toContain(secret);
    });
  });
});
