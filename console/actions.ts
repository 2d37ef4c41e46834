/**
 * TEMPORARY until identity's shared action path is merged: authorizes with the interface's
 * authorize, then starts the rotation or sends the decision as the actor, with the reason.
 */
import type { Client } from '@temporalio/client';
import { DecisionRefused, sendDecision } from '../daemon/decisions.js';
import type { PolicySet } from '../daemon/policies.js';
import { refuseRetired, RotationAlreadyRunning, RotationRefused, startRotation } from '../daemon/rotations.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { RotorStore } from '../store/index.js';
import type { ActionOutcome, Actor, Authorization, ConsoleAction } from './auth.js';

export interface ActionDeps {
  client: Client;
  providers: ProviderRegistry;
  policies: PolicySet;
  store: RotorStore;
  taskQueue: string;
  authorize(actor: Actor, action: ConsoleAction, credential: { id: string; owner: string | null }): Authorization;
}

export async function performAction(deps: ActionDeps, actor: Actor, action: ConsoleAction, credentialId: string, reason: string): Promise<ActionOutcome> {
  const policy = deps.policies.get(credentialId);
  if (!policy) return { ok: false, status: 404, message: `no policy for credential ${credentialId}` };
  const allowed = deps.authorize(actor, action, { id: policy.id, owner: policy.owner });
  if (!allowed.allowed) return { ok: false, status: 403, message: allowed.why };
  const by = `${actor.kind}:${actor.subject}`;
  try {
    if (action === 'rotate' || action === 'emergency') {
      const trigger = action === 'emergency' ? 'emergency' : 'manual';
      await refuseRetired(deps.store, policy.id, { actor: by, trigger, reason });
      await startRotation(deps.client, deps.providers, policy, { taskQueue: deps.taskQueue, trigger, reason });
      return { ok: true, message: 'started' };
    }
    const outcome = await sendDecision(deps.client, policy.id, action, { by, reason }, deps.store);
    return { ok: true, message: outcome.effect };
  } catch (error) {
    if (error instanceof RotationAlreadyRunning || error instanceof RotationRefused || error instanceof DecisionRefused) return { ok: false, status: 409, message: error.message };
    throw error;
  }
}
