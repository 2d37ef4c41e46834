/**
 * Asking for a decommission (`rotor decommission`): starts the `decommissionCredential` workflow
 * (workflows/decommission.ts) on the workers and waits for its report. One per credential at a
 * time: a second ask while one runs joins it.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Policy } from '../config/policy.js';
import { ROTOR_CREDENTIAL_ID, ROTOR_CREDENTIAL_TYPE } from '../workflows/search-attributes.js';
import { DECOMMISSION_WORKFLOW, decommissionWorkflowId, type DecommissionInput, type DecommissionReport } from '../workflows/decommission-types.js';

export type { DecommissionReport } from '../workflows/decommission-types.js';

/** Whether the policy's `expires` date is before today (UTC). */
export function isExpired(policy: Policy, now: Date): boolean {
  return policy.expires !== undefined && policy.expires < now.toISOString().slice(0, 10);
}

/** Runs the decommission of `policy`'s credential on the workers of `taskQueue`; resolves with its report. */
export async function runDecommission(
  client: Client,
  policy: Pick<Policy, 'id' | 'credential'>,
  options: { taskQueue: string; actor: string; reason?: string },
): Promise<DecommissionReport> {
  const workflowId = decommissionWorkflowId(policy.id);
  const input: DecommissionInput = { credentialId: policy.id, actor: options.actor, ...(options.reason === undefined ? {} : { reason: options.reason }) };
  try {
    const handle = await client.workflow.start(DECOMMISSION_WORKFLOW, {
      workflowId,
      taskQueue: options.taskQueue,
      args: [input],
      typedSearchAttributes: [
        { key: ROTOR_CREDENTIAL_ID, value: policy.id },
        { key: ROTOR_CREDENTIAL_TYPE, value: policy.credential.type },
      ],
    });
    return (await handle.result()) as DecommissionReport;
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    return (await client.workflow.getHandle(workflowId).result()) as DecommissionReport;
  }
}
