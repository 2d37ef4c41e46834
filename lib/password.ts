import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * Alphabets a generated password is drawn from. `ascii-printable` leaves out quotes, backslash,
 * backtick and space, so a password is safe in a libpq connection string or a shell without escaping.
 */
const CHARSETS = {
  alnum: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  'ascii-printable': printableAscii().replace(/["'`\\ ]/g, ''),
  hex: '0123456789abcdef',
  base64url: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
} as const;

export type Charset = keyof typeof CHARSETS;

export const PasswordPolicySchema = z.strictObject({
  length: z.int().min(16).max(256).default(32),
  charset: z.enum(Object.keys(CHARSETS) as [Charset, ...Charset[]]).default('alnum'),
});

export type PasswordPolicy = z.infer<typeof PasswordPolicySchema>;

/** The alphabet of a charset, e.g. for tests that check every character. */
export function charsetAlphabet(charset: Charset): string {
  return CHARSETS[charset];
}

/**
 * A random password from node:crypto. Rejection sampling: a byte is used only if it falls below the
 * largest multiple of the alphabet size, so every character is equally likely (no modulo bias).
 */
export function generatePassword(policy: Partial<PasswordPolicy> = {}): string {
  const { length, charset } = PasswordPolicySchema.parse(policy);
  const alphabet = CHARSETS[charset];
  const limit = 256 - (256 % alphabet.length);
  let password = '';
  while (password.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte >= limit) continue;
      password += alphabet[byte % alphabet.length];
      if (password.length === length) break;
    }
  }
  return password;
}

function printableAscii(): string {
  let chars = '';
  for (let code = 0x21; code <= 0x7e; code++) chars += String.fromCharCode(code);
  return chars;
}
