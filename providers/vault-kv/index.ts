/**
 * HashiCorp Vault KV version 2, as a dependent and as a primary store.
 *
 * Consumers read the LATEST version of `path`, so it always holds the current material and only its
 * fields. Rotor's bookkeeping lives in the secret's custom_metadata (see bookkeeping.ts). Pending
 * material sits in a sibling secret `<path>.rotor-pending`, which consumers never read.
 */
import { fingerprintFields, Material } from '../../lib/material.js';
import {
  defineStore,
  ProviderRefusal,
  type Dependent,
  type PrimaryStore,
  type ProviderContext,
  type Receipt,
  type Stage,
} from '../contracts.js';
import { PENDING_KEYS, readBookkeeping, withBookkeeping, type Bookkeeping } from './bookkeeping.js';
import { KvClient, type KvMetadata, type KvVersion } from './kv.js';
import { PENDING_SUFFIX, VaultKvSpecSchema, type VaultKvSpec } from './spec.js';

export { VaultKvSpecSchema, type VaultKvSpec } from './spec.js';

async function connect(ctx: ProviderContext, spec: VaultKvSpec): Promise<KvClient> {
  ctx.signal?.throwIfAborted();
  return new KvClient(spec, await ctx.resolveSecret(spec.token));
}

const pendingPath = (spec: VaultKvSpec) => `${spec.path}${PENDING_SUFFIX}`;

/** Id for a version Rotor has no bookkeeping for (written by someone else). */
const versionId = (kv: KvClient, path: string, version: number) => `${kv.where(path)}@v${version}`;

/** The newest readable version below `version`, or null. */
function liveBefore(meta: KvMetadata | null, version: number): number | null {
  const older = [...(meta?.live ?? [])].filter((v) => v < version);
  return older.length ? Math.max(...older) : null;
}

/**
 * Makes `material` the latest version of `path` for this rotation, and records it: the step shared by
 * a dependent's write and the primary store's promote. A repeat finds its own earlier work, also when
 * an attempt wrote the version and stopped before its bookkeeping.
 */
async function commit(ctx: ProviderContext, kv: KvClient, path: string, material: Material): Promise<Receipt> {
  const fingerprint = material.fingerprint();
  // The latest version's read carries the custom_metadata too: one request where metadata + data took two.
  const latestVersion = await kv.readVersion(path);
  const custom = latestVersion?.customMetadata ?? {};
  const book = readBookkeeping(custom);
  if (book.rotation === ctx.rotationId && book.fingerprint === fingerprint && book.currentVersion) {
    return receipt(book.currentVersion, book.previousVersion ?? null);
  }
  const latest = latestVersion?.version ?? 0;
  let written: number;
  let previous: number | null;
  if (latestVersion?.data && fingerprintFields(latestVersion.data) === fingerprint) {
    // An earlier attempt wrote this very material and stopped before its bookkeeping: adopt it.
    written = latest;
    previous = book.currentVersion !== undefined && book.currentVersion !== latest ? book.currentVersion : liveBefore(await kv.readMetadata(path), latest);
  } else {
    // Check-and-set on the version just read: a concurrent writer makes this fail instead of vanishing.
    written = await kv.write(path, material.revealAll(), latest);
    previous = latestVersion?.data ? latest : null;
  }
  const previousId = previous === null ? undefined : previous === book.currentVersion && book.currentId ? book.currentId : versionId(kv, path, previous);
  await kv.writeCustomMetadata(
    path,
    withBookkeeping(custom, {
      currentVersion: written,
      currentId: material.id,
      previousVersion: previous ?? undefined,
      previousId,
      rotation: ctx.rotationId,
      fingerprint,
    }),
  );
  ctx.logger.info({ path: kv.where(path), version: written, previousVersion: previous, material: material.id }, 'vault-kv version written');
  return receipt(written, previous);
}

function receipt(version: number, previousVersion: number | null): Receipt {
  return { version: String(version), previousVersion: previousVersion === null ? null : String(previousVersion) };
}

function parseVersion(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new ProviderRefusal(`receipt ${what} "${text}" is not a Vault KV version number`);
  return n;
}

const dependent: Dependent<VaultKvSpec> = {
  /** The token is valid and may read the path's metadata (a write is only tried by the rotation). */
  async preflight(ctx, spec) {
    try {
      await (await connect(ctx, spec)).readMetadata(spec.path);
      return [];
    } catch (error) {
      return [(error as Error).message];
    }
  },

  async write(ctx, spec, material) {
    return commit(ctx, await connect(ctx, spec), spec.path, material);
  },

  /** Decommission: every version and the metadata, for good (needs `delete` on the metadata path). */
  async remove(ctx, spec) {
    const kv = await connect(ctx, spec);
    await kv.deleteMetadata(spec.path);
    ctx.logger.info({ path: kv.where(spec.path) }, 'vault-kv secret removed');
  },

  /**
   * Vault's own `kv rollback`: the previous version's data is written again as a new version. When
   * the write created the secret, the written version is soft-deleted instead.
   */
  async restore(ctx, spec, { version, previousVersion }) {
    const kv = await connect(ctx, spec);
    const written = parseVersion(version, 'version');
    const meta = await kv.readMetadata(spec.path);
    if (!meta) return; // the secret is gone: nothing of this rotation left to undo
    const book = readBookkeeping(meta.customMetadata);
    if (previousVersion === null) {
      await kv.deleteVersions(spec.path, [written]);
      if (book.currentVersion === written) await kv.writeCustomMetadata(spec.path, withBookkeeping(meta.customMetadata, {}));
      ctx.logger.info({ path: kv.where(spec.path), version: written }, 'vault-kv written version deleted');
      return;
    }
    const previous = parseVersion(previousVersion, 'previousVersion');
    const before = await kv.readVersion(spec.path, previous);
    if (!before?.data) throw new ProviderRefusal(`cannot restore ${kv.where(spec.path)}: version ${previous} is deleted or destroyed`);
    const fingerprint = fingerprintFields(before.data);
    let restored = meta.currentVersion;
    if (meta.currentVersion === written) {
      restored = await kv.write(spec.path, before.data, written);
    } else {
      // Someone wrote after us: that is either an earlier restore of ours, or another writer to leave alone.
      const latest = meta.live.has(meta.currentVersion) ? await kv.readVersion(spec.path, meta.currentVersion) : null;
      if (!(meta.currentVersion > written && latest?.data && fingerprintFields(latest.data) === fingerprint)) {
        throw new ProviderRefusal(
          `not restoring ${kv.where(spec.path)}: it changed since this rotation wrote version ${written} (latest is ${meta.currentVersion})`,
        );
      }
      if (book.currentVersion === restored && book.fingerprint === fingerprint) return; // done on an earlier attempt
    }
    const next: Bookkeeping = { currentVersion: restored, currentId: book.previousId ?? versionId(kv, spec.path, previous), rotation: ctx.rotationId, fingerprint };
    await kv.writeCustomMetadata(spec.path, withBookkeeping(meta.customMetadata, next));
    ctx.logger.info({ path: kv.where(spec.path), version: restored, from: previous }, 'vault-kv previous version restored');
  },

  async check(ctx, spec, material) {
    const kv = await connect(ctx, spec);
    const latest = await kv.readVersion(spec.path);
    if (!latest?.data) throw new Error(`${kv.where(spec.path)} has no readable latest version; expected material ${material.id}`);
    if (fingerprintFields(latest.data) !== material.fingerprint()) {
      const book = readBookkeeping(latest.customMetadata);
      throw new Error(
        `${kv.where(spec.path)} latest version ${latest.version} does not hold material ${material.id}` +
          ` (Rotor last wrote version ${book.currentVersion ?? 'none'} in rotation ${book.rotation ?? 'none'})`,
      );
    }
  },
};

/** The pending secret's latest version if this rotation staged it. */
async function readPending(ctx: ProviderContext, kv: KvClient, spec: VaultKvSpec): Promise<Material | null> {
  const path = pendingPath(spec);
  const staged = await kv.readVersion(path);
  if (!staged?.data || staged.customMetadata[PENDING_KEYS.rotation] !== ctx.rotationId) return null;
  return new Material(staged.customMetadata[PENDING_KEYS.id] ?? versionId(kv, path, staged.version), staged.data);
}

/** Material of a version named by the bookkeeping, or null when it is gone. */
function materialOf(kv: KvClient, path: string, version: KvVersion | null, id: string | undefined): Material | null {
  if (!version?.data) return null;
  return new Material(id ?? versionId(kv, path, version.version), version.data);
}

const primary: PrimaryStore<VaultKvSpec> = {
  /**
   * Pending material of ANOTHER rotation is stale (one rotation per credential runs at a time, so
   * that rotation has ended) and is replaced, with a warning. The same rotation staging different
   * material is refused: a password already applied would otherwise be lost.
   */
  async stagePending(ctx, spec, material) {
    const kv = await connect(ctx, spec);
    const path = pendingPath(spec);
    const fingerprint = material.fingerprint();
    const meta = await kv.readMetadata(path);
    if (meta) {
      const rotation = meta.customMetadata[PENDING_KEYS.rotation];
      const staged = rotation === ctx.rotationId ? await kv.readVersion(path) : null;
      if (staged?.data) {
        if (fingerprintFields(staged.data) === fingerprint) return;
        throw new ProviderRefusal(
          `rotation ${ctx.rotationId} already staged material ${meta.customMetadata[PENDING_KEYS.id] ?? 'unknown'} at ${kv.where(path)}; refusing to replace it with ${material.id}`,
        );
      }
      if (rotation && rotation !== ctx.rotationId) {
        ctx.logger.warn({ path: kv.where(path), staleRotation: rotation }, 'replacing stale pending material of another rotation');
      }
      await kv.deleteMetadata(path);
    }
    await kv.write(path, material.revealAll(), 0);
    await kv.writeCustomMetadata(path, { [PENDING_KEYS.rotation]: ctx.rotationId, [PENDING_KEYS.id]: material.id, [PENDING_KEYS.fingerprint]: fingerprint });
    ctx.logger.info({ path: kv.where(path), material: material.id }, 'vault-kv material staged as pending');
  },

  async read(ctx, spec, stage: Stage) {
    const kv = await connect(ctx, spec);
    if (stage === 'pending') return readPending(ctx, kv, spec);
    // The latest version carries the bookkeeping (custom_metadata): when Rotor wrote it last, it is
    // the current material, in one request.
    const latest = await kv.readVersion(spec.path);
    if (!latest) return null;
    const book = readBookkeeping(latest.customMetadata);
    if (stage === 'previous') {
      return book.previousVersion ? materialOf(kv, spec.path, await kv.readVersion(spec.path, book.previousVersion), book.previousId) : null;
    }
    // Without bookkeeping (a secret seeded by hand), the latest version is what is in service.
    const version = book.currentVersion ?? latest.version;
    return materialOf(kv, spec.path, version === latest.version ? latest : await kv.readVersion(spec.path, version), book.currentId);
  },

  async promote(ctx, spec) {
    const kv = await connect(ctx, spec);
    const pending = await readPending(ctx, kv, spec);
    if (pending) {
      await commit(ctx, kv, spec.path, pending);
      await kv.deleteMetadata(pendingPath(spec));
      return;
    }
    // Nothing pending: a repeat after success is a no-op; anything else is a protocol error.
    const meta = await kv.readMetadata(spec.path);
    if (meta && readBookkeeping(meta.customMetadata).rotation === ctx.rotationId) return;
    throw new ProviderRefusal(`nothing to promote at ${kv.where(spec.path)}: rotation ${ctx.rotationId} has no pending material`);
  },

  async discardPending(ctx, spec) {
    const kv = await connect(ctx, spec);
    const path = pendingPath(spec);
    const meta = await kv.readMetadata(path);
    // Only this rotation's pending material: another rotation's is not ours to drop.
    if (meta?.customMetadata[PENDING_KEYS.rotation] === ctx.rotationId) {
      await kv.deleteMetadata(path);
      ctx.logger.info({ path: kv.where(path) }, 'vault-kv pending material discarded');
    }
  },
};

export const vaultKv = defineStore({
  type: 'vault-kv',
  spec: VaultKvSpecSchema,
  holds: 'all-fields',
  dependent,
  // The material id is in the secret's custom_metadata (bookkeeping.ts).
  primary: { ...primary, idOnRead: 'kept' },
});
