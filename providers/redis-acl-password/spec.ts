import { z } from 'zod';
import { SecretRefSchema } from '../../config/secret-ref.js';
import { PasswordPolicySchema } from '../../lib/password.js';

/** ACL user names Rotor manages: no spaces or rule characters, so a name can never read as an ACL rule. */
const AclUserSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$/, {
  message: 'must be a Redis ACL user name: letters, digits, "_", ".", ":", "@" or "-", at most 128 characters',
});

export const RedisAclPasswordSpecSchema = z.strictObject({
  host: z.string().min(1).max(255),
  port: z.int().min(1).max(65535).default(6379),
  /** `require`: TLS without checking the certificate; `verify-full`: the server's certificate must be trusted. */
  tls: z.enum(['disable', 'require', 'verify-full']).default('disable'),
  /** The ACL user Rotor connects as (needs `+acl +client|list` and `+config|rewrite` with `persist: config-rewrite`; see README). */
  admin: z.strictObject({ user: AclUserSchema, password: SecretRefSchema }),
  /** The ACL user whose password is rotated; it must exist (Rotor never grants permissions). */
  user: AclUserSchema,
  /**
   * How a change survives a restart: `acl-save` (the server loads an ACL file), `config-rewrite`
   * (users live in redis.conf) or `none` (a managed service persists ACLs itself).
   */
  persist: z.enum(['acl-save', 'config-rewrite', 'none']).default('acl-save'),
  password: PasswordPolicySchema.prefault({}),
});

export type RedisAclPasswordSpec = z.infer<typeof RedisAclPasswordSpecSchema>;
