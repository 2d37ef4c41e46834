/**
 * Cloud Resource Manager v1 in memory: each project's IAM (allow) policy, and the one REST method
 * that reads it, `POST /v1/projects/{project}:getIamPolicy`. Rules kept from GCP:
 * - the body is a GetIamPolicyRequest, `{"options": {"requestedPolicyVersion": n}}`, both optional;
 *   an unknown field is INVALID_ARGUMENT, and so is a version other than 0, 1 and 3;
 * - the reply is `{version, etag, bindings: [{role, members, condition?}]}`; `bindings` is absent
 *   when there are none (proto3 JSON). Version 3 only when it was asked for and a binding has a
 *   condition; in a version 1 reply a conditional binding hides its condition and its role reads
 *   `roles/x_withcond_<hash>` (Google's "withcond" form);
 * - the caller needs `resourcemanager.projects.getIamPolicy` on the project, else 403
 *   PERMISSION_DENIED "The caller does not have permission", also for a project that does not exist.
 *
 * The policy counts in the emulator's permission checks: an unconditional binding of
 * `serviceAccount:<email>` to a role the emulator knows (ROLES) grants its permissions on the
 * project. Conditional bindings grant nothing here (the emulator evaluates no CEL). Grants made by
 * `iam.grant` do not show in the policy: they stand for grants inherited from a folder or the
 * organization, which a project's own policy does not list either.
 */
import { createHash } from 'node:crypto';
import { ROLES, type IamState } from './iam.js';
import { GcpError } from './wire.js';

export const GET_IAM_POLICY_PERMISSION = 'resourcemanager.projects.getIamPolicy';

export interface PolicyCondition {
  title: string;
  expression: string;
  description?: string;
}

export interface PolicyBinding {
  role: string;
  members: string[];
  condition?: PolicyCondition;
}

interface ProjectPolicy {
  bindings: PolicyBinding[];
  /** Bumped by every change; the etag is derived from it. */
  revision: number;
}

const MEMBER = /^(user|serviceAccount|group|domain|deleted:(user|serviceAccount|group)|principal|principalSet):.+$|^(allUsers|allAuthenticatedUsers)$/;
const ROLE = /^(roles\/[A-Za-z0-9_.]+|(projects|organizations)\/[^/]+\/roles\/[A-Za-z0-9_.]+)$/;
const VALID_VERSIONS = new Set([0, 1, 3]);

export class ResourceManagerState {
  private readonly policies = new Map<string, ProjectPolicy>();

  constructor(private readonly iam: IamState) {}

  /**
   * Adds `member` (with its prefix, e.g. `serviceAccount:a@p.iam.gserviceaccount.com`) to the binding
   * of `role` with the same condition in the project's policy, making the binding (and the project) if needed.
   */
  bind(projectId: string, role: string, member: string, condition?: PolicyCondition): void {
    if (!ROLE.test(role)) throw new Error(`not a role name: ${role}`);
    if (!MEMBER.test(member)) throw new Error(`not an IAM member (type:value, e.g. serviceAccount:<email>): ${member}`);
    if (condition && (!condition.title || !condition.expression)) throw new Error('a condition needs a title and an expression');
    const project = this.iam.project(projectId);
    const policy = this.policyOf(project.id);
    const same = (b: PolicyBinding) => b.role === role && JSON.stringify(b.condition ?? null) === JSON.stringify(condition ?? null);
    let binding = policy.bindings.find(same);
    if (!binding) {
      binding = { role, members: [], ...(condition ? { condition: { ...condition } } : {}) };
      policy.bindings.push(binding);
    }
    if (!binding.members.includes(member)) binding.members.push(member);
    policy.revision += 1;
  }

  /** The project's bindings as stored (conditions included), copied. */
  bindings(projectId: string): PolicyBinding[] {
    return structuredClone(this.policies.get(projectId)?.bindings ?? []);
  }

  /** Whether an unconditional binding of `serviceAccount:<email>` grants `permission` on the project. */
  grants(projectId: string, email: string, permission: string): boolean {
    const member = `serviceAccount:${email}`;
    return (this.policies.get(projectId)?.bindings ?? []).some((b) => !b.condition && b.members.includes(member) && (ROLES[b.role] ?? []).includes(permission));
  }

  private policyOf(projectId: string): ProjectPolicy {
    let policy = this.policies.get(projectId);
    if (!policy) {
      policy = { bindings: [], revision: 0 };
      this.policies.set(projectId, policy);
    }
    return policy;
  }

  /** One `:getIamPolicy` call; `projectRef` is the project id (or number) in the path. */
  handle(method: string, projectRef: string, url: URL, body: Record<string, unknown>, caller: string): Record<string, unknown> {
    if (method !== 'POST') throw new GcpError('NOT_FOUND', `The emulator has no Resource Manager method ${method} ${url.pathname}.`);
    const requested = requestedVersion(body);
    const project = this.iam.projects.get(projectRef) ?? [...this.iam.projects.values()].find((p) => p.number === projectRef);
    // Google does not tell a missing project from a denied one.
    if (!project || !this.iam.can(caller, `projects/${project.id}`, GET_IAM_POLICY_PERMISSION)) {
      throw new GcpError('PERMISSION_DENIED', 'The caller does not have permission');
    }
    const policy = this.policyOf(project.id);
    const conditional = policy.bindings.some((b) => b.condition);
    const version = requested === 3 && conditional ? 3 : 1;
    const bindings = policy.bindings
      .filter((b) => b.members.length > 0)
      .map((b) => {
        if (!b.condition) return { role: b.role, members: [...b.members] };
        if (version === 3) return { role: b.role, members: [...b.members], condition: { ...b.condition } };
        const hash = createHash('sha256').update(JSON.stringify(b.condition)).digest('hex').slice(0, 20);
        return { role: `${b.role}_withcond_${hash}`, members: [...b.members] };
      });
    const etag = Buffer.from(`${project.number}:${policy.revision}`).toString('base64');
    return { version, etag, ...(bindings.length ? { bindings } : {}) };
  }
}

/** The GetIamPolicyRequest's requested version (0 when absent); INVALID_ARGUMENT for anything Google refuses. */
function requestedVersion(body: Record<string, unknown>): number {
  for (const field of Object.keys(body)) {
    if (field !== 'options') throw new GcpError('INVALID_ARGUMENT', `Invalid JSON payload received. Unknown name "${field}": Cannot find field.`);
  }
  const options = body.options;
  if (options === undefined || options === null) return 0;
  if (typeof options !== 'object' || Array.isArray(options)) throw new GcpError('INVALID_ARGUMENT', 'Invalid value at \'options\' (type.googleapis.com/google.iam.v1.GetPolicyOptions).');
  for (const field of Object.keys(options)) {
    if (field !== 'requestedPolicyVersion' && field !== 'requested_policy_version') {
      throw new GcpError('INVALID_ARGUMENT', `Invalid JSON payload received. Unknown name "${field}" at 'options': Cannot find field.`);
    }
  }
  const raw = (options as Record<string, unknown>).requestedPolicyVersion ?? (options as Record<string, unknown>).requested_policy_version;
  if (raw === undefined || raw === null) return 0;
  // proto3 JSON takes an int32 as a number or a decimal string.
  const value = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new GcpError('INVALID_ARGUMENT', `Invalid value at 'options.requested_policy_version' (TYPE_INT32), ${JSON.stringify(raw)}`);
  }
  if (!VALID_VERSIONS.has(value)) throw new GcpError('INVALID_ARGUMENT', `Invalid requested policy version: ${value}. Valid values are 0, 1 and 3.`);
  return value;
}
