import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
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

/** The operator setting that says which secrets policy files may reference. */
export const SECRET_REFS_SETTING = 'ROTOR_SECRET_REFS_ALLOW';

/** What policies may reference when ROTOR_SECRET_REFS_ALLOW is not set. */
export const DEFAULT_SECRET_REFS_ALLOW = 'env:*,file:/run/secrets/rotor/,file:/var/run/secrets/rotor/,vault:*';

/**
 * Environment variables that hold Rotor's own secrets and settings: no policy may reference them,
 * whatever the allowlist says (a policy author could otherwise send the API token or the store's
 * password to a host of their choosing). TEMPORAL_* are the Temporal client's settings (API key,
 * TLS key); PGPASSWORD is libpq's.
 */
const OWN_ENV_NAMES = [
  'ROTOR_DATABASE_URL',
  'ROTOR_API_TOKEN',
  'ROTOR_GITHUB_WEBHOOK_SECRET',
  'ROTOR_API_TOKEN_REF',
  'ROTOR_GITHUB_WEBHOOK_SECRET_REF',
  'VAULT_TOKEN_REF',
  'ROTOR_OIDC_CLIENT_SECRET_REF',
  'ROTOR_SESSION_KEY_REF',
  'ROTOR_API_TOKENS_FILE',
  'ROTOR_ROLES_FILE',
  SECRET_REFS_SETTING,
  'DATABASE_URL',
  'PGPASSWORD',
];
const OWN_ENV_PREFIXES = ['TEMPORAL_'];
/** Settings whose value is a reference to one of Rotor's own secrets: what they name is Rotor's too. */
const OWN_REF_SETTINGS = ['ROTOR_API_TOKEN_REF', 'ROTOR_GITHUB_WEBHOOK_SECRET_REF', 'VAULT_TOKEN_REF', 'ROTOR_OIDC_CLIENT_SECRET_REF', 'ROTOR_SESSION_KEY_REF'];
/** Kernel and device files: never a secret a policy needs, always a way to read the process. */
const NEVER_FILES = ['/proc/', '/sys/', '/dev/'];

/** Which secret references policy files may use: set by the operator, never by a policy file. */
export interface SecretRefAllowlist {
  /** Where the list came from, for messages: `ROTOR_SECRET_REFS_ALLOW` or its default. */
  source: string;
  env: Array<{ name: string; prefix: boolean }>;
  /** Absolute files, or directories ending in `/` (everything under them). */
  files: string[];
  /** `mount/path` locations, or prefixes ending in `/` or `*` (`*` alone: any). */
  vault: Array<{ location: string; prefix: boolean }>;
  ownEnv: Set<string>;
  ownFiles: Set<string>;
}

/** An operator setting (ROTOR_SECRET_REFS_ALLOW, ROTOR_MIN_INTERVAL) that cannot be read: nothing loads. */
export class OperatorSettingError extends Error {
  override readonly name = 'OperatorSettingError';
}

/** Marks what these references name as Rotor's own (e.g. the named API tokens' references): no policy may use it. */
export function addOwnRefs(list: SecretRefAllowlist, refs: Array<string | undefined>): SecretRefAllowlist {
  for (const ref of refs) {
    if (ref?.startsWith('env:')) list.ownEnv.add(ref.slice(4));
    if (ref?.startsWith('file:')) list.ownFiles.add(posix.normalize(ref.slice(5)));
  }
  return list;
}

/** Parses ROTOR_SECRET_REFS_ALLOW (comma- or space-separated `env:NAME`, `env:PREFIX*`, `file:/dir/`, `vault:mount/`, `vault:*`). */
export function secretRefAllowlist(env: NodeJS.ProcessEnv = process.env): SecretRefAllowlist {
  const given = env[SECRET_REFS_SETTING]?.trim();
  const list: SecretRefAllowlist = {
    source: given ? SECRET_REFS_SETTING : `${SECRET_REFS_SETTING} (not set; default ${DEFAULT_SECRET_REFS_ALLOW})`,
    env: [],
    files: [],
    vault: [],
    ownEnv: new Set(OWN_ENV_NAMES),
    ownFiles: new Set(),
  };
  addOwnRefs(list, OWN_REF_SETTINGS.map((setting) => env[setting]?.trim()));
  for (const entry of (given || DEFAULT_SECRET_REFS_ALLOW).split(/[\s,]+/).filter(Boolean)) {
    const bad = (why: string) => new OperatorSettingError(`${SECRET_REFS_SETTING}: "${entry}" ${why}; entries are env:NAME, env:PREFIX*, env:*, file:/dir/, file:/path, vault:mount/path/, vault:*`);
    if (entry.startsWith('env:')) {
      const name = entry.slice(4);
      if (!/^([A-Za-z_][A-Za-z0-9_]*\*?|\*)$/.test(name)) throw bad('is not an environment variable name or prefix');
      list.env.push({ name: name.replace(/\*$/, ''), prefix: name.endsWith('*') });
    } else if (entry.startsWith('file:')) {
      const path = entry.slice(5);
      if (!path.startsWith('/') || path.split('/').some((s) => s === '..' || s === '.')) throw bad('must be an absolute path without . or .. segments');
      if (path === '/' || NEVER_FILES.some((d) => `${path}/`.startsWith(d))) throw bad('would expose the whole file system, /proc, /sys or /dev');
      list.files.push(path);
    } else if (entry.startsWith('vault:')) {
      const location = entry.slice(6);
      if (!/^(\*|[^#\s*]+\*?)$/.test(location)) throw bad('is not a Vault location (mount/path/ or *)');
      list.vault.push({ location: location.replace(/\*$/, ''), prefix: location.endsWith('*') || location.endsWith('/') });
    } else throw bad('has no env:, file: or vault: scheme');
  }
  return list;
}

/**
 * Why a policy may not use this reference, or undefined when it may. The message names the
 * reference (a name or a path, never a value) and the setting that decides.
 */
export function secretRefRefusal(ref: string, allow: SecretRefAllowlist): string | undefined {
  const notListed = `is not allowed by ${allow.source}: the operator decides which secrets policies may reference`;
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    if (allow.ownEnv.has(name) || OWN_ENV_PREFIXES.some((p) => name.startsWith(p))) {
      return `${ref} is one of Rotor's own secrets or settings: policies may never reference it`;
    }
    return allow.env.some((e) => (e.prefix ? name.startsWith(e.name) : name === e.name)) ? undefined : `${ref} ${notListed}`;
  }
  if (ref.startsWith('file:')) {
    const path = ref.slice(5);
    if (path.split('/').some((s) => s === '..' || s === '.') || path.includes('//')) return `${ref} must not contain . or .. segments or //`;
    if (NEVER_FILES.some((d) => path.startsWith(d))) return `${ref} is under /proc, /sys or /dev: policies may never read them`;
    if (allow.ownFiles.has(path)) return `${ref} is one of Rotor's own secrets: policies may never reference it`;
    return allow.files.some((f) => (f.endsWith('/') ? path.startsWith(f) : path === f)) ? undefined : `${ref} ${notListed}`;
  }
  if (ref.startsWith('vault:')) {
    const location = ref.slice(6).split('#')[0]!;
    if (location.split('/').some((s) => s === '..' || s === '.' || s === '')) return `${ref} must not contain empty, . or .. segments`;
    return allow.vault.some((v) => (v.prefix ? location.startsWith(v.location) : location === v.location)) ? undefined : `${ref} ${notListed}`;
  }
  return 'not a secret reference (the value given is not shown)';
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

/**
 * Resolves a secret reference to its value. The value is returned, never logged or put in an error.
 * With `allow`, a reference the operator's allowlist refuses is never read (policy references are
 * checked at validation already; this holds at run time too).
 */
export async function resolveSecretRef(ref: string, options: { env?: NodeJS.ProcessEnv; vault?: VaultReader; allow?: SecretRefAllowlist } = {}): Promise<string> {
  // Not even a prefix of it is shown: what was given where a reference belongs may be the secret itself.
  if (!SECRET_REF.test(ref)) throw new SecretRefError('not a secret reference (expected env:NAME, file:/path or vault:mount/path#key; the value given is not shown)');
  const refused = options.allow && secretRefRefusal(ref, options.allow);
  if (refused) throw new SecretRefError(refused);
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
