/**
 * One path for every action a person or token takes (HTTP API, console): authorize the actor, then
 * start or decide, with the actor and reason recorded in the audit log and the workflow's memo.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { ProviderRegistry } from '../providers/registry.js';
import type { RotorStore } from '../store/index.js';
import { MAX_DECISION_TEXT, type Decision, type DecisionOutcome } from '../workflows/decisions.js';
import { actorId, actorRecord, authorize, type Action, type Actor } from './auth/actor.js';
import { DecisionRefused, sendDecision } from './decisions.js';
import type { PolicySet } from './policies.js';
import { refuseRetired, RotationAlreadyRunning, RotationRefused, rotationWorkflowId, startRotation } from './rotations.js';

export interface ActionDeps {
  client: Client;
  providers: ProviderRegistry;
  policies: Pick<PolicySet, 'get'>;
  taskQueue: string;
  store?: RotorStore;
}

/** An action that did not happen; `status` is the HTTP status that says why. Nothing changed. */
export class ActionRefused extends Error {
  override readonly name = 'ActionRefused';
  constructor(
    message: string,
    readonly status: 400 | 403 | 404 | 409,
  ) {
    super(message);
  }
}

export type ActionResult =
  | { action: 'rotate' | 'emergency' | 'leak'; credential: string; workflowId: string; runId: string }
  | { action: Decision; credential: string; workflowId: string; outcome: DecisionOutcome };

const DECISION_OF: Partial<Record<Action, Decision>> = {
  approve: 'approve',
  reject: 'reject',
  retry: 'retry',
  rollback: 'rollback',
  continue: 'continue',
  revokeNow: 'revokeNow',
  abort: 'abort',
};

export async function performAction(
  deps: ActionDeps,
  actor: Actor,
  action: Exclude<Action, 'view'>,
  credentialId: string,
  reason?: string,
  options: { revokeFirst?: boolean } = {},
): Promise<ActionResult> {
  if (reason !== undefined && reason.length > MAX_DECISION_TEXT) throw new ActionRefused(`the reason is longer than ${MAX_DECISION_TEXT} characters`, 400);
  if (credentialId.length > 100) throw new ActionRefused('no such credential', 404);
  const policy = deps.policies.get(credentialId);
  if (!policy) throw new ActionRefused(`no policy for credential ${credentialId}`, 404);
  const decision = DECISION_OF[action];
  // The requester of the running rotation, for approve/reject (the workflow checks it again).
  const requestedBy = action === 'approve' || action === 'reject' ? await requesterOf(deps.client, credentialId) : undefined;
  const allowed = authorize(actor, action, { id: policy.id, owner: policy.owner }, { requestedBy });
  if (!allowed.allowed) {
    await deps.store?.appendAudit({
      credentialId,
      actor: actorId(actor),
      actorInfo: actorRecord(actor),
      ...(reason !== undefined ? { reason } : {}),
      event: 'action.refused',
      detail: { action, refused: allowed.why },
    });
    throw new ActionRefused(allowed.why, 403);
  }
  if (decision) {
    try {
      const outcome = await sendDecision(deps.client, credentialId, decision, reason ? { reason } : {}, deps.store, actor);
      return { action: decision, credential: credentialId, workflowId: rotationWorkflowId(credentialId), outcome };
    } catch (error) {
      if (error instanceof DecisionRefused) throw new ActionRefused(error.message, 409);
      throw error;
    }
  }
  const trigger = action === 'rotate' ? 'manual' : 'emergency';
  try {
    if (deps.store) await refuseRetired(deps.store, policy.id, { actor, trigger, reason });
    const { handle, runId } = await startRotation(deps.client, deps.providers, policy, {
      taskQueue: deps.taskQueue,
      trigger,
      ...(reason !== undefined ? { reason } : {}),
      ...(options.revokeFirst ? { revokeFirst: true } : {}),
      actor,
      ...(deps.store ? { audit: deps.store } : {}),
    });
    return { action: action as 'rotate' | 'emergency' | 'leak', credential: policy.id, workflowId: handle.workflowId, runId };
  } catch (error) {
    if (error instanceof RotationAlreadyRunning || error instanceof RotationRefused) throw new ActionRefused(error.message, 409);
    throw error;
  }
}

/** Who requested the credential's running rotation (its memo), or undefined. */
export async function requesterOf(client: Client, credentialId: string): Promise<string | undefined> {
  try {
    const described = await client.workflow.getHandle(rotationWorkflowId(credentialId)).describe();
    const by = described.memo?.requestedBy;
    return typeof by === 'string' ? by : undefined;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return undefined;
    throw error;
  }
}
