/**
 * The IAM v1 calls of the gcp-sa-key provider (`projects.serviceAccounts.keys` through
 * @googleapis/iam), and the token check of a key. Errors are rebuilt by gcpFailure (code, Google's
 * message, HTTP status) and name the account and key id, never a private key or a token.
 */
import type { iam_v1 } from '@googleapis/iam';
import { ProviderRefusal, type ProviderContext } from '../contracts.js';
import { gcpAuth, gcpErrorInfo, gcpFailure, keyFileClient, parseKeyFile, REQUEST_TIMEOUT_MS } from '../gcp-shared.js';
import { accountName, type GcpSaKeySpec } from './spec.js';

/** GCP's limit of user-managed keys per service account, disabled keys included. */
export const KEYS_PER_ACCOUNT = 10;

/** Validity end IAM reports for keys that never expire. */
const NO_EXPIRY_YEAR = 9999;

export interface KeyInfo {
  id: string;
  disabled: boolean;
  validAfter?: Date;
  /** Absent when the key never expires. */
  validBefore?: Date;
}

export interface CreatedKey {
  keyId: string;
  /** The credentials file (JSON text): the private key exists nowhere else. */
  keyJson: string;
}

/** The permissions every step of a rotation needs on the service account. */
export const REQUIRED_PERMISSIONS = [
  'iam.serviceAccountKeys.create',
  'iam.serviceAccountKeys.delete',
  'iam.serviceAccountKeys.disable',
  'iam.serviceAccountKeys.enable',
  'iam.serviceAccountKeys.get',
  'iam.serviceAccountKeys.list',
] as const;

type IamClient = iam_v1.Iam;

export class ServiceAccountKeys {
  private constructor(
    private readonly ctx: ProviderContext,
    private readonly client: IamClient,
    readonly email: string,
    /** `projects/<project>/serviceAccounts/<email>`. */
    readonly name: string,
  ) {}

  /** Runs `work` with an IAM client for the spec's service account. */
  static async use<T>(ctx: ProviderContext, spec: GcpSaKeySpec, work: (keys: ServiceAccountKeys) => Promise<T>): Promise<T> {
    const auth = await gcpAuth(ctx, spec);
    const rootUrl = spec.iamEndpoint && (spec.iamEndpoint.endsWith('/') ? spec.iamEndpoint : `${spec.iamEndpoint}/`);
    // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
    const { iam } = await import('@googleapis/iam');
    const client = iam({
      version: 'v1',
      // google-auth-library's client, one minor version apart from googleapis-common's own copy.
      auth: auth as unknown as iam_v1.Options['auth'],
      ...(rootUrl ? { rootUrl } : {}),
      timeout: REQUEST_TIMEOUT_MS,
      // One retry for a blip, no more: Temporal retries the activity with backoff and records it.
      retryConfig: { retry: 1, noResponseRetries: 1 },
    });
    return work(new ServiceAccountKeys(ctx, client, spec.serviceAccount, accountName(spec)));
  }

  private get options() {
    return this.ctx.signal ? { signal: this.ctx.signal } : {};
  }

  /** The account's user-managed keys (system-managed ones are Google's own business). */
  async list(): Promise<KeyInfo[]> {
    try {
      const reply = await this.client.projects.serviceAccounts.keys.list({ name: this.name, keyTypes: ['USER_MANAGED'] }, this.options);
      return (reply.data.keys ?? []).map(keyInfo).filter((k): k is KeyInfo => k !== null);
    } catch (error) {
      throw gcpFailure(`cannot list the keys of service account ${this.email}`, error);
    }
  }

  /** One key; null when it does not exist. */
  async get(keyId: string): Promise<KeyInfo | null> {
    try {
      const reply = await this.client.projects.serviceAccounts.keys.get({ name: `${this.name}/keys/${keyId}` }, this.options);
      return keyInfo(reply.data);
    } catch (error) {
      if (gcpErrorInfo(error).code === 'NOT_FOUND') return null;
      throw gcpFailure(`cannot read key ${keyId} of service account ${this.email}`, error);
    }
  }

  /** A new RSA-2048 key as a credentials file. The private key is in this reply only: stage it at once. */
  async create(): Promise<CreatedKey> {
    let data: iam_v1.Schema$ServiceAccountKey;
    try {
      const reply = await this.client.projects.serviceAccounts.keys.create(
        { name: this.name, requestBody: { keyAlgorithm: 'KEY_ALG_RSA_2048', privateKeyType: 'TYPE_GOOGLE_CREDENTIALS_FILE' } },
        this.options,
      );
      data = reply.data;
    } catch (error) {
      const failure = gcpFailure(`cannot create a key for service account ${this.email}`, error);
      if (gcpErrorInfo(error).code === 'FAILED_PRECONDITION') {
        throw new ProviderRefusal(`${failure.message}; GCP allows ${KEYS_PER_ACCOUNT} user-managed keys per service account`);
      }
      throw failure;
    }
    const keyId = idOf(data.name);
    if (!keyId || !data.privateKeyData) throw new Error(`IAM answered the key creation for service account ${this.email} without a key`);
    const keyJson = Buffer.from(data.privateKeyData, 'base64').toString('utf8');
    const file = parseKeyFile(keyJson, `the key file IAM returned for key ${keyId}`);
    if (file.private_key_id !== keyId || file.client_email !== this.email) {
      throw new ProviderRefusal(`the key file IAM returned for key ${keyId} names key ${file.private_key_id} of ${file.client_email}`);
    }
    return { keyId, keyJson };
  }

  /** Disables or enables a key; false when the key does not exist. */
  async setDisabled(keyId: string, disabled: boolean): Promise<boolean> {
    const name = `${this.name}/keys/${keyId}`;
    try {
      if (disabled) await this.client.projects.serviceAccounts.keys.disable({ name, requestBody: {} }, this.options);
      else await this.client.projects.serviceAccounts.keys.enable({ name, requestBody: {} }, this.options);
      return true;
    } catch (error) {
      if (gcpErrorInfo(error).code === 'NOT_FOUND') return false;
      throw gcpFailure(`cannot ${disabled ? 'disable' : 'enable'} key ${keyId} of service account ${this.email}`, error);
    }
  }

  /** Deletes a key; false when it was already gone. */
  async delete(keyId: string): Promise<boolean> {
    try {
      await this.client.projects.serviceAccounts.keys.delete({ name: `${this.name}/keys/${keyId}` }, this.options);
      return true;
    } catch (error) {
      if (gcpErrorInfo(error).code === 'NOT_FOUND') return false;
      throw gcpFailure(`cannot delete key ${keyId} of service account ${this.email}`, error);
    }
  }

  /** Which of `permissions` Rotor's identity holds on the account (testIamPermissions needs none itself). */
  async heldPermissions(permissions: readonly string[]): Promise<string[]> {
    try {
      const reply = await this.client.projects.serviceAccounts.testIamPermissions(
        { resource: this.name, requestBody: { permissions: [...permissions] } },
        this.options,
      );
      return reply.data.permissions ?? [];
    } catch (error) {
      throw gcpFailure(`cannot test Rotor's permissions on service account ${this.email}`, error);
    }
  }
}

function idOf(name: string | null | undefined): string | undefined {
  return name ? /\/keys\/([^/]+)$/.exec(name)?.[1] : undefined;
}

function keyInfo(key: iam_v1.Schema$ServiceAccountKey): KeyInfo | null {
  const id = idOf(key.name);
  if (!id) return null;
  const validBefore = key.validBeforeTime ? new Date(key.validBeforeTime) : undefined;
  return {
    id,
    disabled: key.disabled === true,
    ...(key.validAfterTime ? { validAfter: new Date(key.validAfterTime) } : {}),
    ...(validBefore && validBefore.getUTCFullYear() < NO_EXPIRY_YEAR ? { validBefore } : {}),
  };
}

export type TokenCheck = { ok: true } | { ok: false; code: string; message: string };

/**
 * Asks the token endpoint for an access token signed with the key file: the only proof that Google
 * accepts the key. `invalid_grant` is the expected answer while a new key propagates.
 */
export async function mintAccessToken(ctx: ProviderContext, keyJson: string, keyId: string, tokenEndpoint: string | undefined): Promise<TokenCheck> {
  ctx.signal?.throwIfAborted();
  const file = parseKeyFile(keyJson, `the staged key file of key ${keyId}`);
  const client = await keyFileClient(file, tokenEndpoint);
  try {
    const { access_token: token } = await client.authorize();
    if (!token) throw new Error(`the token endpoint answered key ${keyId} without an access token`);
    return { ok: true };
  } catch (error) {
    const info = gcpErrorInfo(error);
    if (info.code === 'invalid_grant') return { ok: false, code: info.code, message: info.message };
    throw gcpFailure(`cannot get an access token with key ${keyId}`, error, [file.private_key]);
  }
}
