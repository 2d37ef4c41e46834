/** The actions the console offers, and how each is allowed and performed: identity's one path (daemon/actions.ts). */
import { ActionRefused, performAction, requesterOf, type ActionDeps } from '../daemon/actions.js';
import { authorize, type Actor, type Authorization } from '../daemon/auth/actor.js';

export const CONSOLE_ACTIONS = ['rotate', 'emergency', 'approve', 'reject', 'retry', 'rollback', 'continue'] as const;
export type ConsoleAction = (typeof CONSOLE_ACTIONS)[number];

/** What an action did, or why it was refused (the HTTP status that says why). */
export type ActionOutcome = { ok: true } | { ok: false; status: number; message: string };

/** Authorizes, then performs as `actor` with `reason`; the actor and reason go to the audit log and the workflow's memo. */
export async function consoleAction(deps: ActionDeps, actor: Actor, action: ConsoleAction, credentialId: string, reason: string): Promise<ActionOutcome> {
  try {
    await performAction(deps, actor, action, credentialId, reason);
    return { ok: true };
  } catch (error) {
    if (error instanceof ActionRefused) return { ok: false, status: error.status, message: error.message };
    throw error;
  }
}

/** For showing or hiding the forms of a credential's page; the server decides again when one is posted. */
export async function authorizer(deps: Pick<ActionDeps, 'client'>, actor: Actor, credential: { id: string; owner: string | null }, running: boolean): Promise<(action: ConsoleAction) => Authorization> {
  const requestedBy = running ? await requesterOf(deps.client, credential.id).catch(() => undefined) : undefined;
  return (action) => authorize(actor, action, credential, { requestedBy });
}
