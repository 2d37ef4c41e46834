/**
 * Secret Manager v1 in memory, over the REST mapping of its protos (what google-gax's REST
 * transport sends), with the documented rules:
 * - versions are numbered from 1, immutable, ENABLED → DISABLED ↔ ENABLED → DESTROYED (final,
 *   the data is erased); only ENABLED versions can be accessed (FAILED_PRECONDITION otherwise);
 * - `latest` is the most recently created version, whatever its state; version aliases
 *   (`versionAliases`: name → version number, at most 50, names `[A-Za-z][A-Za-z0-9_-]*` up to 63,
 *   never `latest` or `NEW`, naming existing versions) are resolved by GetSecretVersion and
 *   AccessSecretVersion;
 * - annotations: keys of 1–63 characters, alphanumeric at both ends with `-_.` inside, keys and
 *   values under 16 KiB in all;
 * - UpdateSecret needs an updateMask and replaces exactly the fields it names; a request etag
 *   that is not the current one is refused (ABORTED);
 * - a payload is at most 64 KiB; a dataCrc32c sent with it must match, and one is always stored
 *   and returned on access;
 * - resource names in replies carry the project number, whatever the request used.
 */
import { createHash, randomBytes } from 'node:crypto';
import { crc32c } from './crypto.js';
import type { IamState, ProjectRecord } from './iam.js';
import { GcpError, permissionDenied, timestamp } from './wire.js';

type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';
const STATE_NUMBERS: Record<VersionState, number> = { ENABLED: 1, DISABLED: 2, DESTROYED: 3 };
const MAX_PAYLOAD = 64 * 1024;
const MAX_ALIASES = 50;
const ALIAS = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const ANNOTATION_KEY = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;

interface VersionRecord {
  number: number;
  state: VersionState;
  data?: Buffer;
  crc32c: number;
  clientChecksum: boolean;
  createdAt: Date;
  destroyedAt?: Date;
}

interface SecretRecord {
  project: ProjectRecord;
  id: string;
  createdAt: Date;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  aliases: Map<string, number>;
  versions: VersionRecord[];
  etag: string;
}

export interface SecretVersionView {
  version: number;
  state: VersionState;
}

export class SecretManagerState {
  /** By `<projectId>/<secretId>`. */
  readonly secrets = new Map<string, SecretRecord>();
  /** Every payload ever added, for leak scans of tests that store secrets here. */
  readonly payloads: string[] = [];

  constructor(private readonly iam: IamState) {}

  /** A secret for tests to start from (no permission checks), with versions holding `payloads`. */
  create(name: string, options: { payloads?: string[]; annotations?: Record<string, string>; aliases?: Record<string, number> } = {}): void {
    const { projectId, secretId } = parseName(name);
    const secret = this.newSecret(this.iam.project(projectId), secretId, {}, options.annotations ?? {});
    for (const payload of options.payloads ?? []) this.addVersion(secret, Buffer.from(payload, 'utf8'), undefined);
    for (const [alias, version] of Object.entries(options.aliases ?? {})) secret.aliases.set(alias, version);
  }

  versions(name: string): SecretVersionView[] {
    return this.find(name).versions.map((v) => ({ version: v.number, state: v.state }));
  }

  aliases(name: string): Record<string, number> {
    return Object.fromEntries(this.find(name).aliases);
  }

  annotations(name: string): Record<string, string> {
    return { ...this.find(name).annotations };
  }

  /** The payload of a version (number, alias or `latest`) as text, whatever its state; undefined once destroyed. */
  payload(name: string, version: string | number): string | undefined {
    const secret = this.find(name);
    return this.resolve(secret, String(version)).data?.toString('utf8');
  }

  private find(name: string): SecretRecord {
    const { projectId, secretId } = parseName(name);
    const secret = this.secrets.get(`${this.iam.project(projectId).id}/${secretId}`);
    if (!secret) throw new Error(`no secret ${name} in the emulator`);
    return secret;
  }

  /**
   * One REST call under `/v1/projects/{project}/secrets`: `secretId` is undefined for the
   * collection, `rest` what follows the secret (`:addVersion`, `/versions/3:access`, '').
   */
  handle(method: string, projectRef: string, secretId: string | undefined, rest: string, url: URL, body: Record<string, unknown>, caller: string): unknown {
    const project = this.iam.projects.get(projectRef) ?? [...this.iam.projects.values()].find((p) => p.number === projectRef);
    const projectId = project?.id ?? projectRef;
    const intEnums = (url.searchParams.get('$alt') ?? '').includes('enum-encoding=int');

    if (secretId === undefined) {
      if (method === 'POST') {
        this.authorize(caller, 'secretmanager.secrets.create', `projects/${projectId}`);
        const id = url.searchParams.get('secretId') ?? '';
        if (!SECRET_ID.test(id)) throw new GcpError('INVALID_ARGUMENT', 'Secret ID must be 1-255 characters of letters, numbers, hyphens and underscores.');
        const replication = body.replication;
        if (!replication || typeof replication !== 'object') throw new GcpError('INVALID_ARGUMENT', 'Secret.replication is required.');
        const p = project ?? this.iam.project(projectRef);
        if (this.secrets.has(`${p.id}/${id}`)) throw new GcpError('ALREADY_EXISTS', `Secret [projects/${p.number}/secrets/${id}] already exists.`);
        const secret = this.newSecret(p, id, stringMap(body.labels, 'labels'), stringMap(body.annotations, 'annotations'));
        checkLabels(secret.labels);
        checkAnnotations(secret.annotations);
        return this.renderSecret(secret);
      }
      throw new GcpError('UNIMPLEMENTED', `The emulator has no Secret Manager method ${method} ${url.pathname}.`);
    }

    const resource = `projects/${projectId}/secrets/${secretId}`;
    if (rest === ':testIamPermissions' && method === 'POST') {
      this.secretOf(project, secretId);
      const asked = Array.isArray(body.permissions) ? body.permissions.filter((p): p is string => typeof p === 'string') : [];
      const granted = asked.filter((p) => this.iam.can(caller, resource, p));
      return granted.length ? { permissions: granted } : {};
    }
    const need = (permission: string) => this.authorize(caller, permission, resource);

    if (rest === '' && method === 'GET') {
      need('secretmanager.secrets.get');
      return this.renderSecret(this.secretOf(project, secretId));
    }
    if (rest === '' && method === 'PATCH') {
      need('secretmanager.secrets.update');
      return this.renderSecret(this.update(this.secretOf(project, secretId), url, body));
    }
    if (rest === '' && method === 'DELETE') {
      need('secretmanager.secrets.delete');
      const secret = this.secretOf(project, secretId);
      this.secrets.delete(`${secret.project.id}/${secret.id}`);
      return {};
    }
    if (rest === ':addVersion' && method === 'POST') {
      need('secretmanager.versions.add');
      const secret = this.secretOf(project, secretId);
      const payload = body.payload as { data?: unknown; dataCrc32c?: unknown } | undefined;
      if (!payload || typeof payload.data !== 'string') throw new GcpError('INVALID_ARGUMENT', 'SecretPayload.data is required.');
      const data = Buffer.from(payload.data, 'base64');
      if (data.length > MAX_PAYLOAD) throw new GcpError('INVALID_ARGUMENT', `Secret payload data must be no larger than 64KiB.`);
      const checksum = payload.dataCrc32c === undefined || payload.dataCrc32c === null ? undefined : Number(payload.dataCrc32c);
      if (checksum !== undefined && checksum !== crc32c(data)) throw new GcpError('INVALID_ARGUMENT', 'Checksum mismatch: the data_crc32c in the request does not match the payload data.');
      return this.renderVersion(secret, this.addVersion(secret, data, checksum), intEnums);
    }
    if (rest === '/versions' && method === 'GET') {
      need('secretmanager.versions.list');
      const secret = this.secretOf(project, secretId);
      const filter = url.searchParams.get('filter');
      const stateFilter = filter ? /^state\s*[:=]\s*(ENABLED|DISABLED|DESTROYED)$/.exec(filter.trim())?.[1] : undefined;
      if (filter && !stateFilter) throw new GcpError('INVALID_ARGUMENT', `The emulator understands only filters like state:ENABLED, not "${filter}".`);
      const all = [...secret.versions].reverse().filter((v) => !stateFilter || v.state === stateFilter);
      const size = Math.min(Number(url.searchParams.get('pageSize') ?? 25) || 25, 25_000);
      const start = Number(Buffer.from(url.searchParams.get('pageToken') ?? '', 'base64url').toString('utf8') || 0);
      const page = all.slice(start, start + size);
      const next = start + size < all.length ? Buffer.from(String(start + size)).toString('base64url') : undefined;
      return { ...(page.length ? { versions: page.map((v) => this.renderVersion(secret, v, intEnums)) } : {}), ...(next ? { nextPageToken: next } : {}), totalSize: all.length };
    }
    const versionPath = /^\/versions\/([^/:]+)(:access|:disable|:enable|:destroy)?$/.exec(rest);
    if (versionPath) {
      const [, ref, verb] = versionPath as unknown as [string, string, string | undefined];
      if (!verb && method === 'GET') {
        need('secretmanager.versions.get');
        const secret = this.secretOf(project, secretId);
        return this.renderVersion(secret, this.resolve(secret, ref), intEnums);
      }
      if (verb === ':access' && method === 'GET') {
        need('secretmanager.versions.access');
        const secret = this.secretOf(project, secretId);
        const version = this.resolve(secret, ref);
        if (version.state !== 'ENABLED') throw new GcpError('FAILED_PRECONDITION', `Secret Version [${this.versionName(secret, version)}] is in ${version.state} state.`);
        return { name: this.versionName(secret, version), payload: { data: version.data!.toString('base64'), dataCrc32c: String(version.crc32c) } };
      }
      if (verb && verb !== ':access' && method === 'POST') {
        const action = verb.slice(1) as 'disable' | 'enable' | 'destroy';
        need(`secretmanager.versions.${action}`);
        const secret = this.secretOf(project, secretId);
        const version = this.resolve(secret, ref);
        const etag = body.etag;
        if (typeof etag === 'string' && etag !== '' && etag !== versionEtag(version)) throw new GcpError('ABORTED', 'The etag provided in the request does not match the current etag of the secret version.');
        if (version.state === 'DESTROYED') throw new GcpError('FAILED_PRECONDITION', `Secret Version [${this.versionName(secret, version)}] is in DESTROYED state.`);
        if (action === 'destroy') {
          version.state = 'DESTROYED';
          version.data = undefined;
          version.destroyedAt = new Date();
        } else {
          version.state = action === 'disable' ? 'DISABLED' : 'ENABLED';
        }
        return this.renderVersion(secret, version, intEnums);
      }
    }
    throw new GcpError('UNIMPLEMENTED', `The emulator has no Secret Manager method ${method} ${url.pathname}.`);
  }

  private authorize(caller: string, permission: string, resource: string): void {
    if (!this.iam.can(caller, resource, permission)) {
      throw permissionDenied(permission, `Permission '${permission}' denied for resource '${resource}' (or it may not exist).`, 'secretmanager.googleapis.com');
    }
  }

  private newSecret(project: ProjectRecord, id: string, labels: Record<string, string>, annotations: Record<string, string>): SecretRecord {
    const secret: SecretRecord = { project, id, createdAt: new Date(), labels, annotations, aliases: new Map(), versions: [], etag: newEtag() };
    this.secrets.set(`${project.id}/${id}`, secret);
    return secret;
  }

  private secretOf(project: ProjectRecord | undefined, secretId: string): SecretRecord {
    const secret = project && this.secrets.get(`${project.id}/${secretId}`);
    if (!secret) throw new GcpError('NOT_FOUND', `Secret [projects/${project?.number ?? '-'}/secrets/${secretId}] not found.`);
    return secret;
  }

  private addVersion(secret: SecretRecord, data: Buffer, checksum: number | undefined): VersionRecord {
    const version: VersionRecord = {
      number: secret.versions.length + 1,
      state: 'ENABLED',
      data,
      crc32c: crc32c(data),
      clientChecksum: checksum !== undefined,
      createdAt: new Date(),
    };
    secret.versions.push(version);
    this.payloads.push(data.toString('utf8'));
    return version;
  }

  /** A version by number, alias or `latest`; NOT_FOUND otherwise. */
  private resolve(secret: SecretRecord, ref: string): VersionRecord {
    const name = `projects/${secret.project.number}/secrets/${secret.id}`;
    if (ref === 'latest') {
      const latest = secret.versions[secret.versions.length - 1];
      if (!latest) throw new GcpError('NOT_FOUND', `Secret [${name}] not found or has no versions.`);
      return latest;
    }
    const number = /^\d+$/.test(ref) ? Number(ref) : secret.aliases.get(ref);
    const version = number === undefined ? undefined : secret.versions[number - 1];
    if (!version) throw new GcpError('NOT_FOUND', `Secret Version [${name}/versions/${ref}] not found.`);
    return version;
  }

  private update(secret: SecretRecord, url: URL, body: Record<string, unknown>): SecretRecord {
    const mask = (url.searchParams.get('updateMask') ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    if (mask.length === 0) throw new GcpError('INVALID_ARGUMENT', 'update_mask is required.');
    if (typeof body.etag === 'string' && body.etag !== '' && body.etag !== secret.etag) {
      throw new GcpError('ABORTED', 'The etag provided in the request does not match the current etag of the secret.');
    }
    const next = { labels: secret.labels, annotations: secret.annotations, aliases: secret.aliases };
    for (const path of mask) {
      switch (path) {
        case 'labels':
          next.labels = stringMap(body.labels, 'labels');
          checkLabels(next.labels);
          break;
        case 'annotations':
          next.annotations = stringMap(body.annotations, 'annotations');
          checkAnnotations(next.annotations);
          break;
        case 'version_aliases':
        case 'versionAliases':
          next.aliases = this.checkAliases(secret, body.versionAliases);
          break;
        default:
          throw new GcpError('INVALID_ARGUMENT', `The emulator cannot update field "${path}" of a secret.`);
      }
    }
    Object.assign(secret, next, { etag: newEtag() });
    return secret;
  }

  private checkAliases(secret: SecretRecord, value: unknown): Map<string, number> {
    const raw = value === undefined || value === null ? {} : value;
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new GcpError('INVALID_ARGUMENT', 'version_aliases must be a map.');
    const entries = Object.entries(raw as Record<string, unknown>);
    if (entries.length > MAX_ALIASES) throw new GcpError('INVALID_ARGUMENT', `No more than ${MAX_ALIASES} aliases can be assigned to a secret.`);
    const aliases = new Map<string, number>();
    for (const [alias, v] of entries) {
      if (!ALIAS.test(alias) || alias === 'latest' || alias === 'NEW') throw new GcpError('INVALID_ARGUMENT', `Invalid version alias "${alias}".`);
      const number = Number(v);
      const version = Number.isInteger(number) ? secret.versions[number - 1] : undefined;
      if (!version) throw new GcpError('INVALID_ARGUMENT', `Version alias "${alias}" names version ${String(v)}, which does not exist.`);
      aliases.set(alias, number);
    }
    return aliases;
  }

  private versionName(secret: SecretRecord, version: VersionRecord): string {
    return `projects/${secret.project.number}/secrets/${secret.id}/versions/${version.number}`;
  }

  private renderSecret(secret: SecretRecord): Record<string, unknown> {
    return {
      name: `projects/${secret.project.number}/secrets/${secret.id}`,
      replication: { automatic: {} },
      createTime: timestamp(secret.createdAt),
      ...(Object.keys(secret.labels).length ? { labels: secret.labels } : {}),
      etag: secret.etag,
      ...(secret.aliases.size ? { versionAliases: Object.fromEntries([...secret.aliases].map(([k, v]) => [k, String(v)])) } : {}),
      ...(Object.keys(secret.annotations).length ? { annotations: secret.annotations } : {}),
    };
  }

  private renderVersion(secret: SecretRecord, version: VersionRecord, intEnums: boolean): Record<string, unknown> {
    return {
      name: this.versionName(secret, version),
      createTime: timestamp(version.createdAt),
      ...(version.destroyedAt ? { destroyTime: timestamp(version.destroyedAt) } : {}),
      state: intEnums ? STATE_NUMBERS[version.state] : version.state,
      replicationStatus: { automatic: {} },
      etag: versionEtag(version),
      ...(version.clientChecksum ? { clientSpecifiedPayloadChecksum: true } : {}),
    };
  }
}

function parseName(name: string): { projectId: string; secretId: string } {
  const match = /^projects\/([^/]+)\/secrets\/([^/]+)$/.exec(name);
  if (!match) throw new Error(`not a secret name: ${name}`);
  return { projectId: match[1]!, secretId: match[2]! };
}

const newEtag = () => `"${randomBytes(7).toString('hex')}"`;

/** A version's etag changes with its state. */
const versionEtag = (v: VersionRecord) => `"${createHash('sha256').update(`${v.number}/${v.state}`).digest('hex').slice(0, 14)}"`;

function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw new GcpError('INVALID_ARGUMENT', `${field} must be a map of strings.`);
  }
  return { ...(value as Record<string, string>) };
}

function checkAnnotations(annotations: Record<string, string>): void {
  let size = 0;
  for (const [key, value] of Object.entries(annotations)) {
    if (!ANNOTATION_KEY.test(key)) throw new GcpError('INVALID_ARGUMENT', `Invalid annotation key "${key}".`);
    size += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (size >= 16 * 1024) throw new GcpError('INVALID_ARGUMENT', 'The total size of annotation keys and values must be less than 16KiB.');
}

function checkLabels(labels: Record<string, string>): void {
  for (const key of Object.keys(labels)) if (!LABEL_KEY.test(key)) throw new GcpError('INVALID_ARGUMENT', `Invalid label key "${key}".`);
}
