/**
 * Secrets Manager in memory: secrets, versions and staging labels, with AWS's documented rules.
 * - Each label sits on one version at a time; attaching it elsewhere moves it.
 * - Moving AWSCURRENT puts AWSPREVIOUS on the version it left.
 * - PutSecretValue without VersionStages moves AWSCURRENT; the first version always gets AWSCURRENT.
 * - ClientRequestToken is the new VersionId and the idempotency key: the same token with the same
 *   value does nothing, with another value fails (versions are immutable).
 * - A version that loses its last label is deprecated: kept, but listed only with IncludeDeprecated.
 */
import { randomInt } from 'node:crypto';
import { AwsError, epochSeconds } from './wire.js';

const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

interface VersionRecord {
  id: string;
  secretString?: string;
  /** Base64, as it travels in awsJson. */
  secretBinary?: string;
  createdAt: Date;
}

interface SecretRecord {
  name: string;
  arn: string;
  description?: string;
  createdAt: Date;
  lastChangedAt: Date;
  lastAccessedAt?: Date;
  /** In creation order. */
  versions: Map<string, VersionRecord>;
  /** Label → the version holding it. */
  labels: Map<string, string>;
}

type Input = Record<string, unknown>;

const notFound = () => new AwsError('ResourceNotFoundException', 400, "Secrets Manager can't find the specified secret.");
const invalid = (message: string) => new AwsError('InvalidParameterException', 400, message);

function text(input: Input, name: string, required = false): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) {
    if (required) throw new AwsError('ValidationException', 400, `1 validation error detected: Value null at '${name[0]!.toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`);
    return undefined;
  }
  if (typeof value !== 'string') throw new AwsError('SerializationException', 400, `${name} must be a string`);
  return value;
}

/** AWS: 32 to 64 characters (the SDKs fill in a UUID when the caller gives none). */
function checkToken(token: string): void {
  if (token.length < 32 || token.length > 64) {
    throw new AwsError('ValidationException', 400, `1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64`);
  }
}

/** Midnight UTC: AWS reports last access by the day. */
const today = () => new Date(new Date().toISOString().slice(0, 10));

export class SecretsManagerState {
  readonly secrets = new Map<string, SecretRecord>();

  constructor(
    readonly region: string,
    readonly accountId: string,
  ) {}

  /** Labels per version id, deprecated versions left out (DescribeSecret's VersionIdsToStages). */
  stages(secretId: string): Record<string, string[]> {
    const secret = this.find(secretId);
    const out: Record<string, string[]> = {};
    for (const [label, versionId] of secret.labels) (out[versionId] ??= []).push(label);
    return out;
  }

  handle(action: string, input: Input): unknown {
    switch (action) {
      case 'CreateSecret':
        return this.#create(input);
      case 'PutSecretValue':
        return this.#put(input);
      case 'GetSecretValue':
        return this.#get(input);
      case 'UpdateSecretVersionStage':
        return this.#updateStage(input);
      case 'DescribeSecret':
        return this.#describe(input);
      case 'ListSecretVersionIds':
        return this.#listVersions(input);
      default:
        throw new AwsError('UnknownOperationException', 400, `Unknown operation ${action}`);
    }
  }

  /** The secret named by a SecretId: its name or its full ARN. */
  find(secretId: string): SecretRecord {
    const secret = this.secrets.get(secretId) ?? [...this.secrets.values()].find((s) => s.arn === secretId);
    if (!secret) throw notFound();
    return secret;
  }

  #create(input: Input) {
    const name = text(input, 'Name', true)!;
    if (this.secrets.has(name)) throw new AwsError('ResourceExistsException', 400, `The operation failed because the secret ${name} already exists.`);
    let suffix = '';
    for (let i = 0; i < 6; i++) suffix += ALNUM[randomInt(ALNUM.length)];
    const now = new Date();
    const secret: SecretRecord = {
      name,
      arn: `arn:aws:secretsmanager:${this.region}:${this.accountId}:secret:${name}-${suffix}`,
      description: text(input, 'Description'),
      createdAt: now,
      lastChangedAt: now,
      versions: new Map(),
      labels: new Map(),
    };
    this.secrets.set(name, secret);
    const value = this.#value(input, false);
    if (!value) return { ARN: secret.arn, Name: name };
    const token = text(input, 'ClientRequestToken', true)!;
    checkToken(token);
    this.#addVersion(secret, token, value, [CURRENT]);
    return { ARN: secret.arn, Name: name, VersionId: token };
  }

  #put(input: Input) {
    const secret = this.find(text(input, 'SecretId', true)!);
    const token = text(input, 'ClientRequestToken', true)!;
    checkToken(token);
    const value = this.#value(input, true)!;
    const labels = input.VersionStages === undefined ? [CURRENT] : this.#labels(input.VersionStages);
    const existing = secret.versions.get(token);
    if (existing) {
      if (existing.secretString !== value.secretString || existing.secretBinary !== value.secretBinary) {
        throw new AwsError('ResourceExistsException', 400, "You can't modify an existing version, you can only create a new version.");
      }
      // Same token, same value: idempotent, nothing changes (not even the labels).
      return { ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: this.#labelsOf(secret, token) };
    }
    // The first version of a secret is AWSCURRENT whatever labels were asked for.
    if (secret.versions.size === 0 && !labels.includes(CURRENT)) labels.push(CURRENT);
    this.#addVersion(secret, token, value, labels);
    return { ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: this.#labelsOf(secret, token) };
  }

  #get(input: Input) {
    const secret = this.find(text(input, 'SecretId', true)!);
    const versionId = text(input, 'VersionId');
    const stage = text(input, 'VersionStage') ?? (versionId ? undefined : CURRENT);
    const byStage = stage === undefined ? undefined : secret.labels.get(stage);
    const id = versionId ?? byStage;
    const version = id === undefined ? undefined : secret.versions.get(id);
    if (!version || (stage !== undefined && byStage !== version.id)) {
      const what = [stage && `staging label: ${stage}`, versionId && `VersionId: ${versionId}`].filter(Boolean).join(' and ');
      throw new AwsError('ResourceNotFoundException', 400, `Secrets Manager can't find the specified secret value for ${what}`);
    }
    secret.lastAccessedAt = today();
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      SecretString: version.secretString,
      SecretBinary: version.secretBinary,
      VersionStages: this.#labelsOf(secret, version.id),
      CreatedDate: epochSeconds(version.createdAt),
    };
  }

  /**
   * Moves or removes one label. A label already attached elsewhere may only be moved when that
   * version is named in RemoveFromVersionId; AWSCURRENT can be moved but never just removed.
   */
  #updateStage(input: Input) {
    const secret = this.find(text(input, 'SecretId', true)!);
    const label = text(input, 'VersionStage', true)!;
    const moveTo = text(input, 'MoveToVersionId');
    const removeFrom = text(input, 'RemoveFromVersionId');
    for (const id of [moveTo, removeFrom]) {
      if (id !== undefined && !secret.versions.has(id)) throw invalid(`The version ${id} doesn't exist for secret ${secret.name}.`);
    }
    const holder = secret.labels.get(label);
    if (removeFrom !== undefined && holder !== removeFrom) {
      throw invalid(`The staging label ${label} is not attached to version ${removeFrom}, so you can't remove it from that version.`);
    }
    if (moveTo === undefined) {
      if (removeFrom === undefined) throw invalid('You must specify MoveToVersionId or RemoveFromVersionId.');
      if (label === CURRENT) throw invalid(`You can't remove the staging label ${CURRENT} from a version; move it to another version with MoveToVersionId.`);
      secret.labels.delete(label);
    } else {
      if (holder !== undefined && holder !== moveTo && holder !== removeFrom) {
        throw invalid(
          `The parameter RemoveFromVersionId can't be empty. Staging label ${label} is currently attached to version ${holder}, so you must explicitly reference that version in RemoveFromVersionId.`,
        );
      }
      this.#attach(secret, label, moveTo);
    }
    secret.lastChangedAt = new Date();
    return { ARN: secret.arn, Name: secret.name };
  }

  #describe(input: Input) {
    const secret = this.find(text(input, 'SecretId', true)!);
    return {
      ARN: secret.arn,
      Name: secret.name,
      Description: secret.description,
      CreatedDate: epochSeconds(secret.createdAt),
      LastChangedDate: epochSeconds(secret.lastChangedAt),
      LastAccessedDate: secret.lastAccessedAt && epochSeconds(secret.lastAccessedAt),
      RotationEnabled: false,
      VersionIdsToStages: this.stages(secret.name),
    };
  }

  #listVersions(input: Input) {
    const secret = this.find(text(input, 'SecretId', true)!);
    const includeDeprecated = input.IncludeDeprecated === true;
    const all = [...secret.versions.values()].filter((v) => includeDeprecated || this.#labelsOf(secret, v.id).length > 0);
    const start = Number(text(input, 'NextToken') ?? 0);
    const max = typeof input.MaxResults === 'number' ? input.MaxResults : 100;
    const page = all.slice(start, start + max);
    return {
      ARN: secret.arn,
      Name: secret.name,
      Versions: page.map((v) => ({ VersionId: v.id, VersionStages: this.#labelsOf(secret, v.id), CreatedDate: epochSeconds(v.createdAt) })),
      NextToken: start + max < all.length ? String(start + max) : undefined,
    };
  }

  #value(input: Input, required: boolean): Pick<VersionRecord, 'secretString' | 'secretBinary'> | undefined {
    const secretString = text(input, 'SecretString');
    const secretBinary = text(input, 'SecretBinary');
    if (secretString !== undefined && secretBinary !== undefined) throw invalid('You must provide either SecretString or SecretBinary, but not both.');
    if (secretString === undefined && secretBinary === undefined) {
      if (required) throw invalid('You must provide either SecretString or SecretBinary.');
      return undefined;
    }
    return { secretString, secretBinary };
  }

  #labels(value: unknown): string[] {
    if (!Array.isArray(value) || value.length > 20 || value.some((l) => typeof l !== 'string' || l.length < 1 || l.length > 256)) {
      throw new AwsError('ValidationException', 400, "1 validation error detected: Value at 'versionStages' failed to satisfy constraint: Member must have length less than or equal to 20");
    }
    return [...new Set(value as string[])];
  }

  #addVersion(secret: SecretRecord, id: string, value: Pick<VersionRecord, 'secretString' | 'secretBinary'>, labels: string[]): void {
    secret.versions.set(id, { id, ...value, createdAt: new Date() });
    for (const label of labels) this.#attach(secret, label, id);
    secret.lastChangedAt = new Date();
  }

  #attach(secret: SecretRecord, label: string, versionId: string): void {
    const from = secret.labels.get(label);
    if (from === versionId) return;
    secret.labels.set(label, versionId);
    if (label === CURRENT && from !== undefined) secret.labels.set(PREVIOUS, from);
  }

  #labelsOf(secret: SecretRecord, versionId: string): string[] {
    return [...secret.labels].filter(([, id]) => id === versionId).map(([label]) => label);
  }
}
