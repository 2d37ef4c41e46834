/**
 * What the console needs of identity (daemon/auth/, the identity branch): who is signed in, the
 * CSRF token of the session, whether an action is allowed, and the one path that authorizes and
 * performs an action with its actor and reason.
 * TEMPORARY: the Actor/Action/authorize shapes below mirror daemon/auth/actor.ts until it is merged.
 */
import type { FastifyRequest } from 'fastify';

export type Role = 'viewer' | 'owner-operator' | 'security';
export interface Actor {
  kind: 'oidc' | 'token' | 'cli';
  subject: string;
  name: string;
  groups: string[];
  roles: Role[];
}
export type Action = 'view' | 'rotate' | 'emergency' | 'approve' | 'reject' | 'retry' | 'rollback' | 'continue' | 'revokeNow' | 'abort' | 'leak';
export type Authorization = { allowed: true } | { allowed: false; why: string };

/** What an action did, or why it was refused (status: 400, 403, 404, 409). */
export type ActionOutcome = { ok: true; message: string } | { ok: false; status: number; message: string };

export interface ConsoleAuth {
  /** The signed-in actor of this request, or undefined (the console sends the browser to log in). */
  actor(request: FastifyRequest): Actor | undefined;
  /** Where to log in, e.g. /ui/login?returnTo=… */
  loginUrl(returnTo: string): string;
  /** The CSRF token forms of this session carry (field `_csrf`). */
  csrfToken(request: FastifyRequest): string;
  /** Whether the POST carries this session's CSRF token. */
  csrfValid(request: FastifyRequest, token: string | undefined): boolean;
  /** For showing or hiding buttons; the server decides again when the action is posted. */
  authorize(actor: Actor, action: Action, credential: { id: string; owner: string | null }): Authorization;
  /** Authorizes, then performs the action as `actor` with `reason` (recorded in the audit log). */
  perform(actor: Actor, action: ConsoleAction, credentialId: string, reason: string): Promise<ActionOutcome>;
}

/** The actions the console offers. */
export const CONSOLE_ACTIONS = ['rotate', 'emergency', 'approve', 'reject', 'retry', 'rollback', 'continue'] as const;
export type ConsoleAction = (typeof CONSOLE_ACTIONS)[number];
