/**
 * GCP Secret Manager, as a dependent and as a primary store.
 *
 * Versions are immutable and numbered; `latest` is always the newest one, whatever its state.
 * Stages are version aliases on the secret: `pending`, `current`, `previous` → version numbers.
 * Rotor's bookkeeping is in the secret's annotations (which exist for "client tools to store their
 * own state"), never a value: `rotor-pending` (the rotation that staged `pending`),
 * `rotor-promoted` (the last rotation that moved `current`), `rotor-written` and `rotor-restored`
 * (a dependent's receipt and its undoing, as JSON). Every alias and annotation change is one
 * UpdateSecret guarded by the secret's etag.
 *
 * - Payload: a JSON object of the material's fields, nothing else, with its CRC32C (checked by
 *   Secret Manager on write and by Rotor on read). A material's id is read back from its fields
 *   (`accessKeyId`, `username`, `keyId`), else it is `<secret>/versions/<n>`.
 * - Idempotency: AddSecretVersion has no request id, so before adding, a retry looks for the
 *   version its earlier attempt added: an enabled version newer than the one in service holding
 *   exactly this material (material values are unique), and adopts it.
 * - As a dependent, consumers read `latest`. `write` adds a version (it becomes `latest` and
 *   `current`; the one it replaced becomes `previous`) and records the receipt; writing again in
 *   the same rotation returns the same receipt. `restore` cannot move `latest` back, so it adds the
 *   previous version's value again as a new version (re-enabling the previous version first if it
 *   was disabled; from the material the protocol passes if it was destroyed), and takes the
 *   rolled-back version out of service. `check` compares the fingerprint of `latest`.
 * - As a primary store, consumers must read the `current` alias (`versions/current`), not `latest`:
 *   a staged `pending` version is the newest one until it is promoted or discarded.
 *   `stagePending` adds the version and points `pending` at it; `promote` moves `current` to it and
 *   `previous` to the old current; `discardPending` drops the alias. On a first rotation, without
 *   a `current` alias, the value in service is the newest enabled version, and stagePending pins
 *   `current` on it before adding anything.
 * - Old versions: a version that leaves every stage (the old `previous`, a discarded or stale
 *   `pending`, a rolled-back write) is disabled, destroyed or kept as `oldVersions` says, right
 *   after the alias moved off it (an attempt that dies in between leaves it enabled: untidy, never
 *   unsafe). Rotor touches no other version, and none that carries another alias.
 * - Rotor never creates the secret: it must exist (with the value now in service, for a primary store).
 *
 * Rotor's identity needs, on the secret: secretmanager.secrets.get, secretmanager.secrets.update
 * (aliases, annotations), secretmanager.versions.add, secretmanager.versions.access,
 * secretmanager.versions.list, secretmanager.versions.enable, secretmanager.versions.disable, and
 * with `oldVersions: destroy` secretmanager.versions.destroy. Of the predefined roles only
 * roles/secretmanager.admin has secrets.update; a custom role with exactly these is tighter.
 */
import { fingerprintFields, Material } from '../../lib/material.js';
import { defineStore, ProviderRefusal, type Dependent, type PrimaryStore, type ProviderContext, type Receipt, type Stage } from '../contracts.js';
import { SecretVersions, type SecretInfo, type VersionInfo } from './secrets.js';
import { idFieldRefusal, idFromFields, jsonFields, materialJson } from '../json-material.js';
import { GcpSecretManagerSpecSchema, secretName, type GcpSecretManagerSpec } from './spec.js';

export { GcpSecretManagerSpecSchema, secretName, type GcpSecretManagerSpec } from './spec.js';

export const PENDING = 'pending';
export const CURRENT = 'current';
export const PREVIOUS = 'previous';
export const ANNOTATIONS = { pending: 'rotor-pending', promoted: 'rotor-promoted', written: 'rotor-written', restored: 'rotor-restored' } as const;

/** How many recent versions a retry searches for its earlier attempt's version. */
const ADOPT_WINDOW = 10;

/** The permissions every step needs on the secret, given the spec. */
export function requiredPermissions(spec: GcpSecretManagerSpec): string[] {
  return [
    'secretmanager.secrets.get',
    'secretmanager.secrets.update',
    'secretmanager.versions.access',
    'secretmanager.versions.add',
    'secretmanager.versions.enable',
    'secretmanager.versions.disable',
    'secretmanager.versions.list',
    ...(spec.oldVersions === 'destroy' ? ['secretmanager.versions.destroy'] : []),
  ];
}


function materialOf(ctx: ProviderContext, name: string, version: number, text: string): Material {
  const fields = jsonFields(text);
  // Refused without quoting the value.
  if (!fields) throw new ProviderRefusal(`version ${version} of secret ${name} is not a JSON object of fields`);
  return new Material(idFromFields(fields, ctx.material) ?? `${name}/versions/${version}`, fields);
}

const holds = (text: string, material: Material) => {
  const fields = jsonFields(text);
  return fields !== null && fingerprintFields(fields) === material.fingerprint();
};

/** The version in service: the `current` alias, else the newest enabled version that is not pending. */
function currentVersion(info: SecretInfo, versions: VersionInfo[]): number | undefined {
  if (info.aliases[CURRENT]) return info.aliases[CURRENT];
  return versions.find((v) => v.state === 'ENABLED' && v.number !== info.aliases[PENDING])?.number;
}

/** A version an earlier attempt added with exactly this material: enabled and newer than `after`. */
async function findAdded(secret: SecretVersions, versions: VersionInfo[], material: Material, after: number): Promise<number | undefined> {
  const candidates = versions.filter((v) => v.number > after && v.state === 'ENABLED').slice(0, ADOPT_WINDOW);
  for (const candidate of candidates) {
    if (holds((await secret.access(candidate.number)).text, material)) return candidate.number;
  }
  return undefined;
}

/**
 * Takes a version that left every stage out of service, as `oldVersions` says. `leaving` is the
 * alias of Rotor's about to move off it; a version another alias names, or that is `protect`ed,
 * is left alone.
 */
async function retireVersion(
  ctx: ProviderContext,
  spec: GcpSecretManagerSpec,
  secret: SecretVersions,
  seen: { info: SecretInfo; versions: VersionInfo[] },
  version: number,
  leaving: string,
  protect: Array<number | undefined | null>,
): Promise<void> {
  if (spec.oldVersions === 'keep' || protect.includes(version)) return;
  if (Object.entries(seen.info.aliases).some(([alias, v]) => v === version && alias !== leaving)) return;
  const state = seen.versions.find((v) => v.number === version)?.state;
  if (!state || state === 'DESTROYED' || (spec.oldVersions === 'disable' && state === 'DISABLED')) return;
  await secret.setState(version, spec.oldVersions);
  ctx.logger.info({ secretName: secret.name, version, action: spec.oldVersions }, 'secret manager version taken out of service');
}

interface Written {
  rotation: string;
  version: number;
  previous: number | null;
}

interface Restored {
  rotation: string;
  from: number;
  version: number;
}

function parseAnnotation<T>(value: string | undefined): Partial<T> | undefined {
  if (!value) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed && typeof parsed === 'object' ? (parsed as Partial<T>) : undefined;
  } catch {
    return undefined;
  }
}

const receiptOf = (version: number, previous: number | null | undefined): Receipt => ({
  version: String(version),
  previousVersion: previous === null || previous === undefined ? null : String(previous),
});

const dependent: Dependent<GcpSecretManagerSpec> = {
  /** A new version (`latest` and `current`); the one consumers read before becomes `previous`. */
  async write(ctx, spec, material) {
    return SecretVersions.use(ctx, spec, async (secret) => {
      const info = await secret.requireInfo();
      const written = parseAnnotation<Written>(info.annotations[ANNOTATIONS.written]);
      if (written?.rotation === ctx.rotationId && typeof written.version === 'number') return receiptOf(written.version, written.previous);
      const versions = await secret.versions();
      // Written by an earlier attempt that stopped before its bookkeeping: adopt it.
      const adopted = await findAdded(secret, versions, material, info.aliases[CURRENT] ?? 0);
      const before = versions.find((v) => adopted === undefined || v.number < adopted);
      const previous = before?.state === 'ENABLED' ? before.number : null;
      const version = adopted ?? (await secret.add(materialJson(material)));
      await secret.update({
        aliases: { [CURRENT]: version, [PREVIOUS]: previous },
        annotations: { [ANNOTATIONS.written]: JSON.stringify({ rotation: ctx.rotationId, version, previous } satisfies Written), [ANNOTATIONS.restored]: null },
      });
      const oldPrevious = info.aliases[PREVIOUS];
      if (oldPrevious !== undefined) await retireVersion(ctx, spec, secret, { info, versions }, oldPrevious, PREVIOUS, [version, previous]);
      ctx.logger.info({ secretName: secret.name, version, previousVersion: previous, material: material.id, adopted: adopted !== undefined }, 'secret manager version written');
      return receiptOf(version, previous);
    });
  },

  /**
   * Makes `latest` serve what the receipt says was there before: the previous version's value is
   * added again (Secret Manager cannot move `latest` back), and the rolled-back version leaves
   * service. With nothing before, the written version is disabled. A repeat is a no-op.
   */
  async restore(ctx, spec, receipt, previousMaterial) {
    await SecretVersions.use(ctx, spec, async (secret) => {
      const info = await secret.info();
      if (!info) return; // the secret is gone: nothing of this rotation left to undo
      const written = Number(receipt.version);
      const restored = parseAnnotation<Restored>(info.annotations[ANNOTATIONS.restored]);
      if (restored?.rotation === ctx.rotationId && restored.from === written) return;
      const versions = await secret.versions();
      const latest = versions[0];
      const writtenState = versions.find((v) => v.number === written)?.state;
      const done = (to: number | null, dropPrevious = false) =>
        secret.update({
          aliases: { [CURRENT]: to, ...(dropPrevious ? { [PREVIOUS]: null } : {}) },
          annotations: {
            [ANNOTATIONS.restored]: JSON.stringify({ rotation: ctx.rotationId, from: written, version: to ?? 0 } satisfies Restored),
            [ANNOTATIONS.written]: null,
          },
        });

      if (receipt.previousVersion === null) {
        if (latest?.number !== written) throw changedSince(secret.name, written, latest?.number);
        if (writtenState === 'ENABLED') await secret.setState(written, spec.oldVersions === 'destroy' ? 'destroy' : 'disable');
        await done(null);
        ctx.logger.info({ secretName: secret.name, version: written }, 'secret manager version written by this rotation disabled (there was none before)');
        return;
      }

      const previous = Number(receipt.previousVersion);
      const previousState = versions.find((v) => v.number === previous)?.state;
      const value = await previousValue(secret, versions, previous, previousMaterial);
      let version: number;
      if (latest?.number === written) {
        version = await secret.add(value);
      } else if (latest && latest.number > written && latest.state === 'ENABLED' && (await secret.access(latest.number)).text === value) {
        version = latest.number; // added by an earlier attempt of this restore
      } else {
        throw changedSince(secret.name, written, latest?.number);
      }
      // A destroyed previous version keeps no alias: the value now lives in the new version.
      await done(version, previousState === 'DESTROYED' || previousState === undefined);
      await retireVersion(ctx, spec, secret, { info, versions }, written, CURRENT, [version, previous]);
      ctx.logger.info({ secretName: secret.name, version, restoredFrom: previous, rolledBack: written }, 'secret manager previous value restored as the latest version');
    });
  },

  async check(ctx, spec, material) {
    const latest = await SecretVersions.use(ctx, spec, (secret) => secret.access('latest'));
    if (!holds(latest.text, material)) {
      throw new Error(`secret ${secretName(spec)} latest (version ${latest.number}) does not hold material ${material.id}`);
    }
  },

  /** Rotor's identity holds every permission the steps need, and the secret exists. */
  async preflight(ctx, spec) {
    try {
      return await SecretVersions.use(ctx, spec, async (secret) => {
        const needed = requiredPermissions(spec);
        const held = await secret.heldPermissions(needed);
        const missing = needed.filter((p) => !held.includes(p));
        if (missing.length === 0) return [];
        return [`Rotor's identity lacks ${missing.join(', ')} on secret ${secret.name}: grant it roles/secretmanager.admin on that secret, or a custom role with these permissions`];
      });
    } catch (error) {
      return [(error as Error).message];
    }
  },
};

function changedSince(name: string, written: number, latest: number | undefined): ProviderRefusal {
  return new ProviderRefusal(`not restoring secret ${name}: it changed since this rotation wrote version ${written} (latest is now ${latest ?? 'nothing'})`);
}

/** The value of the receipt's previous version: re-enabled if disabled; from the protocol's material if destroyed. */
async function previousValue(secret: SecretVersions, versions: VersionInfo[], previous: number, material: Material | null | undefined): Promise<string> {
  const state = versions.find((v) => v.number === previous)?.state;
  if (state === 'DISABLED') await secret.setState(previous, 'enable');
  if (state === 'ENABLED' || state === 'DISABLED') return (await secret.access(previous)).text;
  if (material) return materialJson(material);
  throw new ProviderRefusal(`cannot restore secret ${secret.name}: its previous version ${previous} is ${state ?? 'gone'} and no previous material was given`);
}

async function readStage(ctx: ProviderContext, spec: GcpSecretManagerSpec, stage: Stage): Promise<Material | null> {
  return SecretVersions.use(ctx, spec, async (secret) => {
    const info = await secret.info();
    if (!info) return null;
    if (stage === 'pending') {
      // A pending version of another rotation is not ours: only what this rotation staged counts.
      const version = info.aliases[PENDING];
      if (!version || info.annotations[ANNOTATIONS.pending] !== ctx.rotationId) return null;
      return materialOf(ctx, secret.name, version, (await secret.access(version)).text);
    }
    const versions = await secret.versions();
    const version = stage === 'current' ? currentVersion(info, versions) : info.aliases[PREVIOUS];
    if (!version) return null;
    const state = versions.find((v) => v.number === version)?.state;
    if (state !== 'ENABLED') {
      if (stage === 'previous') return null;
      throw new ProviderRefusal(`secret ${secret.name}: the current version ${version} is ${state ?? 'gone'}`);
    }
    return materialOf(ctx, secret.name, version, (await secret.access(version)).text);
  });
}

const primary: PrimaryStore<GcpSecretManagerSpec> = {
  /**
   * Adds the material as a version and points `pending` at it, recording the rotation. A retry is a
   * no-op; the same rotation staging other material is refused; a stale `pending` of an ended
   * rotation is taken over (and its version leaves service).
   */
  async stagePending(ctx, spec, material) {
    const refused = idFieldRefusal(material, ctx.material, 'Secret Manager');
    if (refused) throw new ProviderRefusal(refused);
    await SecretVersions.use(ctx, spec, async (secret) => {
      const info = await secret.requireInfo();
      const pending = info.aliases[PENDING];
      const ours = info.annotations[ANNOTATIONS.pending] === ctx.rotationId;
      if (ours && pending) {
        if (holds((await secret.access(pending)).text, material)) return;
        throw new ProviderRefusal(`rotation ${ctx.rotationId} already staged other material in version ${pending} of secret ${secret.name}: refusing to replace it`);
      }
      const versions = await secret.versions();
      const current = currentVersion(info, versions);
      if (!current) throw new ProviderRefusal(`secret ${secret.name} has no enabled version: put the value now in service there first`);
      // Pinned before anything is added, so that a version added here can never pass for the one in service.
      if (!info.aliases[CURRENT]) await secret.update({ aliases: { [CURRENT]: current } });
      const version = (await findAdded(secret, versions, material, Math.max(current, pending ?? 0))) ?? (await secret.add(materialJson(material)));
      await secret.update({ aliases: { [PENDING]: version }, annotations: { [ANNOTATIONS.pending]: ctx.rotationId } });
      if (pending && pending !== version) {
        ctx.logger.warn({ secretName: secret.name, staleVersion: pending, staleRotation: info.annotations[ANNOTATIONS.pending] ?? null }, 'took over a stale pending version of another rotation');
        await retireVersion(ctx, spec, secret, { info, versions }, pending, PENDING, [version, current, info.aliases[PREVIOUS]]);
      }
      ctx.logger.info({ secretName: secret.name, version, material: material.id }, 'secret manager material staged as pending');
    });
  },

  read: readStage,

  /** `current` moves to this rotation's pending version, `previous` to the old current; the old previous leaves service. */
  async promote(ctx, spec) {
    await SecretVersions.use(ctx, spec, async (secret) => {
      const info = await secret.requireInfo();
      const pending = info.aliases[PENDING];
      if (!pending || info.annotations[ANNOTATIONS.pending] !== ctx.rotationId) {
        if (info.annotations[ANNOTATIONS.promoted] === ctx.rotationId) return; // a repeat after success
        throw new ProviderRefusal(`nothing to promote in secret ${secret.name}: rotation ${ctx.rotationId} has no pending version`);
      }
      const versions = await secret.versions();
      const current = currentVersion(info, versions);
      await secret.update({
        aliases: { [CURRENT]: pending, [PREVIOUS]: current && current !== pending ? current : null, [PENDING]: null },
        annotations: { [ANNOTATIONS.pending]: null, [ANNOTATIONS.promoted]: ctx.rotationId },
      });
      const oldPrevious = info.aliases[PREVIOUS];
      if (oldPrevious !== undefined) await retireVersion(ctx, spec, secret, { info, versions }, oldPrevious, PREVIOUS, [pending, current]);
      ctx.logger.info({ secretName: secret.name, version: pending, previousVersion: current ?? null }, 'secret manager version promoted to current');
    });
  },

  /** Drops this rotation's `pending` (and its version leaves service); another rotation's is not ours. */
  async discardPending(ctx, spec) {
    await SecretVersions.use(ctx, spec, async (secret) => {
      const info = await secret.info();
      if (!info || info.annotations[ANNOTATIONS.pending] !== ctx.rotationId) return;
      const pending = info.aliases[PENDING];
      await secret.update({ aliases: { [PENDING]: null }, annotations: { [ANNOTATIONS.pending]: null } });
      if (pending) await retireVersion(ctx, spec, secret, { info, versions: await secret.versions() }, pending, PENDING, [info.aliases[CURRENT], info.aliases[PREVIOUS]]);
      ctx.logger.info({ secretName: secret.name, version: pending ?? null }, 'secret manager pending version discarded');
    });
  },
};

export const gcpSecretManager = defineStore({
  type: 'gcp-secret-manager',
  spec: GcpSecretManagerSpecSchema,
  holds: 'all-fields',
  dependent,
  primary: { ...primary, idOnRead: 'id-field' },
});
