/**
 * IAM users and access keys in memory, with the IAM and STS actions Rotor uses. Rules kept from
 * AWS: two access keys per user, Active/Inactive, key ids `AKIA…` and 40-character secrets made at
 * run time, a last-used record per key, and a propagation delay before a new key authenticates.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { AwsError, type XmlValue } from './wire.js';

const ACCESS_KEYS_PER_USER = 2;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export interface AccessKeyRecord {
  id: string;
  secret: string;
  userName: string;
  status: 'Active' | 'Inactive';
  createdAt: Date;
  /** Epoch ms from which the key authenticates (IAM's eventual consistency). */
  validFrom: number;
  lastUsed?: { date: Date; service: string; region: string };
}

export interface UserRecord {
  name: string;
  userId: string;
  arn: string;
  path: string;
  createdAt: Date;
  attachedPolicies: Array<{ PolicyName: string; PolicyArn: string }>;
  inlinePolicies: Map<string, string>;
  tags: Map<string, string>;
  /** Actions (`iam:CreateAccessKey`, `secretsmanager:PutSecretValue`) answered with AccessDenied. */
  denied: Set<string>;
}

function randomId(prefix: string, length: number): string {
  let id = prefix;
  for (let i = 0; i < length; i++) id += BASE32[randomInt(BASE32.length)];
  return id;
}

const INVALID_TOKEN = 'The security token included in the request is invalid.';

/** A customer managed policy: one version is enough for posture (Rotor reads the default one). */
export interface ManagedPolicyRecord {
  name: string;
  arn: string;
  document: string;
}

export class IamState {
  readonly users = new Map<string, UserRecord>();
  readonly policies = new Map<string, ManagedPolicyRecord>();
  readonly keys = new Map<string, AccessKeyRecord>();
  /** Every secret access key ever issued, for leak scans. */
  readonly issuedSecrets: string[] = [];

  constructor(
    readonly accountId: string,
    public propagationDelayMs: number,
  ) {}

  createUser(name: string, path = '/'): UserRecord {
    if (this.users.has(name)) throw new AwsError('EntityAlreadyExists', 409, `User with name ${name} already exists.`);
    const user: UserRecord = {
      name,
      userId: randomId('AIDA', 17),
      arn: `arn:aws:iam::${this.accountId}:user${path}${name}`,
      path,
      createdAt: new Date(),
      attachedPolicies: [],
      inlinePolicies: new Map(),
      tags: new Map(),
      denied: new Set(),
    };
    this.users.set(name, user);
    return user;
  }

  createPolicy(name: string, document: string): ManagedPolicyRecord {
    const policy = { name, arn: `arn:aws:iam::${this.accountId}:policy/${name}`, document };
    this.policies.set(policy.arn, policy);
    return policy;
  }

  policy(arn: string): ManagedPolicyRecord {
    const policy = this.policies.get(arn);
    if (!policy) throw new AwsError('NoSuchEntity', 404, `Policy ${arn} does not exist or is not attachable.`);
    return policy;
  }

  user(name: string): UserRecord {
    const user = this.users.get(name);
    if (!user) throw new AwsError('NoSuchEntity', 404, `The user with name ${name} cannot be found.`);
    return user;
  }

  keysOf(userName: string): AccessKeyRecord[] {
    return [...this.keys.values()].filter((k) => k.userName === userName);
  }

  /** A new key; `immediate` skips the propagation delay (keys a test seeds before Rotor runs). */
  createKey(userName: string, immediate = false): AccessKeyRecord {
    this.user(userName);
    if (this.keysOf(userName).length >= ACCESS_KEYS_PER_USER) {
      throw new AwsError('LimitExceeded', 409, `Cannot exceed quota for AccessKeysPerUser: ${ACCESS_KEYS_PER_USER}`);
    }
    const createdAt = new Date();
    const key: AccessKeyRecord = {
      id: randomId('AKIA', 16),
      secret: randomBytes(30).toString('base64'),
      userName,
      status: 'Active',
      createdAt,
      validFrom: immediate ? 0 : createdAt.getTime() + this.propagationDelayMs,
    };
    this.keys.set(key.id, key);
    this.issuedSecrets.push(key.secret);
    return key;
  }

  /** The key a request was signed with, if it may authenticate now; otherwise AWS's refusal. */
  authenticate(accessKeyId: string, now = Date.now()): AccessKeyRecord {
    const key = this.keys.get(accessKeyId);
    if (!key || key.status !== 'Active' || now < key.validFrom) throw new AwsError('InvalidClientTokenId', 403, INVALID_TOKEN);
    return key;
  }

  /** AWS's AccessDenied when the caller's user is denied `action` (`service:Action`). */
  authorize(caller: UserRecord, action: string, resource: string): void {
    if (caller.denied.has(action)) {
      throw new AwsError(
        'AccessDenied',
        403,
        `User: ${caller.arn} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`,
      );
    }
  }

  /** One IAM action; the result element's content, or undefined for actions that return none. */
  iam(action: string, params: URLSearchParams, caller: UserRecord): XmlValue {
    // Most IAM actions default UserName to the caller's own user.
    const userName = params.get('UserName') ?? caller.name;
    const keyId = () => required(params, 'AccessKeyId');
    const ownKey = () => {
      const key = this.keys.get(keyId());
      if (!key || key.userName !== this.user(userName).name) throw new AwsError('NoSuchEntity', 404, `The Access Key with id ${keyId()} cannot be found.`);
      return key;
    };
    this.authorize(caller, `iam:${action}`, `arn:aws:iam::${this.accountId}:user/${userName}`);
    switch (action) {
      case 'CreateAccessKey': {
        const key = this.createKey(userName);
        return { AccessKey: { UserName: key.userName, AccessKeyId: key.id, Status: key.status, SecretAccessKey: key.secret, CreateDate: key.createdAt } };
      }
      case 'UpdateAccessKey': {
        const status = required(params, 'Status');
        if (status !== 'Active' && status !== 'Inactive') {
          throw new AwsError('ValidationError', 400, `1 validation error detected: Value '${status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]`);
        }
        ownKey().status = status;
        return undefined;
      }
      case 'DeleteAccessKey':
        this.keys.delete(ownKey().id);
        return undefined;
      case 'ListAccessKeys': {
        this.user(userName);
        const all = this.keysOf(userName);
        const start = Number(params.get('Marker') ?? 0);
        const max = Number(params.get('MaxItems') ?? 100);
        const page = all.slice(start, start + max);
        const truncated = start + max < all.length;
        return {
          UserName: userName,
          AccessKeyMetadata: page.map((k) => ({ UserName: k.userName, AccessKeyId: k.id, Status: k.status, CreateDate: k.createdAt })),
          IsTruncated: truncated,
          Marker: truncated ? String(start + max) : undefined,
        };
      }
      case 'GetAccessKeyLastUsed': {
        const key = this.keys.get(keyId());
        if (!key) throw new AwsError('NoSuchEntity', 404, `The Access Key with id ${keyId()} cannot be found.`);
        const used = key.lastUsed;
        // A key never used reports N/A for service and region, and no date.
        return { UserName: key.userName, AccessKeyLastUsed: { LastUsedDate: used?.date, ServiceName: used?.service ?? 'N/A', Region: used?.region ?? 'N/A' } };
      }
      case 'GetUser': {
        const user = this.user(userName);
        return { User: { Path: user.path, UserName: user.name, UserId: user.userId, Arn: user.arn, CreateDate: user.createdAt } };
      }
      case 'ListAttachedUserPolicies':
        return { AttachedPolicies: this.user(required(params, 'UserName')).attachedPolicies, IsTruncated: false };
      case 'GetPolicy': {
        const policy = this.policy(required(params, 'PolicyArn'));
        return { Policy: { PolicyName: policy.name, Arn: policy.arn, DefaultVersionId: 'v1', AttachmentCount: 1, IsAttachable: true } };
      }
      case 'GetPolicyVersion': {
        const policy = this.policy(required(params, 'PolicyArn'));
        const version = required(params, 'VersionId');
        if (version !== 'v1') throw new AwsError('NoSuchEntity', 404, `Policy ${policy.arn} version ${version} does not exist or is not attachable.`);
        // IAM returns policy documents URL-encoded.
        return { PolicyVersion: { Document: encodeURIComponent(policy.document), VersionId: 'v1', IsDefaultVersion: true } };
      }
      case 'ListUserPolicies':
        return { PolicyNames: [...this.user(required(params, 'UserName')).inlinePolicies.keys()], IsTruncated: false };
      case 'GetUserPolicy': {
        const user = this.user(required(params, 'UserName'));
        const name = required(params, 'PolicyName');
        const document = user.inlinePolicies.get(name);
        if (document === undefined) throw new AwsError('NoSuchEntity', 404, `The user policy with name ${name} cannot be found.`);
        // IAM returns policy documents URL-encoded.
        return { UserName: user.name, PolicyName: name, PolicyDocument: encodeURIComponent(document) };
      }
      case 'TagUser': {
        const user = this.user(required(params, 'UserName'));
        const tags = members(params, 'Tags');
        if (user.tags.size + tags.filter((t) => !user.tags.has(t.Key ?? '')).length > 50) throw new AwsError('LimitExceeded', 409, 'Cannot exceed quota for TagsPerUser: 50');
        for (const { Key, Value } of tags) {
          if (!Key) throw new AwsError('ValidationError', 400, "1 validation error detected: Value null at 'tags.member.key' failed to satisfy constraint: Member must not be null");
          if (!/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u.test(Value ?? '')) {
            throw new AwsError('ValidationError', 400, "1 validation error detected: Value at 'tags.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*");
          }
          user.tags.set(Key, Value ?? '');
        }
        return undefined;
      }
      case 'UntagUser': {
        const user = this.user(required(params, 'UserName'));
        for (const { '': key } of members(params, 'TagKeys')) if (key) user.tags.delete(key);
        return undefined;
      }
      case 'ListUserTags':
        return { Tags: [...this.user(required(params, 'UserName')).tags].map(([Key, Value]) => ({ Key, Value })), IsTruncated: false };
      default:
        throw new AwsError('InvalidAction', 400, `Could not find operation ${action} for version 2010-05-08`);
    }
  }

  sts(action: string, caller: UserRecord): XmlValue {
    if (action !== 'GetCallerIdentity') throw new AwsError('InvalidAction', 400, `Could not find operation ${action} for version 2011-06-15`);
    return { Arn: caller.arn, UserId: caller.userId, Account: this.accountId };
  }
}

/**
 * An awsQuery list: `Name.member.1.Key=…&Name.member.1.Value=…` (structures) or `Name.member.1=…`
 * (strings, returned under the key '').
 */
function members(params: URLSearchParams, name: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (const [key, value] of params) {
    const match = new RegExp(`^${name}\\.member\\.(\\d+)(?:\\.(\\w+))?$`).exec(key);
    if (match) (out[Number(match[1]) - 1] ??= {})[match[2] ?? ''] = value;
  }
  return out.filter(Boolean);
}

function required(params: URLSearchParams, name: string): string {
  const value = params.get(name);
  if (value === null || value === '') {
    const member = name[0]!.toLowerCase() + name.slice(1);
    throw new AwsError('ValidationError', 400, `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`);
  }
  return value;
}
