/**
 * The IAM and STS calls of the aws-iam-access-key provider. Errors are rebuilt by awsFailure (code,
 * AWS's message, request id) and name the user and key id, never a secret.
 */
import type { IAMClient } from '@aws-sdk/client-iam';
import type { ProviderContext } from '../contracts.js';
import { awsClientConfig, awsErrorCode, awsFailure } from '../aws-shared.js';
import type { AwsIamAccessKeySpec } from './spec.js';

export interface AccessKeyInfo {
  id: string;
  status: 'Active' | 'Inactive';
  createdAt?: Date;
}

export interface LastUsed {
  /** Absent when the key never signed a request. */
  at?: Date;
  service?: string;
  region?: string;
}

export class IamAccessKeys {
  private constructor(
    private readonly ctx: ProviderContext,
    private readonly sdk: typeof import('@aws-sdk/client-iam'),
    private readonly client: IAMClient,
    readonly userName: string,
  ) {}

  /** Runs `work` with an IAM client for the spec's user, closed afterwards. */
  static async use<T>(ctx: ProviderContext, spec: AwsIamAccessKeySpec, work: (keys: IamAccessKeys) => Promise<T>): Promise<T> {
    // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
    const sdk = await import('@aws-sdk/client-iam');
    const client = new sdk.IAMClient(await awsClientConfig(ctx, spec));
    try {
      return await work(new IamAccessKeys(ctx, sdk, client, spec.userName));
    } finally {
      client.destroy();
    }
  }

  /** Every access key of the user (IAM pages long lists; a user has at most two). */
  async list(): Promise<AccessKeyInfo[]> {
    const keys: AccessKeyInfo[] = [];
    let marker: string | undefined;
    try {
      do {
        const page = await this.client.send(new this.sdk.ListAccessKeysCommand({ UserName: this.userName, Marker: marker }), { abortSignal: this.ctx.signal });
        for (const k of page.AccessKeyMetadata ?? []) {
          if (k.AccessKeyId) keys.push({ id: k.AccessKeyId, status: k.Status === 'Inactive' ? 'Inactive' : 'Active', createdAt: k.CreateDate });
        }
        marker = page.IsTruncated ? page.Marker : undefined;
      } while (marker);
    } catch (error) {
      throw awsFailure(`cannot list the access keys of IAM user "${this.userName}"`, error);
    }
    return keys;
  }

  /** The value of one tag of the user, if set. */
  async userTag(key: string): Promise<string | undefined> {
    try {
      const reply = await this.client.send(new this.sdk.ListUserTagsCommand({ UserName: this.userName }), { abortSignal: this.ctx.signal });
      return reply.Tags?.find((t) => t.Key === key)?.Value;
    } catch (error) {
      throw awsFailure(`cannot read the tags of IAM user "${this.userName}"`, error);
    }
  }

  async tagUser(key: string, value: string): Promise<void> {
    try {
      await this.client.send(new this.sdk.TagUserCommand({ UserName: this.userName, Tags: [{ Key: key, Value: value }] }), { abortSignal: this.ctx.signal });
    } catch (error) {
      throw awsFailure(`cannot tag IAM user "${this.userName}"`, error);
    }
  }

  /** When the key last signed a request; null when the key does not exist. */
  async lastUsed(accessKeyId: string): Promise<LastUsed | null> {
    try {
      const reply = await this.client.send(new this.sdk.GetAccessKeyLastUsedCommand({ AccessKeyId: accessKeyId }), { abortSignal: this.ctx.signal });
      const used = reply.AccessKeyLastUsed;
      const known = (v?: string) => (v && v !== 'N/A' ? v : undefined);
      return { at: used?.LastUsedDate, service: known(used?.ServiceName), region: known(used?.Region) };
    } catch (error) {
      if (awsErrorCode(error) === 'NoSuchEntity') return null;
      throw awsFailure(`cannot read when access key ${accessKeyId} was last used`, error);
    }
  }

  /** A new key. The secret is in the reply only: the caller must stage it at once. */
  async create(): Promise<{ accessKeyId: string; secretAccessKey: string }> {
    try {
      const reply = await this.client.send(new this.sdk.CreateAccessKeyCommand({ UserName: this.userName }), { abortSignal: this.ctx.signal });
      const key = reply.AccessKey;
      if (!key?.AccessKeyId || !key.SecretAccessKey) throw new Error('CreateAccessKey answered without a key');
      return { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey };
    } catch (error) {
      throw awsFailure(`cannot create an access key for IAM user "${this.userName}"`, error);
    }
  }

  /** Sets Active/Inactive; false when the key does not exist. */
  async setStatus(accessKeyId: string, status: 'Active' | 'Inactive'): Promise<boolean> {
    try {
      await this.client.send(new this.sdk.UpdateAccessKeyCommand({ UserName: this.userName, AccessKeyId: accessKeyId, Status: status }), { abortSignal: this.ctx.signal });
      return true;
    } catch (error) {
      if (awsErrorCode(error) === 'NoSuchEntity') return false;
      throw awsFailure(`cannot set access key ${accessKeyId} of IAM user "${this.userName}" ${status}`, error);
    }
  }

  /** Deletes the key; false when it was already gone. */
  async delete(accessKeyId: string): Promise<boolean> {
    try {
      await this.client.send(new this.sdk.DeleteAccessKeyCommand({ UserName: this.userName, AccessKeyId: accessKeyId }), { abortSignal: this.ctx.signal });
      return true;
    } catch (error) {
      if (awsErrorCode(error) === 'NoSuchEntity') return false;
      throw awsFailure(`cannot delete access key ${accessKeyId} of IAM user "${this.userName}"`, error);
    }
  }
}

export type CallerIdentity = { ok: true; arn: string } | { ok: false; code: 'InvalidClientTokenId' | 'SignatureDoesNotMatch'; message: string };

/** STS GetCallerIdentity signed with the given key: who AWS says the key belongs to, or why it refused the key. */
export async function callerIdentity(
  ctx: ProviderContext,
  spec: AwsIamAccessKeySpec,
  key: { accessKeyId: string; secretAccessKey: string },
): Promise<CallerIdentity> {
  // One attempt: a refused new key is the expected answer while IAM propagates, and Temporal paces the retries.
  const { GetCallerIdentityCommand, STSClient } = await import('@aws-sdk/client-sts');
  const sts = new STSClient({ ...(await awsClientConfig(ctx, spec, key)), maxAttempts: 1 });
  try {
    const reply = await sts.send(new GetCallerIdentityCommand({}), { abortSignal: ctx.signal });
    return { ok: true, arn: reply.Arn ?? '' };
  } catch (error) {
    const failure = awsFailure(`STS GetCallerIdentity with access key ${key.accessKeyId}`, error, [key.secretAccessKey]);
    const code = awsErrorCode(error);
    if (code === 'InvalidClientTokenId' || code === 'SignatureDoesNotMatch') return { ok: false, code, message: failure.message };
    throw failure;
  } finally {
    sts.destroy();
  }
}
