/**
 * The one rotation protocol every credential type runs (see shared/design/ARCHITECTURE.md):
 *
 *   create → verify new → propagate → verify dependents → promote → grace → disable → revoke
 *
 * A failure before promote rolls back (saga: compensations pushed after each step that succeeded,
 * run in reverse), or waits for a human when the policy says `rollback: manual`. Deterministic
 * workflow code only: every side effect is an activity.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  allHandlersFinished,
  CancellationScope,
  ParentClosePolicy,
  startChild,
  type ChildWorkflowHandle,
  condition,
  defineQuery,
  defineSignal,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RotationActivities } from '../activities/index.js';
import { humanDuration } from '../lib/human-duration.js';
import { groupLock, releaseSignal } from './group-lock.js';
import { DECISIONS, decisionEffect, decisionInputProblem, decisionRefusal, decisionSignals, decisionUpdates, MAX_DECISION_TEXT, recordDeciderInMemo, requesterRefusal, type Decision, type DecisionInput, type DecisionOutcome } from './decisions.js';
import { ROTOR_TRIGGER } from './search-attributes.js';
import type {
  CreatedRef,
  HumanDecision,
  NotificationEvent,
  PrePromoteStep,
  ReceiptRef,
  RotationInput,
  RotationPlan,
  RotationResult,
  RotationStatus,
  RotationStep,
} from './types.js';
import { ACTIVITY_HEARTBEAT_TIMEOUT } from './timeouts.js';

export { abortSignal, approveSignal, continueSignal, rejectSignal, retrySignal, revokeNowSignal, rollbackSignal } from './decisions.js';
/** A leak was reported while this rotation runs: finish it as an emergency (emergency grace). */
export const emergencySignal = defineSignal<[{ reason?: string }]>('emergency');
export const statusQuery = defineQuery<RotationStatus>('status');

const steps = proxyActivities<RotationActivities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: ACTIVITY_HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 6 },
});

/** Notifications retry with backoff for a while, then give up: the rotation goes on regardless. */
const notifications = proxyActivities<RotationActivities>({
  startToCloseTimeout: '15s',
  heartbeatTimeout: ACTIVITY_HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
});

/** Bookkeeping must not fail a rotation for long: it retries harder than provider calls. */
const bookkeeping = proxyActivities<RotationActivities>({
  startToCloseTimeout: '30s',
  heartbeatTimeout: ACTIVITY_HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 20 },
});

class RolledBack extends Error {}

export async function runRotationProtocol(input: RotationInput): Promise<RotationResult> {
  const { workflowType, workflowId, runId } = workflowInfo();
  const status: RotationStatus = {
    step: 'planning',
    since: new Date().toISOString(),
    trigger: input.trigger,
    materials: { pending: null, current: null, previous: null },
  };
  const setStep = (step: RotationStep, waitingFor?: string, waitMs?: number) => {
    status.step = step;
    status.since = new Date().toISOString();
    status.waitingFor = waitingFor;
    status.until = waitMs !== undefined ? new Date(Date.now() + waitMs).toISOString() : undefined;
  };
  let decision: HumanDecision | undefined;
  let revokeNow = false;
  let abortReason: string | undefined;
  /** Workflow time at which an emergency was signalled, if one was. */
  let emergencyAt: number | undefined;
  let approval: { approved: boolean; by?: string; reason?: string } | undefined;
  /** An emergency run, or one upgraded to an emergency while it runs: emergencies never wait. */
  const isEmergency = () => input.trigger === 'emergency' || emergencyAt !== undefined;
  setHandler(statusQuery, () => status);

  /** Set once the run is open in the store: decisions and upgrades are recorded against it. */
  let ref: { credentialId: string; rotationId: string } | undefined = undefined;
  /** The run was refused before it opened: there is nothing to record against. */
  let refused = false;
  const opened = async () => {
    await condition(() => ref !== undefined || refused);
    return ref;
  };

  /** Whether `d` applies now; undefined when it does. */
  const refusal = (d: Decision) =>
    decisionRefusal(d, {
      step: status.step,
      aborting: abortReason !== undefined,
      pending:
        d === 'approve' || d === 'reject' ? approval !== undefined : d === 'revokeNow' ? revokeNow : d === 'abort' ? false : decision !== undefined,
    });
  /** Acts on an accepted decision and records it, with who and why, in the audit log. */
  const decide = async (d: Decision, who: DecisionInput = {}, via: 'update' | 'signal'): Promise<DecisionOutcome> => {
    const step = status.step;
    const effect = decisionEffect(d, step);
    if (d === 'approve' || d === 'reject') approval = { approved: d === 'approve', by: who.by, reason: who.reason };
    else if (d === 'revokeNow') revokeNow = true;
    else if (d === 'abort') abortReason = who.reason ? `aborted: ${who.reason}` : 'aborted by an operator';
    else decision = d;
    recordDeciderInMemo(d, who, step);
    const run = await opened();
    if (run) await bookkeeping.recordDecision({ ...run, step, decision: d, by: who.by, reason: who.reason, via });
    return { decision: d, step, effect };
  };
  for (const d of DECISIONS) {
    // `who` may be missing when sent by hand (temporal workflow update execute without input).
    setHandler(decisionUpdates[d], (who: DecisionInput) => decide(d, who ?? {}, 'update'), {
      validator: (who: DecisionInput) => {
        const why = decisionInputProblem(who) ?? requesterRefusal(d, input.requestedBy, who) ?? refusal(d);
        if (why) throw new Error(why);
      },
    });
    // Compatibility: a signal cannot be refused, so one that does not apply is dropped.
    setHandler(decisionSignals[d], async (arg?: DecisionInput | string) => {
      if (refusal(d) || (typeof arg !== 'string' && (decisionInputProblem(arg) || requesterRefusal(d, input.requestedBy, arg)))) return;
      if (typeof arg === 'string' && arg.length > MAX_DECISION_TEXT) arg = arg.slice(0, MAX_DECISION_TEXT);
      await decide(d, typeof arg === 'string' ? { reason: arg } : (arg ?? {}), 'signal');
    });
  }
  setHandler(emergencySignal, async (request) => {
    if (isEmergency()) return;
    emergencyAt = Date.now();
    status.upgradedFrom = input.trigger;
    status.trigger = 'emergency';
    upsertSearchAttributes([{ key: ROTOR_TRIGGER, value: 'emergency' }]);
    const step = status.step;
    const run = await opened();
    if (run) await bookkeeping.recordUpgrade({ ...run, from: input.trigger, reason: request?.reason, step });
  });

  const begun = await bookkeeping.beginRotation({ ...input, workflowType, workflowId, rotationId: runId });
  if ('refused' in begun) {
    // Refused before anything started (e.g. a decommissioned credential): recorded, nothing changed.
    refused = true;
    setStep('failed');
    await condition(allHandlersFinished);
    return { rotationId: runId, outcome: 'failed', error: begun.refused };
  }
  const plan: RotationPlan = begun;
  const { rotationId } = plan;
  ref = { credentialId: input.credentialId, rotationId };
  status.materials.current = plan.currentMaterialId;
  const compensations: Array<{ name: string; run: () => Promise<void> }> = [];
  let created: CreatedRef | undefined;
  /** Set once a revoke-first emergency has killed the old material: from then on there is nothing to roll back to. */
  let oldRevoked = false;
  /** What each dependent held before this rotation wrote it. */
  const receipts = new Map<string, ReceiptRef>();
  /** The group lock, while this rotation holds it. */
  let lock: ChildWorkflowHandle<typeof groupLock> | undefined;

  /** Tells the owner, when the policy has a webhook. A notification never fails a rotation. */
  const notify = async (event: NotificationEvent, text: string): Promise<void> => {
    if (!plan.notifies) return;
    await notifications.notify({ ...ref!, event, text }).catch(() => undefined);
  };

  const finish = async (result: Omit<RotationResult, 'rotationId'>): Promise<RotationResult> => {
    setStep(result.outcome);
    if (lock) await lock.signal(releaseSignal).catch(() => undefined);
    await bookkeeping.finishRotation({ ...ref!, outcome: result.outcome, error: result.error });
    if (result.outcome === 'failed' || result.outcome === 'rolled_back') {
      await notify(result.outcome, `rotation ${result.outcome.replace('_', ' ')}: ${result.error ?? ''}`);
    }
    if (isEmergency()) await notify('emergency_finished', `emergency rotation ${result.outcome}`);
    // Decisions and upgrades still being recorded finish before the run closes.
    await condition(allHandlersFinished);
    return { rotationId, ...result };
  };

  if (input.trigger === 'emergency') await notify('emergency_started', `emergency rotation started: ${input.reason ?? 'no reason given'}`);
  if (plan.approvalTimeoutMs > 0) {
    setStep('waiting for approval', `an approve or reject decision (rotor approve|reject ${input.credentialId}); times out after ${humanDuration(plan.approvalTimeoutMs)}`, plan.approvalTimeoutMs);
    await notify('awaiting_approval', `rotation waits for approval: rotor approve ${input.credentialId} or rotor reject ${input.credentialId}`);
    const answered = await condition(() => approval !== undefined || abortReason !== undefined || emergencyAt !== undefined, plan.approvalTimeoutMs);
    if (!answered) return finish({ outcome: 'aborted', error: 'approval timed out; nothing was changed' });
    if (abortReason) return finish({ outcome: 'aborted', error: `${abortReason}; nothing was changed` });
    // An emergency sent in while the rotation waited: emergencies never wait for approval (the upgrade is audited).
    if (approval && !approval.approved) {
      return finish({ outcome: 'aborted', error: `rejected${approval.by ? ` by ${approval.by}` : ''}${approval.reason ? `: ${approval.reason}` : ''}; nothing was changed` });
    }
  }

  const rollBack = async (): Promise<void> => {
    setStep('rolling back');
    // Rollback must finish even when the workflow is being cancelled.
    await CancellationScope.nonCancellable(async () => {
      for (const compensation of [...compensations].reverse()) await compensation.run();
    });
  };

  const revokeOld = async (which: 'current' | 'previous', oldId: string) => {
    if (plan.canDisable) {
      setStep('disabling old material');
      await steps.disableOldMaterial({ ...ref!, which, materialId: oldId });
      if (plan.deleteAfterMs > 0 && !isEmergency()) {
        setStep('waiting before delete', `the disabled old material's delete delay (rotor revoke-now ${input.credentialId} deletes it now)`, plan.deleteAfterMs);
        await condition(() => revokeNow || emergencyAt !== undefined, plan.deleteAfterMs);
      }
    }
    setStep('revoking old material');
    await steps.revokeOldMaterial({ ...ref!, which, materialId: oldId });
    if (which === 'previous') status.materials.previous = null;
  };

  // Credentials of one group never rotate at once. Emergencies do not wait for the lock.
  if (plan.group && !isEmergency()) lock = await acquireGroupLock(plan.group);

  // Pre-flight: a missing permission or a full key slot fails here, before anything changes.
  setStep('pre-flight');
  try {
    await steps.preflight(ref!);
  } catch (error) {
    return finish({ outcome: 'failed', error: describe('pre-flight', error) });
  }

  // Steps before promote; any of them may fail and be rolled back.
  const prePromoteSteps: Array<[PrePromoteStep, () => Promise<void>]> = [
    [
      'creating new material',
      async () => {
        created = await steps.createMaterial(ref!);
        status.materials = { pending: created.materialId, current: created.previousMaterialId, previous: null };
        // Where creating revoked the old material, there is nothing to roll back to: keep the new.
        if (plan.createRevokesOld) oldRevoked = true;
        else compensations.push({ name: 'discard', run: () => bookkeeping.discardMaterial(ref!) });
      },
    ],
    ['verifying new material', () => verifyWithin(plan.verifyTimeoutMs, ref!)],
    [
      'revoking compromised material',
      async () => {
        if (plan.revokeFirst && created?.previousMaterialId) {
          await revokeOld('current', created.previousMaterialId);
          oldRevoked = true;
        }
      },
    ],
    [
      'propagating to dependents',
      async () => {
        const results = await Promise.allSettled(
          plan.dependents.map(async (dependent) => {
            const receipt: ReceiptRef = await steps.propagateToDependent({ ...ref!, dependent });
            receipts.set(dependent, receipt);
            compensations.push({ name: `restore ${dependent}`, run: () => bookkeeping.restoreDependent({ ...ref!, dependent, receipt }) });
          }),
        );
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      },
    ],
    [
      'checking dependents',
      async () => {
        await Promise.all(plan.dependents.map((dependent) => steps.checkDependent({ ...ref!, dependent, receipt: receipts.get(dependent) })));
        await Promise.all(plan.healthChecks.map((check) => steps.runHealthCheck({ ...ref!, check })));
      },
    ],
  ];

  try {
    for (let i = 0; i < prePromoteSteps.length; ) {
      const [name, run] = prePromoteSteps[i]!;
      if (abortReason) throw new RolledBack(abortReason);
      setStep(name);
      try {
        await run();
        i++;
      } catch (error) {
        if (isCancellation(error) || error instanceof RolledBack) throw error;
        status.lastError = describe(name, error);
        const choice = plan.rollback === 'auto' ? 'rollback' : await askHuman(name);
        if (choice === 'retry') continue;
        if (choice === 'continue') {
          i++;
          continue;
        }
        throw new RolledBack(status.lastError);
      }
    }
  } catch (error) {
    const reason = error instanceof RolledBack ? error.message : isCancellation(error) ? 'cancelled' : describe(status.step, error);
    if (oldRevoked) {
      // Rolling back would hand dependents the revoked material: keep the new one and call for help.
      return finish({
        outcome: 'failed',
        newMaterialId: created?.materialId,
        error: `${reason}; the old material is already revoked, so the new material was kept (pending in the primary store): fix the cause and rotate again`,
      });
    }
    try {
      await rollBack();
    } catch (rollbackError) {
      return finish({ outcome: 'failed', error: `${reason}; rollback incomplete: ${describe('rollback', rollbackError)}` });
    }
    if (isCancellation(error)) throw error;
    if (abortReason && !status.lastError) return finish({ outcome: 'aborted', error: reason });
    return finish({
      outcome: 'rolled_back',
      error: `${reason}; rolled back, the previous credential still serves. Next: fix the cause, then rotate ${input.credentialId} again`,
    });
  }

  setStep('promoting new material');
  const { promotedAt } = await steps.promoteMaterial(ref!);
  const oldId = created?.previousMaterialId ?? null;
  // From here the new material is current; the old one is previous until it is revoked.
  status.materials = { pending: null, current: created?.materialId ?? null, previous: plan.strategy === 'dual' && !oldRevoked ? oldId : null };

  if (oldId && !plan.revokeFirst && plan.strategy === 'dual') {
    await gracePeriod();
    if (abortReason) {
      return finish({ outcome: 'aborted', newMaterialId: created?.materialId, oldMaterialId: oldId, error: `${abortReason}; old material left valid` });
    }
    const drain = isEmergency() && input.trigger !== 'emergency' ? (plan.emergencyRequiresDrain ? plan.drain : null) : plan.drain;
    if (drain && !(await waitForDrain(oldId, promotedAt, drain))) {
      return finish({ outcome: 'aborted', newMaterialId: created?.materialId, oldMaterialId: oldId, error: `${abortReason}; old material left valid` });
    }
    await revokeOld('previous', oldId);
  }
  return finish({ outcome: 'succeeded', newMaterialId: created?.materialId, oldMaterialId: oldId });

  /** Waits out the grace; an emergency signal shortens it to the policy's emergency grace. */
  async function gracePeriod(): Promise<void> {
    const started = Date.now();
    const graceText = (ms: number) =>
      `the old material's grace (${humanDuration(ms)} in all; rotor revoke-now ${input.credentialId} ends it now)`;
    const deadline = started + (emergencyAt !== undefined ? Math.min(plan.graceMs, plan.emergencyGraceMs) : plan.graceMs);
    setStep('grace period', graceText(deadline - started), Math.max(0, deadline - Date.now()));
    const stop = () => revokeNow || abortReason !== undefined;
    await condition(() => stop() || emergencyAt !== undefined, Math.max(0, deadline - Date.now()));
    if (stop() || emergencyAt === undefined) return;
    const emergencyDeadline = Math.min(deadline, emergencyAt + plan.emergencyGraceMs);
    if (emergencyDeadline > Date.now()) {
      setStep('grace period', `${graceText(emergencyDeadline - started)}, shortened by an emergency`, emergencyDeadline - Date.now());
      await condition(stop, emergencyDeadline - Date.now());
    }
  }

  /**
   * Drain detection: revoke only once the old material is no longer used. Still used after
   * `maxWait`: wait for a human (revokeNow forces, abort keeps it). Never revokes silently.
   * Each check asks "used since the previous check?" (first: since promotion). Returns false when aborted.
   */
  async function waitForDrain(oldId: string, promotedAt: string, drain: NonNullable<RotationPlan['drain']>): Promise<boolean> {
    let since = promotedAt;
    const deadline = Date.now() + drain.maxWaitMs;
    let told = false;
    for (;;) {
      if (revokeNow) return true;
      if (abortReason) return false;
      const usage = await steps.checkDrained({ ...ref!, materialId: oldId, since });
      if (!usage.inUse) return true;
      since = usage.checkedAt;
      if (!told) {
        told = true;
        await notify('old_still_in_use', `old material is still in use (${usage.detail}); revoke waits until it drains`);
      }
      if (Date.now() >= deadline) {
        setStep('old material still in use', `a human: ${usage.detail}; rotor revoke-now ${input.credentialId} revokes it anyway, rotor abort ${input.credentialId} keeps it`);
        await condition(() => revokeNow || abortReason !== undefined);
        return !abortReason;
      }
      const next = Math.min(drain.checkEveryMs, Math.max(1, deadline - Date.now()));
      setStep('waiting for old material to drain', `the old material to drain: ${usage.detail}; checked again in ${humanDuration(next)}, a human is asked after ${humanDuration(drain.maxWaitMs)}`, next);
      await condition(() => revokeNow || abortReason !== undefined, next);
    }
  }

  /** Takes the group's lock, looking again with backoff (30s doubling to 15m) while another holds it. */
  async function acquireGroupLock(group: string): Promise<ChildWorkflowHandle<typeof groupLock> | undefined> {
    for (let wait = 30_000; ; wait = Math.min(wait * 2, 15 * 60_000)) {
      try {
        return await startChild(groupLock, { workflowId: `group-lock/${group}`, parentClosePolicy: ParentClosePolicy.TERMINATE });
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        setStep('waiting for group lock', `another rotation of group ${group} to finish`, wait);
        // An emergency sent in meanwhile does not wait for the lock.
        if (await condition(() => emergencyAt !== undefined, wait)) return undefined;
      }
    }
  }

  async function askHuman(step: PrePromoteStep): Promise<HumanDecision> {
    decision = undefined;
    setStep(`failed: ${step}`, `a human decision: retry, rollback or continue (rotor retry|rollback|continue ${input.credentialId})`);
    await notify('awaiting_decision', `step "${step}" failed (${status.lastError}); decide with rotor retry|rollback|continue ${input.credentialId}`);
    await condition(() => decision !== undefined || abortReason !== undefined);
    return abortReason ? 'rollback' : decision!;
  }

  /** New material can take a while to work (AWS IAM: seconds): retry within the policy's window. */
  async function verifyWithin(timeoutMs: number, r: NonNullable<typeof ref>): Promise<void> {
    const verify = proxyActivities<RotationActivities>({
      startToCloseTimeout: '1m',
      heartbeatTimeout: ACTIVITY_HEARTBEAT_TIMEOUT,
      scheduleToCloseTimeout: timeoutMs,
      retry: { initialInterval: '2s', backoffCoefficient: 1.5, maximumInterval: '30s' },
    });
    await verify.verifyMaterial(r);
  }
}

/** A one-line reason from a failure chain (ActivityFailure → ApplicationFailure → message). */
function describe(step: string, error: unknown): string {
  let cause = error as { message?: string; cause?: unknown } | undefined;
  while (cause && cause.cause && typeof cause.cause === 'object') cause = cause.cause as typeof cause;
  return `${step}: ${cause?.message ?? String(error)}`;
}
