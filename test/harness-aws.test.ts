/**
 * The AWS emulator, driven through the real AWS SDK clients: if these hold, providers tested against
 * it see what IAM, STS and Secrets Manager would answer (SigV4 checked for real, IAM's limits and
 * propagation delay, Secrets Manager's staging labels and idempotency tokens, injected faults).
 */
import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsFault, startAwsEmulator, type AwsEmulator, type AwsTestUser } from './harness/aws/index.js';

let aws: AwsEmulator;
let admin: AwsTestUser;

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
}

const config = (credentials: Creds, region = aws.region) => ({ endpoint: aws.endpoint, region, credentials, maxAttempts: 1 });
const iamAs = (c: Creds) => new IAMClient(config(c));
const stsAs = (c: Creds, region?: string) => new STSClient(config(c, region));
const smAs = (c: Creds) => new SecretsManagerClient(config(c));

/** The rejection of a call that must fail, with the AWS error code (awsQuery's Code, else the name). */
async function rejection(call: Promise<unknown>): Promise<Error & { code: string; status?: number }> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e as Error & { Code?: string; $metadata?: { httpStatusCode?: number } },
  );
  if (!error) throw new Error('expected the call to fail');
  return Object.assign(error, { code: error.Code ?? error.name, status: error.$metadata?.httpStatusCode });
}

/** Polls until `check` resolves true; fails after `timeoutMs`. */
async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  aws = await startAwsEmulator();
  admin = aws.iam.createUser('rotor-admin');
});

afterAll(async () => {
  await aws?.close();
});

describe('AWS emulator: SigV4 authentication', () => {
  it('answers GetCallerIdentity for a correctly signed request with the key user', async () => {
    const identity = await stsAs(admin).send(new GetCallerIdentityCommand({}));
    expect(identity).toMatchObject({ Arn: `arn:aws:iam::${aws.accountId}:user/rotor-admin`, Account: aws.accountId, UserId: admin.userId });
    expect(admin.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(admin.secretAccessKey).toHaveLength(40);
  });

  it('refuses a wrong secret with SignatureDoesNotMatch (InvalidSignatureException in Secrets Manager)', async () => {
    const wrong = { accessKeyId: admin.accessKeyId, secretAccessKey: `${admin.secretAccessKey.slice(0, 39)}${admin.secretAccessKey.endsWith('A') ? 'B' : 'A'}` };
    const sts = await rejection(stsAs(wrong).send(new GetCallerIdentityCommand({})));
    expect([sts.code, sts.status]).toEqual(['SignatureDoesNotMatch', 403]);
    expect((await rejection(iamAs(wrong).send(new ListAccessKeysCommand({})))).code).toBe('SignatureDoesNotMatch');
    expect((await rejection(smAs(wrong).send(new DescribeSecretCommand({ SecretId: 'x' })))).code).toBe('InvalidSignatureException');
    expect(sts.message).not.toContain(wrong.secretAccessKey);
  });

  it('refuses a request whose body changed after signing', async () => {
    const sts = stsAs(admin);
    // The deserialize step runs after signing, just before the request is sent.
    sts.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { body?: string };
        // Same length, so only the signature (not Content-Length) gives it away.
        request.body = String(request.body).replace('Version=2011-06-15', 'Version=2011-06-16');
        return next(args);
      },
      { step: 'deserialize' },
    );
    expect((await rejection(sts.send(new GetCallerIdentityCommand({})))).code).toBe('SignatureDoesNotMatch');
  });

  it('refuses a signature scoped to another region', async () => {
    expect((await rejection(stsAs(admin, 'eu-west-1').send(new GetCallerIdentityCommand({})))).code).toBe('SignatureDoesNotMatch');
  });

  it('refuses an unknown key id with InvalidClientTokenId (UnrecognizedClientException in Secrets Manager)', async () => {
    const unknown = { accessKeyId: 'AKIA' + 'Z'.repeat(16), secretAccessKey: admin.secretAccessKey };
    const sts = await rejection(stsAs(unknown).send(new GetCallerIdentityCommand({})));
    expect([sts.code, sts.status]).toEqual(['InvalidClientTokenId', 403]);
    expect((await rejection(iamAs(unknown).send(new ListAccessKeysCommand({})))).code).toBe('InvalidClientTokenId');
    expect((await rejection(smAs(unknown).send(new DescribeSecretCommand({ SecretId: 'x' })))).code).toBe('UnrecognizedClientException');
  });

  it('refuses an unsigned request with MissingAuthenticationToken', async () => {
    const response = await fetch(aws.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=GetCallerIdentity&Version=2011-06-15',
    });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('<Code>MissingAuthenticationToken</Code>');
  });

  it('refuses Inactive and deleted keys, and records the last use of every authenticated call', async () => {
    const user = aws.iam.createUser(`app-${randomUUID().slice(0, 8)}`);
    const iam = iamAs(admin);
    const neverUsed = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: user.accessKeyId }));
    expect(neverUsed.AccessKeyLastUsed).toEqual({ ServiceName: 'N/A', Region: 'N/A' });

    const before = Date.now();
    await stsAs(user).send(new GetCallerIdentityCommand({}));
    const used = (await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: user.accessKeyId }))).AccessKeyLastUsed!;
    expect(used.ServiceName).toBe('sts');
    expect(used.LastUsedDate!.getTime()).toBeGreaterThanOrEqual(before - 1000);

    await iam.send(new UpdateAccessKeyCommand({ UserName: user.userName, AccessKeyId: user.accessKeyId, Status: 'Inactive' }));
    expect((await rejection(stsAs(user).send(new GetCallerIdentityCommand({})))).code).toBe('InvalidClientTokenId');
    await iam.send(new UpdateAccessKeyCommand({ UserName: user.userName, AccessKeyId: user.accessKeyId, Status: 'Active' }));
    await stsAs(user).send(new GetCallerIdentityCommand({}));
    await iam.send(new DeleteAccessKeyCommand({ UserName: user.userName, AccessKeyId: user.accessKeyId }));
    expect((await rejection(stsAs(user).send(new GetCallerIdentityCommand({})))).code).toBe('InvalidClientTokenId');
  });
});

describe('AWS emulator: IAM access keys', () => {
  it('allows two access keys per user and refuses a third with LimitExceeded', async () => {
    const user = aws.iam.createUser(`app-${randomUUID().slice(0, 8)}`);
    const iam = iamAs(admin);
    const second = await iam.send(new CreateAccessKeyCommand({ UserName: user.userName }));
    expect(second.AccessKey).toMatchObject({ UserName: user.userName, Status: 'Active' });
    expect(second.AccessKey!.AccessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(second.AccessKey!.SecretAccessKey).toHaveLength(40);
    const third = await rejection(iam.send(new CreateAccessKeyCommand({ UserName: user.userName })));
    expect([third.code, third.status, third.message]).toEqual(['LimitExceeded', 409, 'Cannot exceed quota for AccessKeysPerUser: 2']);

    const listed = await iam.send(new ListAccessKeysCommand({ UserName: user.userName }));
    expect(listed.AccessKeyMetadata!.map((k) => k.AccessKeyId).sort()).toEqual([user.accessKeyId, second.AccessKey!.AccessKeyId].sort());
    expect(listed.AccessKeyMetadata![0]!.CreateDate).toBeInstanceOf(Date);
    expect((await rejection(iam.send(new DeleteAccessKeyCommand({ UserName: user.userName, AccessKeyId: 'AKIA' + 'Q'.repeat(16) })))).code).toBe('NoSuchEntity');
  });

  it('refuses a new key until the propagation delay has passed', async () => {
    const user = aws.iam.createUser(`app-${randomUUID().slice(0, 8)}`);
    aws.iam.setPropagationDelay(300);
    try {
      const created = (await iamAs(admin).send(new CreateAccessKeyCommand({ UserName: user.userName }))).AccessKey!;
      const key = { accessKeyId: created.AccessKeyId!, secretAccessKey: created.SecretAccessKey! };
      expect((await rejection(stsAs(key).send(new GetCallerIdentityCommand({})))).code).toBe('InvalidClientTokenId');
      await waitFor(() => stsAs(key).send(new GetCallerIdentityCommand({})).then(() => true, () => false));
    } finally {
      aws.iam.setPropagationDelay(0);
    }
  });

  it('answers AccessDenied for denied actions and serves policies for posture checks', async () => {
    const user = aws.iam.createUser(`limited-${randomUUID().slice(0, 8)}`);
    aws.iam.deny(user.userName, 'iam:CreateAccessKey');
    const denied = await rejection(iamAs(user).send(new CreateAccessKeyCommand({})));
    expect([denied.code, denied.status]).toEqual(['AccessDenied', 403]);
    expect(denied.message).toContain('iam:CreateAccessKey');

    aws.iam.attachPolicy(user.userName, 'arn:aws:iam::aws:policy/ReadOnlyAccess');
    aws.iam.putUserPolicy(user.userName, 'rotate-own-keys', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:*AccessKey*', Resource: '*' }] });
    const attached = await iamAs(admin).send(new ListAttachedUserPoliciesCommand({ UserName: user.userName }));
    expect(attached.AttachedPolicies).toEqual([{ PolicyName: 'ReadOnlyAccess', PolicyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }]);
    const inline = await iamAs(admin).send(new GetUserPolicyCommand({ UserName: user.userName, PolicyName: 'rotate-own-keys' }));
    expect(JSON.parse(decodeURIComponent(inline.PolicyDocument!))).toMatchObject({ Statement: [{ Action: 'iam:*AccessKey*' }] });
  });
});

describe('AWS emulator: Secrets Manager', () => {
  const token = () => randomUUID();

  it('moves staging labels as AWS documents', async () => {
    const sm = smAs(admin);
    const name = `app/${randomUUID().slice(0, 8)}`;
    const v1 = token();
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'one', ClientRequestToken: v1 }));
    const v2 = token();
    const put = await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'two', ClientRequestToken: v2 }));
    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    expect(aws.secretsManager.stages(name)).toEqual({ [v2]: ['AWSCURRENT'], [v1]: ['AWSPREVIOUS'] });

    const v3 = token();
    await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'three', ClientRequestToken: v3, VersionStages: ['AWSPENDING'] }));
    expect(aws.secretsManager.stages(name)).toEqual({ [v2]: ['AWSCURRENT'], [v1]: ['AWSPREVIOUS'], [v3]: ['AWSPENDING'] });

    const unnamed = await rejection(sm.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSCURRENT', MoveToVersionId: v3 })));
    expect(unnamed.code).toBe('InvalidParameterException');
    expect(unnamed.message).toContain(`currently attached to version ${v2}`);
    const wrongSource = await rejection(sm.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSCURRENT', MoveToVersionId: v3, RemoveFromVersionId: v1 })));
    expect(wrongSource.code).toBe('InvalidParameterException');

    await sm.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSCURRENT', MoveToVersionId: v3, RemoveFromVersionId: v2 }));
    await sm.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSPENDING', RemoveFromVersionId: v3 }));
    const described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    expect(described.VersionIdsToStages).toEqual({ [v3]: ['AWSCURRENT'], [v2]: ['AWSPREVIOUS'] });
    const removeCurrent = await rejection(sm.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSCURRENT', RemoveFromVersionId: v3 })));
    expect(removeCurrent.code).toBe('InvalidParameterException');

    // v1 lost its last label: deprecated, listed only on request.
    const listed = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name }));
    expect(listed.Versions!.map((v) => v.VersionId).sort()).toEqual([v2, v3].sort());
    const all = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }));
    expect(all.Versions!.find((v) => v.VersionId === v1)?.VersionStages).toEqual([]);

    expect((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('three');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: described.ARN!, VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe('two');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: v1 }))).SecretString).toBe('one');
    const noPending = await rejection(sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' })));
    expect([noPending.code, noPending.message]).toEqual(['ResourceNotFoundException', "Secrets Manager can't find the specified secret value for staging label: AWSPENDING"]);
    expect((await rejection(sm.send(new DescribeSecretCommand({ SecretId: 'no/such/secret' })))).code).toBe('ResourceNotFoundException');
  });

  it('treats ClientRequestToken as the idempotency key of a version', async () => {
    const sm = smAs(admin);
    const name = `app/${randomUUID().slice(0, 8)}`;
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'one' }));
    const t = token();
    const first = await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'two', ClientRequestToken: t, VersionStages: ['AWSPENDING'] }));
    const again = await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'two', ClientRequestToken: t, VersionStages: ['AWSPENDING'] }));
    expect(again.VersionId).toBe(first.VersionId);
    expect((await sm.send(new ListSecretVersionIdsCommand({ SecretId: name }))).Versions).toHaveLength(2);

    const changed = await rejection(sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'other', ClientRequestToken: t })));
    expect(changed.code).toBe('ResourceExistsException');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: t }))).SecretString).toBe('two');
    expect((await rejection(sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'x', ClientRequestToken: 'too-short' })))).code).toBe('ValidationException');
    expect((await rejection(sm.send(new CreateSecretCommand({ Name: name, SecretString: 'x' })))).code).toBe('ResourceExistsException');
  });
});

describe('AWS emulator: faults', () => {
  it('throttles once with 429 and the SDK retries to success', async () => {
    aws.faults.add({ status: 429, ...awsFault('sts', 'Throttling', 'Rate exceeded'), match: (r) => r.path === '/sts/GetCallerIdentity' });
    const injected = aws.faults.injected;
    const reply = await new STSClient({ endpoint: aws.endpoint, region: aws.region, credentials: admin, maxAttempts: 3 }).send(new GetCallerIdentityCommand({}));
    expect(reply.$metadata.attempts).toBe(2);
    expect(aws.faults.injected).toBe(injected + 1);
    expect(aws.requests.filter((r) => r.action === 'GetCallerIdentity').slice(-2).map((r) => r.status)).toEqual([429, 200]);
  });

  it('throttles Secrets Manager in its own protocol, and a 503 without retries reaches the caller', async () => {
    aws.faults.add({ status: 400, ...awsFault('secretsmanager', 'ThrottlingException', 'Rate exceeded'), match: (r) => r.path.startsWith('/secretsmanager/') });
    const name = `app/${randomUUID().slice(0, 8)}`;
    const created = await new SecretsManagerClient({ endpoint: aws.endpoint, region: aws.region, credentials: admin, maxAttempts: 3 }).send(
      new CreateSecretCommand({ Name: name, SecretString: 'one' }),
    );
    expect(created.$metadata.attempts).toBe(2);

    aws.faults.add({ status: 503, ...awsFault('iam', 'ServiceUnavailable', 'Service is unavailable'), match: (r) => r.path === '/iam/ListAccessKeys' });
    const failed = await rejection(iamAs(admin).send(new ListAccessKeysCommand({})));
    expect([failed.code, failed.status]).toEqual(['ServiceUnavailable', 503]);
  });
});
