import { z } from 'zod';
import { SecretRefSchema } from '../../config/secret-ref.js';
import { PasswordPolicySchema } from '../../lib/password.js';
import { isUnverifiedMode, unverifiedModeMessage } from '../../lib/postgres-tls.js';

/**
 * Role names Rotor manages: lowercase like unquoted SQL names (plus `$` and `-`, which need quoting and
 * get it). At most 61 characters, so the dual strategy's `<role>_a`/`<role>_b` fit PostgreSQL's 63.
 */
const RoleNameSchema = z.string().regex(/^[a-z_][a-z0-9_$-]{0,60}$/, {
  message: 'must be a PostgreSQL role name: lowercase letters, digits, "_", "$" or "-", at most 61 characters',
});

/** Loopback hosts: a connection that never leaves the machine; the only ones that default to no TLS. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export const PostgresPasswordSpecSchema = z
  .strictObject({
    host: z.string().min(1),
    port: z.int().min(1).max(65535).default(5432),
    database: z.string().min(1),
    /**
     * TLS to the database: off, or verified (lib/postgres-tls.ts); encrypting without verifying is
     * refused. Default: verify-full, or disable for a loopback host.
     */
    sslmode: z
      .enum(['disable', 'verify-full'], { error: (issue) => (isUnverifiedMode(issue.input) ? unverifiedModeMessage(issue.input) : 'must be disable or verify-full') })
      .optional(),
    /** With verify-full: the CA file that signed the server's certificate (default: the system's CAs). */
    sslrootcert: z.string().min(1).optional(),
    /** The login Rotor uses to create roles and set passwords (needs CREATEROLE). */
    admin: z.strictObject({
      user: z.string().min(1),
      password: SecretRefSchema,
    }),
    /** `single`: the login role itself. `dual`: the group role that owns the privileges. */
    role: RoleNameSchema,
    password: PasswordPolicySchema.prefault({}),
  })
  .transform((spec) => ({ ...spec, sslmode: spec.sslmode ?? (isLoopback(spec.host) ? ('disable' as const) : ('verify-full' as const)) }));

export type PostgresPasswordSpec = z.infer<typeof PostgresPasswordSpecSchema>;

/** The two login roles of the dual strategy, members of the group role. */
export function loginRoles(role: string): [string, string] {
  return [`${role}_a`, `${role}_b`];
}
