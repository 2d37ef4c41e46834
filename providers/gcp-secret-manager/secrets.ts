/**
 * The Secret Manager calls of the gcp-secret-manager provider: one secret's versions, version
 * aliases and annotations. Errors are rebuilt by gcpFailure and name the secret and version
 * numbers, never a payload.
 *
 * Transport: the client's REST fallback (`fallback: true`), over http for an http endpoint. The
 * gRPC transport with insecure channel credentials sends no Authorization header at all (grpc-js
 * drops call credentials on insecure channels), so only REST can be pointed at a local endpoint
 * that checks tokens; it is the same API and is used everywhere, so what is tested is what runs.
 */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { ProviderRefusal, type ProviderContext } from '../contracts.js';
import { gcpAuth, gcpErrorInfo, gcpFailure, REQUEST_TIMEOUT_MS } from '../gcp-shared.js';
import { crc32c } from './crc32c.js';
import { secretName, type GcpSecretManagerSpec } from './spec.js';

export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

export interface VersionInfo {
  number: number;
  state: VersionState;
}

/** What Rotor reads of the secret resource: aliases (name → version number), annotations, etag. */
export interface SecretInfo {
  aliases: Record<string, number>;
  annotations: Record<string, string>;
  etag: string;
}

/** Aliases and annotations to set (a value) or remove (null); others are left as they are. */
export interface SecretChange {
  aliases?: Record<string, number | null>;
  annotations?: Record<string, string | null>;
}

/**
 * No SDK retries: the per-method defaults wait up to ten minutes, invisibly. Temporal retries the
 * whole activity with backoff and records each attempt.
 */
const CALL = { timeout: REQUEST_TIMEOUT_MS, retry: null };

const versionNumber = (name: string | null | undefined): number => Number(/\/versions\/(\d+)$/.exec(name ?? '')?.[1] ?? NaN);

export class SecretVersions {
  private constructor(
    private readonly ctx: ProviderContext,
    private readonly client: SecretManagerServiceClient,
    /** `projects/<project>/secrets/<id>`. */
    readonly name: string,
  ) {}

  /** Runs `work` with a client for the spec's secret, closed afterwards. */
  static async use<T>(ctx: ProviderContext, spec: GcpSecretManagerSpec, work: (secret: SecretVersions) => Promise<T>): Promise<T> {
    const auth = await gcpAuth(ctx, spec);
    const where = spec.endpoint ? new URL(spec.endpoint) : undefined;
    // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
    const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
    const client = new SecretManagerServiceClient({
      // google-auth-library's client, one minor version apart from google-gax's own copy.
      authClient: auth as never,
      fallback: true,
      ...(where
        ? {
            apiEndpoint: where.hostname,
            port: where.port ? Number(where.port) : where.protocol === 'http:' ? 80 : 443,
            protocol: where.protocol === 'http:' ? 'http' : 'https',
          }
        : {}),
    });
    try {
      return await work(new SecretVersions(ctx, client, secretName(spec)));
    } finally {
      await client.close();
    }
  }

  private check(): void {
    this.ctx.signal?.throwIfAborted();
  }

  /** Aliases, annotations and etag; null when the secret does not exist. */
  async info(): Promise<SecretInfo | null> {
    this.check();
    try {
      const [secret] = await this.client.getSecret({ name: this.name }, CALL);
      const aliases = Object.fromEntries(Object.entries(secret.versionAliases ?? {}).map(([alias, v]) => [alias, Number(v)]));
      return { aliases, annotations: { ...(secret.annotations ?? {}) }, etag: secret.etag ?? '' };
    } catch (error) {
      if (gcpErrorInfo(error).code === 'NOT_FOUND') return null;
      throw gcpFailure(`cannot read secret ${this.name}`, error);
    }
  }

  /** Info, refusing when the secret does not exist. */
  async requireInfo(): Promise<SecretInfo> {
    const info = await this.info();
    if (!info) throw new ProviderRefusal(`secret ${this.name} does not exist in Secret Manager: create it (with the value now in service) first`);
    return info;
  }

  /** Every version, newest first. */
  async versions(): Promise<VersionInfo[]> {
    this.check();
    try {
      const [versions] = await this.client.listSecretVersions({ parent: this.name }, CALL);
      return versions
        .map((v) => ({ number: versionNumber(v.name), state: String(v.state) as VersionState }))
        .filter((v) => Number.isInteger(v.number))
        .sort((a, b) => b.number - a.number);
    } catch (error) {
      throw gcpFailure(`cannot list the versions of secret ${this.name}`, error);
    }
  }

  /** The payload of a version (number, alias or `latest`) and the version number it resolved to. */
  async access(version: number | string): Promise<{ number: number; text: string }> {
    this.check();
    let reply;
    try {
      [reply] = await this.client.accessSecretVersion({ name: `${this.name}/versions/${version}` }, CALL);
    } catch (error) {
      throw gcpFailure(`cannot read version ${version} of secret ${this.name}`, error);
    }
    const data = reply.payload?.data;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data ?? new Uint8Array());
    const sent = reply.payload?.dataCrc32c;
    if (sent !== undefined && sent !== null && Number(sent) !== crc32c(bytes)) {
      throw new Error(`version ${version} of secret ${this.name} arrived corrupted (CRC32C mismatch)`);
    }
    return { number: versionNumber(reply.name), text: bytes.toString('utf8') };
  }

  /** A new version holding `text` (with its CRC32C, which Secret Manager verifies); its number. */
  async add(text: string): Promise<number> {
    this.check();
    const data = Buffer.from(text, 'utf8');
    try {
      const [version] = await this.client.addSecretVersion({ parent: this.name, payload: { data, dataCrc32c: crc32c(data) } }, CALL);
      return versionNumber(version.name);
    } catch (error) {
      throw gcpFailure(`cannot add a version to secret ${this.name}`, error, [text]);
    }
  }

  /**
   * Applies a change to aliases and annotations on the secret as it is now, guarded by its etag:
   * a concurrent change makes Secret Manager refuse (ABORTED), and the activity retries.
   */
  async update(change: SecretChange): Promise<void> {
    const now = await this.requireInfo();
    const aliases = merge(now.aliases, change.aliases);
    const annotations = merge(now.annotations, change.annotations);
    const paths = [...(change.aliases ? ['version_aliases'] : []), ...(change.annotations ? ['annotations'] : [])];
    if (paths.length === 0) return;
    try {
      await this.client.updateSecret({ secret: { name: this.name, versionAliases: aliases, annotations, etag: now.etag }, updateMask: { paths } }, CALL);
    } catch (error) {
      throw gcpFailure(`cannot update the aliases and annotations of secret ${this.name}`, error);
    }
  }

  /** Disables, enables or destroys a version. */
  async setState(version: number, action: 'disable' | 'enable' | 'destroy'): Promise<void> {
    this.check();
    const name = `${this.name}/versions/${version}`;
    try {
      if (action === 'disable') await this.client.disableSecretVersion({ name }, CALL);
      else if (action === 'enable') await this.client.enableSecretVersion({ name }, CALL);
      else await this.client.destroySecretVersion({ name }, CALL);
    } catch (error) {
      throw gcpFailure(`cannot ${action} version ${version} of secret ${this.name}`, error);
    }
  }

  /** Which of `permissions` Rotor's identity holds on the secret. */
  async heldPermissions(permissions: readonly string[]): Promise<string[]> {
    this.check();
    try {
      const [reply] = await this.client.testIamPermissions({ resource: this.name, permissions: [...permissions] }, CALL);
      return reply.permissions ?? [];
    } catch (error) {
      throw gcpFailure(`cannot test Rotor's permissions on secret ${this.name}`, error);
    }
  }
}

function merge<V>(now: Record<string, V>, change: Record<string, V | null> | undefined): Record<string, V> {
  const out = { ...now };
  for (const [key, value] of Object.entries(change ?? {})) {
    if (value === null) delete out[key];
    else out[key] = value;
  }
  return out;
}
