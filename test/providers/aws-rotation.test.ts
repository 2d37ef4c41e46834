/**
 * The AWS providers together, called in the rotation protocol's order (as the activities call them)
 * without Temporal: an IAM key rotated with Secrets Manager as primary store and a second secret as
 * dependent, and a failed verify rolled back. The Temporal end-to-end test builds on the same steps.
 */
import { randomUUID } from 'node:crypto';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import type { CredentialSource, Dependent, PrimaryStore, ProviderContext } from '../../providers/contracts.js';
import { awsIamAccessKey, AwsIamAccessKeySpecSchema, type AwsIamAccessKeySpec } from '../../providers/aws-iam-access-key/index.js';
import { awsSecretsManager, AwsSecretsManagerSpecSchema, type AwsSecretsManagerSpec } from '../../providers/aws-secrets-manager/index.js';
import { startAwsEmulator, type AwsEmulator, type AwsTestUser } from '../harness/aws/index.js';
import { createProviderKit } from '../harness/provider-kit.js';

let aws: AwsEmulator;
let admin: AwsTestUser;
let consumer: SecretsManagerClient;
const source = awsIamAccessKey.source as CredentialSource<AwsIamAccessKeySpec>;
const primary = awsSecretsManager.primary as PrimaryStore<AwsSecretsManagerSpec>;
const dependent = awsSecretsManager.dependent as Dependent<AwsSecretsManagerSpec>;
const kit = createProviderKit({ credentialId: 'aws-app', logLevel: 'silent', material: awsIamAccessKey.produces });

beforeAll(async () => {
  aws = await startAwsEmulator();
  admin = aws.iam.createUser('rotor');
  consumer = new SecretsManagerClient({ endpoint: aws.endpoint, region: aws.region, credentials: admin, maxAttempts: 1 });
});

afterAll(async () => {
  consumer?.destroy();
  await aws?.close();
});

const connection = () => ({ endpoint: aws.endpoint, credentials: { accessKeyId: 'env:KEY_ID', secretAccessKey: 'env:SECRET' } });

const context = (rotationId: string) => kit.context({ KEY_ID: admin.accessKeyId, SECRET: admin.secretAccessKey }, rotationId);

async function stsWorks(key: { accessKeyId: string; secretAccessKey: string }): Promise<boolean> {
  const sts = new STSClient({ endpoint: aws.endpoint, region: aws.region, maxAttempts: 1, credentials: key });
  return sts.send(new GetCallerIdentityCommand({})).then(() => true, () => false);
}

/** An app user whose key is in service and stored in two secrets (primary and dependent). */
async function setup() {
  const user = aws.iam.createUser(`app-${randomUUID().slice(0, 8)}`);
  const value = JSON.stringify({ accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey });
  const primaryName = `rotor/${user.userName}`;
  const dependentName = `apps/${user.userName}`;
  await consumer.send(new CreateSecretCommand({ Name: primaryName, SecretString: value }));
  await consumer.send(new CreateSecretCommand({ Name: dependentName, SecretString: value }));
  return {
    user,
    keySpec: AwsIamAccessKeySpecSchema.parse({ userName: user.userName, ...connection() }),
    primarySpec: AwsSecretsManagerSpecSchema.parse({ secretId: primaryName, ...connection() }),
    dependentSpec: AwsSecretsManagerSpecSchema.parse({ secretId: dependentName, ...connection() }),
    served: async () => JSON.parse((await consumer.send(new GetSecretValueCommand({ SecretId: dependentName }))).SecretString!) as Record<string, string>,
  };
}

/** Steps 1–2 of the protocol: read current, create and stage, read pending back, verify. */
async function createAndVerify(ctx: ProviderContext, s: Awaited<ReturnType<typeof setup>>) {
  const current = await primary.read(ctx, s.primarySpec, 'current');
  const stage = (m: Material) => primary.stagePending(ctx, s.primarySpec, m);
  const created = await source.create(ctx, s.keySpec, 'dual', { staged: await primary.read(ctx, s.primarySpec, 'pending'), current, stage });
  await stage(created);
  const pending = (await primary.read(ctx, s.primarySpec, 'pending'))!;
  expect(pending.id).toBe(created.id);
  return { current: current!, pending };
}

describe('AWS providers in protocol order', () => {
  it('rotates an IAM key with zero downtime: old works until revoked, then STS refuses it', async () => {
    const s = await setup();
    const ctx = context(randomUUID());
    const { current, pending } = await createAndVerify(ctx, s);
    expect(current.id).toBe(s.user.accessKeyId);
    await source.verify(ctx, s.keySpec, pending);

    const receipt = await dependent.write(ctx, s.dependentSpec, pending);
    await dependent.check(ctx, s.dependentSpec, pending);
    expect(await s.served()).toEqual(pending.revealAll());
    expect(await stsWorks(s.user)).toBe(true); // old key still valid through the grace period

    await primary.promote(ctx, s.primarySpec);
    const previous = (await primary.read(ctx, s.primarySpec, 'previous'))!;
    expect(previous.id).toBe(current.id);
    expect((await primary.read(ctx, s.primarySpec, 'current'))!.id).toBe(pending.id);

    await source.disable!(ctx, s.keySpec, previous);
    await source.revoke(ctx, s.keySpec, 'dual', previous);
    expect(await stsWorks(s.user)).toBe(false);
    expect(await stsWorks({ accessKeyId: pending.reveal('accessKeyId'), secretAccessKey: pending.reveal('secretAccessKey') })).toBe(true);
    expect(aws.iam.accessKeys(s.user.userName).map((k) => k.accessKeyId)).toEqual([pending.id]);
    expect(receipt.previousVersion).not.toBeNull();

    // The next rotation starts from what this one left: one key in service, a free slot.
    const next = context(randomUUID());
    const again = await createAndVerify(next, s);
    expect(again.current.id).toBe(pending.id);
  });

  it('rolls back a rotation whose new key never verifies: old key still works, stores unchanged', async () => {
    const s = await setup();
    const ctx = context(randomUUID());
    aws.iam.setPropagationDelay(60_000);
    try {
      const { current, pending } = await createAndVerify(ctx, s);
      const receipt = await dependent.write(ctx, s.dependentSpec, pending);
      await expect(source.verify(ctx, s.keySpec, pending)).rejects.toThrow('not accepted yet');

      // Compensations in reverse: restore the dependent, discard the new key and the pending version.
      await dependent.restore(ctx, s.dependentSpec, receipt);
      await source.discard(ctx, s.keySpec, 'dual', (await primary.read(ctx, s.primarySpec, 'pending'))!, current);
      await primary.discardPending(ctx, s.primarySpec);

      expect(await stsWorks(s.user)).toBe(true);
      expect(await s.served()).toEqual(current.revealAll());
      expect((await primary.read(ctx, s.primarySpec, 'current'))!.id).toBe(current.id);
      expect(await primary.read(ctx, s.primarySpec, 'pending')).toBeNull();
      expect(aws.iam.accessKeys(s.user.userName).map((k) => k.accessKeyId)).toEqual([current.id]);
    } finally {
      aws.iam.setPropagationDelay(0);
    }
  });
});
