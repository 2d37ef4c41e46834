import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { Policy } from '../config/policy.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { RotationInput, RotationResult } from '../workflows/types.js';

/** One rotation per credential at a time: the workflow id is derived from the credential id. */
export function rotationWorkflowId(credentialId: string): string {
  return `rotate/${credentialId}`;
}

export class RotationAlreadyRunning extends Error {
  override readonly name = 'RotationAlreadyRunning';
}

/** Starts the named rotation workflow of the policy's credential type. */
export async function startRotation(
  client: Client,
  providers: ProviderRegistry,
  policy: Policy,
  options: { taskQueue: string; trigger: RotationInput['trigger']; reason?: string; revokeFirst?: boolean },
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const provider = providers.credential(policy.credential.type);
  if (!provider) throw new Error(`credential type ${policy.credential.type} is not registered`);
  const input: RotationInput = {
    credentialId: policy.id,
    trigger: options.trigger,
    ...(options.reason ? { reason: options.reason } : {}),
    ...(options.revokeFirst ? { revokeFirst: true } : {}),
  };
  try {
    return await client.workflow.start(provider.workflow, {
      workflowId: rotationWorkflowId(policy.id),
      taskQueue: options.taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      memo: { owner: policy.owner, purpose: policy.purpose, environment: policy.environment, type: policy.credential.type },
    });
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
