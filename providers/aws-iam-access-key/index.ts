/**
 * AWS IAM user access keys, `dual` only: IAM lets a user hold two keys, so the new key is made
 * beside the one in service and the old one is disabled, then deleted, after dependents moved.
 * Unlike some rotation tools, nothing is disabled before the new key exists and is verified.
 *
 * Material is `Material(<AccessKeyId>, { accessKeyId, secretAccessKey })`.
 *
 * Orphans. The secret of a new key exists only in CreateAccessKey's reply, so create stages it at
 * once; an attempt that dies in between leaves a key nobody holds, which would fill the user's two
 * slots on the retry. Before creating, create therefore tags the user
 * `rotor:creating = <rotationId> <ids of the keys that exist now>`. A later attempt of the same
 * rotation deletes every key that is not in that list, not current, and never used: only that
 * attempt can have made it.
 *
 * Room. With both slots still taken by keys Rotor does not manage, create refuses and names them,
 * unless `allowDeleteInactive` lets it delete an Inactive one (logged). Rotor never deletes a key
 * something may still serve.
 *
 * Rotor's identity needs, on the user: iam:ListAccessKeys, iam:CreateAccessKey, iam:UpdateAccessKey,
 * iam:DeleteAccessKey, iam:GetAccessKeyLastUsed, iam:TagUser, iam:ListUserTags. Verify signs STS
 * GetCallerIdentity with the new key, which needs no permission.
 */
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
import { callerIdentity, IamAccessKeys, type AccessKeyInfo, type LastUsed } from './iam.js';
import { AwsIamAccessKeySpecSchema, type AwsIamAccessKeySpec } from './spec.js';
import { retireAccessKey, userPrivileges } from './posture.js';

export { AwsIamAccessKeySpecSchema, type AwsIamAccessKeySpec } from './spec.js';
export type { LastUsed } from './iam.js';

/** User tag naming the rotation that is creating a key and the keys that existed before. */
export const CREATING_TAG = 'rotor:creating';


function keyOf(material: Material): { accessKeyId: string; secretAccessKey: string } {
  return {
    accessKeyId: material.has('accessKeyId') ? material.reveal('accessKeyId') : material.id,
    secretAccessKey: material.reveal('secretAccessKey'),
  };
}

function describeKey(key: AccessKeyInfo, used: LastUsed | null): string {
  const created = key.createdAt ? `created ${key.createdAt.toISOString()}` : 'creation date unknown';
  const last = used?.at ? `last used ${used.at.toISOString()}${used.service ? ` by ${used.service}` : ''}` : 'never used';
  return `${key.id} (${key.status}, ${created}, ${last})`;
}

/** Deletes keys an earlier attempt of this rotation made but never staged (see the header); returns the keys left. */
async function deleteOrphans(ctx: ProviderContext, spec: AwsIamAccessKeySpec, iam: IamAccessKeys, keys: AccessKeyInfo[], current: Material | null): Promise<AccessKeyInfo[]> {
  const unknown = keys.filter((k) => k.id !== current?.id);
  if (unknown.length === 0) return keys;
  const [rotation, ...before] = (await iam.userTag(CREATING_TAG))?.split(' ') ?? [];
  if (rotation !== ctx.rotationId) return keys;
  const left: AccessKeyInfo[] = [];
  for (const key of keys) {
    const candidate = key.id !== current?.id && !before.includes(key.id);
    if (candidate && !(await iam.lastUsed(key.id))?.at) {
      await iam.delete(key.id);
      ctx.logger.warn({ userName: spec.userName, accessKeyId: key.id }, 'deleted an access key an interrupted attempt of this rotation made but never staged');
    } else {
      left.push(key);
    }
  }
  return left;
}

/** With both slots taken: deletes an Inactive unmanaged key if allowed, refuses otherwise. */
async function makeRoom(ctx: ProviderContext, spec: AwsIamAccessKeySpec, iam: IamAccessKeys, keys: AccessKeyInfo[], current: Material | null): Promise<void> {
  if (keys.length < 2) return;
  const unknown = keys.filter((k) => k.id !== current?.id);
  const inactive = spec.allowDeleteInactive ? unknown.find((k) => k.status === 'Inactive') : undefined;
  if (inactive) {
    await iam.delete(inactive.id);
    ctx.logger.warn({ userName: spec.userName, accessKeyId: inactive.id }, 'deleted an inactive access key Rotor does not manage, to make room (allowDeleteInactive)');
    return;
  }
  const described = await Promise.all(unknown.map(async (k) => describeKey(k, await iam.lastUsed(k.id))));
  throw new ProviderRefusal(
    `IAM user "${spec.userName}" already has two access keys and Rotor manages ${current ? `only ${current.id}` : 'neither'}: ${described.join(', ')}. ` +
      `Delete one${spec.allowDeleteInactive ? '' : ', or deactivate it and set allowDeleteInactive: true,'} before rotating.`,
  );
}

async function create(ctx: ProviderContext, spec: AwsIamAccessKeySpec, strategy: Strategy, req: CreateRequest): Promise<Material> {
  if (strategy !== 'dual') throw new ProviderRefusal('aws-iam-access-key supports only the dual strategy: an access key cannot be changed in place');
  return IamAccessKeys.use(ctx, spec, async (iam) => {
    let keys = await iam.list();
    if (req.staged) {
      // A retry: the key this rotation made is the one to use; a second key is never made.
      const staged = keys.find((k) => k.id === req.staged!.id);
      if (!staged) {
        throw new ProviderRefusal(`access key ${req.staged.id} staged by this rotation no longer exists in IAM user "${spec.userName}": roll back and rotate again`);
      }
      if (staged.status === 'Inactive') await iam.setStatus(staged.id, 'Active');
      ctx.logger.info({ userName: spec.userName, accessKeyId: staged.id, reused: true }, 'aws access key found from an earlier attempt');
      return req.staged;
    }
    keys = await deleteOrphans(ctx, spec, iam, keys, req.current);
    await makeRoom(ctx, spec, iam, keys, req.current);
    await iam.tagUser(CREATING_TAG, [ctx.rotationId, ...keys.map((k) => k.id)].join(' '));
    const created = await iam.create();
    const material = new Material(created.accessKeyId, created);
    // Staged before anything else can fail: the secret exists only in this reply.
    await req.stage(material);
    ctx.logger.info({ userName: spec.userName, accessKeyId: material.id }, 'aws access key created');
    return material;
  });
}

/** The user part of an IAM user ARN (`arn:aws:iam::123456789012:user/path/name`), or null. */
function userNameOfArn(arn: string): string | null {
  const match = /^arn:aws[a-z-]*:iam::\d{12}:user\/(?:.*\/)?([^/]+)$/.exec(arn);
  return match ? match[1]! : null;
}

async function verify(ctx: ProviderContext, spec: AwsIamAccessKeySpec, material: Material): Promise<void> {
  const identity = await callerIdentity(ctx, spec, keyOf(material));
  if (!identity.ok) {
    if (identity.code === 'SignatureDoesNotMatch') {
      throw new ProviderRefusal(`the staged secret does not belong to access key ${material.id}: ${identity.message}`);
    }
    // IAM takes seconds to make a new key valid everywhere: a plain Error, so the workflow retries.
    throw new Error(`access key ${material.id} is not accepted yet (IAM propagation can take a few seconds): ${identity.message}`);
  }
  if (userNameOfArn(identity.arn) !== spec.userName) {
    throw new ProviderRefusal(`access key ${material.id} authenticates as ${identity.arn}, not as IAM user "${spec.userName}"`);
  }
}

async function discard(ctx: ProviderContext, spec: AwsIamAccessKeySpec, _strategy: Strategy, created: Material, current: Material | null): Promise<void> {
  if (current?.id === created.id) throw new ProviderRefusal(`refusing to discard access key ${created.id}: it is the current material`);
  const deleted = await IamAccessKeys.use(ctx, spec, (iam) => iam.delete(created.id));
  ctx.logger.info({ userName: spec.userName, accessKeyId: created.id, alreadyGone: !deleted }, 'aws access key discarded');
}

async function disable(ctx: ProviderContext, spec: AwsIamAccessKeySpec, old: Material): Promise<void> {
  const found = await IamAccessKeys.use(ctx, spec, (iam) => iam.setStatus(old.id, 'Inactive'));
  ctx.logger.info({ userName: spec.userName, accessKeyId: old.id, alreadyGone: !found }, 'aws access key disabled');
}

async function revoke(ctx: ProviderContext, spec: AwsIamAccessKeySpec, _strategy: Strategy, old: Material): Promise<void> {
  await IamAccessKeys.use(ctx, spec, async (iam) => {
    const keys = await iam.list();
    if (!keys.some((k) => k.id === old.id)) {
      ctx.logger.info({ userName: spec.userName, accessKeyId: old.id }, 'aws access key already deleted');
      return;
    }
    // Guard: with no other Active key, the old one is what the user is running on.
    if (!keys.some((k) => k.id !== old.id && k.status === 'Active')) {
      throw new ProviderRefusal(`refusing to delete access key ${old.id}: it is the only active access key of IAM user "${spec.userName}"`);
    }
    await iam.delete(old.id);
    ctx.logger.info({ userName: spec.userName, accessKeyId: old.id }, 'aws access key deleted');
  });
}

async function list(ctx: ProviderContext, spec: AwsIamAccessKeySpec): Promise<DiscoveredCredential[]> {
  return IamAccessKeys.use(ctx, spec, async (iam) => {
    const keys = await iam.list();
    return Promise.all(
      keys.map(async (k) => {
        const used = await iam.lastUsed(k.id);
        return {
          id: k.id,
          principal: spec.userName,
          status: k.status === 'Active' ? ('active' as const) : ('inactive' as const),
          ...(k.createdAt ? { createdAt: k.createdAt.toISOString() } : {}),
          ...(used?.at ? { lastUsedAt: used.at.toISOString() } : {}),
          usageTracked: used !== null,
        };
      }),
    );
  });
}

/** When an access key last signed a request (null: no such key), to tell when an old key has drained. */
export async function lastUsed(ctx: ProviderContext, spec: AwsIamAccessKeySpec, accessKeyId: string): Promise<LastUsed | null> {
  return IamAccessKeys.use(ctx, spec, (iam) => iam.lastUsed(accessKeyId));
}

/**
 * Drain detection: the old key signed a request after the new one was promoted. IAM updates
 * last-used data with a delay (AWS documents up to hours), so the grace period should exceed it.
 */
async function inUse(ctx: ProviderContext, spec: AwsIamAccessKeySpec, old: Material, since: Date): Promise<Usage> {
  const used = await lastUsed(ctx, spec, old.id);
  if (!used?.at) return { inUse: false, detail: `access key ${old.id} has no recorded use` };
  const recent = used.at.getTime() > since.getTime();
  return { inUse: recent, detail: `access key ${old.id} last used ${used.at.toISOString()}${used.service ? ` by ${used.service}` : ''}` };
}

/** ListAccessKeys is allowed and a key slot is free (or can be freed) for the new key. */
async function preflight(ctx: ProviderContext, spec: AwsIamAccessKeySpec): Promise<string[]> {
  try {
    const keys = await IamAccessKeys.use(ctx, spec, (iam) => iam.list());
    if (keys.length < 2) return [];
    if (spec.allowDeleteInactive && keys.some((k) => k.status === 'Inactive')) return [];
    return [`both access key slots of IAM user "${spec.userName}" are taken (${keys.map((k) => `${k.id} ${k.status}`).join(', ')}); delete one, or set allowDeleteInactive`];
  } catch (error) {
    return [(error as Error).message];
  }
}

const source: CredentialSource<AwsIamAccessKeySpec> = {
  inUse,
  preflight,
  strategies: ['dual'],
  create,
  verify,
  discard,
  disable,
  revoke,
  list,
  privileges: userPrivileges,
  retire: retireAccessKey,
};

export const awsIamAccessKey = defineCredential({
  type: 'aws-iam-access-key',
  workflow: 'rotateAwsAccessKey',
  defaultEvery: '90d',
  maxAgeDays: 90,
  produces: { fields: ['accessKeyId', 'secretAccessKey'], idField: 'accessKeyId' },
  spec: AwsIamAccessKeySpecSchema,
  source,
});
