/**
 * The operator's configuration of who may do what: the group → roles mapping (ROTOR_ROLES_FILE),
 * the named API tokens (ROTOR_API_TOKENS_FILE) and the OIDC login (ROTOR_OIDC_*). Both files are
 * hostile input: bounded in size, checked with zod, refused whole with file:line on any problem.
 */
import { readFile, stat } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { SecretRefSchema } from '../../config/secret-ref.js';
import { nodeLine } from '../../config/load.js';
import { ALL_OWNERS, ROLES, type Actor, type Role } from './actor.js';

/** Largest roles or tokens file read: a mapping of groups is small. */
export const MAX_AUTH_FILE_BYTES = 64 * 1024;
/** A token shorter than this can be guessed (the same floor as the single ROTOR_API_TOKEN_REF). */
export const MIN_API_TOKEN_LENGTH = 32;

export class AuthConfigError extends Error {
  override readonly name = 'AuthConfigError';
}

const Name = z.string().min(1).max(100).regex(/^[A-Za-z0-9._@:/+-]+$/, 'letters, digits and . _ @ : / + - only');
const RoleList = z.array(z.enum(ROLES as [Role, ...Role[]])).min(1).max(3);

const RolesFileSchema = z.strictObject({
  /** IdP group → the roles its members get. */
  groups: z.record(Name, RoleList).refine((g) => Object.keys(g).length <= 1000, 'at most 1000 groups'),
});

const TokensFileSchema = z.strictObject({
  tokens: z
    .array(
      z.strictObject({
        name: Name,
        /** A secret reference (env:NAME, file:/path, vault:mount/path#key), never the token itself. */
        token: SecretRefSchema,
        roles: RoleList,
        /** The owners this token acts for (owner-operator); `*` for every owner. */
        groups: z.array(Name.or(z.literal(ALL_OWNERS))).max(100).default([]),
      }),
    )
    .max(200),
});

export type RoleMap = Record<string, Role[]>;

/** A named API token, resolved; `secret` never leaves this process (compared as a digest). */
export interface NamedToken {
  name: string;
  secret: string;
  /** The secret reference it was read from (so policies can be refused it); absent for ROTOR_API_TOKEN_REF's. */
  ref?: string;
  roles: Role[];
  groups: string[];
}

/** The roles a person with these IdP groups holds under the operator's mapping. */
export function rolesOf(groups: readonly string[], map: RoleMap): Role[] {
  const roles = new Set<Role>();
  for (const g of groups) for (const r of map[g] ?? []) roles.add(r);
  return ROLES.filter((r) => roles.has(r));
}

/** The actor a named token authenticates as. */
export function tokenActor(token: Pick<NamedToken, 'name' | 'roles' | 'groups'>): Actor {
  return { kind: 'token', subject: token.name, name: token.name, groups: [...token.groups], roles: [...token.roles] };
}

/**
 * The single ROTOR_API_TOKEN_REF of earlier releases: a token named `rotor` with the security and
 * owner-operator roles on every credential, which is what it could do before tokens had names.
 */
export function legacyToken(secret: string): NamedToken {
  return { name: 'rotor', secret, roles: ['owner-operator', 'security'], groups: [ALL_OWNERS] };
}

export async function loadRolesFile(file: string): Promise<RoleMap> {
  const parsed = await readYaml(file, RolesFileSchema);
  return parsed.groups;
}

/** Reads the tokens file and resolves each token's reference; a duplicate name or too short a token is refused. */
export async function loadTokensFile(file: string, resolveSecret: (ref: string) => Promise<string>): Promise<NamedToken[]> {
  const parsed = await readYaml(file, TokensFileSchema);
  const tokens: NamedToken[] = [];
  const seen = new Set<string>();
  for (const [i, t] of parsed.tokens.entries()) {
    if (seen.has(t.name) || t.name === 'rotor') {
      throw new AuthConfigError(`${file}: tokens[${i}].name: ${t.name} ${t.name === 'rotor' ? 'is the name of ROTOR_API_TOKEN_REF\'s token' : 'is used twice'}`);
    }
    seen.add(t.name);
    const secret = await resolveSecret(t.token).catch((error: Error) => {
      throw new AuthConfigError(`${file}: tokens[${i}] (${t.name}): cannot resolve ${t.token}: ${error.message}`);
    });
    // The length, never the token.
    if (secret.length < MIN_API_TOKEN_LENGTH) {
      throw new AuthConfigError(`${file}: tokens[${i}] (${t.name}) has ${secret.length} characters; at least ${MIN_API_TOKEN_LENGTH} are required (e.g. openssl rand -base64 32)`);
    }
    tokens.push({ name: t.name, secret, ref: t.token, roles: t.roles, groups: t.groups });
  }
  return tokens;
}

async function readYaml<T>(file: string, schema: z.ZodType<T>): Promise<T> {
  const size = await stat(file).then((s) => s.size, (error: Error) => {
    throw new AuthConfigError(`${file}: cannot read: ${error.message}`);
  });
  if (size > MAX_AUTH_FILE_BYTES) throw new AuthConfigError(`${file}: ${size} bytes; at most ${MAX_AUTH_FILE_BYTES} are read`);
  const text = await readFile(file, 'utf8');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new AuthConfigError(`${file}:${e.linePos?.[0]?.line ?? 1}: ${e.message.split('\n')[0]}`);
  }
  // No aliases: a file of groups needs none, and they are how a small YAML file expands into a large value.
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 0 });
  } catch (error) {
    throw new AuthConfigError(`${file}: ${(error as Error).message} (YAML aliases are not accepted here)`);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.slice(0, 10).map((i) => {
      // An unknown key is reported at its own line.
      const path = i.code === 'unrecognized_keys' ? [...i.path, i.keys[0]!] : i.path;
      return `${file}:${nodeLine(doc, path, lineCounter) ?? 1}: ${path.join('.') || '(document)'}: ${i.message}`;
    });
    throw new AuthConfigError(problems.join('\n'));
  }
  return result.data;
}

/** How people log in to the console (all from the environment; see README "Who may do what"). */
export interface OidcSettings {
  issuer: string;
  clientId: string;
  /** Resolved from ROTOR_OIDC_CLIENT_SECRET_REF; absent for a public client (PKCE alone). */
  clientSecret?: string;
  /** This daemon's /ui/callback as the IdP knows it, e.g. https://rotor.example.com/ui/callback. */
  redirectUrl: string;
  scopes: string;
  /** The ID token or userinfo claim that lists the person's groups. */
  groupsClaim: string;
}

export const OIDC_SETTINGS = ['ROTOR_OIDC_ISSUER', 'ROTOR_OIDC_CLIENT_ID', 'ROTOR_OIDC_REDIRECT_URL'] as const;

/** The OIDC settings, or undefined when none is set; some but not all is refused by name. */
export async function oidcSettingsFromEnv(env: NodeJS.ProcessEnv, resolveSecret: (ref: string) => Promise<string>): Promise<OidcSettings | undefined> {
  const given = OIDC_SETTINGS.filter((k) => env[k]);
  if (given.length === 0) return undefined;
  const missing = OIDC_SETTINGS.filter((k) => !env[k]);
  if (missing.length > 0) throw new AuthConfigError(`OIDC login needs ${missing.join(', ')} (set together with ${given.join(', ')})`);
  for (const k of ['ROTOR_OIDC_ISSUER', 'ROTOR_OIDC_REDIRECT_URL'] as const) {
    if (!URL.canParse(env[k]!)) throw new AuthConfigError(`${k} is not a URL`);
  }
  const ref = env.ROTOR_OIDC_CLIENT_SECRET_REF;
  return {
    issuer: env.ROTOR_OIDC_ISSUER!,
    clientId: env.ROTOR_OIDC_CLIENT_ID!,
    ...(ref ? { clientSecret: await resolveSecret(ref) } : {}),
    redirectUrl: env.ROTOR_OIDC_REDIRECT_URL!,
    scopes: env.ROTOR_OIDC_SCOPES ?? 'openid profile',
    groupsClaim: env.ROTOR_OIDC_GROUPS_CLAIM ?? 'groups',
  };
}

/** What the daemon command reads from the environment for daemon/http.ts `auth`. */
export async function authFromEnv(
  env: NodeJS.ProcessEnv,
  resolveSecret: (ref: string) => Promise<string>,
): Promise<{ tokens: NamedToken[]; roles: RoleMap; oidc?: OidcSettings; sessionKey?: string }> {
  const tokens = env.ROTOR_API_TOKENS_FILE ? await loadTokensFile(env.ROTOR_API_TOKENS_FILE, resolveSecret) : [];
  const roles = env.ROTOR_ROLES_FILE ? await loadRolesFile(env.ROTOR_ROLES_FILE) : {};
  const oidc = await oidcSettingsFromEnv(env, resolveSecret);
  if (oidc && !env.ROTOR_ROLES_FILE) throw new AuthConfigError('OIDC login needs ROTOR_ROLES_FILE: without a group → roles mapping nobody who logs in may do anything');
  const sessionKey = env.ROTOR_SESSION_KEY_REF ? await resolveSecret(env.ROTOR_SESSION_KEY_REF) : undefined;
  if (sessionKey !== undefined && sessionKey.length < MIN_API_TOKEN_LENGTH) {
    throw new AuthConfigError(`the session key (from ROTOR_SESSION_KEY_REF) has ${sessionKey.length} characters; at least ${MIN_API_TOKEN_LENGTH} are required`);
  }
  return { tokens, roles, ...(oidc ? { oidc } : {}), ...(sessionKey ? { sessionKey } : {}) };
}
