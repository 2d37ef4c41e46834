/**
 * AWS Secrets Manager, as a dependent and as a primary store, on AWS's own rotation protocol:
 * staging labels AWSPENDING → AWSCURRENT → AWSPREVIOUS on immutable versions.
 *
 * - Every version this provider writes has VersionId = ClientRequestToken = the rotation's token
 *   (versionToken), so a retry's PutSecretValue is a no-op and a version says which rotation wrote it.
 * - SecretString is a JSON object of the material's fields, nothing else: consumers read exactly
 *   the fields they expect.
 * - A material's id is recovered from the field its credential type declares as id (`produces.idField`,
 *   in ctx.material). Material whose id is not that field's value cannot be staged (its id would not
 *   survive the round trip; policy validation refuses such a pairing first); a version without the
 *   field gets its VersionId as id.
 * - Rotor never creates the secret: it must exist with a current value, so consumers never read
 *   unverified material (AWS makes the first version of a secret AWSCURRENT whatever its labels).
 */
import { createHash } from 'node:crypto';
import { fingerprintFields, Material } from '../../lib/material.js';
import { defineStore, ProviderRefusal, type Dependent, type PrimaryStore, type ProviderContext, type Stage } from '../contracts.js';
import { CURRENT, holder, PENDING, PREVIOUS, SecretVersions, type SecretVersion } from './secrets.js';
import { idFieldRefusal, idFromFields, jsonFields, materialJson } from '../json-material.js';
import { AwsSecretsManagerSpecSchema, type AwsSecretsManagerSpec } from './spec.js';

export { AwsSecretsManagerSpecSchema, type AwsSecretsManagerSpec } from './spec.js';

/**
 * The VersionId (ClientRequestToken) of what a rotation writes: its id when that fits AWS's 32–64
 * characters (Temporal run ids are UUIDs), else a UUID-shaped hash of it.
 */
export function versionToken(rotationId: string): string {
  if (/^[A-Za-z0-9_-]{32,64}$/.test(rotationId)) return rotationId;
  const h = createHash('sha256').update(rotationId).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The fields of a version's SecretString; refuses anything but a JSON object (without quoting it). */
function parseFields(secretId: string, version: SecretVersion): Record<string, string> {
  const fields = jsonFields(version.secretString);
  if (!fields) throw new ProviderRefusal(`version ${version.versionId} of secret ${secretId} is not a JSON object (format: json)`);
  return fields;
}

function materialOf(ctx: ProviderContext, secretId: string, version: SecretVersion | null): Material | null {
  if (!version) return null;
  const fields = parseFields(secretId, version);
  return new Material(idFromFields(fields, ctx.material) ?? version.versionId, fields);
}

const dependent: Dependent<AwsSecretsManagerSpec> = {
  /** A new version labelled AWSCURRENT (AWS moves AWSPREVIOUS onto the one it replaces). */
  async write(ctx, spec, material) {
    const token = versionToken(ctx.rotationId);
    return SecretVersions.use(ctx, spec, async (secret) => {
      const stages = await secret.requireStages();
      if (stages[token]?.includes(CURRENT)) {
        // Written by an earlier attempt: the version it replaced now carries AWSPREVIOUS.
        return { version: token, previousVersion: holder(stages, PREVIOUS) ?? null };
      }
      const previous = holder(stages, CURRENT) ?? null;
      const labels = await secret.put(token, materialJson(material));
      // The version existed without AWSCURRENT (put back by a restore): make it current again.
      if (!labels.includes(CURRENT)) await secret.moveLabel(CURRENT, { moveTo: token, ...(previous ? { removeFrom: previous } : {}) });
      ctx.logger.info({ secretId: spec.secretId, version: token, previousVersion: previous, material: material.id }, 'secrets manager version written');
      return { version: token, previousVersion: previous };
    });
  },

  /**
   * Moves AWSCURRENT back to the version the receipt names. AWS then labels the rolled-back version
   * AWSPREVIOUS; that label is taken off, so nobody reads the discarded material through it.
   */
  async restore(ctx, spec, receipt) {
    await SecretVersions.use(ctx, spec, async (secret) => {
      const stages = await secret.stages();
      if (!stages) return; // the secret is gone: nothing of this rotation left to undo
      const current = holder(stages, CURRENT);
      if (receipt.previousVersion === null) {
        if (current !== receipt.version) return;
        throw new ProviderRefusal(`cannot restore secret ${spec.secretId}: it had no current version before version ${receipt.version}, and Secrets Manager always keeps one`);
      }
      let previousLabel = holder(stages, PREVIOUS);
      if (current === receipt.version) {
        await secret.moveLabel(CURRENT, { moveTo: receipt.previousVersion, removeFrom: receipt.version });
        previousLabel = receipt.version;
      } else if (current !== receipt.previousVersion) {
        throw new ProviderRefusal(
          `not restoring secret ${spec.secretId}: it changed since this rotation wrote version ${receipt.version} (AWSCURRENT is now ${current ?? 'nowhere'})`,
        );
      }
      if (previousLabel === receipt.version) await secret.moveLabel(PREVIOUS, { removeFrom: receipt.version });
      ctx.logger.info({ secretId: spec.secretId, version: receipt.previousVersion, from: receipt.version }, 'secrets manager previous version restored');
    });
  },

  async check(ctx, spec, material) {
    const current = await SecretVersions.use(ctx, spec, (secret) => secret.get({ stage: CURRENT }));
    if (!current) throw new Error(`secret ${spec.secretId} has no AWSCURRENT version; expected material ${material.id}`);
    if (fingerprintFields(parseFields(spec.secretId, current)) !== material.fingerprint()) {
      throw new Error(`secret ${spec.secretId} AWSCURRENT (version ${current.versionId}) does not hold material ${material.id}`);
    }
  },
};

async function readStage(ctx: ProviderContext, spec: AwsSecretsManagerSpec, stage: Stage): Promise<Material | null> {
  return SecretVersions.use(ctx, spec, async (secret) => {
    if (stage !== 'pending') return materialOf(ctx, spec.secretId, await secret.get({ stage: stage === 'current' ? CURRENT : PREVIOUS }));
    // AWSPENDING of another rotation is not ours: only the version this rotation wrote counts.
    const pending = await secret.get({ stage: PENDING });
    return pending?.versionId === versionToken(ctx.rotationId) ? materialOf(ctx, spec.secretId, pending) : null;
  });
}

const primary: PrimaryStore<AwsSecretsManagerSpec> = {
  /**
   * PutSecretValue labelled AWSPENDING; the label leaves any stale version of another rotation (one
   * rotation per credential runs at a time, so that one has ended). A retry is a no-op by the token;
   * the same rotation staging other material is refused by AWS (versions are immutable).
   */
  async stagePending(ctx, spec, material) {
    const refused = idFieldRefusal(material, ctx.material, 'Secrets Manager');
    if (refused) throw new ProviderRefusal(refused);
    const token = versionToken(ctx.rotationId);
    await SecretVersions.use(ctx, spec, async (secret) => {
      const stages = await secret.requireStages();
      if (!holder(stages, CURRENT)) {
        throw new ProviderRefusal(`secret ${spec.secretId} has no AWSCURRENT version: put the value now in service there first`);
      }
      const stale = holder(stages, PENDING);
      if (stale && stale !== token) ctx.logger.warn({ secretId: spec.secretId, staleVersion: stale }, 'moving AWSPENDING off a stale version of another rotation');
      const labels = await secret.put(token, materialJson(material), [PENDING]);
      if (!labels.includes(PENDING) && !labels.includes(CURRENT)) {
        // The version exists but lost its label (discarded earlier): label it again.
        const now = holder((await secret.stages()) ?? {}, PENDING);
        await secret.moveLabel(PENDING, { moveTo: token, ...(now ? { removeFrom: now } : {}) });
      }
      ctx.logger.info({ secretId: spec.secretId, version: token, material: material.id }, 'secrets manager material staged as AWSPENDING');
    });
  },

  read: readStage,

  /** AWSCURRENT moves to this rotation's version (AWS labels the old one AWSPREVIOUS), then AWSPENDING comes off. */
  async promote(ctx, spec) {
    const token = versionToken(ctx.rotationId);
    await SecretVersions.use(ctx, spec, async (secret) => {
      const stages = await secret.requireStages();
      const ours = stages[token] ?? [];
      if (!ours.includes(CURRENT)) {
        if (!ours.includes(PENDING)) throw new ProviderRefusal(`nothing to promote in secret ${spec.secretId}: rotation ${ctx.rotationId} has no AWSPENDING version`);
        const current = holder(stages, CURRENT);
        await secret.moveLabel(CURRENT, { moveTo: token, ...(current ? { removeFrom: current } : {}) });
        ctx.logger.info({ secretId: spec.secretId, version: token, previousVersion: current ?? null }, 'secrets manager version promoted to AWSCURRENT');
      }
      if (ours.includes(PENDING)) await secret.moveLabel(PENDING, { removeFrom: token });
    });
  },

  async discardPending(ctx, spec) {
    const token = versionToken(ctx.rotationId);
    await SecretVersions.use(ctx, spec, async (secret) => {
      const stages = await secret.stages();
      // Only this rotation's label: another rotation's pending version is not ours to drop.
      if (!stages?.[token]?.includes(PENDING)) return;
      await secret.moveLabel(PENDING, { removeFrom: token });
      ctx.logger.info({ secretId: spec.secretId, version: token }, 'secrets manager AWSPENDING discarded');
    });
  },
};

export const awsSecretsManager = defineStore({
  type: 'aws-secrets-manager',
  spec: AwsSecretsManagerSpecSchema,
  holds: 'all-fields',
  dependent,
  primary: { ...primary, idOnRead: 'id-field' },
});
