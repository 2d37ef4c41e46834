/**
 * Posture for gcp-sa-key: which grants of the service account are broader than any workload
 * needs, read from its project's IAM policy (Cloud Resource Manager v1
 * `POST {root}v1/projects/{project}:getIamPolicy` with `requestedPolicyVersion: 3`, so conditional
 * bindings come with their condition) through Rotor's own auth client.
 *
 * Broad are the basic roles that write (roles/owner, roles/editor) and the roles that let the
 * account take over other identities or the project's IAM (keys and tokens of other service
 * accounts, their policies, the project's policy). A binding with a condition is named too, marked
 * `(conditional)`: Rotor does not evaluate conditions.
 *
 * What is not seen: grants inherited from folders and the organization, grants on other projects
 * or on single resources (e.g. token creator on one other service account), and custom roles,
 * whatever permissions they hold. "Nothing broad" means nothing broad in the project's own policy.
 *
 * Rotor never says "nothing broad" without having looked: an unknown project and a refused read
 * (403, which Google also answers for a project that does not exist) are ProviderRefusals naming
 * what to set or grant; throttling and server errors are retryable.
 */
import type { AuthClient } from 'google-auth-library';
import { ProviderRefusal, type PrivilegeFacts, type ProviderContext } from '../contracts.js';
import { gcpAuth, gcpErrorInfo, gcpFailure, REQUEST_TIMEOUT_MS } from '../gcp-shared.js';
import { projectOf, type GcpSaKeySpec } from './spec.js';

export const RESOURCE_MANAGER_URL = 'https://cloudresourcemanager.googleapis.com/';
/** What reading the project's IAM policy needs on the account's project. */
export const POSTURE_PERMISSION = 'resourcemanager.projects.getIamPolicy';
/** A predefined role that grants it and nothing that writes. */
export const POSTURE_ROLE = 'roles/iam.securityReviewer';

/**
 * Roles broader than any one workload needs: basic roles that write everything, and roles that
 * reach other identities (their keys, tokens, policies) or the project's IAM policy.
 */
export const BROAD_ROLES: ReadonlySet<string> = new Set([
  'roles/owner',
  'roles/editor',
  'roles/iam.serviceAccountKeyAdmin',
  'roles/iam.serviceAccountTokenCreator',
  'roles/iam.serviceAccountAdmin',
  'roles/resourcemanager.projectIamAdmin',
  'roles/iam.securityAdmin',
]);

/** How a version 1 policy names a conditional binding's role: `roles/x_withcond_<hash>`. */
const WITHCOND = /^(.+)_withcond_[0-9a-f]+$/;

interface Binding {
  role?: unknown;
  members?: unknown;
  condition?: unknown;
}

interface PolicyReply {
  version?: number;
  etag?: string;
  bindings?: Binding[];
}

async function readPolicy(ctx: ProviderContext, auth: AuthClient, root: string, project: string, email: string): Promise<PolicyReply> {
  ctx.signal?.throwIfAborted();
  try {
    const reply = await auth.request<PolicyReply>({
      url: `${root}v1/projects/${encodeURIComponent(project)}:getIamPolicy`,
      method: 'POST',
      data: { options: { requestedPolicyVersion: 3 } },
      timeout: REQUEST_TIMEOUT_MS,
      // Reading changes nothing: one retry for a blip, POST included. Temporal retries the rest.
      retry: true,
      retryConfig: { retry: 1, noResponseRetries: 1, httpMethodsToRetry: ['POST'] },
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    return reply.data ?? {};
  } catch (error) {
    const action = `cannot read the IAM policy of project ${project} (posture of service account ${email})`;
    const info = gcpErrorInfo(error);
    if (info.code === 'PERMISSION_DENIED' || info.httpStatus === 403) {
      const google = `${info.code ? `${info.code}: ` : ''}${info.message.slice(0, 400)}${info.httpStatus ? ` (HTTP ${info.httpStatus})` : ''}`;
      throw new ProviderRefusal(
        `${action}: ${google}. Rotor's identity needs ${POSTURE_PERMISSION} on project ${project} (e.g. ${POSTURE_ROLE}); ` +
          'Google gives the same answer when the project does not exist',
      );
    }
    throw gcpFailure(action, error);
  }
}

/**
 * The broad roles the project's IAM policy binds to `serviceAccount:<email>`, each as
 * `roles/editor on project acme-data`, `… (conditional)` for a binding with a condition.
 */
export async function accountPrivileges(ctx: ProviderContext, spec: GcpSaKeySpec): Promise<PrivilegeFacts> {
  const project = projectOf(spec);
  if (!project) {
    throw new ProviderRefusal(`cannot tell the project of service account ${spec.serviceAccount} to read its IAM policy (posture): set "project" in the credential`);
  }
  const auth = await gcpAuth(ctx, spec);
  const endpoint = spec.resourceManagerEndpoint ?? RESOURCE_MANAGER_URL;
  const policy = await readPolicy(ctx, auth, endpoint.endsWith('/') ? endpoint : `${endpoint}/`, project, spec.serviceAccount);
  if (policy.bindings !== undefined && !Array.isArray(policy.bindings)) {
    throw new Error(`Resource Manager answered the IAM policy of project ${project} with bindings that are not a list`);
  }
  const member = `serviceAccount:${spec.serviceAccount}`.toLowerCase();
  const broad = new Set<string>();
  for (const b of policy.bindings ?? []) {
    if (typeof b.role !== 'string' || !Array.isArray(b.members)) continue;
    if (!b.members.some((m) => typeof m === 'string' && m.toLowerCase() === member)) continue;
    const withcond = WITHCOND.exec(b.role);
    const role = withcond ? withcond[1]! : b.role;
    if (!BROAD_ROLES.has(role)) continue;
    const conditional = withcond !== null || (b.condition !== undefined && b.condition !== null);
    broad.add(`${role} on project ${project}${conditional ? ' (conditional)' : ''}`);
  }
  // An unconditional grant says all there is to say about the same role.
  for (const name of broad) if (name.endsWith(' (conditional)') && broad.has(name.slice(0, -' (conditional)'.length))) broad.delete(name);
  return { broad: [...broad] };
}
