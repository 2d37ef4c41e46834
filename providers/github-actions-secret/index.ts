/**
 * GitHub Actions, Dependabot and Codespaces secrets (repository, environment or organization), as a dependent
 * only: GitHub never returns a secret's value, so it cannot be a primary store.
 *
 * write seals one material field with the target's public key and PUTs it. Because nothing can be read
 * back, the receipt is Rotor's proof: version `<fingerprint of the value written>@<updated_at>` (see
 * version.ts). check compares that with GitHub's current `updated_at` (nobody wrote since) and the
 * material's fingerprint (the receipt is for this material); restore re-writes the previous value,
 * which only Rotor's primary store holds, so it must be handed in.
 *
 * Contract needs (see the report): check and restore take extra arguments the activity has —
 * `check(ctx, spec, material, receipt)` and `restore(ctx, spec, receipt, previous)`.
 */
import { fingerprintValue, type Material } from '../../lib/material.js';
import { defineStore, ProviderRefusal, type Dependent, type ProviderContext, type Receipt } from '../contracts.js';
import { openSecret } from './secrets.js';
import { GitHubActionsSecretSpecSchema, type GitHubActionsSecretSpec } from './spec.js';
import { formatVersion, parseVersion } from './version.js';

export { GitHubActionsSecretSpecSchema, type GitHubActionsSecretSpec } from './spec.js';

/** The value of the field this spec writes: `field`, or the material's only field. */
function valueOf(spec: GitHubActionsSecretSpec, material: Material): string {
  const fields = material.fieldNames();
  const name = spec.field ?? (fields.length === 1 ? fields[0]! : undefined);
  if (name === undefined) {
    throw new ProviderRefusal(`material ${material.id} has ${fields.length} fields (${fields.join(', ')}): set "field" to choose the one to write to ${spec.secretName}`);
  }
  if (!material.has(name)) throw new ProviderRefusal(`material ${material.id} has no field "${name}" (it has ${fields.join(', ') || 'none'})`);
  return material.reveal(name);
}

async function write(ctx: ProviderContext, spec: GitHubActionsSecretSpec, material: Material): Promise<Receipt> {
  const value = valueOf(spec, material);
  const fingerprint = fingerprintValue(value);
  const secret = await openSecret(ctx, spec);
  // A retry after a write that landed sees that write here, and writes the same value again: harmless,
  // but the retry's previousVersion then names Rotor's own write (GitHub keeps no history to tell).
  const before = await secret.metadata();
  await secret.put(value);
  const after = await secret.metadata();
  if (!after) throw new Error(`${secret.where} is missing right after it was written`);
  const receipt = {
    version: formatVersion({ fingerprint, updatedAt: after.updated_at }),
    previousVersion: before ? formatVersion({ fingerprint: null, updatedAt: before.updated_at }) : null,
  };
  ctx.logger.info({ target: secret.where, material: material.id, version: receipt.version, created: before === null }, 'github secret written');
  return receipt;
}

/**
 * Proves what GitHub allows: the secret still carries the `updated_at` of Rotor's write (nobody wrote
 * after it) and that write was of this material's value (fingerprint in the receipt). GitHub's
 * timestamps have whole seconds: a foreign write in the same second as Rotor's cannot be told apart.
 */
async function check(ctx: ProviderContext, spec: GitHubActionsSecretSpec, material: Material, receipt?: Receipt): Promise<void> {
  const fingerprint = fingerprintValue(valueOf(spec, material));
  const secret = await openSecret(ctx, spec);
  const current = await secret.metadata();
  if (!current) throw new Error(`${secret.where} does not exist; expected material ${material.id}`);
  if (!receipt) {
    throw new ProviderRefusal(`cannot prove ${secret.where} holds material ${material.id}: GitHub never returns values, and no write receipt was given`);
  }
  const written = parseVersion(receipt.version);
  if (written.fingerprint !== fingerprint) throw new ProviderRefusal(`the receipt for ${secret.where} records another value than material ${material.id}`);
  if (current.updated_at !== written.updatedAt) {
    throw new Error(`${secret.where} was written again at ${current.updated_at}, after Rotor wrote material ${material.id} at ${written.updatedAt}`);
  }
}

/**
 * Puts back the previous value: `previous` is the material Rotor's primary store holds as current
 * (GitHub cannot give it back). When the write created the secret, the secret is deleted instead,
 * unless someone wrote it after Rotor did. Re-running is safe: it writes the same value again.
 */
async function restore(ctx: ProviderContext, spec: GitHubActionsSecretSpec, receipt: Receipt, previous?: Material | null): Promise<void> {
  const written = parseVersion(receipt.version);
  const secret = await openSecret(ctx, spec);
  if (receipt.previousVersion === null) {
    const current = await secret.metadata();
    if (!current) return; // already gone: an earlier attempt deleted it
    if (current.updated_at !== written.updatedAt) {
      throw new ProviderRefusal(`not deleting ${secret.where}: it was written again at ${current.updated_at}, after this rotation created it at ${written.updatedAt}`);
    }
    await secret.delete();
    ctx.logger.info({ target: secret.where }, 'github secret created by this rotation deleted');
    return;
  }
  if (!previous) {
    throw new ProviderRefusal(`cannot restore ${secret.where}: GitHub never returns values and Rotor holds no previous material for this credential`);
  }
  await secret.put(valueOf(spec, previous));
  ctx.logger.info({ target: secret.where, material: previous.id }, 'github secret restored to the previous material');
}

/** Rotor's token can read the secret's metadata (a missing write permission shows only on a write). */
async function preflight(ctx: ProviderContext, spec: GitHubActionsSecretSpec): Promise<string[]> {
  try {
    const secret = await openSecret(ctx, spec);
    await secret.metadata();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

const dependent: Dependent<GitHubActionsSecretSpec> = { write, check, restore, preflight };

export const githubActionsSecret = defineStore({
  type: 'github-actions-secret',
  spec: GitHubActionsSecretSpecSchema,
  holds: 'one-field',
  dependent,
});
