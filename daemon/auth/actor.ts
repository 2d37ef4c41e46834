/**
 * Who may do what. An Actor is whoever asks for an action: a person logged in through OpenID
 * Connect, a named API token, or the local user of the CLI. Roles come from the operator's
 * mapping of IdP groups (ROTOR_ROLES_FILE) or from a token's own entry (ROTOR_API_TOKENS_FILE).
 *
 *   viewer          sees everything, acts on nothing
 *   owner-operator  rotate, retry, rollback, continue, revokeNow, abort, leak on the credentials
 *                   whose policy `owner` is one of its groups (the group `*` owns every credential)
 *   security        emergency rotations and approve/reject on every credential
 *
 * Approvals are the security role's only: an owner-operator cannot approve its own team's
 * rotation (the second human who opens the gate is outside the team). Nobody approves or rejects
 * a rotation they requested; the workflow's Update validator enforces that too.
 */

export type Role = 'viewer' | 'owner-operator' | 'security';
export const ROLES: readonly Role[] = ['viewer', 'owner-operator', 'security'];

export interface Actor {
  kind: 'oidc' | 'token' | 'cli';
  /** OIDC `sub`, the token's name, or the OS user name. */
  subject: string;
  /** For people to read (OIDC `name` or `preferred_username`; the token's name; the OS user). */
  name: string;
  groups: string[];
  roles: Role[];
}

export type Action = 'view' | 'rotate' | 'emergency' | 'approve' | 'reject' | 'retry' | 'rollback' | 'continue' | 'revokeNow' | 'abort' | 'leak';
export const ACTIONS: readonly Action[] = ['view', 'rotate', 'emergency', 'approve', 'reject', 'retry', 'rollback', 'continue', 'revokeNow', 'abort', 'leak'];

/** The group that owns every credential (the legacy single API token, the CLI). */
export const ALL_OWNERS = '*';

const SECURITY_ACTIONS: readonly Action[] = ['emergency', 'approve', 'reject'];

/** The actor as one string: the audit log's `actor`, a decision's `by`, a rotation's `requestedBy`. */
export function actorId(actor: Pick<Actor, 'kind' | 'subject'>): string {
  return `${actor.kind}:${actor.subject}`;
}

/** What an actor looks like in the audit log's actor column (no groups: they change, the row does not). */
export function actorRecord(actor: Actor): { kind: Actor['kind']; subject: string; name: string; roles: Role[] } {
  return { kind: actor.kind, subject: actor.subject, name: actor.name, roles: actor.roles };
}

export type Authorization = { allowed: true } | { allowed: false; why: string };

export function authorize(actor: Actor, action: Action, credential: { id: string; owner?: string | null }, ctx: { requestedBy?: string } = {}): Authorization {
  const who = `${actorId(actor)} (${actor.roles.join(', ') || 'no role'})`;
  if (actor.roles.length === 0) return { allowed: false, why: `${who} has no role: ask the operator to map one of your groups (ROTOR_ROLES_FILE)` };
  if (action === 'view') return { allowed: true };
  if ((action === 'approve' || action === 'reject') && ctx.requestedBy && (ctx.requestedBy === actorId(actor) || ctx.requestedBy === actor.subject)) {
    return { allowed: false, why: `${actorId(actor)} requested this rotation and cannot ${action} it: a second person must` };
  }
  if (actor.roles.includes('security') && SECURITY_ACTIONS.includes(action)) return { allowed: true };
  if (SECURITY_ACTIONS.includes(action)) return { allowed: false, why: `${action} needs the security role; ${who} does not have it` };
  if (!actor.roles.includes('owner-operator')) return { allowed: false, why: `${action} needs the owner-operator role for ${credential.id}'s owner; ${who} does not have it` };
  const owner = credential.owner ?? null;
  if (actor.groups.includes(ALL_OWNERS) || (owner !== null && actor.groups.includes(owner))) return { allowed: true };
  return { allowed: false, why: `${credential.id} is owned by ${owner ?? 'nobody'}; ${actorId(actor)} acts only on credentials of ${actor.groups.join(', ') || 'no group'}` };
}

/**
 * The local user of the CLI. The CLI talks to Temporal and the store with the operator's own
 * credentials, so it is not authorized here (it could do anything those allow); it is recorded:
 * the OS user, or `--by` as the name the user gave (the subject stays the OS user).
 */
export function cliActor(username: string, by?: string): Actor {
  return { kind: 'cli', subject: username, name: by ?? username, groups: [ALL_OWNERS], roles: ['owner-operator', 'security'] };
}

/** The GitHub secret scanning webhook (authenticated by its HMAC): it reports leaks. */
export const GITHUB_SECRET_SCANNING_ACTOR: Actor = {
  kind: 'token',
  subject: 'github-secret-scanning',
  name: 'GitHub secret scanning',
  groups: [ALL_OWNERS],
  roles: ['owner-operator'],
};
