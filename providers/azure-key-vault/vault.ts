/**
 * The Key Vault calls of the azure-key-vault provider: versions, values and tags of secrets through
 * `@azure/keyvault-secrets`. Errors are rebuilt by azureFailure and name the vault, secret and
 * version, never a value.
 */
import type { SecretClient } from '@azure/keyvault-secrets';
import { ProviderRefusal, type ProviderContext } from '../contracts.js';
import { azureError, origin, rotorCredential, SDK_RETRY, signInRefusals, type AzureTls } from '../azure-shared.js';
import type { AzureKeyVaultSpec } from './spec.js';

export interface VersionInfo {
  version: string;
  enabled: boolean;
  tags: Record<string, string>;
  createdOn?: Date;
}

export interface VersionValue extends VersionInfo {
  value: string;
  contentType?: string;
}

/** The latest version of a secret is disabled: Key Vault refuses to read it (403 SecretDisabled). */
export const DISABLED = Symbol('disabled');

const statusOf = (error: unknown) => (error as { statusCode?: unknown })?.statusCode;
const isDisabled = (error: unknown) => statusOf(error) === 403 && /disabled/i.test(String((error as { message?: unknown }).message));

export class VaultSecrets {
  private constructor(
    private readonly ctx: ProviderContext,
    private readonly spec: AzureKeyVaultSpec,
    private readonly client: SecretClient,
    private readonly rotorClientId: string,
    private readonly tls: AzureTls | undefined,
    readonly vault: string,
  ) {}

  /** Runs `work` with a client for the spec's vault, signed in as Rotor. */
  static async use<T>(ctx: ProviderContext, spec: AzureKeyVaultSpec, work: (vault: VaultSecrets) => Promise<T>): Promise<T> {
    const { credential, clientId, tls } = await rotorCredential(ctx, spec);
    // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
    const { SecretClient } = await import('@azure/keyvault-secrets');
    const client = new SecretClient(origin(spec.vaultUrl), credential, {
      disableChallengeResourceVerification: spec.disableChallengeResourceVerification,
      // Bearer tokens over plain http only for a local emulator the spec names explicitly.
      ...(spec.vaultUrl.startsWith('http:') ? { allowInsecureConnection: true } : {}),
      ...(tls ? { tlsOptions: tls } : {}),
      retryOptions: SDK_RETRY,
    });
    return work(new VaultSecrets(ctx, spec, client, clientId, tls, origin(spec.vaultUrl)));
  }

  /** A clean error; a failed sign-in says it is Rotor's own, and MSAL's vague ones are diagnosed. */
  private async failure(action: string, error: unknown, secrets: string[] = []): Promise<Error> {
    const signIn = signInRefusals(error).length > 0 || /endpoints_resolution_error|network_error/.test(String((error as { message?: unknown })?.message));
    const what = signIn ? `${action}: Rotor's identity (client ${this.rotorClientId}) cannot sign in to tenant ${this.spec.tenantId}` : action;
    return azureError(what, error, this.spec, this.tls, secrets);
  }

  private get options() {
    return this.ctx.signal ? { abortSignal: this.ctx.signal } : {};
  }

  /** The latest version with its value; null when the secret does not exist, DISABLED when its latest version is disabled. */
  async latest(name: string): Promise<VersionValue | null | typeof DISABLED> {
    try {
      return toValue(await this.client.getSecret(name, this.options));
    } catch (error) {
      if (statusOf(error) === 404) return null;
      if (isDisabled(error)) return DISABLED;
      throw await this.failure(`cannot read secret ${name} in ${this.vault}`, error);
    }
  }

  /** One version with its value; refuses a missing or disabled version. */
  async get(name: string, version: string): Promise<VersionValue> {
    try {
      return toValue(await this.client.getSecret(name, { ...this.options, version }));
    } catch (error) {
      if (statusOf(error) === 404) throw new ProviderRefusal(`version ${version} of secret ${name} no longer exists in ${this.vault}`);
      if (isDisabled(error)) throw new ProviderRefusal(`version ${version} of secret ${name} in ${this.vault} is disabled, so Rotor cannot read it back`);
      throw await this.failure(`cannot read version ${version} of secret ${name} in ${this.vault}`, error);
    }
  }

  /** Every version's attributes and tags, never values; empty when the secret does not exist. */
  async versions(name: string): Promise<VersionInfo[]> {
    const found: VersionInfo[] = [];
    try {
      for await (const p of this.client.listPropertiesOfSecretVersions(name, this.options)) {
        if (p.version) found.push({ version: p.version, enabled: p.enabled !== false, tags: p.tags ?? {}, ...(p.createdOn ? { createdOn: p.createdOn } : {}) });
      }
    } catch (error) {
      if (statusOf(error) === 404) return [];
      throw await this.failure(`cannot list the versions of secret ${name} in ${this.vault}`, error);
    }
    return found;
  }

  /** A new version, which becomes the latest. */
  async put(name: string, value: string, tags: Record<string, string>): Promise<VersionInfo> {
    try {
      const written = await this.client.setSecret(name, value, { ...this.options, tags, contentType: 'application/json' });
      return { version: written.properties.version!, enabled: written.properties.enabled !== false, tags: written.properties.tags ?? {} };
    } catch (error) {
      if (statusOf(error) === 409) {
        throw new ProviderRefusal(`secret ${name} in ${this.vault} is deleted but recoverable (soft-delete): recover or purge it before Rotor can write it`);
      }
      throw await this.failure(`cannot write secret ${name} in ${this.vault}`, error, [value]);
    }
  }

  /** Changes a version's enabled flag and/or replaces its tags; false when the version does not exist. */
  async update(name: string, version: string, change: { enabled?: boolean; tags?: Record<string, string> }): Promise<boolean> {
    try {
      await this.client.updateSecretProperties(name, version, { ...this.options, ...change });
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw await this.failure(`cannot update version ${version} of secret ${name} in ${this.vault}`, error);
    }
  }

  /** Soft-deletes a secret, every version; false when it did not exist. */
  async delete(name: string): Promise<boolean> {
    try {
      await this.client.beginDeleteSecret(name, this.options);
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw await this.failure(`cannot delete secret ${name} in ${this.vault}`, error);
    }
  }
}

function toValue(secret: { value?: string; properties: { version?: string; enabled?: boolean; tags?: Record<string, string>; createdOn?: Date; contentType?: string } }): VersionValue {
  const p = secret.properties;
  return {
    version: p.version!,
    enabled: p.enabled !== false,
    tags: p.tags ?? {},
    value: secret.value ?? '',
    ...(p.createdOn ? { createdOn: p.createdOn } : {}),
    ...(p.contentType ? { contentType: p.contentType } : {}),
  };
}
