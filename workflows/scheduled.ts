/**
 * What a policy's Temporal Schedule starts. Schedules append a timestamp to the workflow ids they
 * start, so this small launcher starts the credential's named rotation workflow as a child under
 * the fixed id `rotate/<credential>`: a manual or emergency rotation already running makes the
 * scheduled one skip instead of running beside it.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { executeChild, ParentClosePolicy, sleep } from '@temporalio/workflow';
import type { RotationResult } from './types.js';
import { msUntilWindowOpens, type MaintenanceWindow } from '../lib/windows.js';
import { rotationSearchAttributes } from './search-attributes.js';

export interface ScheduledRotationInput {
  credentialId: string;
  /** The credential type's named workflow (e.g. rotateDatabasePassword). */
  workflowType: string;
  /** Only start inside one of these windows; empty means any time. */
  windows: MaintenanceWindow[];
  /** Outside a window: wait for the next one, or skip this run. */
  outsideWindow: 'delay' | 'skip';
  /** Labels for the rotation's search attributes and memo. */
  labels: { type: string; owner: string; environment: string; purpose: string };
}

export type ScheduledRotationResult =
  | { started: true; result: RotationResult }
  | { started: false; reason: string };

export async function scheduledRotation(input: ScheduledRotationInput): Promise<ScheduledRotationResult> {
  const wait = msUntilWindowOpens(input.windows, new Date());
  if (wait > 0) {
    if (input.outsideWindow === 'skip') return { started: false, reason: 'outside the maintenance window' };
    await sleep(wait);
  }
  try {
    const result = await executeChild<(i: unknown) => Promise<RotationResult>>(input.workflowType, {
      workflowId: `rotate/${input.credentialId}`,
      args: [{ credentialId: input.credentialId, trigger: 'scheduled' }],
      // The rotation must finish even if someone terminates the launcher.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: rotationSearchAttributes({ credentialId: input.credentialId, trigger: 'scheduled', ...input.labels }),
      memo: { ...input.labels },
    });
    return { started: true, result };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return { started: false, reason: 'a rotation of this credential is already running' };
    throw error;
  }
}
