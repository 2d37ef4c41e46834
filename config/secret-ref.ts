import { readFile } from 'node:fs/promises';
import { z } from 'zod';

/**
 * A reference to a secret Rotor itself needs (an admin password, a Vault token), never the value:
 * `env:NAME`, `file:/absolute/path` or `vault:mount/path#key`.
 */
const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/\S+|vault:[^#\s]+#[^#\s]+)$/;

export const SecretRefSchema = z.string().regex(SECRET_REF, {
  message: 'must be a secret reference (env:NAME, file:/path or vault:mount/path#key); secret values are never written in policy files',
});

export type SecretRef = z.infer<typeof SecretRefSchema>;

/** True when the text is a secret reference (and so safe to print). */
export function isSecretRef(text: string): boolean {
  return SECRET_REF.test(text);
}

/**
 * A type name as an error may quote it: only when it looks like one (short lowercase words, each
 * starting with a letter, joined by hyphens, like every provider type), since a value in its place may be a pasted secret.
 */
export function quotedTypeName(value: string): string {
  return value.length <= 40 && /^[a-z][a-z0-9]{0,15}(-[a-z][a-z0-9]{0,15})+$/.test(value) ? `"${value}"` : '(not shown: it does not look like a type name)';
}

/** Reads a `vault:` reference; the daemon wires it to its Vault client. */
export type VaultReader = (mount: string, path: string, key: string) => Promise<string>;

export class SecretRefError extends Error {
  override readonly name = 'SecretRefError';
}

/** Resolves a secret reference to its value. The value is returned, never logged or put in an error. */
export async function resolveSecretRef(ref: string, options: { env?: NodeJS.ProcessEnv; vault?: VaultReader } = {}): Promise<string> {
  // Not even a prefix of it is shown: what was given where a reference belongs may be the secret itself.
  if (!SECRET_REF.test(ref)) throw new SecretRefError('not a secret reference (expected env:NAME, file:/path or vault:mount/path#key; the value given is not shown)');
  const env = options.env ?? process.env;
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    const value = env[name];
    if (value === undefined || value === '') throw new SecretRefError(`environment variable ${name} is not set (from ${ref})`);
    return value;
  }
  if (ref.startsWith('file:')) {
    const path = ref.slice(5);
    try {
      return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      throw new SecretRefError(`cannot read ${path} (from ${ref}): ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const [location, key] = ref.slice(6).split('#') as [string, string];
  const slash = location.indexOf('/');
  if (slash <= 0 || !options.vault) throw new SecretRefError(`cannot resolve ${ref}: ${options.vault ? 'expected vault:mount/path#key' : 'no Vault is configured'}`);
  return options.vault(location.slice(0, slash), location.slice(slash + 1), key);
}
