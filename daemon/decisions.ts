/**
 * Sending a human decision to a running rotation as a Workflow Update: the workflow's validator
 * accepts or refuses it at once, so the caller knows the outcome (no fire-and-forget signal).
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { RotorStore } from '../store/index.js';
import { decisionInputProblem, decisionUpdates, MAX_DECISION_TEXT, type Decision, type DecisionInput, type DecisionOutcome } from '../workflows/decisions.js';
import { rotationWorkflowId } from './rotations.js';
import { actorId, actorRecord, type Actor } from './auth/actor.js';

/** The decision did not apply (wrong step, nothing running); nothing changed. */
export class DecisionRefused extends Error {
  override readonly name = 'DecisionRefused';
}

/**
 * Sends the decision. Given an actor, the workflow is told who decided (`by` is its actorId: the
 * workflow refuses an approval by the rotation's requester) and, given a store, the audit log gets a
 * `rotation.decided` row naming the actor and reason. A refusal throws DecisionRefused and, given a
 * store, is recorded (`rotation.decision-refused`). The workflow records an accepted decision too.
 */
export async function sendDecision(
  client: Client,
  credentialId: string,
  decision: Decision,
  input: DecisionInput = {},
  audit?: Pick<RotorStore, 'appendAudit'>,
  actor?: Actor,
): Promise<DecisionOutcome> {
  const sent: DecisionInput = actor ? { ...input, by: actorId(actor) } : input;
  const who = actor
    ? { actor: actorId(actor), actorInfo: actorRecord(actor) }
    : { actor: input.by ? `operator:${input.by.slice(0, 100)}` : 'operator' };
  const reason = input.reason?.slice(0, MAX_DECISION_TEXT);
  try {
    const outcome = await attempt(client, credentialId, decision, sent);
    if (actor) {
      await audit?.appendAudit({ credentialId, ...who, ...(reason !== undefined ? { reason } : {}), event: 'rotation.decided', detail: { ...outcome } });
    }
    return outcome;
  } catch (error) {
    if (error instanceof DecisionRefused && audit) {
      await audit.appendAudit({
        credentialId,
        ...who,
        ...(reason !== undefined && actor ? { reason } : {}),
        event: 'rotation.decision-refused',
        detail: { decision, reason: reason ?? null, refused: error.message },
      });
    }
    throw error;
  }
}

async function attempt(client: Client, credentialId: string, decision: Decision, input: DecisionInput): Promise<DecisionOutcome> {
  const problem = decisionInputProblem(input);
  if (problem) throw new DecisionRefused(`${decision} refused, nothing changed: ${problem}`);
  const handle = client.workflow.getHandle(rotationWorkflowId(credentialId));
  try {
    return await handle.executeUpdate(decisionUpdates[decision], { args: [input] });
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) {
      throw new DecisionRefused(`${decision} refused, nothing changed: ${rootMessage(error)}`);
    }
    if (error instanceof WorkflowNotFoundError || isCompleted(error)) {
      throw new DecisionRefused(`no rotation of ${credentialId} is running (workflow ${rotationWorkflowId(credentialId)}); nothing changed`);
    }
    throw error;
  }
}

function rootMessage(error: Error): string {
  let cause: { message?: string; cause?: unknown } = error;
  while (cause.cause && typeof cause.cause === 'object') cause = cause.cause as typeof cause;
  return cause.message ?? error.message;
}

/** The server answers an Update to a closed run with NOT_FOUND "workflow execution already completed". */
function isCompleted(error: unknown): boolean {
  return error instanceof Error && /already completed|not found/i.test(error.message);
}
