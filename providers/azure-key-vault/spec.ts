import { z } from 'zod';
import { AzureConnectionFields } from '../azure-shared.js';

/** Suffix of the sibling secret that holds pending material (primary store only); consumers never read it. */
export const PENDING_SUFFIX = '-rotor-pending';

export const AzureKeyVaultSpecSchema = z.strictObject({
  /** The vault's URL, e.g. https://payments-kv.vault.azure.net (http only for a local emulator). */
  vaultUrl: z.url({ protocol: /^https?$/, message: 'must be the vault URL, like https://<name>.vault.azure.net' }),
  /** The secret consumers read (its latest version). Key Vault names: letters, digits and dashes. */
  secretName: z.string().regex(new RegExp(`^[0-9a-zA-Z-]{1,${127 - PENDING_SUFFIX.length}}$`), {
    message: `must be a Key Vault secret name: letters, digits and dashes, at most ${127 - PENDING_SUFFIX.length} (room for "${PENDING_SUFFIX}")`,
  }),
  ...AzureConnectionFields,
  /**
   * Skip the SDK's check that the 401 challenge's resource matches the vault's domain. Needed only
   * for vaults behind a custom domain or an emulator; leave it off otherwise.
   */
  disableChallengeResourceVerification: z.boolean().default(false),
  /** `json`: the value is a JSON object of the material's fields (e.g. {"clientId": …, "clientSecret": …}). */
  format: z.literal('json').default('json'),
});

export type AzureKeyVaultSpec = z.infer<typeof AzureKeyVaultSpecSchema>;
