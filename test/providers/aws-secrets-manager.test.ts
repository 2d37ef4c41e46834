/**
 * The aws-secrets-manager provider against our AWS emulator and against moto (test/harness/aws/targets.ts),
 * through the real Secrets Manager client (Rotor holding only the README's policy against moto): AWS's own rotation labels (AWSPENDING → AWSCURRENT → AWSPREVIOUS), the rotation id as
 * idempotency token, dependent write/restore/check, and no value in any error or log.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { CreateSecretCommand, GetSecretValueCommand, ListSecretVersionIdsCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type Dependent, type MaterialShape, type PrimaryStore } from '../../providers/contracts.js';
import { awsIamAccessKey } from '../../providers/aws-iam-access-key/index.js';
import { gitlabToken } from '../../providers/gitlab-token/index.js';
import { postgresPassword } from '../../providers/postgres-password/index.js';
import { awsSecretsManager, AwsSecretsManagerSpecSchema, versionToken, type AwsSecretsManagerSpec } from '../../providers/aws-secrets-manager/index.js';
import { awsFault, type AwsEmulator, type AwsTestUser } from '../harness/aws/index.js';
import { awsTargets, type AwsTarget } from '../harness/aws/targets.js';
import { createProviderKit } from '../harness/provider-kit.js';

const primary = awsSecretsManager.primary as PrimaryStore<AwsSecretsManagerSpec>;
const dependent = awsSecretsManager.dependent as Dependent<AwsSecretsManagerSpec>;

describe('aws-secrets-manager: spec and tokens', () => {
  it('defaults region and format', () => {
    expect(AwsSecretsManagerSpecSchema.parse({ secretId: 'apps/x' })).toEqual({ secretId: 'apps/x', region: 'us-east-1', format: 'json' });
    expect(AwsSecretsManagerSpecSchema.safeParse({ secretId: 'apps/x', format: 'text' }).success).toBe(false);
    expect(AwsSecretsManagerSpecSchema.safeParse({ secretId: 'apps/x', endpoint: 'ftp://x' }).success).toBe(false);
  });

  it('uses a UUID rotation id as the version token and hashes other ids into one', () => {
    const id = randomUUID();
    expect(versionToken(id)).toBe(id);
    expect(versionToken('rot-1')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(versionToken('rot-1')).toBe(versionToken('rot-1'));
    expect(versionToken('rot-1')).not.toBe(versionToken('rot-2'));
  });
});

describe.each(awsTargets)('aws-secrets-manager against $name', (kind) => {
  let target: AwsTarget;
  /** Our emulator, for the fault-injection test that runs only against it. */
  let aws: AwsEmulator;
  let admin: AwsTestUser;
  /** The tests' own hands (an application, an operator): creates and reads secrets. */
  let consumer: SecretsManagerClient;
  const kit = createProviderKit({ credentialId: 'test-credential' });
  const { logs, errors, rejection } = kit;
  /** Every secret value the tests made, for the leak check. */
  const secrets: string[] = [];
  const ours = kind.name === 'our emulator';

  beforeAll(async () => {
    target = await kind.start();
    aws = target.ours!;
    admin = await target.iam.rotorUser();
    consumer = new SecretsManagerClient({ endpoint: target.endpoint, region: target.region, credentials: target.admin, maxAttempts: 1 });
  });

  afterAll(async () => {
    consumer?.destroy();
    await target?.close();
  });

  /** A context of a rotation of `material`'s credential type (an access key unless told). */
  const context = (rotationId?: string, material: MaterialShape = awsIamAccessKey.produces) =>
    kit.context({ AWS_KEY_ID: admin.accessKeyId, AWS_SECRET: admin.secretAccessKey }, rotationId, material);

  function spec(secretId: string): AwsSecretsManagerSpec {
    return AwsSecretsManagerSpecSchema.parse({ secretId, endpoint: target.endpoint, credentials: { accessKeyId: 'env:AWS_KEY_ID', secretAccessKey: 'env:AWS_SECRET' } });
  }

  function accessKey(): Material {
    const id = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
    const secret = randomBytes(30).toString('base64');
    secrets.push(secret);
    return new Material(id, { accessKeyId: id, secretAccessKey: secret });
  }

  /** A secret whose AWSCURRENT holds `material`; returns its name and that version id. */
  async function seeded(material: Material): Promise<{ name: string; version: string }> {
    const name = `apps/${randomUUID().slice(0, 8)}`;
    const reply = await consumer.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(material.revealAll()) }));
    return { name, version: reply.VersionId! };
  }

  /** What an application reading the secret sees: AWSCURRENT (named, as moto's default read can be stale). */
  async function served(name: string): Promise<Record<string, string>> {
    return JSON.parse((await consumer.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }))).SecretString!) as Record<string, string>;
  }

  const versionCount = async (name: string) => (await consumer.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }))).Versions!.length;

  describe('aws-secrets-manager: primary store', () => {
    it('stages as AWSPENDING, promotes to AWSCURRENT, keeps the old as AWSPREVIOUS', async () => {
      const old = accessKey();
      const { name, version: oldVersion } = await seeded(old);
      const ctx = context();
      expect((await primary.read(ctx, spec(name), 'current'))?.fingerprint()).toBe(old.fingerprint());
      expect((await primary.read(ctx, spec(name), 'current'))?.id).toBe(old.id);
      expect(await primary.read(ctx, spec(name), 'pending')).toBeNull();
      expect(await primary.read(ctx, spec(name), 'previous')).toBeNull();

      const next = accessKey();
      await primary.stagePending(ctx, spec(name), next);
      const pending = await primary.read(ctx, spec(name), 'pending');
      expect(pending?.id).toBe(next.id);
      expect(pending?.fingerprint()).toBe(next.fingerprint());
      expect(await served(name)).toEqual(old.revealAll()); // consumers still read the old key
      expect(await primary.read(context(), spec(name), 'pending')).toBeNull(); // not another rotation's
      expect(await target.secretsManager.stages(name)).toEqual({ [oldVersion]: ['AWSCURRENT'], [ctx.rotationId]: ['AWSPENDING'] });

      await primary.stagePending(ctx, spec(name), next); // retry
      expect(await versionCount(name)).toBe(2);
      // AWS refuses another value under the same token (versions are immutable); moto overwrites it.
      if (!target.deviations.has('put-same-token-overwrites')) {
        const other = await rejection(primary.stagePending(ctx, spec(name), accessKey()));
        expect(other).toBeInstanceOf(ProviderRefusal);
      }

      await primary.promote(ctx, spec(name));
      expect(await served(name)).toEqual(next.revealAll());
      expect(await target.secretsManager.stages(name)).toEqual({ [ctx.rotationId]: ['AWSCURRENT'], [oldVersion]: ['AWSPREVIOUS'] });
      expect((await primary.read(ctx, spec(name), 'current'))?.id).toBe(next.id);
      expect((await primary.read(ctx, spec(name), 'previous'))?.id).toBe(old.id);
      expect(await primary.read(ctx, spec(name), 'pending')).toBeNull();

      await primary.promote(ctx, spec(name)); // a repeat after success
      expect(await target.secretsManager.stages(name)).toEqual({ [ctx.rotationId]: ['AWSCURRENT'], [oldVersion]: ['AWSPREVIOUS'] });
      expect(await rejection(primary.promote(context(), spec(name)))).toBeInstanceOf(ProviderRefusal);
    });

    it('discardPending drops only this rotation\'s AWSPENDING, and a new rotation takes over a stale one', async () => {
      const old = accessKey();
      const { name, version: oldVersion } = await seeded(old);
      const stale = context();
      await primary.stagePending(stale, spec(name), accessKey());
      const fresh = context();
      await primary.discardPending(fresh, spec(name)); // not its label: nothing happens
      expect((await target.secretsManager.stages(name))[stale.rotationId]).toEqual(['AWSPENDING']);

      await primary.stagePending(fresh, spec(name), accessKey());
      expect(await primary.read(stale, spec(name), 'pending')).toBeNull();
      expect(logs.some((l) => l.includes(stale.rotationId) && l.includes('stale'))).toBe(true);
      await primary.discardPending(fresh, spec(name));
      await primary.discardPending(fresh, spec(name));
      expect(await target.secretsManager.stages(name)).toEqual({ [oldVersion]: ['AWSCURRENT'] });
      expect(await primary.read(fresh, spec(name), 'pending')).toBeNull();
      expect(await served(name)).toEqual(old.revealAll());
    });

    it('stores only the material fields as JSON, so consumers read exactly those', async () => {
      const { name } = await seeded(accessKey());
      const ctx = context();
      const next = accessKey();
      await primary.stagePending(ctx, spec(name), next);
      const raw = await consumer.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' }));
      expect(JSON.parse(raw.SecretString!)).toEqual({ accessKeyId: next.id, secretAccessKey: next.reveal('secretAccessKey') });
    });

    it('refuses to stage into a missing or empty secret, or material whose id is not a field', async () => {
      const ctx = context();
      const missing = await rejection(primary.stagePending(ctx, spec('apps/none'), accessKey()));
      expect(missing).toBeInstanceOf(ProviderRefusal);
      expect(missing.message).toContain('does not exist');

      const empty = `apps/${randomUUID().slice(0, 8)}`;
      await consumer.send(new CreateSecretCommand({ Name: empty }));
      const noCurrent = await rejection(primary.stagePending(ctx, spec(empty), accessKey()));
      expect(noCurrent.message).toContain('no AWSCURRENT');
      expect(await versionCount(empty)).toBe(0);

      const { name } = await seeded(accessKey());
      const anonymous = new Material('role-a', { password: 'p'.repeat(24) });
      secrets.push('p'.repeat(24));
      expect((await rejection(primary.stagePending(ctx, spec(name), anonymous))).message).toContain('its declared id field accessKeyId');
      const token = new Material('17', { token: 't'.repeat(24) });
      secrets.push('t'.repeat(24));
      expect((await rejection(primary.stagePending(context(undefined, gitlabToken.produces), spec(name), token))).message).toContain('declares no id field');
    });

    it("reads ids back from the credential type's declared id field, else the version id; refuses non-JSON values without quoting them", async () => {
      const db = new Material('app_a', { username: 'app_a', password: 'pw-' + randomUUID() });
      secrets.push(db.reveal('password'));
      expect((await primary.read(context(undefined, postgresPassword.produces), spec((await seeded(db)).name), 'current'))?.id).toBe('app_a');

      const opaque = new Material('x', { token: 'tok-' + randomUUID() });
      secrets.push(opaque.reveal('token'));
      const { name, version } = await seeded(opaque);
      expect((await primary.read(context(undefined, gitlabToken.produces), spec(name), 'current'))?.id).toBe(version);

      const plain = `apps/${randomUUID().slice(0, 8)}`;
      const value = `plain-${randomUUID()}`;
      secrets.push(value);
      await consumer.send(new CreateSecretCommand({ Name: plain, SecretString: value }));
      const refused = await rejection(primary.read(context(), spec(plain), 'current'));
      expect(refused).toBeInstanceOf(ProviderRefusal);
      expect(refused.message).toContain('is not a JSON object');
    });

    it.runIf(ours)('reports throttling as retryable, after one SDK retry', async () => {
      const { name } = await seeded(accessKey());
      aws.faults.add({ status: 429, ...awsFault('secretsmanager', 'ThrottlingException', 'Rate exceeded'), match: (r) => r.path === '/secretsmanager/DescribeSecret', times: 2 });
      const throttled = await rejection(primary.stagePending(context(), spec(name), accessKey()));
      expect(throttled).not.toBeInstanceOf(ProviderRefusal);
      expect(throttled.message).toContain('ThrottlingException');
      aws.faults.add({ status: 429, ...awsFault('secretsmanager', 'ThrottlingException', 'Rate exceeded'), match: (r) => r.path === '/secretsmanager/DescribeSecret', times: 1 });
      await primary.stagePending(context(), spec(name), accessKey());
    });
  });

  describe('aws-secrets-manager: dependent', () => {
    it('write makes a new AWSCURRENT version and names the one it replaced; a retry returns the same receipt', async () => {
      const old = accessKey();
      const { name, version: oldVersion } = await seeded(old);
      const ctx = context();
      const next = accessKey();
      const receipt = await dependent.write(ctx, spec(name), next);
      expect(receipt).toEqual({ version: ctx.rotationId, previousVersion: oldVersion });
      expect(await served(name)).toEqual(next.revealAll());
      await dependent.check(ctx, spec(name), next);

      expect(await dependent.write(ctx, spec(name), next)).toEqual(receipt);
      expect(await versionCount(name)).toBe(2);
      const stale = await rejection(dependent.check(ctx, spec(name), old));
      expect(stale).not.toBeInstanceOf(ProviderRefusal);
      expect(stale.message).toContain(`does not hold material ${old.id}`);
    });

    it('restore moves AWSCURRENT back and takes AWSPREVIOUS off the rolled-back version; a repeat is a no-op', async () => {
      const old = accessKey();
      const { name, version: oldVersion } = await seeded(old);
      const ctx = context();
      const receipt = await dependent.write(ctx, spec(name), accessKey());
      await dependent.restore(ctx, spec(name), receipt);
      expect(await served(name)).toEqual(old.revealAll());
      expect(await target.secretsManager.stages(name)).toEqual({ [oldVersion]: ['AWSCURRENT'] });
      await dependent.restore(ctx, spec(name), receipt);
      await dependent.check(ctx, spec(name), old);
    });

    it('restore refuses when someone wrote after the rotation, and when there was nothing before', async () => {
      const { name } = await seeded(accessKey());
      const ctx = context();
      const receipt = await dependent.write(ctx, spec(name), accessKey());
      const later = accessKey();
      await consumer.send(new PutSecretValueCommand({ SecretId: name, SecretString: JSON.stringify(later.revealAll()) }));
      const refused = await rejection(dependent.restore(ctx, spec(name), receipt));
      expect(refused).toBeInstanceOf(ProviderRefusal);
      expect(refused.message).toContain('changed since');
      expect(await served(name)).toEqual(later.revealAll());

      const nothingBefore = await rejection(dependent.restore(ctx, spec(name), { version: (await consumer.send(new GetSecretValueCommand({ SecretId: name }))).VersionId!, previousVersion: null }));
      expect(nothingBefore).toBeInstanceOf(ProviderRefusal);
    });

    it('write refuses a secret that does not exist', async () => {
      const refused = await rejection(dependent.write(context(), spec('apps/missing'), accessKey()));
      expect(refused).toBeInstanceOf(ProviderRefusal);
      expect(refused.message).toContain('apps/missing');
    });
  });

  describe('aws-secrets-manager: no secret leaks', () => {
    it('no secret value appears in any thrown error or log line', () => {
      expect(errors.length).toBeGreaterThan(ours ? 8 : 6); // moto skips the throttling and immutable-version refusals
      const text = kit.errorsAndLogsText();
      for (const secret of secrets) expect(text).not.toContain(secret);
    });
  });
});
