/**
 * The KV version 2 secrets engine, in memory: versions, check-and-set, soft delete, undelete,
 * destroy, key metadata and custom_metadata, with Vault's documented reply shapes and messages.
 * The HTTP layer (index.ts) routes to it and wraps `data` replies in Vault's envelope.
 * `snapshot()` / `KvEngine.restore()` let `rotor dev` keep the engine's keys across restarts.
 */

export type Reply =
  | { status: 200; data: unknown }
  | { status: 204 }
  | { status: 400 | 404 | 405; errors: string[] }
  /** Vault answers a read of a deleted or destroyed version with 404 and the version's metadata. */
  | { status: 404; data: unknown };

interface VersionRecord {
  data: Record<string, unknown> | null;
  created_time: string;
  deletion_time: string;
  destroyed: boolean;
}

interface KeyRecord {
  versions: Map<number, VersionRecord>;
  current_version: number;
  oldest_version: number;
  created_time: string;
  updated_time: string;
  max_versions: number;
  cas_required: boolean;
  delete_version_after: string;
  custom_metadata: Record<string, string> | null;
}

/** Vault keeps 10 versions when neither the key nor the mount says otherwise. */
const DEFAULT_MAX_VERSIONS = 10;
const CUSTOM_METADATA_LIMITS = { keys: 64, keyLength: 128, valueLength: 512 };

const ok = (data: unknown): Reply => ({ status: 200, data });
const noContent: Reply = { status: 204 };
const badRequest = (message: string): Reply => ({ status: 400, errors: [message] });
const notFound: Reply = { status: 404, errors: [] };

function now(): string {
  return new Date().toISOString();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface KvConfig {
  max_versions: number;
  cas_required: boolean;
}

/** An engine as plain JSON: its mount settings and every key with its versions. */
export interface KvSnapshot {
  config: KvConfig;
  keys: Array<Omit<KeyRecord, 'versions'> & { path: string; versions: Array<[number, VersionRecord]> }>;
}

export class KvEngine {
  readonly #keys = new Map<string, KeyRecord>();

  constructor(readonly config: KvConfig = { max_versions: 0, cas_required: false }) {}

  snapshot(): KvSnapshot {
    return {
      config: { ...this.config },
      keys: [...this.#keys].map(([path, key]) => ({ ...structuredClone(key), path, versions: [...structuredClone(key.versions)] })),
    };
  }

  static restore(snapshot: KvSnapshot): KvEngine {
    const engine = new KvEngine(snapshot.config);
    for (const { path, versions, ...key } of snapshot.keys) engine.#keys.set(path, { ...key, versions: new Map(versions) });
    return engine;
  }

  /** GET data/<path>[?version=N] */
  read(path: string, version: number): Reply {
    const key = this.#keys.get(path);
    if (!key) return notFound;
    const number = version > 0 ? version : key.current_version;
    const record = key.versions.get(number);
    if (!record) return notFound;
    const metadata = {
      created_time: record.created_time,
      custom_metadata: key.custom_metadata,
      deletion_time: record.deletion_time,
      destroyed: record.destroyed,
      version: number,
    };
    if (record.destroyed || record.deletion_time !== '') return { status: 404, data: { data: null, metadata } };
    return ok({ data: record.data, metadata });
  }

  /** POST/PUT data/<path> with `{data, options: {cas}}` */
  write(path: string, body: Record<string, unknown>): Reply {
    if (!isRecord(body.data)) return badRequest('no data provided');
    const key = this.#keys.get(path) ?? this.#newKey();
    const options = isRecord(body.options) ? body.options : {};
    if (options.cas !== undefined) {
      const cas = Number(options.cas);
      if (!Number.isInteger(cas)) return badRequest('error parsing check-and-set parameter');
      if (cas !== key.current_version) return badRequest('check-and-set parameter did not match the current version');
    } else if (key.cas_required || this.config.cas_required) {
      return badRequest('check-and-set parameter required for this call');
    }
    const created = now();
    const number = key.current_version + 1;
    key.versions.set(number, { data: structuredClone(body.data), created_time: created, deletion_time: '', destroyed: false });
    key.current_version = number;
    key.updated_time = created;
    this.#keys.set(path, key);
    this.#prune(key);
    return ok({ created_time: created, custom_metadata: key.custom_metadata, deletion_time: '', destroyed: false, version: number });
  }

  /** DELETE data/<path>: soft-deletes the latest version. */
  deleteLatest(path: string): Reply {
    const key = this.#keys.get(path);
    const record = key?.versions.get(key.current_version);
    if (record && record.deletion_time === '') record.deletion_time = now();
    return noContent;
  }

  /** POST delete/<path>, undelete/<path>, destroy/<path> with `{versions: [...]}` */
  changeVersions(action: 'delete' | 'undelete' | 'destroy', path: string, body: Record<string, unknown>): Reply {
    const versions = Array.isArray(body.versions) ? body.versions.map(Number).filter((n) => Number.isInteger(n) && n > 0) : [];
    if (versions.length === 0) return badRequest('no version number provided');
    const key = this.#keys.get(path);
    if (!key) return noContent;
    for (const number of versions) {
      const record = key.versions.get(number);
      if (!record || record.destroyed) continue;
      if (action === 'delete' && record.deletion_time === '') record.deletion_time = now();
      if (action === 'undelete') record.deletion_time = '';
      if (action === 'destroy') {
        record.destroyed = true;
        record.data = null;
      }
    }
    key.updated_time = now();
    return noContent;
  }

  /** GET metadata/<path> */
  readMetadata(path: string): Reply {
    const key = this.#keys.get(path);
    if (!key) return notFound;
    const versions = Object.fromEntries(
      [...key.versions].map(([n, v]) => [String(n), { created_time: v.created_time, deletion_time: v.deletion_time, destroyed: v.destroyed }]),
    );
    return ok({
      cas_required: key.cas_required,
      created_time: key.created_time,
      current_version: key.current_version,
      custom_metadata: key.custom_metadata,
      delete_version_after: key.delete_version_after,
      max_versions: key.max_versions,
      oldest_version: key.oldest_version,
      updated_time: key.updated_time,
      versions,
    });
  }

  /** POST/PUT metadata/<path>: settings and custom_metadata (which is replaced as a whole). */
  writeMetadata(path: string, body: Record<string, unknown>): Reply {
    const { max_versions, cas_required, delete_version_after, custom_metadata } = body;
    if ([max_versions, cas_required, delete_version_after, custom_metadata].every((v) => v === undefined)) return noContent;
    let custom: Record<string, string> | undefined;
    if (custom_metadata !== undefined) {
      if (!isRecord(custom_metadata)) return badRequest('custom_metadata validation failed: expected a map');
      custom = Object.fromEntries(Object.entries(custom_metadata).map(([k, v]) => [k, v === null ? '' : String(v)]));
      const problem = customMetadataProblem(custom);
      if (problem) return badRequest(problem);
    }
    const key = this.#keys.get(path) ?? this.#newKey();
    if (max_versions !== undefined) key.max_versions = Number(max_versions);
    if (cas_required !== undefined) key.cas_required = cas_required === true;
    if (delete_version_after !== undefined) key.delete_version_after = String(delete_version_after);
    if (custom) key.custom_metadata = custom;
    key.updated_time = now();
    this.#keys.set(path, key);
    this.#prune(key);
    return noContent;
  }

  /** DELETE metadata/<path>: every version and the metadata, for good. */
  deleteMetadata(path: string): Reply {
    this.#keys.delete(path);
    return noContent;
  }

  /** LIST metadata/<folder>: direct children, folders with a trailing slash. */
  list(folder: string): Reply {
    const prefix = folder === '' || folder.endsWith('/') ? folder : `${folder}/`;
    const children = new Set<string>();
    for (const path of this.#keys.keys()) {
      if (!path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length);
      const slash = rest.indexOf('/');
      children.add(slash === -1 ? rest : rest.slice(0, slash + 1));
    }
    if (children.size === 0) return notFound;
    return ok({ keys: [...children].sort() });
  }

  #newKey(): KeyRecord {
    const created = now();
    return {
      versions: new Map(),
      current_version: 0,
      oldest_version: 0,
      created_time: created,
      updated_time: created,
      max_versions: 0,
      cas_required: false,
      delete_version_after: '0s',
      custom_metadata: null,
    };
  }

  /** Drops the oldest versions beyond max_versions, as Vault does on each write. */
  #prune(key: KeyRecord): void {
    const limit = key.max_versions || this.config.max_versions || DEFAULT_MAX_VERSIONS;
    const numbers = [...key.versions.keys()].sort((a, b) => a - b);
    while (numbers.length > limit) key.versions.delete(numbers.shift()!);
    if (numbers.length > 0 && numbers[0]! > 1) key.oldest_version = numbers[0]!;
  }
}

function customMetadataProblem(custom: Record<string, string>): string | undefined {
  const prefix = 'custom_metadata validation failed';
  const entries = Object.entries(custom);
  if (entries.length > CUSTOM_METADATA_LIMITS.keys) {
    return `${prefix}: payload must contain at most ${CUSTOM_METADATA_LIMITS.keys} keys, provided ${entries.length}`;
  }
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > CUSTOM_METADATA_LIMITS.keyLength) {
      return `${prefix}: length of key "${k}" is ${k.length} but must be 0 < len(key) <= ${CUSTOM_METADATA_LIMITS.keyLength}`;
    }
    if (v.length === 0 || v.length > CUSTOM_METADATA_LIMITS.valueLength) {
      return `${prefix}: length of value for key "${k}" is ${v.length} but must be 0 < len(value) <= ${CUSTOM_METADATA_LIMITS.valueLength}`;
    }
  }
  return undefined;
}
