/**
 * The AWS systems the AWS suites run against: our emulator and moto. A suite is written once over an
 * AwsTarget (`describe.each(awsTargets)`); what only our emulator can do (fault injection, IAM's
 * propagation delay, backdated keys, its request log) is reached through `target.ours`, and tests
 * that need it run only there.
 *
 * Against moto every test arrangement goes through AWS's own API (CreateUser, PutUserPolicy with a
 * Deny, …), and Rotor's identity holds exactly the policy the README gives (ROTOR_POLICY), so the
 * suites also prove that policy is enough.
 */
import {
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreatePolicyCommand,
  CreateUserCommand,
  GetAccessKeyLastUsedCommand,
  IAMClient,
  ListAccessKeysCommand,
  PutUserPolicyCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { ListSecretVersionIdsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startAwsEmulator, type AwsEmulator, type AwsTestUser } from './index.js';
import { MOTO_VERSION, startMoto } from './moto.js';

/** Rotor's AWS permissions as the README's "Permissions Rotor needs" lists them (rotation, discovery, posture). */
export const ROTOR_POLICY = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: [
        'iam:ListAccessKeys',
        'iam:CreateAccessKey',
        'iam:UpdateAccessKey',
        'iam:DeleteAccessKey',
        'iam:GetAccessKeyLastUsed',
        'iam:TagUser',
        'iam:ListUserTags',
        'iam:ListAttachedUserPolicies',
        'iam:ListUserPolicies',
        'iam:GetUserPolicy',
        'iam:GetPolicy',
        'iam:GetPolicyVersion',
      ],
      Resource: '*',
    },
    {
      Effect: 'Allow',
      Action: [
        'secretsmanager:GetSecretValue',
        'secretsmanager:PutSecretValue',
        'secretsmanager:DescribeSecret',
        'secretsmanager:UpdateSecretVersionStage',
        'secretsmanager:ListSecretVersionIds',
      ],
      Resource: '*',
    },
  ],
};

export interface AccessKeyInfo {
  accessKeyId: string;
  status: 'Active' | 'Inactive';
  createdAt: Date;
  lastUsedAt?: Date;
}

/**
 * Where moto 5.2.5 departs from AWS's documented API (found by running the suites against it):
 * - `inactive-key-authenticates`: an Inactive access key still signs requests; AWS refuses it
 *   (InvalidClientTokenId).
 * - `put-same-token-overwrites`: PutSecretValue with an existing ClientRequestToken and another value
 *   replaces that version's value; AWS refuses it (ResourceExistsException: versions are immutable).
 * - `default-read-misses-label-moves`: GetSecretValue without VersionStage keeps returning the version
 *   that was current before UpdateSecretVersionStage moved AWSCURRENT; AWS returns AWSCURRENT's. The
 *   suites read with `VersionStage: 'AWSCURRENT'` (the documented default) so both agree.
 */
export type AwsDeviation = 'inactive-key-authenticates' | 'put-same-token-overwrites' | 'default-read-misses-label-moves';

export interface AwsTarget {
  /** `our emulator` or `moto 5.2.5`, for test names and the README. */
  name: string;
  endpoint: string;
  region: string;
  /** Our emulator, for what only it can do; undefined against moto. */
  ours?: AwsEmulator;
  /**
   * Where the target departs from AWS's documented behaviour (each is listed in the README); a test
   * asserting that behaviour runs only where the target has it.
   */
  deviations: ReadonlySet<AwsDeviation>;
  /** A user allowed everything: the tests' own hands, for arranging state (creating secrets, say). */
  admin: AwsTestUser | { accessKeyId: string; secretAccessKey: string };
  iam: {
    /** Rotor's identity: against moto it holds exactly ROTOR_POLICY. */
    rotorUser(name?: string): Promise<AwsTestUser>;
    /** A user with one working access key and no permissions of its own. */
    createUser(name: string, options?: { path?: string }): Promise<AwsTestUser>;
    addAccessKey(userName: string, options?: { status?: 'Active' | 'Inactive' }): Promise<{ accessKeyId: string; secretAccessKey: string }>;
    accessKeys(userName: string): Promise<AccessKeyInfo[]>;
    attachPolicy(userName: string, policyArn: string): Promise<void>;
    createPolicy(name: string, document: unknown): Promise<string>;
    putUserPolicy(userName: string, policyName: string, document: unknown): Promise<void>;
    /** An explicit Deny of `action` for this user (against moto: an inline policy, AWS's own way). */
    deny(userName: string, action: string): Promise<void>;
    /** Every secret access key the harness saw issued (ours: every one the emulator made). */
    issuedSecrets(): string[];
  };
  secretsManager: {
    /** Labels per version id of a secret, from ListSecretVersionIds (versions without labels left out). */
    stages(secretId: string): Promise<Record<string, string[]>>;
  };
  close(): Promise<void>;
}

export interface AwsTargetKind {
  name: string;
  start(): Promise<AwsTarget>;
}

const stagesThrough = (client: () => SecretsManagerClient) => async (secretId: string) => {
  const out: Record<string, string[]> = {};
  let NextToken: string | undefined;
  do {
    const page = await client().send(new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true, NextToken }));
    for (const v of page.Versions ?? []) if (v.VersionStages?.length) out[v.VersionId!] = [...v.VersionStages];
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
};

export const ourAwsEmulator: AwsTargetKind = {
  name: 'our emulator',
  async start() {
    const aws = await startAwsEmulator();
    const admin = aws.iam.createUser('harness-admin');
    const sm = new SecretsManagerClient({ endpoint: aws.endpoint, region: aws.region, credentials: admin, maxAttempts: 1 });
    return {
      name: 'our emulator',
      endpoint: aws.endpoint,
      region: aws.region,
      ours: aws,
      deviations: new Set(),
      admin,
      iam: {
        rotorUser: async (name = 'rotor') => aws.iam.createUser(name),
        createUser: async (name, options) => aws.iam.createUser(name, options),
        addAccessKey: async (userName, options) => aws.iam.addAccessKey(userName, options),
        accessKeys: async (userName) => aws.iam.accessKeys(userName),
        attachPolicy: async (userName, arn) => aws.iam.attachPolicy(userName, arn),
        createPolicy: async (name, document) => aws.iam.createPolicy(name, document),
        putUserPolicy: async (userName, policyName, document) => aws.iam.putUserPolicy(userName, policyName, document),
        deny: async (userName, action) => aws.iam.deny(userName, action),
        issuedSecrets: () => aws.iam.issuedSecrets(),
      },
      secretsManager: { stages: stagesThrough(() => sm) },
      async close() {
        sm.destroy();
        await aws.close();
      },
    };
  },
};

export const moto: AwsTargetKind = {
  name: `moto ${MOTO_VERSION}`,
  async start() {
    const server = await startMoto();
    const { endpoint, region, admin } = server;
    const iam = new IAMClient({ endpoint, region, credentials: admin, maxAttempts: 1 });
    const sm = new SecretsManagerClient({ endpoint, region, credentials: admin, maxAttempts: 1 });
    const issued: string[] = [];
    const newKey = async (userName: string) => {
      const key = (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!;
      issued.push(key.SecretAccessKey!);
      return { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    };
    const createUser = async (name: string, options: { path?: string } = {}): Promise<AwsTestUser> => {
      const user = (await iam.send(new CreateUserCommand({ UserName: name, ...(options.path ? { Path: options.path } : {}) }))).User!;
      return { userName: name, arn: user.Arn!, userId: user.UserId!, ...(await newKey(name)) };
    };
    const putUserPolicy = async (userName: string, policyName: string, document: unknown) => {
      await iam.send(new PutUserPolicyCommand({ UserName: userName, PolicyName: policyName, PolicyDocument: typeof document === 'string' ? document : JSON.stringify(document) }));
    };
    return {
      name: `moto ${MOTO_VERSION}`,
      endpoint,
      region,
      deviations: new Set<AwsDeviation>(['inactive-key-authenticates', 'put-same-token-overwrites', 'default-read-misses-label-moves']),
      admin,
      iam: {
        async rotorUser(name = 'rotor') {
          const user = await createUser(name);
          await putUserPolicy(name, 'rotor', ROTOR_POLICY);
          return user;
        },
        createUser,
        async addAccessKey(userName, options = {}) {
          const key = await newKey(userName);
          if (options.status === 'Inactive') await iam.send(new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: key.accessKeyId, Status: 'Inactive' }));
          return key;
        },
        async accessKeys(userName) {
          const listed = (await iam.send(new ListAccessKeysCommand({ UserName: userName }))).AccessKeyMetadata ?? [];
          return Promise.all(
            listed.map(async (k) => {
              const used = (await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: k.AccessKeyId! }))).AccessKeyLastUsed;
              return {
                accessKeyId: k.AccessKeyId!,
                status: k.Status as 'Active' | 'Inactive',
                createdAt: k.CreateDate!,
                ...(used?.LastUsedDate ? { lastUsedAt: used.LastUsedDate } : {}),
              };
            }),
          );
        },
        async attachPolicy(userName, policyArn) {
          await iam.send(new AttachUserPolicyCommand({ UserName: userName, PolicyArn: policyArn }));
        },
        async createPolicy(name, document) {
          const reply = await iam.send(new CreatePolicyCommand({ PolicyName: name, PolicyDocument: typeof document === 'string' ? document : JSON.stringify(document) }));
          return reply.Policy!.Arn!;
        },
        putUserPolicy,
        async deny(userName, action) {
          await putUserPolicy(userName, `deny-${action.replace(/[^\w+=,.@-]/g, '-')}`, { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: action, Resource: '*' }] });
        },
        issuedSecrets: () => [...issued],
      },
      secretsManager: { stages: stagesThrough(() => sm) },
      async close() {
        iam.destroy();
        sm.destroy();
        await server.close();
      },
    };
  },
};

/** Every AWS target, ours first. */
export const awsTargets: AwsTargetKind[] = [ourAwsEmulator, moto];
