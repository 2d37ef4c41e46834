/**
 * The slice of Vault's KV version 2 API the provider uses, over node-vault. Errors name the mount,
 * path and HTTP status, never a value: node-vault's own errors are not passed on, because the
 * request behind them (axios config) carries the secret data that was being written.
 */
import { createHash } from 'node:crypto';
import vault from 'node-vault';
import { ProviderRefusal } from '../contracts.js';
import type { VaultKvSpec } from './spec.js';

const REQUEST_TIMEOUT_MS = 10_000;

export type Fields = Record<string, string>;
export type CustomMetadata = Record<string, string>;

export interface KvVersion {
  version: number;
  /** null when the version is soft-deleted or destroyed. */
  data: Fields | null;
  customMetadata: CustomMetadata;
}

export interface KvMetadata {
  currentVersion: number;
  customMetadata: CustomMetadata;
  /** Version numbers that can still be read (neither deleted nor destroyed). */
  live: Set<number>;
}

interface VaultFailure {
  message?: string;
  code?: string;
  response?: { statusCode?: number; body?: unknown };
}

/** Secret data as strings: what Material holds (non-string values are kept as JSON text). */
function asFields(data: unknown): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries((data ?? {}) as Record<string, unknown>)) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return out;
}

function asCustom(value: unknown): CustomMetadata {
  return value && typeof value === 'object' ? asFields(value) : {};
}

/**
 * One node-vault client per address, namespace and token, kept between activities: building one
 * (its command table, an HTTP client) cost more than the requests a step makes, and a kept client
 * reuses its keep-alive connections. A token is never shared: a new token gets its own client.
 * Bounded, oldest first out, so rotated tokens do not pile up.
 */
const clients = new Map<string, vault.client>();
const MAX_CLIENTS = 64;

function vaultClient(address: string, namespace: string | undefined, token: string): vault.client {
  const key = JSON.stringify([address, namespace ?? null, createHash('sha256').update(token).digest('hex')]);
  let client = clients.get(key);
  if (!client) {
    client = vault({
      apiVersion: 'v1',
      endpoint: address,
      token,
      namespace,
      // Node's HTTP stack (and some proxies) refuse the LIST verb: list with GET ?list=true.
      noCustomHTTPVerbs: true,
      requestOptions: { timeout: REQUEST_TIMEOUT_MS },
    });
    if (clients.size >= MAX_CLIENTS) clients.delete(clients.keys().next().value!);
    clients.set(key, client);
  }
  return client;
}

export class KvClient {
  readonly #client: vault.client;

  constructor(
    readonly spec: VaultKvSpec,
    token: string,
  ) {
    this.#client = vaultClient(spec.address, spec.namespace, token);
  }

  /** `mount/path` as error messages and logs name it. */
  where(path: string): string {
    return `${this.spec.namespace ? `${this.spec.namespace}:` : ''}${this.spec.mount}/${path}`;
  }

  /** A version (latest when omitted); null when the secret or that version does not exist. */
  async readVersion(path: string, version?: number): Promise<KvVersion | null> {
    const query = version ? `?version=${version}` : '';
    try {
      const reply = (await this.#client.read(`${this.#url('data', path)}${query}`)) as { data: { data: unknown; metadata: { version: number; custom_metadata: unknown } } };
      return { version: reply.data.metadata.version, data: asFields(reply.data.data), customMetadata: asCustom(reply.data.metadata.custom_metadata) };
    } catch (error) {
      const failure = error as VaultFailure;
      if (failure.response?.statusCode !== 404) throw this.#fail(error, `cannot read ${this.where(path)}${version ? ` version ${version}` : ''}`);
      // Vault answers a deleted or destroyed version with 404 and the version's metadata.
      const metadata = (failure.response.body as { data?: { metadata?: { version: number; custom_metadata: unknown } } } | undefined)?.data?.metadata;
      return metadata ? { version: metadata.version, data: null, customMetadata: asCustom(metadata.custom_metadata) } : null;
    }
  }

  /** Writes a new version with check-and-set against `cas` (0: the secret must not exist yet). */
  async write(path: string, data: Fields, cas: number): Promise<number> {
    try {
      const reply = (await this.#client.write(this.#url('data', path), { data, options: { cas } })) as { data: { version: number } };
      return reply.data.version;
    } catch (error) {
      throw this.#fail(error, `cannot write ${this.where(path)} (check-and-set ${cas})`);
    }
  }

  async readMetadata(path: string): Promise<KvMetadata | null> {
    try {
      const reply = (await this.#client.read(this.#url('metadata', path))) as {
        data: { current_version: number; custom_metadata: unknown; versions: Record<string, { deletion_time: string; destroyed: boolean }> };
      };
      const live = Object.entries(reply.data.versions ?? {})
        .filter(([, v]) => !v.destroyed && !v.deletion_time)
        .map(([n]) => Number(n));
      return { currentVersion: reply.data.current_version, customMetadata: asCustom(reply.data.custom_metadata), live: new Set(live) };
    } catch (error) {
      if ((error as VaultFailure).response?.statusCode === 404) return null;
      throw this.#fail(error, `cannot read the metadata of ${this.where(path)}`);
    }
  }

  /** Replaces the secret's custom_metadata as a whole (Vault has no per-key update on POST). */
  async writeCustomMetadata(path: string, customMetadata: CustomMetadata): Promise<void> {
    try {
      await this.#client.write(this.#url('metadata', path), { custom_metadata: customMetadata });
    } catch (error) {
      throw this.#fail(error, `cannot write the metadata of ${this.where(path)}`);
    }
  }

  /** Every version and the metadata, for good. Deleting what is not there succeeds. */
  async deleteMetadata(path: string): Promise<void> {
    try {
      await this.#client.delete(this.#url('metadata', path));
    } catch (error) {
      if ((error as VaultFailure).response?.statusCode === 404) return;
      throw this.#fail(error, `cannot delete ${this.where(path)}`);
    }
  }

  /** Soft-deletes versions (undelete can bring them back). */
  async deleteVersions(path: string, versions: number[]): Promise<void> {
    try {
      await this.#client.write(this.#url('delete', path), { versions });
    } catch (error) {
      throw this.#fail(error, `cannot delete versions ${versions.join(', ')} of ${this.where(path)}`);
    }
  }

  #url(operation: 'data' | 'metadata' | 'delete', path: string): string {
    return `${this.spec.mount}/${operation}/${path.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** A clean error: status and Vault's first error string, or the network error code. */
  #fail(error: unknown, action: string): Error {
    const failure = (error ?? {}) as VaultFailure;
    const status = failure.response?.statusCode;
    if (status === undefined) {
      return new Error(`${action}: ${failure.code ?? 'request failed'}${failure.message ? ` (${failure.message.slice(0, 200)})` : ''}`);
    }
    const reason = failure.message && failure.message !== `Status ${status}` ? ` (${failure.message.slice(0, 200)})` : '';
    const message = `${action}: Vault answered HTTP ${status}${reason}`;
    // A conflicting writer (check-and-set) may be gone on retry; bad tokens and bad requests will not.
    const retryable = status >= 500 || status === 429 || status === 412 || (status === 400 && reason.includes('check-and-set'));
    return retryable ? new Error(message) : new ProviderRefusal(message);
  }
}
