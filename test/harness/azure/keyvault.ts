/**
 * The Azure Key Vault secrets data plane in memory, as the REST API documents it, for the real
 * `@azure/keyvault-secrets` client:
 * - `PUT /secrets/{name}` adds a version (32 hex characters) and makes it the latest;
 * - `GET /secrets/{name}[/{version}]` (empty version = latest) returns the value; a disabled version
 *   answers 403 `SecretDisabled`, also when it is the latest (Key Vault never falls back to an
 *   older version, which is why restore must write the previous value again);
 * - `GET /secrets/{name}/versions` lists versions' attributes and tags, never values, in the order
 *   of their ids (not of time), `maxresults` per page with a `nextLink`;
 * - `PATCH /secrets/{name}/{version}` changes `attributes.enabled`/`nbf`/`exp`, `tags` (replaced as a
 *   whole) and `contentType`, never the value;
 * - `DELETE /secrets/{name}` soft-deletes the whole secret (every version): while deleted its name
 *   cannot be reused (409), `GET /deletedsecrets/{name}` shows it, `DELETE /deletedsecrets/{name}`
 *   purges it and `POST /deletedsecrets/{name}/recover` brings it back. Simplified: deletion is
 *   immediate and there is no scheduled purge.
 * - `api-version` is required on every call; names are 1–127 of [0-9a-zA-Z-], case-insensitive;
 *   at most 15 tags per version.
 *
 * Authorisation is Azure RBAC on data actions: "Key Vault Secrets Officer" may do everything here,
 * "Key Vault Secrets User" only getSecret and readMetadata. Anything else is 403 `ForbiddenByRbac`.
 */
import { randomBytes } from 'node:crypto';
import type { TokenRecord } from './directory.js';
import { AzureHttpError, keyVaultError, parseJsonObject } from './wire.js';

export type VaultRole = 'Key Vault Secrets Officer' | 'Key Vault Secrets User';

const ACTION_PREFIX = 'Microsoft.KeyVault/vaults/secrets/';
const ROLE_ALLOWS: Record<VaultRole, (action: string) => boolean> = {
  'Key Vault Secrets Officer': (action) => action.startsWith(ACTION_PREFIX) || action.startsWith('Microsoft.KeyVault/vaults/deletedSecrets/'),
  'Key Vault Secrets User': (action) => action === `${ACTION_PREFIX}getSecret/action` || action === `${ACTION_PREFIX}readMetadata/action`,
};

export const API_VERSIONS = new Set(['7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6', '2025-07-01']);
const MAX_TAGS = 15;
const MAX_VALUE_BYTES = 25 * 1024;
const NAME = /^[0-9a-zA-Z-]{1,127}$/;

export interface SecretVersionRecord {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  /** Epoch seconds, as Key Vault reports them. */
  created: number;
  updated: number;
}

export interface SecretRecord {
  name: string;
  /** In creation order: the last one is the latest. */
  versions: SecretVersionRecord[];
  deleted?: { deletedDate: number };
}

export interface KeyVaultReply {
  status: number;
  body?: unknown;
}

const epoch = () => Math.floor(Date.now() / 1000);

export class KeyVaultState {
  readonly secrets = new Map<string, SecretRecord>();
  readonly roles = new Map<string, Set<VaultRole>>();

  /** Largest page of a list (Key Vault's own maximum is 25). */
  pageSize = 25;

  /** `vaultUrl` is known once the server listens: ids and next links are built from it. */
  constructor(private readonly url: () => string) {}

  get vaultUrl(): string {
    return this.url();
  }

  grant(clientId: string, role: VaultRole): void {
    let roles = this.roles.get(clientId);
    if (!roles) this.roles.set(clientId, (roles = new Set()));
    roles.add(role);
  }

  /** The live (not deleted) secret of a name, if any. */
  live(name: string): SecretRecord | undefined {
    const secret = this.secrets.get(name.toLowerCase());
    return secret && !secret.deleted ? secret : undefined;
  }

  handle(caller: TokenRecord, method: string, path: string, query: URLSearchParams, body: string): KeyVaultReply {
    const apiVersion = query.get('api-version');
    if (!apiVersion) throw keyVaultError(400, 'BadParameter', "The 'api-version' query parameter is required.");
    if (!API_VERSIONS.has(apiVersion)) {
      throw keyVaultError(400, 'BadParameter', `The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (2025-07-01).`);
    }
    const parts = path.split('/').slice(1).map((p) => decodeURIComponent(p));
    const [collection, name, sub, extra] = parts;
    const authorize = (action: string) => this.authorize(caller, action, name);

    if (collection === 'secrets' && name === undefined && method === 'GET') {
      authorize('readMetadata/action');
      const live = [...this.secrets.values()].filter((s) => !s.deleted).map((s) => ({ ...this.item(s, s.versions.at(-1)!), id: `${this.vaultUrl}/secrets/${s.name}` }));
      return this.page(live, query, `${this.vaultUrl}/secrets`, apiVersion);
    }
    if (collection === 'secrets' && name !== undefined && extra === undefined) {
      if (sub === undefined && method === 'PUT') {
        authorize('setSecret/action');
        return { status: 200, body: this.set(name, body) };
      }
      if (sub === undefined && method === 'DELETE') {
        authorize('delete');
        return { status: 200, body: this.delete(name) };
      }
      if (sub === 'versions' && method === 'GET') {
        authorize('readMetadata/action');
        const secret = this.requireLive(name);
        const items = [...secret.versions].sort((a, b) => a.version.localeCompare(b.version)).map((v) => this.item(secret, v));
        return this.page(items, query, `${this.vaultUrl}/secrets/${secret.name}/versions`, apiVersion);
      }
      if (method === 'GET') {
        authorize('getSecret/action');
        const { secret, version } = this.version(name, sub ?? '');
        if (!version.enabled) throw keyVaultError(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
        return { status: 200, body: this.bundle(secret, version, true) };
      }
      if (method === 'PATCH') {
        authorize('update/action');
        return { status: 200, body: this.update(name, sub ?? '', body) };
      }
    }
    if (collection === 'deletedsecrets' && name !== undefined) {
      const secret = this.secrets.get(name.toLowerCase());
      const deleted = () => {
        if (!secret?.deleted) throw keyVaultError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
        return secret;
      };
      if (sub === undefined && method === 'GET') {
        authorize('readMetadata/action');
        return { status: 200, body: this.deletedBundle(deleted()) };
      }
      if (sub === undefined && method === 'DELETE') {
        authorize('purge/action');
        this.secrets.delete(deleted().name.toLowerCase());
        return { status: 204 };
      }
      if (sub === 'recover' && method === 'POST') {
        authorize('recover/action');
        const recovered = deleted();
        delete recovered.deleted;
        return { status: 200, body: this.bundle(recovered, recovered.versions.at(-1)!, false) };
      }
    }
    throw keyVaultError(400, 'BadParameter', `The request URI is not valid: ${method} ${path}`);
  }

  private authorize(caller: TokenRecord, action: string, name: string | undefined): void {
    const full = `${ACTION_PREFIX}${action}`;
    const roles = this.roles.get(caller.clientId) ?? new Set<VaultRole>();
    if ([...roles].some((role) => ROLE_ALLOWS[role](full))) return;
    const resource = `/vaults/emulator/secrets${name ? `/${name}` : ''}`;
    throw keyVaultError(
      403,
      'Forbidden',
      `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n` +
        `Caller: appid=${caller.clientId};iss=https://sts.windows.net/${caller.tenantId}/\r\nAction: '${full}'\r\nResource: '${resource}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: emulator;location=local\r\n`,
      'ForbiddenByRbac',
    );
  }

  private requireLive(name: string): SecretRecord {
    const secret = this.live(name);
    if (!secret) {
      throw keyVaultError(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );
    }
    return secret;
  }

  private version(name: string, version: string): { secret: SecretRecord; version: SecretVersionRecord } {
    const secret = this.requireLive(name);
    const found = version === '' ? secret.versions.at(-1) : secret.versions.find((v) => v.version === version.toLowerCase());
    if (!found) {
      throw keyVaultError(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name}/${version} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      );
    }
    return { secret, version: found };
  }

  private set(name: string, text: string): unknown {
    if (!NAME.test(name)) throw keyVaultError(400, 'BadParameter', `The request URI contains an invalid name: ${name}`);
    const input = parseJsonObject(text);
    if (!input) throw keyVaultError(400, 'BadParameter', 'The request body is not valid JSON.');
    if (typeof input.value !== 'string') throw keyVaultError(400, 'BadParameter', 'Property value is required.');
    if (Buffer.byteLength(input.value) > MAX_VALUE_BYTES) throw keyVaultError(400, 'BadParameter', 'Secret value is too long: the maximum is 25 KB.');
    const existing = this.secrets.get(name.toLowerCase());
    if (existing?.deleted) {
      throw keyVaultError(
        409,
        'Conflict',
        `Secret ${existing.name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
        'ObjectIsDeletedButRecoverable',
      );
    }
    const tags = this.tags(input.tags);
    const attributes = (input.attributes ?? {}) as Record<string, unknown>;
    const now = epoch();
    const version: SecretVersionRecord = {
      version: randomBytes(16).toString('hex'),
      value: input.value,
      ...(typeof input.contentType === 'string' ? { contentType: input.contentType } : {}),
      ...(tags ? { tags } : {}),
      enabled: attributes.enabled !== false,
      ...(typeof attributes.nbf === 'number' ? { nbf: attributes.nbf } : {}),
      ...(typeof attributes.exp === 'number' ? { exp: attributes.exp } : {}),
      created: now,
      updated: now,
    };
    const secret = existing ?? { name, versions: [] };
    secret.versions.push(version);
    this.secrets.set(name.toLowerCase(), secret);
    return this.bundle(secret, version, true);
  }

  private update(name: string, versionId: string, text: string): unknown {
    const { secret, version } = this.version(name, versionId);
    const input = parseJsonObject(text);
    if (!input) throw keyVaultError(400, 'BadParameter', 'The request body is not valid JSON.');
    const attributes = (input.attributes ?? {}) as Record<string, unknown>;
    if (typeof attributes.enabled === 'boolean') version.enabled = attributes.enabled;
    if (typeof attributes.nbf === 'number') version.nbf = attributes.nbf;
    if (typeof attributes.exp === 'number') version.exp = attributes.exp;
    if (typeof input.contentType === 'string') version.contentType = input.contentType;
    const tags = this.tags(input.tags);
    if (tags) version.tags = tags;
    version.updated = epoch();
    return this.bundle(secret, version, false);
  }

  private delete(name: string): unknown {
    const secret = this.requireLive(name);
    secret.deleted = { deletedDate: epoch() };
    return this.deletedBundle(secret);
  }

  private tags(value: unknown): Record<string, string> | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) throw keyVaultError(400, 'BadParameter', 'Tags must be an object of strings.');
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length > MAX_TAGS) throw keyVaultError(400, 'BadParameter', `The number of tags exceeds the maximum of ${MAX_TAGS}.`);
    for (const [k, v] of entries) {
      if (typeof v !== 'string' || k.length > 512 || v.length > 256) throw keyVaultError(400, 'BadParameter', `Tag ${k.slice(0, 40)} is not valid: names have at most 512 characters, values at most 256.`);
    }
    return Object.fromEntries(entries) as Record<string, string>;
  }

  private attributes(v: SecretVersionRecord): Record<string, unknown> {
    return {
      enabled: v.enabled,
      ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
      ...(v.exp !== undefined ? { exp: v.exp } : {}),
      created: v.created,
      updated: v.updated,
      recoveryLevel: 'Recoverable+Purgeable',
      recoverableDays: 90,
    };
  }

  private bundle(secret: SecretRecord, v: SecretVersionRecord, withValue: boolean): Record<string, unknown> {
    return {
      ...(withValue ? { value: v.value } : {}),
      id: `${this.vaultUrl}/secrets/${secret.name}/${v.version}`,
      ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
      attributes: this.attributes(v),
      ...(v.tags ? { tags: v.tags } : {}),
    };
  }

  private item(secret: SecretRecord, v: SecretVersionRecord): Record<string, unknown> {
    return {
      id: `${this.vaultUrl}/secrets/${secret.name}/${v.version}`,
      attributes: this.attributes(v),
      ...(v.tags ? { tags: v.tags } : {}),
      ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    };
  }

  private deletedBundle(secret: SecretRecord): Record<string, unknown> {
    const deletedDate = secret.deleted?.deletedDate ?? epoch();
    return {
      recoveryId: `${this.vaultUrl}/deletedsecrets/${secret.name}`,
      deletedDate,
      scheduledPurgeDate: deletedDate + 90 * 86_400,
      ...this.bundle(secret, secret.versions.at(-1)!, false),
    };
  }

  /** One page of a list: `maxresults` (≤ pageSize) items from `$skiptoken` on, and the next page's link. */
  private page(items: unknown[], query: URLSearchParams, base: string, apiVersion: string): KeyVaultReply {
    const requested = Number(query.get('maxresults') ?? this.pageSize);
    if (!Number.isInteger(requested) || requested < 1 || requested > 25) {
      throw keyVaultError(400, 'BadParameter', 'The value of maxresults must be an integer between 1 and 25.');
    }
    const size = Math.min(requested, this.pageSize);
    const skip = query.get('$skiptoken');
    const start = skip === null ? 0 : Number(Buffer.from(skip, 'base64url').toString('utf8'));
    if (!Number.isInteger(start) || start < 0) throw new AzureHttpError(400, 'BadParameter', { error: { code: 'BadParameter', message: 'The $skiptoken is not valid.' } });
    const end = start + size;
    const nextLink =
      end < items.length ? `${base}?api-version=${encodeURIComponent(apiVersion)}&$skiptoken=${Buffer.from(String(end)).toString('base64url')}&maxresults=${size}` : null;
    return { status: 200, body: { value: items.slice(start, end), nextLink } };
  }
}
