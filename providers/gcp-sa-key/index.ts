/**
 * GCP service-account keys, `dual` only: an account may hold ten user-managed keys, so the new key
 * is made beside the one in service and the old one is disabled, then deleted, after dependents
 * moved. Nothing is disabled before the new key exists and has minted an access token.
 *
 * Material is `Material(<keyId>, { keyId, keyJson })`: the key id (40 hex digits) is public, the
 * key file (`keyJson`, the TYPE_GOOGLE_CREDENTIALS_FILE JSON a consumer points
 * GOOGLE_APPLICATION_CREDENTIALS at) holds the private key.
 *
 * Orphans. The private key exists only in the create reply, so create stages it at once. AWS
 * access keys can be found again through a user tag written before creating; GCP keys carry no
 * labels, and the only durable fields a key provider could write (the account's description or
 * display name) belong to people and need iam.serviceAccounts.update. Nor can a later attempt tell
 * its own orphan from a key a person made meanwhile: both are unknown, enabled and unused as far as
 * the IAM API shows (key usage is only in Policy Analyzer, a day late). So Rotor does not guess:
 * - when staging fails (the primary store refuses, times out, throttles), create tries it again
 *   (staging is idempotent per rotation), then deletes the key it just made before failing: the
 *   retry starts clean, and no key is left that nobody holds (should a failed staging have been
 *   stored after all, the retry finds its staged key gone and refuses: the rotation rolls back);
 * - when the worker dies between the create reply and staging, the key is left: its private key is
 *   gone with the process (Google keeps none), so nobody can use it, but it takes one of the ten
 *   slots until deleted. `list` (discovery) shows it as a key Rotor does not manage, and the room
 *   refusal below names it with its creation time.
 *
 * Room. With all ten slots taken, create refuses and names every key (enabled or disabled,
 * created, expiry): Rotor never deletes a key something may still use. Delete one by hand.
 *
 * Verify asks the token endpoint for an access token signed with the new key (the JWT-bearer
 * grant); `invalid_grant` while the key is enabled is propagation, retried.
 *
 * Drain detection (`drainSignal: policy-analyzer`, the default) asks Policy Analyzer when the old
 * key last authenticated (its serviceAccountKeyLastAuthentication activity, see activity.ts): in
 * use when that is later than `since`, or than `drainLookback` (default 48h) before now when that
 * reaches further back: a late report is stamped with the time of the authentication, so a window
 * of "since the previous check" would miss it. The data lags by up to a day or two and its times may be
 * coarse (Google's examples show whole hours), so a quiet answer proves little on its own: keep
 * `revoke.after` (the grace) longer than the lag, e.g. 72h, so that use during the grace shows by
 * the time revoke asks. A refused query (403) fails the check as a ProviderRefusal, never reads as
 * drained. `drainSignal: none` reads no signal: revoke then waits for the grace alone, and the
 * check says so.
 *
 * Posture (`privileges`, read by discovery for the over-privileged audit rule) names the broad roles
 * the account's project IAM policy binds to it: roles/owner, roles/editor, and the roles that reach
 * other identities or the project's IAM (see posture.ts); conditional bindings are marked so. It
 * refuses rather than answer "nothing broad" when the project is unknown or the policy unreadable.
 *
 * Rotor's identity needs, on the service account (roles/iam.serviceAccountKeyAdmin grants them):
 * iam.serviceAccountKeys.create, iam.serviceAccountKeys.delete, iam.serviceAccountKeys.disable,
 * iam.serviceAccountKeys.enable, iam.serviceAccountKeys.get, iam.serviceAccountKeys.list; and, on
 * the account's project, for drain detection,
 * policyanalyzer.serviceAccountKeyLastAuthenticationActivities.query
 * (roles/policyanalyzer.activityAnalysisViewer) with the Policy Analyzer API enabled; and, on the
 * account's project, for posture (discovery), resourcemanager.projects.getIamPolicy
 * (roles/iam.securityReviewer grants it) with the Cloud Resource Manager API enabled.
 * Verifying with the new key needs no permission.
 */
import { durationMs } from '../../config/duration.js';
import { Material } from '../../lib/material.js';
import {
  defineCredential,
  ProviderRefusal,
  type CreateRequest,
  type CredentialSource,
  type DiscoveredCredential,
  type ProviderContext,
  type Usage,
  type Strategy,
} from '../contracts.js';
import { parseKeyFile } from '../gcp-shared.js';
import { DRAIN_PERMISSION, DRAIN_ROLE, KeyActivity, LAG_NOTE, PolicyAnalyzerDenied } from './activity.js';
import { KEYS_PER_ACCOUNT, mintAccessToken, REQUIRED_PERMISSIONS, ServiceAccountKeys, type KeyInfo } from './keys.js';
import { accountPrivileges } from './posture.js';
import { GcpSaKeySpecSchema, projectOf, type GcpSaKeySpec } from './spec.js';

export { GcpSaKeySpecSchema, type GcpSaKeySpec } from './spec.js';
export { KEYS_PER_ACCOUNT, REQUIRED_PERMISSIONS } from './keys.js';
export { DRAIN_PERMISSION, DRAIN_ROLE } from './activity.js';
export { BROAD_ROLES, POSTURE_PERMISSION, POSTURE_ROLE } from './posture.js';


/** Staging attempts before a new key is given up (and deleted). */
const STAGE_ATTEMPTS = 3;

function describeKey(key: KeyInfo, current: Material | null): string {
  const facts = [
    key.disabled ? 'disabled' : 'enabled',
    key.validAfter ? `created ${key.validAfter.toISOString()}` : 'creation date unknown',
    key.validBefore ? `expires ${key.validBefore.toISOString()}` : undefined,
    key.id === current?.id ? 'current' : undefined,
  ].filter(Boolean);
  return `${key.id} (${facts.join(', ')})`;
}

function refuseWhenFull(spec: GcpSaKeySpec, keys: KeyInfo[], current: Material | null): void {
  if (keys.length < KEYS_PER_ACCOUNT) return;
  throw new ProviderRefusal(
    `service account ${spec.serviceAccount} already has ${keys.length} user-managed keys, GCP's limit of ${KEYS_PER_ACCOUNT}` +
      `${current ? `, and Rotor manages only ${current.id}` : ''}: ${keys.map((k) => describeKey(k, current)).join(', ')}. ` +
      'Delete a key nothing uses (disabled keys count too) before rotating.',
  );
}

const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Stages the new key; when staging keeps failing, deletes the key (nobody else can hold it) and fails. */
async function stageOrDelete(ctx: ProviderContext, keys: ServiceAccountKeys, material: Material, req: CreateRequest): Promise<void> {
  let failure: unknown;
  for (let attempt = 1; attempt <= STAGE_ATTEMPTS; attempt++) {
    try {
      await req.stage(material);
      return;
    } catch (error) {
      failure = error;
      if (error instanceof ProviderRefusal || ctx.signal?.aborted || attempt === STAGE_ATTEMPTS) break;
      ctx.logger.warn({ serviceAccount: keys.email, keyId: material.id, attempt, error: (error as Error).message }, 'staging the new gcp key failed; trying again');
      await pause(200 * attempt, ctx.signal);
    }
  }
  try {
    const deleted = await keys.delete(material.id);
    ctx.logger.warn({ serviceAccount: keys.email, keyId: material.id, alreadyGone: !deleted }, 'deleted the new gcp key: it could not be staged, and nobody else holds its private key');
  } catch (cleanup) {
    ctx.logger.error(
      { serviceAccount: keys.email, keyId: material.id, error: (cleanup as Error).message },
      'could not delete the new gcp key after staging failed: it is unusable (its private key is lost) but takes a key slot; delete it by hand',
    );
  }
  throw failure;
}

async function create(ctx: ProviderContext, spec: GcpSaKeySpec, strategy: Strategy, req: CreateRequest): Promise<Material> {
  if (strategy !== 'dual') throw new ProviderRefusal('gcp-sa-key supports only the dual strategy: a service-account key cannot be changed in place');
  return ServiceAccountKeys.use(ctx, spec, async (keys) => {
    const existing = await keys.list();
    if (req.staged) {
      // A retry: the key this rotation made is the one to use; a second key is never made.
      const staged = existing.find((k) => k.id === req.staged!.id);
      if (!staged) {
        throw new ProviderRefusal(`key ${req.staged.id} staged by this rotation no longer exists in service account ${spec.serviceAccount}: roll back and rotate again`);
      }
      if (staged.disabled) await keys.setDisabled(staged.id, false);
      ctx.logger.info({ serviceAccount: spec.serviceAccount, keyId: staged.id, reused: true }, 'gcp service-account key found from an earlier attempt');
      return req.staged;
    }
    refuseWhenFull(spec, existing, req.current);
    const created = await keys.create();
    const material = new Material(created.keyId, { keyId: created.keyId, keyJson: created.keyJson });
    // Staged before anything else can fail: the private key exists only in this reply.
    await stageOrDelete(ctx, keys, material, req);
    ctx.logger.info({ serviceAccount: spec.serviceAccount, keyId: material.id }, 'gcp service-account key created');
    return material;
  });
}

async function verify(ctx: ProviderContext, spec: GcpSaKeySpec, material: Material): Promise<void> {
  const keyJson = material.reveal('keyJson');
  const file = parseKeyFile(keyJson, `the staged key file of key ${material.id}`);
  if (file.private_key_id !== material.id) throw new ProviderRefusal(`the staged key file holds key ${file.private_key_id}, not key ${material.id}`);
  if (file.client_email !== spec.serviceAccount) throw new ProviderRefusal(`key ${material.id} belongs to ${file.client_email}, not to service account ${spec.serviceAccount}`);
  const check = await mintAccessToken(ctx, keyJson, material.id, spec.tokenEndpoint);
  if (check.ok) return;
  // Refused: gone or disabled is final; an enabled key is still propagating.
  const key = await ServiceAccountKeys.use(ctx, spec, (keys) => keys.get(material.id));
  if (!key) throw new ProviderRefusal(`key ${material.id} no longer exists in service account ${spec.serviceAccount}`);
  if (key.disabled) throw new ProviderRefusal(`key ${material.id} of service account ${spec.serviceAccount} is disabled`);
  throw new Error(`key ${material.id} of service account ${spec.serviceAccount} is not accepted yet (new keys can take a minute to work): ${check.code}: ${check.message}`);
}

async function discard(ctx: ProviderContext, spec: GcpSaKeySpec, _strategy: Strategy, created: Material, current: Material | null): Promise<void> {
  if (current?.id === created.id) throw new ProviderRefusal(`refusing to discard key ${created.id}: it is the current material`);
  const deleted = await ServiceAccountKeys.use(ctx, spec, (keys) => keys.delete(created.id));
  ctx.logger.info({ serviceAccount: spec.serviceAccount, keyId: created.id, alreadyGone: !deleted }, 'gcp service-account key discarded');
}

async function disable(ctx: ProviderContext, spec: GcpSaKeySpec, old: Material): Promise<void> {
  const found = await ServiceAccountKeys.use(ctx, spec, (keys) => keys.setDisabled(old.id, true));
  ctx.logger.info({ serviceAccount: spec.serviceAccount, keyId: old.id, alreadyGone: !found }, 'gcp service-account key disabled');
}

async function revoke(ctx: ProviderContext, spec: GcpSaKeySpec, _strategy: Strategy, old: Material): Promise<void> {
  await ServiceAccountKeys.use(ctx, spec, async (keys) => {
    const existing = await keys.list();
    if (!existing.some((k) => k.id === old.id)) {
      ctx.logger.info({ serviceAccount: spec.serviceAccount, keyId: old.id }, 'gcp service-account key already deleted');
      return;
    }
    // Guard: with no other enabled key, the old one is what the account is running on.
    if (!existing.some((k) => k.id !== old.id && !k.disabled)) {
      throw new ProviderRefusal(`refusing to delete key ${old.id}: it is the only enabled user-managed key of service account ${spec.serviceAccount}`);
    }
    await keys.delete(old.id);
    ctx.logger.info({ serviceAccount: spec.serviceAccount, keyId: old.id }, 'gcp service-account key deleted');
  });
}

/** Decommission: deletes the key even when it is the account's last one. Deleting what is gone succeeds. */
async function retire(ctx: ProviderContext, spec: GcpSaKeySpec, _strategy: Strategy, material: Material): Promise<void> {
  const deleted = await ServiceAccountKeys.use(ctx, spec, (keys) => keys.delete(material.id));
  ctx.logger.info({ serviceAccount: spec.serviceAccount, keyId: material.id, alreadyGone: !deleted }, 'gcp service-account key retired');
}

async function list(ctx: ProviderContext, spec: GcpSaKeySpec): Promise<DiscoveredCredential[]> {
  const keys = await ServiceAccountKeys.use(ctx, spec, (k) => k.list());
  const lastUsed = await lastAuthentications(ctx, spec, keys.map((k) => k.id));
  const now = Date.now();
  return keys.map((k) => {
    const used = lastUsed?.get(k.id);
    return {
      id: k.id,
      principal: spec.serviceAccount,
      status: k.disabled ? 'inactive' : k.validBefore && k.validBefore.getTime() <= now ? 'expired' : 'active',
      ...(k.validAfter ? { createdAt: k.validAfter.toISOString() } : {}),
      ...(k.validBefore ? { expiresAt: k.validBefore.toISOString() } : {}),
      ...(used ? { lastUsedAt: used.toISOString() } : {}),
      usageTracked: lastUsed !== null,
    };
  });
}

/**
 * Discovery: each key's last authentication from Policy Analyzer, or null (use unknown) with
 * `drainSignal: none` or when Rotor may not read it: posture then does not call a key unused.
 */
async function lastAuthentications(ctx: ProviderContext, spec: GcpSaKeySpec, keyIds: string[]): Promise<Map<string, Date | null> | null> {
  if (spec.drainSignal === 'none' || !projectOf(spec)) return null;
  try {
    return await KeyActivity.use(ctx, spec, async (activity) => new Map(await Promise.all(keyIds.map(async (id) => [id, await activity.lastAuthenticated(id)] as const))));
  } catch (error) {
    if (!(error instanceof PolicyAnalyzerDenied)) throw error;
    ctx.logger.warn({ serviceAccount: spec.serviceAccount }, 'Policy Analyzer refused: key use unknown for discovery');
    return null;
  }
}

/**
 * Drain detection: did the old key authenticate after `since`, as far as Policy Analyzer knows?
 * With `drainSignal: none`, no signal is read and the answer says so.
 */
async function inUse(ctx: ProviderContext, spec: GcpSaKeySpec, old: Material, since: Date): Promise<Usage> {
  if (spec.drainSignal === 'none') return { inUse: false, detail: 'drain signal disabled by policy' };
  const last = await KeyActivity.use(ctx, spec, (activity) => activity.lastAuthenticated(old.id));
  if (!last) return { inUse: false, detail: `key ${old.id} has no recorded authentication (${LAG_NOTE})` };
  // A late report carries the time of the authentication: look back at least drainLookback (see the spec).
  const from = Math.min(since.getTime(), Date.now() - durationMs(spec.drainLookback));
  return { inUse: last.getTime() > from, detail: `key ${old.id} last authenticated ${last.toISOString()} (${LAG_NOTE})` };
}

/** Rotor's identity holds every key permission on the account, a key slot is free, and key activity is readable. */
async function preflight(ctx: ProviderContext, spec: GcpSaKeySpec): Promise<string[]> {
  const [keyProblems, drainProblems] = await Promise.all([keyPreflight(ctx, spec), drainPreflight(ctx, spec)]);
  return [...keyProblems, ...drainProblems];
}

async function keyPreflight(ctx: ProviderContext, spec: GcpSaKeySpec): Promise<string[]> {
  try {
    return await ServiceAccountKeys.use(ctx, spec, async (keys) => {
      const problems: string[] = [];
      const held = await keys.heldPermissions(REQUIRED_PERMISSIONS);
      const missing = REQUIRED_PERMISSIONS.filter((p) => !held.includes(p));
      if (missing.length > 0) {
        problems.push(`Rotor's identity lacks ${missing.join(', ')} on service account ${spec.serviceAccount}: grant it roles/iam.serviceAccountKeyAdmin on that account`);
      }
      if (held.includes('iam.serviceAccountKeys.list')) {
        const existing = await keys.list();
        if (existing.length >= KEYS_PER_ACCOUNT) {
          problems.push(
            `service account ${spec.serviceAccount} has ${existing.length} user-managed keys, GCP's limit (${existing.map((k) => `${k.id} ${k.disabled ? 'disabled' : 'enabled'}`).join(', ')}); delete one nothing uses`,
          );
        }
      }
      return problems;
    });
  } catch (error) {
    return [(error as Error).message];
  }
}

/** A probe query of the project's key activity (drain detection), unless the policy reads no signal. */
async function drainPreflight(ctx: ProviderContext, spec: GcpSaKeySpec): Promise<string[]> {
  if (spec.drainSignal === 'none') return [];
  try {
    await KeyActivity.use(ctx, spec, (activity) => activity.probe());
    return [];
  } catch (error) {
    if (!(error instanceof PolicyAnalyzerDenied)) return [(error as Error).message];
    return [
      `Rotor's identity lacks ${DRAIN_PERMISSION} on project ${error.project} (drain detection): grant it ${DRAIN_ROLE} there and enable the Policy Analyzer API, ` +
        `or set drainSignal: none to rely on the grace period alone (Policy Analyzer said ${error.google})`,
    ];
  }
}

const source: CredentialSource<GcpSaKeySpec> = {
  inUse,
  strategies: ['dual'],
  create,
  verify,
  discard,
  disable,
  revoke,
  list,
  preflight,
  privileges: accountPrivileges,
  retire,
};

export const gcpSaKey = defineCredential({
  type: 'gcp-sa-key',
  workflow: 'rotateGcpServiceAccountKey',
  defaultEvery: '90d',
  maxAgeDays: 90,
  produces: { fields: ['keyId', 'keyJson'], idField: 'keyId' },
  spec: GcpSaKeySpecSchema,
  source,
});
