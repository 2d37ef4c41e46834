/**
 * Decommissioning a credential whose identity is no longer needed (the last lifecycle stage), as a
 * workflow: `decommissionCredential`, workflow id `decommission/<credential id>`, search attribute
 * RotorCredentialId, so it is durable (a worker dying mid-way: another finishes it) and listed in
 * the Temporal UI next to the credential's rotations. Always asked for explicitly (`rotor
 * decommission`); an expired policy is only flagged by the audit.
 *
 * Revoke the previous material, retire the current one, remove the credential from dependents
 * where the policy says so, mark it retired. A step that fails is reported (to do by hand) and the
 * others go on. History holds ids and redacted messages only.
 */
import { ActivityFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DecommissionActivities } from '../activities/decommission.js';
import type { DecommissionInput, DecommissionRef, DecommissionReport } from './decommission-types.js';
import { BOOKKEEPING_ACTIVITY_OPTIONS, STEP_ACTIVITY_OPTIONS } from './timeouts.js';

/** Provider calls retry a few times (a timeout, a dead worker); bookkeeping harder, as in rotation. */
const steps = proxyActivities<DecommissionActivities>(STEP_ACTIVITY_OPTIONS);
const bookkeeping = proxyActivities<DecommissionActivities>(BOOKKEEPING_ACTIVITY_OPTIONS);

/** The failed activity's own message (already redacted by the activity). */
function failureMessage(error: unknown): string {
  if (error instanceof ActivityFailure && error.cause) return error.cause.message;
  throw error; // not an activity's failure (cancellation): let it end the workflow
}

export async function decommissionCredential(input: DecommissionInput): Promise<DecommissionReport> {
  const ref: DecommissionRef = { credentialId: input.credentialId, actor: input.actor, decommissionId: workflowInfo().runId };
  const report: DecommissionReport = { credential: input.credentialId, material: [], dependents: [], problems: [] };
  const plan = await bookkeeping.beginDecommission({ ...ref, reason: input.reason });
  if ('refused' in plan) {
    report.problems.push(plan.refused);
    return report;
  }
  report.problems.push(...plan.problems);

  for (const { which, materialId } of plan.materials) {
    try {
      const { how } = await steps.invalidateMaterial({ ...ref, which, materialId });
      report.material.push({ id: materialId, which, how });
    } catch (error) {
      const message = failureMessage(error);
      report.problems.push(`${which} material ${materialId}: ${message}`);
      await bookkeeping.recordDecommissionFailure({ ...ref, event: 'material.revoke-failed', detail: { material: materialId, which, error: message } });
    }
  }

  for (const name of plan.dependents) {
    try {
      const outcome = await steps.removeFromDependent({ ...ref, dependent: name });
      report.dependents.push({ name, removed: outcome.removed });
      if (!outcome.removed) report.problems.push(outcome.problem);
    } catch (error) {
      const message = failureMessage(error);
      report.dependents.push({ name, removed: false });
      report.problems.push(`dependent ${name}: ${message}`);
      await bookkeeping.recordDecommissionFailure({ ...ref, event: 'dependent.remove-failed', detail: { dependent: name, error: message } });
    }
  }

  await bookkeeping.finishDecommission({
    ...ref,
    material: report.material.map((m) => m.id),
    dependentsRemoved: report.dependents.filter((d) => d.removed).map((d) => d.name),
    problems: report.problems.length,
  });
  return report;
}
