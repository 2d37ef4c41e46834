import { z } from 'zod';
import { SecretRefSchema } from '../../config/secret-ref.js';
import { PasswordPolicySchema } from '../../lib/password.js';

/**
 * Account names Rotor manages: letters, digits, `_`, `$`, `-`; at most 30 characters, so the dual
 * strategy's `<user>_a`/`<user>_b` fit MySQL's 32 (MariaDB allows 80).
 */
const UserNameSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_$-]{0,29}$/, {
  message: 'must be a MySQL user name: letters, digits, "_", "$" or "-", at most 30 characters',
});

/** The host part of an account (`'app'@'10.0.%'`): a name, an address, a pattern with `%`/`_`, or `%`. */
const HostSchema = z.string().regex(/^[A-Za-z0-9.:%_/-]{1,255}$/, { message: 'must be a MySQL account host: a name, address, netmask or a pattern with % and _' });

export const MysqlPasswordSpecSchema = z.strictObject({
  host: z.string().min(1).max(255),
  port: z.int().min(1).max(65535).default(3306),
  /** `require`: TLS without checking the certificate; `verify-full`: the server's certificate must be trusted. */
  sslmode: z.enum(['disable', 'require', 'verify-full']).default('disable'),
  /** The login Rotor uses (needs CREATE USER and PROCESS, SELECT on `mysql`.*; see README). */
  admin: z.strictObject({ user: z.string().min(1).max(80), password: SecretRefSchema }),
  /** `single`: the login account itself. `dual`: the role that holds the privileges; the logins are `<user>_a`/`<user>_b`. */
  user: UserNameSchema,
  /** The host part of the login accounts; `%` (any host) is flagged by the posture audit. */
  userHost: HostSchema.default('%'),
  password: PasswordPolicySchema.prefault({}),
});

export type MysqlPasswordSpec = z.infer<typeof MysqlPasswordSpecSchema>;

/** The two login accounts of the dual strategy, both granted the role `<user>` as their default role. */
export function loginUsers(user: string): [string, string] {
  return [`${user}_a`, `${user}_b`];
}
