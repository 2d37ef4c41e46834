/**
 * Posture and decommission for IAM user access keys: which grants of the user are broader than any
 * workload needs, and deleting a key for good (revoke refuses the user's last active key; a retired
 * identity needs exactly that).
 *
 * Rotor's identity additionally needs iam:ListAttachedUserPolicies, iam:ListUserPolicies and
 * iam:GetUserPolicy on the users it audits, and iam:GetPolicy and iam:GetPolicyVersion on the
 * customer managed policies attached to them.
 */
import type { Material } from '../../lib/material.js';
import type { PrivilegeFacts, ProviderContext, Strategy } from '../contracts.js';
import { awsClientConfig, awsFailure } from '../aws-shared.js';
import { IamAccessKeys } from './iam.js';
import type { AwsIamAccessKeySpec } from './spec.js';

/** AWS managed policies that grant everything, or everything in IAM (which is everything, one step later). */
const ADMIN_POLICIES = new Set(['AdministratorAccess', 'IAMFullAccess']);

/** Actions that amount to full control when allowed. */
const WILDCARD_ACTIONS = new Set(['*', 'iam:*']);

interface Statement {
  Effect?: string;
  Action?: string | string[];
}

/** The reasons an IAM policy document is broad: each Allow statement whose Action includes a wildcard. */
export function broadStatements(document: string): string[] {
  let parsed: { Statement?: Statement | Statement[] };
  try {
    parsed = JSON.parse(document) as typeof parsed;
  } catch {
    return [];
  }
  const statements = Array.isArray(parsed.Statement) ? parsed.Statement : parsed.Statement ? [parsed.Statement] : [];
  const found = new Set<string>();
  for (const s of statements) {
    if (s.Effect !== 'Allow') continue;
    const actions = Array.isArray(s.Action) ? s.Action : s.Action ? [s.Action] : [];
    for (const a of actions) if (WILDCARD_ACTIONS.has(a)) found.add(a);
  }
  return [...found];
}

/** AWS's own managed policies; any other attached policy is the customer's, and its document is read. */
const AWS_MANAGED_PREFIX = /^arn:aws[\w-]*:iam::aws:policy\//;

/**
 * AdministratorAccess (or IAMFullAccess) attached, or an inline or customer managed policy
 * allowing `*` / `iam:*`.
 */
export async function userPrivileges(ctx: ProviderContext, spec: AwsIamAccessKeySpec): Promise<PrivilegeFacts> {
  // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
  const { GetPolicyCommand, GetPolicyVersionCommand, GetUserPolicyCommand, IAMClient, ListAttachedUserPoliciesCommand, ListUserPoliciesCommand } = await import('@aws-sdk/client-iam');
  const client = new IAMClient(await awsClientConfig(ctx, spec));
  const broad: string[] = [];
  try {
    const attached = await client.send(new ListAttachedUserPoliciesCommand({ UserName: spec.userName }), { abortSignal: ctx.signal });
    for (const p of attached.AttachedPolicies ?? []) {
      if (!p.PolicyArn || !AWS_MANAGED_PREFIX.test(p.PolicyArn)) continue;
      if (p.PolicyName && ADMIN_POLICIES.has(p.PolicyName)) broad.push(`${p.PolicyName} attached`);
    }
    for (const p of attached.AttachedPolicies ?? []) {
      if (!p.PolicyArn || AWS_MANAGED_PREFIX.test(p.PolicyArn)) continue;
      const { Policy: policy } = await client.send(new GetPolicyCommand({ PolicyArn: p.PolicyArn }), { abortSignal: ctx.signal });
      const version = await client.send(new GetPolicyVersionCommand({ PolicyArn: p.PolicyArn, VersionId: policy?.DefaultVersionId }), { abortSignal: ctx.signal });
      const actions = broadStatements(decodeURIComponent(version.PolicyVersion?.Document ?? ''));
      if (actions.length > 0) broad.push(`managed policy "${p.PolicyName}" allows Action ${actions.map((a) => `"${a}"`).join(', ')}`);
    }
    const inline = await client.send(new ListUserPoliciesCommand({ UserName: spec.userName }), { abortSignal: ctx.signal });
    for (const name of inline.PolicyNames ?? []) {
      const policy = await client.send(new GetUserPolicyCommand({ UserName: spec.userName, PolicyName: name }), { abortSignal: ctx.signal });
      // IAM returns policy documents URL-encoded.
      const actions = broadStatements(decodeURIComponent(policy.PolicyDocument ?? ''));
      if (actions.length > 0) broad.push(`inline policy "${name}" allows Action ${actions.map((a) => `"${a}"`).join(', ')}`);
    }
  } catch (error) {
    throw awsFailure(`cannot read the policies of IAM user "${spec.userName}"`, error);
  } finally {
    client.destroy();
  }
  return { broad };
}

/** Deletes the access key for good, even the user's last active one. Deleting what is gone succeeds. */
export async function retireAccessKey(ctx: ProviderContext, spec: AwsIamAccessKeySpec, _strategy: Strategy, material: Material): Promise<void> {
  const deleted = await IamAccessKeys.use(ctx, spec, (iam) => iam.delete(material.id));
  ctx.logger.info({ userName: spec.userName, accessKeyId: material.id, alreadyGone: !deleted }, 'aws access key retired');
}
