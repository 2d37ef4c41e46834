import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Policy } from '../config/policy.js';
import { RotorStore, type CredentialRow } from '../store/index.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { RotationInput, RotationResult } from '../workflows/types.js';
import { emergencySignal } from '../workflows/protocol.js';
import { rotationSearchAttributes } from '../workflows/search-attributes.js';
import { actorId, actorRecord, type Actor } from './auth/actor.js';

/** Emergencies run on their own task queue, so a backlog of scheduled rotations never delays them. */
export function emergencyTaskQueue(taskQueue: string): string {
  return `${taskQueue}-emergency`;
}

/** One rotation per credential at a time: the workflow id is derived from the credential id. */
export function rotationWorkflowId(credentialId: string): string {
  return `rotate/${credentialId}`;
}

export class RotationAlreadyRunning extends Error {
  override readonly name = 'RotationAlreadyRunning';
}

/** A rotation that must not run at all (a retired credential); nothing was started. */
export class RotationRefused extends Error {
  override readonly name = 'RotationRefused';
}

/** Why a credential must not be rotated at all, or undefined. Checked by every caller and again by the workflow. */
export function rotationRefusal(credentialId: string, inventory: Pick<CredentialRow, 'status'> | undefined): string | undefined {
  if (inventory?.status !== 'retired') return undefined;
  return (
    `${credentialId} is retired (decommissioned, or its policy was removed): it is not rotated any more, nothing was started. ` +
    `Remove its policy file; to manage the identity again, give it a policy with a new id`
  );
}

/** Throws RotationRefused (and records the refusal in the audit log) when the credential is retired. */
export async function refuseRetired(store: RotorStore | string, credentialId: string, request: { actor: Actor; trigger: string; reason?: string }): Promise<void> {
  const opened = typeof store === 'string' ? await RotorStore.connect(store) : store;
  try {
    const refused = rotationRefusal(credentialId, await opened.getCredential(credentialId));
    if (!refused) return;
    await opened.appendAudit({
      credentialId,
      actor: actorId(request.actor),
      actorInfo: actorRecord(request.actor),
      ...(request.reason !== undefined ? { reason: request.reason } : {}),
      event: 'rotation.refused',
      detail: { trigger: request.trigger, reason: request.reason ?? null, refused },
    });
    throw new RotationRefused(refused);
  } finally {
    if (typeof store === 'string') await opened.close();
  }
}

/**
 * Starts the named rotation workflow of the policy's credential type. The actor who asked is put in
 * the workflow's input and memo (`requestedBy`, `requestedByName`, `reason`) and, given a store, in
 * the audit log (`rotation.requested`, with the run it started or upgraded).
 */
export async function startRotation(
  client: Client,
  providers: ProviderRegistry,
  policy: Policy,
  /** `actor`: who asked (every caller on behalf of a person or token passes one; a schedule has none). */
  options: { taskQueue: string; trigger: RotationInput['trigger']; reason?: string; revokeFirst?: boolean; actor?: Actor; audit?: Pick<RotorStore, 'appendAudit'> },
): Promise<{ handle: WorkflowHandle; runId: string }> {
  const started = await start(client, providers, policy, options);
  if (options.actor) {
    await options.audit?.appendAudit({
      credentialId: policy.id,
      rotationId: started.runId,
      actor: actorId(options.actor),
      actorInfo: actorRecord(options.actor),
      ...(options.reason !== undefined ? { reason: options.reason } : {}),
      event: 'rotation.requested',
      detail: { trigger: options.trigger, workflowId: started.handle.workflowId, revokeFirst: options.revokeFirst ?? false },
    });
  }
  return started;
}

async function start(
  client: Client,
  providers: ProviderRegistry,
  policy: Policy,
  options: { taskQueue: string; trigger: RotationInput['trigger']; reason?: string; revokeFirst?: boolean; actor?: Actor },
): Promise<{ handle: WorkflowHandle; runId: string }> {
  const provider = providers.credential(policy.credential.type);
  if (!provider) throw new Error(`credential type ${policy.credential.type} is not registered`);
  const labels = {
    memo: {
      owner: policy.owner,
      purpose: policy.purpose,
      environment: policy.environment,
      type: policy.credential.type,
      ...(options.actor ? { requestedBy: actorId(options.actor), requestedByName: options.actor.name } : {}),
      reason: options.reason ?? null,
    },
    typedSearchAttributes: rotationSearchAttributes({
      credentialId: policy.id,
      type: policy.credential.type,
      owner: policy.owner,
      environment: policy.environment,
      trigger: options.trigger,
    }),
  };
  const input: RotationInput = {
    credentialId: policy.id,
    trigger: options.trigger,
    ...(options.actor ? { requestedBy: actorId(options.actor) } : {}),
    ...(options.reason ? { reason: options.reason } : {}),
    ...(options.revokeFirst ? { revokeFirst: true } : {}),
  };
  if (options.trigger === 'emergency') {
    // Signal-with-start: a rotation already running for this credential is upgraded (its grace
    // shortened to the emergency grace) instead of failing; otherwise a new one starts.
    const handle = await client.workflow.signalWithStart(provider.workflow, {
      workflowId: rotationWorkflowId(policy.id),
      taskQueue: emergencyTaskQueue(options.taskQueue),
      args: [input],
      signal: emergencySignal,
      signalArgs: [{ reason: options.reason }],
      ...labels,
    });
    return { handle, runId: handle.signaledRunId };
  }
  try {
    const handle = await client.workflow.start(provider.workflow, {
      workflowId: rotationWorkflowId(policy.id),
      taskQueue: options.taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      ...labels,
    });
    return { handle, runId: handle.firstExecutionRunId };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new RotationAlreadyRunning(`a rotation of ${policy.id} is already running (workflow ${rotationWorkflowId(policy.id)})`);
    }
    throw error;
  }
}

export async function rotationResult(handle: WorkflowHandle): Promise<RotationResult> {
  return (await handle.result()) as RotationResult;
}
