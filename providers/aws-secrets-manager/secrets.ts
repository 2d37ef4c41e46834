/**
 * The Secrets Manager calls of the aws-secrets-manager provider: versions and staging labels of one
 * secret. Errors are rebuilt by awsFailure and name the secret and version ids, never a value.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ProviderRefusal, type ProviderContext } from '../contracts.js';
import { awsClientConfig, awsErrorCode, awsFailure } from '../aws-shared.js';
import type { AwsSecretsManagerSpec } from './spec.js';

export const CURRENT = 'AWSCURRENT';
export const PENDING = 'AWSPENDING';
export const PREVIOUS = 'AWSPREVIOUS';

/** Staging labels per version id (VersionIdsToStages). */
export type Stages = Record<string, string[]>;

/** The version holding a label, if any. */
export function holder(stages: Stages, label: string): string | undefined {
  return Object.entries(stages).find(([, labels]) => labels.includes(label))?.[0];
}

type SecretsManagerSdk = typeof import('@aws-sdk/client-secrets-manager');

export interface SecretVersion {
  versionId: string;
  secretString: string;
}

export class SecretVersions {
  private constructor(
    private readonly ctx: ProviderContext,
    private readonly sdk: SecretsManagerSdk,
    private readonly client: SecretsManagerClient,
    readonly secretId: string,
  ) {}

  /** Runs `work` with a client for the spec's secret, closed afterwards. */
  static async use<T>(ctx: ProviderContext, spec: AwsSecretsManagerSpec, work: (secret: SecretVersions) => Promise<T>): Promise<T> {
    // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
    const sdk = await import('@aws-sdk/client-secrets-manager');
    const client = new sdk.SecretsManagerClient(await awsClientConfig(ctx, spec));
    try {
      return await work(new SecretVersions(ctx, sdk, client, spec.secretId));
    } finally {
      client.destroy();
    }
  }

  /** Labels per version; null when the secret does not exist. */
  async stages(): Promise<Stages | null> {
    try {
      const reply = await this.client.send(new this.sdk.DescribeSecretCommand({ SecretId: this.secretId }), { abortSignal: this.ctx.signal });
      return reply.VersionIdsToStages ?? {};
    } catch (error) {
      if (awsErrorCode(error) === 'ResourceNotFoundException') return null;
      throw awsFailure(`cannot describe secret ${this.secretId}`, error);
    }
  }

  /** Stages, refusing when the secret does not exist. */
  async requireStages(): Promise<Stages> {
    const stages = await this.stages();
    if (!stages) throw new ProviderRefusal(`secret ${this.secretId} does not exist in Secrets Manager: create it (with the value now in service) first`);
    return stages;
  }

  /** The version at a label or with a version id; null when there is none (or no such secret). */
  async get(by: { stage: string } | { versionId: string }): Promise<SecretVersion | null> {
    const what = 'stage' in by ? `label ${by.stage}` : `version ${by.versionId}`;
    try {
      const reply = await this.client.send(
        new this.sdk.GetSecretValueCommand({ SecretId: this.secretId, ...('stage' in by ? { VersionStage: by.stage } : { VersionId: by.versionId }) }),
        { abortSignal: this.ctx.signal },
      );
      if (reply.SecretString === undefined) throw new ProviderRefusal(`secret ${this.secretId} ${what} holds binary data; format json needs a SecretString`);
      return { versionId: reply.VersionId!, secretString: reply.SecretString };
    } catch (error) {
      if (error instanceof ProviderRefusal) throw error;
      if (awsErrorCode(error) === 'ResourceNotFoundException') return null;
      throw awsFailure(`cannot read secret ${this.secretId} ${what}`, error);
    }
  }

  /**
   * PutSecretValue with the token as VersionId: a new version, or nothing when the token's version
   * already holds this value. Returns the version's labels afterwards.
   */
  async put(token: string, secretString: string, labels?: string[]): Promise<string[]> {
    try {
      const reply = await this.client.send(
        new this.sdk.PutSecretValueCommand({ SecretId: this.secretId, ClientRequestToken: token, SecretString: secretString, ...(labels ? { VersionStages: labels } : {}) }),
        { abortSignal: this.ctx.signal },
      );
      return reply.VersionStages ?? [];
    } catch (error) {
      if (awsErrorCode(error) === 'ResourceExistsException') {
        throw new ProviderRefusal(`secret ${this.secretId} already has a version ${token} with other material: this rotation wrote it before, refusing to replace it`);
      }
      throw awsFailure(`cannot write version ${token} of secret ${this.secretId}`, error, [secretString]);
    }
  }

  /** Moves a label to a version (from the version named, which must hold it) or, without moveTo, takes it off. */
  async moveLabel(label: string, change: { moveTo?: string; removeFrom?: string }): Promise<void> {
    try {
      await this.client.send(
        new this.sdk.UpdateSecretVersionStageCommand({ SecretId: this.secretId, VersionStage: label, MoveToVersionId: change.moveTo, RemoveFromVersionId: change.removeFrom }),
        { abortSignal: this.ctx.signal },
      );
    } catch (error) {
      const move = [change.moveTo && `to ${change.moveTo}`, change.removeFrom && `from ${change.removeFrom}`].filter(Boolean).join(' ');
      throw awsFailure(`cannot move label ${label} of secret ${this.secretId} ${move}`, error);
    }
  }
}
