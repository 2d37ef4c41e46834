import { z } from 'zod';
import { SecretRefSchema } from '../../config/secret-ref.js';
import { PasswordPolicySchema } from '../../lib/password.js';

/** A distinguished name: bounded, printable, `attr=value` first (the directory checks the rest). */
const DnSchema = z.string().min(3).max(1024).regex(/^[A-Za-z][A-Za-z0-9-]*=[^\0\r\n]+$/, { message: 'must be a distinguished name such as cn=svc,ou=services,dc=example,dc=org' });

export const LdapPasswordSpecSchema = z.strictObject({
  /** LDAPS only: a password never crosses the network in clear. */
  url: z.string().regex(/^ldaps:\/\/[^/\s]+(:\d{1,5})?\/?$/, { message: 'must be an ldaps:// URL (host and port only)' }),
  /** A reference to the PEM of a private CA that signed the directory's certificate, trusted besides Node's roots. */
  caCertificate: SecretRefSchema.optional(),
  /** `openldap`: Password Modify extended operation (RFC 3062; slapd hashes it). `active-directory`: unicodePwd replace. */
  directory: z.enum(['openldap', 'active-directory']).default('openldap'),
  /** The identity Rotor binds as; it may write the account's password (reset, not change). */
  admin: z.strictObject({ dn: DnSchema, password: SecretRefSchema }),
  /** The service account whose password is rotated. */
  dn: DnSchema,
  password: PasswordPolicySchema.prefault({}),
});

export type LdapPasswordSpec = z.infer<typeof LdapPasswordSpecSchema>;
