import { z } from 'zod';
import { SecretRefSchema } from '../../config/secret-ref.js';

/** Suffix of the sibling secret that holds pending material, out of consumers' sight. */
export const PENDING_SUFFIX = '.rotor-pending';

const SEGMENT = '[A-Za-z0-9_.@+=-]+';

export const VaultKvSpecSchema = z.strictObject({
  address: z.url({ protocol: /^https?$/ }),
  /** Rotor's Vault token, as a secret reference (env:NAME, file:/path, vault:mount/path#key). */
  token: SecretRefSchema,
  /** A KV version 2 mount. */
  mount: z
    .string()
    .regex(new RegExp(`^${SEGMENT}(/${SEGMENT})*$`), { message: 'must be a mount path like secret or team/kv' })
    .default('secret'),
  /** The secret consumers read, relative to the mount. */
  path: z
    .string()
    .regex(new RegExp(`^${SEGMENT}(/${SEGMENT})*$`), { message: 'must be a secret path like apps/billing/db, without leading or trailing slash' })
    .refine((p) => !p.split('/').some((s) => s === '.' || s === '..'), { message: 'must not contain . or .. segments' })
    .refine((p) => !p.endsWith(PENDING_SUFFIX), { message: `must not end with ${PENDING_SUFFIX} (Rotor's pending secret)` }),
  /** Vault Enterprise namespace. */
  namespace: z.string().min(1).optional(),
});

export type VaultKvSpec = z.infer<typeof VaultKvSpecSchema>;
