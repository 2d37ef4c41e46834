/**
 * Azure Key Vault secrets, as a dependent and as a primary store.
 *
 * Consumers read the LATEST version of `secretName` ("get secret" without a version), so it always
 * holds the current material and only its fields: the value is a JSON object of the material's
 * fields (sorted keys), content type application/json. Key Vault versions are immutable and it has
 * no staging labels, so Rotor keeps its bookkeeping in each version's tags (never a value):
 *   rotor-rotation-id     the rotation that wrote the version (the idempotency key: a retry finds it)
 *   rotor-credential-id   the policy's credential id
 *   rotor-fingerprint     SHA-256 of the fields (lib/material), what check and retries compare
 *   rotor-material-id     the material's public id (a keyId, an access key id)
 *   rotor-previous-version the version this one replaced (what restore and read('previous') go back to)
 *   rotor-stage           pending | promoted | discarded | superseded (pending copies), rolled-back
 *   rotor-restores        on a version written by restore: the version it rolled back
 *
 * Stages (primary store):
 * - current: the latest version of `secretName`.
 * - previous: the version named by current's rotor-previous-version (null when current was not
 *   written by Rotor).
 * - pending: a version of the sibling secret `<secretName>-rotor-pending` tagged with the rotation
 *   id and rotor-stage=pending. A version of `secretName` itself cannot hold it: consumers would
 *   read it at once, and a disabled latest version is refused to them (403), never skipped.
 *   Promote writes the pending material as the new latest version of `secretName`, then disables
 *   the pending copy. Discarding disables it too: Rotor never deletes the sibling secret, because a
 *   soft-deleted name cannot be reused until it is purged.
 *
 * Restore. Key Vault cannot re-point "latest" to an older version, and disabling the newer version
 * would not help (readers of the latest get 403, not the version before). So restore writes the
 * previous version's value again, as a new latest version tagged rotor-restores, and disables the
 * rolled-back version. Consumers reading the latest get the previous value back (under a new
 * version id). When the write created the secret (no previous version), restore disables the
 * written version: readers are refused, as before the write when there was nothing to read.
 *
 * Rotor never creates the primary store's secret: it must exist with the value now in service.
 *
 * Rotor's identity needs, on the vault or on each secret (Azure RBAC): the built-in role
 * "Key Vault Secrets Officer", or a custom role with the data actions
 * Microsoft.KeyVault/vaults/secrets/getSecret/action, …/readMetadata/action, …/setSecret/action and
 * …/update/action (plus …/delete for decommission). As a primary store, on `<secretName>-rotor-pending`
 * too. With access policies instead of RBAC: secret permissions get, list, set (and delete).
 */
import { fingerprintFields, Material } from '../../lib/material.js';
import { defineStore, ProviderRefusal, type Dependent, type PrimaryStore, type ProviderContext, type Receipt, type Stage } from '../contracts.js';
import { DISABLED, VaultSecrets, type VersionInfo, type VersionValue } from './vault.js';
import { idFromFields, jsonFields, materialJson } from '../json-material.js';
import { AzureKeyVaultSpecSchema, PENDING_SUFFIX, type AzureKeyVaultSpec } from './spec.js';

export { AzureKeyVaultSpecSchema, PENDING_SUFFIX, type AzureKeyVaultSpec } from './spec.js';

export const TAGS = {
  rotation: 'rotor-rotation-id',
  credential: 'rotor-credential-id',
  fingerprint: 'rotor-fingerprint',
  material: 'rotor-material-id',
  previous: 'rotor-previous-version',
  stage: 'rotor-stage',
  restores: 'rotor-restores',
} as const;

export const pendingName = (spec: AzureKeyVaultSpec): string => `${spec.secretName}${PENDING_SUFFIX}`;

/** Rotor's tags for a version holding `material`, written by this rotation. */
function tagsFor(ctx: ProviderContext, material: Material, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const tags: Record<string, string | undefined> = {
    [TAGS.rotation]: ctx.rotationId,
    [TAGS.credential]: ctx.credentialId,
    [TAGS.fingerprint]: material.fingerprint(),
    [TAGS.material]: material.id,
    ...extra,
  };
  return Object.fromEntries(Object.entries(tags).filter((e): e is [string, string] => e[1] !== undefined && e[1].length <= 256));
}

/** The fields of a version's value; refuses anything but a JSON object (without quoting it). */
function parseFields(name: string, version: VersionValue): Record<string, string> {
  const fields = jsonFields(version.value);
  if (!fields) throw new ProviderRefusal(`version ${version.version} of secret ${name} is not a JSON object (format: json)`);
  return fields;
}

function materialOf(ctx: ProviderContext, name: string, version: VersionValue): Material {
  const fields = parseFields(name, version);
  // The rotor-material-id tag first; versions written by others name it in a field, if at all.
  return new Material(version.tags[TAGS.material] ?? idFromFields(fields, ctx.material) ?? version.version, fields);
}

/** The latest version that consumers read, or null when there is none they can read. */
async function served(vault: VaultSecrets, name: string): Promise<VersionValue | null> {
  const latest = await vault.latest(name);
  return latest === DISABLED ? null : latest;
}

/** Whether `version` is this rotation's write of the material with this fingerprint (not a restore). */
const isOurs = (ctx: ProviderContext, version: VersionInfo, fingerprint?: string) =>
  version.tags[TAGS.rotation] === ctx.rotationId && !version.tags[TAGS.restores] && (fingerprint === undefined || version.tags[TAGS.fingerprint] === fingerprint);

const dependent: Dependent<AzureKeyVaultSpec> = {
  /** Rotor may read the secret and list its versions (Key Vault has no dry-run for a write). */
  async preflight(ctx, spec) {
    try {
      await VaultSecrets.use(ctx, spec, async (vault) => {
        await vault.latest(spec.secretName);
        await vault.versions(spec.secretName);
      });
      return [];
    } catch (error) {
      if (error instanceof ProviderRefusal) return [error.message];
      throw error;
    }
  },

  /** A new latest version (creating the secret if needed); a retry of the same rotation finds it by its tags. */
  async write(ctx, spec, material) {
    const fingerprint = material.fingerprint();
    return VaultSecrets.use(ctx, spec, async (vault) => {
      const latest = await vault.latest(spec.secretName);
      const current = latest === DISABLED ? null : latest;
      if (current && isOurs(ctx, current, fingerprint)) {
        return { version: current.version, previousVersion: current.tags[TAGS.previous] ?? null };
      }
      const written = await vault.put(spec.secretName, materialJson(material), tagsFor(ctx, material, { [TAGS.previous]: current?.version }));
      ctx.logger.info({ vault: vault.vault, secret: spec.secretName, version: written.version, previousVersion: current?.version ?? null, material: material.id }, 'key vault version written');
      return { version: written.version, previousVersion: current?.version ?? null };
    });
  },

  /** See the header: the previous value is written again as the latest version; the rolled-back one is disabled. */
  async restore(ctx, spec, receipt: Receipt) {
    await VaultSecrets.use(ctx, spec, async (vault) => {
      const name = spec.secretName;
      const latest = await vault.latest(name);
      if (latest === null) return; // the secret is gone: nothing of this rotation left to undo
      if (receipt.previousVersion === null) {
        // The write created the secret; with its only version disabled, readers are refused as before.
        if (latest !== DISABLED && latest.version !== receipt.version) {
          throw new ProviderRefusal(`not restoring secret ${name}: it changed since this rotation wrote version ${receipt.version} (the latest is now ${latest.version})`);
        }
        await vault.update(name, receipt.version, { enabled: false });
        ctx.logger.info({ vault: vault.vault, secret: name, version: receipt.version }, 'key vault version written by this rotation disabled (the secret had no value before)');
        return;
      }
      if (latest === DISABLED) throw new ProviderRefusal(`not restoring secret ${name}: its latest version is disabled, so it changed since this rotation wrote version ${receipt.version}`);
      const rolledBack = receipt.version;
      if (latest.tags[TAGS.restores] !== rolledBack) {
        if (latest.version === receipt.previousVersion) return; // the write never became the latest: nothing to undo
        if (latest.version !== rolledBack) {
          throw new ProviderRefusal(`not restoring secret ${name}: it changed since this rotation wrote version ${rolledBack} (the latest is now ${latest.version})`);
        }
        const previous = await vault.get(name, receipt.previousVersion);
        const tags: Record<string, string> = { [TAGS.rotation]: ctx.rotationId, [TAGS.credential]: ctx.credentialId, [TAGS.restores]: rolledBack };
        for (const key of [TAGS.fingerprint, TAGS.material, TAGS.previous] as const) if (previous.tags[key]) tags[key] = previous.tags[key];
        const written = await vault.put(name, previous.value, tags);
        ctx.logger.info({ vault: vault.vault, secret: name, version: written.version, restoredFrom: receipt.previousVersion, rolledBack }, 'key vault previous value written back as the latest version');
      }
      // Nobody reads the discarded material by its version id either.
      await vault.update(name, rolledBack, { enabled: false, tags: { ...(await versionTags(vault, name, rolledBack)), [TAGS.stage]: 'rolled-back' } });
    });
  },

  async check(ctx, spec, material) {
    const latest = await VaultSecrets.use(ctx, spec, (vault) => served(vault, spec.secretName));
    if (!latest) throw new Error(`secret ${spec.secretName} has no readable latest version; expected material ${material.id}`);
    if (fingerprintFields(parseFields(spec.secretName, latest)) !== material.fingerprint()) {
      throw new Error(`secret ${spec.secretName} (latest version ${latest.version}) does not hold material ${material.id}`);
    }
  },

  /** Decommission: soft-deletes the secret (and the pending sibling), every version. Deleting what is gone succeeds. */
  async remove(ctx, spec) {
    await VaultSecrets.use(ctx, spec, async (vault) => {
      const removed = await vault.delete(spec.secretName);
      await vault.delete(pendingName(spec));
      ctx.logger.info({ vault: vault.vault, secret: spec.secretName, alreadyGone: !removed }, 'key vault secret deleted');
    });
  },
};

async function versionTags(vault: VaultSecrets, name: string, version: string): Promise<Record<string, string>> {
  return (await vault.versions(name)).find((v) => v.version === version)?.tags ?? {};
}

/** This rotation's enabled pending copy, with its value; null when there is none. */
async function pendingOf(ctx: ProviderContext, spec: AzureKeyVaultSpec, vault: VaultSecrets): Promise<{ info: VersionInfo; material: Material } | null> {
  const name = pendingName(spec);
  const ours = (await vault.versions(name))
    .filter((v) => v.enabled && v.tags[TAGS.stage] === 'pending' && v.tags[TAGS.rotation] === ctx.rotationId)
    .sort((a, b) => (b.createdOn?.getTime() ?? 0) - (a.createdOn?.getTime() ?? 0));
  if (!ours[0]) return null;
  const value = await vault.get(name, ours[0].version);
  const material = materialOf(ctx, name, value);
  if (value.tags[TAGS.fingerprint] && value.tags[TAGS.fingerprint] !== material.fingerprint()) {
    throw new ProviderRefusal(`version ${value.version} of secret ${name} does not hold the material its tags name: it was changed outside Rotor`);
  }
  return { info: ours[0], material };
}

async function readStage(ctx: ProviderContext, spec: AzureKeyVaultSpec, stage: Stage): Promise<Material | null> {
  return VaultSecrets.use(ctx, spec, async (vault) => {
    if (stage === 'pending') return (await pendingOf(ctx, spec, vault))?.material ?? null;
    const current = await served(vault, spec.secretName);
    if (stage === 'current') return current && materialOf(ctx, spec.secretName, current);
    const previous = current?.tags[TAGS.previous];
    return previous ? materialOf(ctx, spec.secretName, await vault.get(spec.secretName, previous)) : null;
  });
}

/** Disables this rotation's pending copies, marking why (promoted or discarded). */
async function retirePending(ctx: ProviderContext, spec: AzureKeyVaultSpec, vault: VaultSecrets, why: 'promoted' | 'discarded'): Promise<number> {
  const name = pendingName(spec);
  const ours = (await vault.versions(name)).filter((v) => v.enabled && v.tags[TAGS.stage] === 'pending' && v.tags[TAGS.rotation] === ctx.rotationId);
  for (const v of ours) await vault.update(name, v.version, { enabled: false, tags: { ...v.tags, [TAGS.stage]: why } });
  return ours.length;
}

const primary: PrimaryStore<AzureKeyVaultSpec> = {
  /**
   * A version of the pending sibling tagged with this rotation. A retry with the same material is a
   * no-op; other material for the same rotation is refused; a stale pending copy of another rotation
   * (one rotation per credential runs at a time, so that one has ended) is disabled.
   */
  async stagePending(ctx, spec, material) {
    const fingerprint = material.fingerprint();
    const name = pendingName(spec);
    await VaultSecrets.use(ctx, spec, async (vault) => {
      const current = await vault.latest(spec.secretName);
      if (current === null) throw new ProviderRefusal(`secret ${spec.secretName} does not exist in ${vault.vault}: create it (with the value now in service) first`);
      if (current === DISABLED) throw new ProviderRefusal(`the latest version of secret ${spec.secretName} in ${vault.vault} is disabled: put the value now in service there first`);
      const versions = await vault.versions(name);
      const ours = versions.filter((v) => v.tags[TAGS.rotation] === ctx.rotationId);
      const conflicting = ours.find((v) => v.enabled && v.tags[TAGS.stage] === 'pending' && v.tags[TAGS.fingerprint] !== fingerprint);
      if (conflicting) {
        throw new ProviderRefusal(`rotation ${ctx.rotationId} already staged other material in secret ${name} (version ${conflicting.version}): refusing to replace it`);
      }
      for (const stale of versions.filter((v) => v.enabled && v.tags[TAGS.stage] === 'pending' && v.tags[TAGS.rotation] !== ctx.rotationId)) {
        ctx.logger.warn({ vault: vault.vault, secret: name, staleVersion: stale.version, staleRotation: stale.tags[TAGS.rotation] }, 'disabling a stale pending version of another rotation');
        await vault.update(name, stale.version, { enabled: false, tags: { ...stale.tags, [TAGS.stage]: 'superseded' } });
      }
      const same = ours.find((v) => v.tags[TAGS.fingerprint] === fingerprint);
      if (same?.enabled && same.tags[TAGS.stage] === 'pending') return; // staged by an earlier attempt
      if (same?.tags[TAGS.stage] === 'discarded') {
        await vault.update(name, same.version, { enabled: true, tags: { ...same.tags, [TAGS.stage]: 'pending' } });
        ctx.logger.info({ vault: vault.vault, secret: name, version: same.version, material: material.id }, 'key vault pending version enabled again');
        return;
      }
      const written = await vault.put(name, materialJson(material), tagsFor(ctx, material, { [TAGS.stage]: 'pending' }));
      ctx.logger.info({ vault: vault.vault, secret: name, version: written.version, material: material.id }, 'key vault material staged as pending');
    });
  },

  read: readStage,

  /** The pending material becomes the latest version of `secretName` (naming the one it replaced); its pending copy is disabled. */
  async promote(ctx, spec) {
    await VaultSecrets.use(ctx, spec, async (vault) => {
      const current = await served(vault, spec.secretName);
      if (current && isOurs(ctx, current)) {
        // Promoted (or written) by an earlier attempt: only the pending copy may be left to retire.
        await retirePending(ctx, spec, vault, 'promoted');
        return;
      }
      const pending = await pendingOf(ctx, spec, vault);
      if (!pending) throw new ProviderRefusal(`nothing to promote in secret ${spec.secretName}: rotation ${ctx.rotationId} has no pending version in ${pendingName(spec)}`);
      const written = await vault.put(spec.secretName, materialJson(pending.material), tagsFor(ctx, pending.material, { [TAGS.previous]: current?.version }));
      await retirePending(ctx, spec, vault, 'promoted');
      ctx.logger.info({ vault: vault.vault, secret: spec.secretName, version: written.version, previousVersion: current?.version ?? null, material: pending.material.id }, 'key vault pending material promoted');
    });
  },

  async discardPending(ctx, spec) {
    await VaultSecrets.use(ctx, spec, async (vault) => {
      // Only this rotation's copy: another rotation's pending version is not ours to drop.
      const discarded = await retirePending(ctx, spec, vault, 'discarded');
      if (discarded > 0) ctx.logger.info({ vault: vault.vault, secret: pendingName(spec) }, 'key vault pending material discarded');
    });
  },
};

export const azureKeyVault = defineStore({
  type: 'azure-key-vault',
  spec: AzureKeyVaultSpecSchema,
  holds: 'all-fields',
  dependent,
  // The material id is a tag of each version Rotor writes.
  primary: { ...primary, idOnRead: 'kept' },
});
