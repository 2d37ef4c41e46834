import vault from 'node-vault';
import { resolveSecretRef, SecretRefError, type SecretRefAllowlist, type VaultReader } from '../config/secret-ref.js';

/**
 * Resolves Rotor's own secret references. `vault:` references need VAULT_ADDR and a token given
 * as a reference itself (VAULT_TOKEN_REF=env:VAULT_TOKEN or file:/run/secrets/vault-token).
 * With `allow` (the resolver handed to policies' activities), references the operator's allowlist
 * refuses are never read; Rotor's own references (API token, Vault token) are resolved without it.
 */
export function createSecretResolver(
  options: { vaultAddress?: string; vaultTokenRef?: string; env?: NodeJS.ProcessEnv; allow?: SecretRefAllowlist } = {},
): (ref: string) => Promise<string> {
  let reader: VaultReader | undefined;
  if (options.vaultAddress && options.vaultTokenRef) {
    const tokenRef = options.vaultTokenRef;
    // One client per token value, kept: a token that changes (a new file, a new variable) gets a new one.
    let kept: { token: string; client: vault.client } | undefined;
    reader = async (mount, path, key) => {
      const token = await resolveSecretRef(tokenRef, { env: options.env });
      if (kept?.token !== token) kept = { token, client: vault({ endpoint: options.vaultAddress, token, noCustomHTTPVerbs: true }) };
      const client = kept.client;
      const response = (await client.read(`${mount}/data/${path}`).catch((error: { response?: { statusCode?: number } }) => {
        throw new SecretRefError(`cannot read vault:${mount}/${path} (HTTP ${error.response?.statusCode ?? 'error'})`);
      })) as { data?: { data?: Record<string, unknown> } };
      const value = response.data?.data?.[key];
      if (typeof value !== 'string') throw new SecretRefError(`vault:${mount}/${path} has no string key ${key}`);
      return value;
    };
  }
  return (ref) => resolveSecretRef(ref, { env: options.env, vault: reader, allow: options.allow });
}
