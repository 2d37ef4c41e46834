/**
 * The one rotation protocol every credential type runs:
 *
 *   create → verify new → propagate → check dependents → promote → grace → revoke
 *
 * (README "The rotation protocol"). Before create: approval, the group lock and pre-flight, none of
 * which changes anything. A failure before promote rolls back (saga: compensations pushed after
 * each step that succeeded, run in reverse), or waits for a human when the policy says `rollback:
 * manual`. The messages a rotation answers change only its RotationState (rotation-state.ts).
 * Deterministic workflow code only: every side effect is an activity.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  allHandlersFinished,
  CancellationScope,
  ParentClosePolicy,
  startChild,
  type ChildWorkflowHandle,
  condition,
  isCancellation,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { RotationPlan } from '../activities/plan.js';
import { humanDuration } from '../lib/human-duration.js';
import { groupLock } from './group-lock.js';
import { DECISIONS, decisionInputProblem, MAX_DECISION_TEXT, type DecisionInput } from './decisions.js';
import { decisionSignals, decisionUpdates, emergencySignal, releaseSignal, statusQuery } from './messages.js';
import { bookkeeping, notifications, steps, verifyingWithin } from './proxies.js';
import { RotationState, type RunRef } from './rotation-state.js';
import {
  failedStep,
  STEP,
  type CreatedRef,
  type HumanDecision,
  type NotificationEvent,
  type PrePromoteStep,
  type ReceiptRef,
  type RotationInput,
  type RotationResult,
} from './types.js';

export {
  abortSignal,
  approveSignal,
  continueSignal,
  emergencySignal,
  rejectSignal,
  retrySignal,
  revokeNowSignal,
  rollbackSignal,
  statusQuery,
} from './messages.js';

/** A one-line reason from a failure chain (ActivityFailure → ApplicationFailure → message). */
function describe(step: string, error: unknown): string {
  let cause = error as { message?: string; cause?: unknown } | undefined;
  while (cause && cause.cause && typeof cause.cause === 'object') cause = cause.cause as typeof cause;
  return `${step}: ${cause?.message ?? String(error)}`;
}

/**
 * Waits for `done` until workflow time `deadline`; starts no timer when the deadline has passed (a
 * 0 s grace). Runs that started a 0 s timer before this change replay as they ran (the patch).
 */
async function waitUntil(deadline: number, done: () => boolean): Promise<boolean> {
  const left = deadline - Date.now();
  if (left > 0 || !patched(NO_ZERO_TIMER)) return condition(done, Math.max(0, left));
  return done();
}
const NO_ZERO_TIMER = 'no-zero-grace-timer';

/** The rotation ends here, with this result (thrown by a step, caught by runRotationProtocol). */
class RotationEnds extends Error {
  constructor(readonly result: Omit<RotationResult, 'rotationId'>) {
    super(result.error ?? result.outcome);
  }
}

/** A step before promote failed (or an abort came in), and what was done is rolled back. */
class RolledBack extends Error {}

/** Answers the status query and every decision and emergency message from the rotation's state. */
function answerMessages(state: RotationState): void {
  setHandler(statusQuery, () => state.status);
  for (const d of DECISIONS) {
    // `who` may be missing when sent by hand (temporal workflow update execute without input).
    setHandler(decisionUpdates[d], (who: DecisionInput) => state.decide(d, who ?? {}, 'update'), {
      validator: (who: DecisionInput) => {
        const why = decisionInputProblem(who) ?? state.refusal(d, who);
        if (why) throw new Error(why);
      },
    });
    // Compatibility: a signal cannot be refused, so one that does not apply is dropped.
    setHandler(decisionSignals[d], async (arg?: DecisionInput | string) => {
      if (state.refusal(d, typeof arg === 'string' ? undefined : arg) || (typeof arg !== 'string' && decisionInputProblem(arg))) return;
      if (typeof arg === 'string' && arg.length > MAX_DECISION_TEXT) arg = arg.slice(0, MAX_DECISION_TEXT);
      await state.decide(d, typeof arg === 'string' ? { reason: arg } : (arg ?? {}), 'signal');
    });
  }
  setHandler(emergencySignal, (request) => state.emergency(request));
}

/**
 * One rotation run, opened in the store: a method per step of the protocol. A step that ends the
 * run throws RotationEnds with the result; everything else it learns (what was created, what each
 * dependent held, what to undo) it keeps here for the later steps.
 */
class Rotation {
  private readonly compensations: Array<{ name: string; run: () => Promise<void> }> = [];
  private created: CreatedRef | undefined;
  /** Set once a revoke-first emergency has killed the old material: from then on there is nothing to roll back to. */
  private oldRevoked = false;
  /** What each dependent held before this rotation wrote it. */
  private readonly receipts = new Map<string, ReceiptRef>();
  /** The group lock, while this rotation holds it. */
  private lock: ChildWorkflowHandle<typeof groupLock> | undefined;
  private promotedAt = '';

  private constructor(
    private readonly input: RotationInput,
    private readonly state: RotationState,
    private readonly plan: RotationPlan,
    private readonly ref: RunRef,
  ) {}

  /** Opens the run in the store and snapshots the plan; a run refused before it opened ends here. */
  static async open(input: RotationInput, state: RotationState): Promise<Rotation | RotationResult> {
    const { workflowType, workflowId, runId } = workflowInfo();
    const begun = await bookkeeping.beginRotation({ ...input, workflowType, workflowId, rotationId: runId });
    if ('refused' in begun) {
      // Refused before anything started (e.g. a decommissioned credential): recorded, nothing changed.
      state.refusedBeforeOpen();
      state.setStep('failed');
      await condition(allHandlersFinished);
      return { rotationId: runId, outcome: 'failed', error: begun.refused };
    }
    const ref = { credentialId: input.credentialId, rotationId: begun.rotationId };
    state.opened(ref);
    state.status.materials.current = begun.currentMaterialId;
    const rotation = new Rotation(input, state, begun, ref);
    if (input.trigger === 'emergency') await rotation.notify('emergency_started', `emergency rotation started: ${input.reason ?? 'no reason given'}`);
    return rotation;
  }

  /** Tells the owner, when the policy has a webhook. A notification never fails a rotation. */
  private async notify(event: NotificationEvent, text: string): Promise<void> {
    if (!this.plan.notifies) return;
    await notifications.notify({ ...this.ref, event, text }).catch(() => undefined);
  }

  /** Records the outcome, releases the group lock, tells the owner; decisions still being recorded finish first. */
  async finish(result: Omit<RotationResult, 'rotationId'>): Promise<RotationResult> {
    this.state.setStep(result.outcome);
    if (this.lock) await this.lock.signal(releaseSignal).catch(() => undefined);
    await bookkeeping.finishRotation({ ...this.ref, outcome: result.outcome, error: result.error });
    if (result.outcome === 'failed' || result.outcome === 'rolled_back') {
      await this.notify(result.outcome, `rotation ${result.outcome.replace('_', ' ')}: ${result.error ?? ''}`);
    }
    if (this.state.isEmergency()) await this.notify('emergency_finished', `emergency rotation ${result.outcome}`);
    await condition(allHandlersFinished);
    return { rotationId: this.ref.rotationId, ...result };
  }

  /** With `approval.required`: waits for approve or reject; a timeout, a rejection or an abort ends the run unchanged. */
  async awaitApproval(): Promise<void> {
    const { plan, state, input } = this;
    if (plan.approvalTimeoutMs <= 0) return;
    state.setStep(
      STEP.waitingForApproval,
      `an approve or reject decision (rotor approve|reject ${input.credentialId}); times out after ${humanDuration(plan.approvalTimeoutMs)}`,
      plan.approvalTimeoutMs,
    );
    await this.notify('awaiting_approval', `rotation waits for approval: rotor approve ${input.credentialId} or rotor reject ${input.credentialId}`);
    const answered = await condition(() => state.approval !== undefined || state.abortReason !== undefined || state.emergencyAt !== undefined, plan.approvalTimeoutMs);
    if (!answered) throw new RotationEnds({ outcome: 'aborted', error: 'approval timed out; nothing was changed' });
    if (state.abortReason) throw new RotationEnds({ outcome: 'aborted', error: `${state.abortReason}; nothing was changed` });
    // An emergency sent in while the rotation waited: emergencies never wait for approval (the upgrade is audited).
    const { approval } = state;
    if (approval && !approval.approved) {
      throw new RotationEnds({
        outcome: 'aborted',
        error: `rejected${approval.by ? ` by ${approval.by}` : ''}${approval.reason ? `: ${approval.reason}` : ''}; nothing was changed`,
      });
    }
  }

  /**
   * Credentials of one group never rotate at once: takes the group's lock, looking again with
   * backoff (30s doubling to 15m) while another holds it. Emergencies do not wait for the lock.
   */
  async takeGroupLock(): Promise<void> {
    const { group } = this.plan;
    if (!group || this.state.isEmergency()) return;
    for (let wait = 30_000; ; wait = Math.min(wait * 2, 15 * 60_000)) {
      try {
        this.lock = await startChild(groupLock, { workflowId: `group-lock/${group}`, parentClosePolicy: ParentClosePolicy.TERMINATE });
        return;
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        this.state.setStep(STEP.waitingForGroupLock, `another rotation of group ${group} to finish`, wait);
        // An emergency sent in meanwhile does not wait for the lock.
        if (await condition(() => this.state.emergencyAt !== undefined, wait)) return;
      }
    }
  }

  /** A missing permission or a full key slot fails here, before anything changes. */
  async preflight(): Promise<void> {
    this.state.setStep(STEP.preflight);
    try {
      await steps.preflight(this.ref);
    } catch (error) {
      throw new RotationEnds({ outcome: 'failed', error: describe('pre-flight', error) });
    }
  }

  /** 1. Creates new material (staged as pending in the primary store). */
  async create(): Promise<void> {
    this.created = await steps.createMaterial(this.ref);
    this.state.status.materials = { pending: this.created.materialId, current: this.created.previousMaterialId, previous: null };
    // Where creating revoked the old material, there is nothing to roll back to: keep the new.
    if (this.plan.createRevokesOld) this.oldRevoked = true;
    else this.compensations.push({ name: 'discard', run: () => bookkeeping.discardMaterial(this.ref) });
  }

  /** 2. The new material works against its own system, retried within the policy's window. */
  async verify(): Promise<void> {
    await verifyingWithin(this.plan.verifyTimeoutMs).verifyMaterial(this.ref);
  }

  /** Revoke-first emergencies (confirmed compromise) revoke the old material before propagating. */
  async revokeCompromised(): Promise<void> {
    const old = this.created?.previousMaterialId;
    if (!this.plan.revokeFirst || !old) return;
    await this.revokeMaterial('current', old);
    this.oldRevoked = true;
  }

  /** 3. Writes the new material to every dependent in parallel, keeping a receipt of what each held. */
  async propagate(): Promise<void> {
    const results = await Promise.allSettled(
      this.plan.dependents.map(async (dependent) => {
        const receipt: ReceiptRef = await steps.propagateToDependent({ ...this.ref, dependent });
        this.receipts.set(dependent, receipt);
        this.compensations.push({ name: `restore ${dependent}`, run: () => bookkeeping.restoreDependent({ ...this.ref, dependent, receipt }) });
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** 4. Every dependent serves the new material; the policy's health checks answer. */
  async checkDependents(): Promise<void> {
    const { plan, ref } = this;
    await Promise.all(plan.dependents.map((dependent) => steps.checkDependent({ ...ref, dependent, receipt: this.receipts.get(dependent) })));
    await Promise.all(plan.healthChecks.map((check) => steps.runHealthCheck({ ...ref, check })));
  }

  /**
   * Runs steps 1–4 in order. A failure rolls back (`rollback: auto`) or waits for a human's retry,
   * rollback or continue (`rollback: manual`); an abort rolls back. Ends the run unless all succeed.
   */
  async beforePromote(prePromote: Array<[PrePromoteStep, () => Promise<void>]>): Promise<void> {
    const { state } = this;
    try {
      for (let i = 0; i < prePromote.length; ) {
        const [name, run] = prePromote[i]!;
        if (state.abortReason) throw new RolledBack(state.abortReason);
        state.setStep(name);
        try {
          await run();
          i++;
        } catch (error) {
          if (isCancellation(error) || error instanceof RolledBack) throw error;
          state.status.lastError = describe(name, error);
          const choice = this.plan.rollback === 'auto' ? 'rollback' : await this.askHuman(name);
          if (choice === 'retry') continue;
          if (choice === 'continue') {
            i++;
            continue;
          }
          throw new RolledBack(state.status.lastError);
        }
      }
    } catch (error) {
      await this.undo(error);
    }
  }

  /** Under `rollback: manual`, a failed step waits for a human: retry, rollback or continue. */
  private async askHuman(step: PrePromoteStep): Promise<HumanDecision> {
    const { state, input } = this;
    state.failureDecision = undefined;
    state.setStep(failedStep(step), `a human decision: retry, rollback or continue (rotor retry|rollback|continue ${input.credentialId})`);
    await this.notify('awaiting_decision', `step "${step}" failed (${state.status.lastError}); decide with rotor retry|rollback|continue ${input.credentialId}`);
    await condition(() => state.failureDecision !== undefined || state.abortReason !== undefined);
    return state.abortReason ? 'rollback' : state.failureDecision!;
  }

  /** After a failure before promote: rolls back what was done (cancellation too), then ends the run. */
  private async undo(error: unknown): Promise<never> {
    const { state, input } = this;
    const reason = error instanceof RolledBack ? error.message : isCancellation(error) ? 'cancelled' : describe(state.status.step, error);
    if (this.oldRevoked) {
      // Rolling back would hand dependents the revoked material: keep the new one and call for help.
      throw new RotationEnds({
        outcome: 'failed',
        newMaterialId: this.created?.materialId,
        error: `${reason}; the old material is already revoked, so the new material was kept (pending in the primary store): fix the cause and rotate again`,
      });
    }
    try {
      state.setStep(STEP.rollingBack);
      // Rollback must finish even when the workflow is being cancelled.
      await CancellationScope.nonCancellable(async () => {
        for (const compensation of [...this.compensations].reverse()) await compensation.run();
      });
    } catch (rollbackError) {
      throw new RotationEnds({ outcome: 'failed', error: `${reason}; rollback incomplete: ${describe('rollback', rollbackError)}` });
    }
    if (isCancellation(error)) throw error;
    if (state.abortReason && !state.status.lastError) throw new RotationEnds({ outcome: 'aborted', error: reason });
    throw new RotationEnds({
      outcome: 'rolled_back',
      error: `${reason}; rolled back, the previous credential still serves. Next: fix the cause, then rotate ${input.credentialId} again`,
    });
  }

  /** 5. pending → current, current → previous. */
  async promote(): Promise<void> {
    this.state.setStep(STEP.promoting);
    ({ promotedAt: this.promotedAt } = await steps.promoteMaterial(this.ref));
    const oldId = this.created?.previousMaterialId ?? null;
    // From here the new material is current; the old one is previous until it is revoked.
    this.state.status.materials = {
      pending: null,
      current: this.created?.materialId ?? null,
      previous: this.plan.strategy === 'dual' && !this.oldRevoked ? oldId : null,
    };
  }

  /** The old material, when it is left valid after promote and this run revokes it (dual, not revoked first). */
  private get oldToRevoke(): string | null {
    const oldId = this.created?.previousMaterialId ?? null;
    return oldId && !this.plan.revokeFirst && this.plan.strategy === 'dual' ? oldId : null;
  }

  private abortedAfterPromote(): RotationEnds {
    return new RotationEnds({
      outcome: 'aborted',
      newMaterialId: this.created?.materialId,
      oldMaterialId: this.oldToRevoke,
      error: `${this.state.abortReason}; old material left valid`,
    });
  }

  /**
   * 6. Waits out the grace; an emergency signal shortens it to the policy's emergency grace,
   * revoke-now ends it, an abort ends the run and leaves the old material valid.
   */
  async grace(): Promise<void> {
    const { plan, state, input } = this;
    if (!this.oldToRevoke) return;
    const started = Date.now();
    const graceText = (ms: number) => `the old material's grace (${humanDuration(ms)} in all; rotor revoke-now ${input.credentialId} ends it now)`;
    const deadline = started + (state.emergencyAt !== undefined ? Math.min(plan.graceMs, plan.emergencyGraceMs) : plan.graceMs);
    state.setStep(STEP.grace, graceText(deadline - started), Math.max(0, deadline - Date.now()));
    const stop = () => state.revokeNowAsked || state.abortReason !== undefined;
    await waitUntil(deadline, () => stop() || state.emergencyAt !== undefined);
    if (!stop() && state.emergencyAt !== undefined) {
      const emergencyDeadline = Math.min(deadline, state.emergencyAt + plan.emergencyGraceMs);
      if (emergencyDeadline > Date.now()) {
        state.setStep(STEP.grace, `${graceText(emergencyDeadline - started)}, shortened by an emergency`, emergencyDeadline - Date.now());
        await condition(stop, emergencyDeadline - Date.now());
      }
    }
    if (state.abortReason) throw this.abortedAfterPromote();
  }

  /**
   * Drain detection: revoke only once the old material is no longer used. Still used after
   * `maxWait`: wait for a human (revokeNow forces, abort keeps it). Never revokes silently.
   * Each check asks "used since the previous check?" (first: since promotion).
   */
  async drain(): Promise<void> {
    const { plan, state, input } = this;
    const oldId = this.oldToRevoke;
    const upgraded = state.isEmergency() && input.trigger !== 'emergency';
    const drain = upgraded ? plan.drainWhenUpgraded : plan.drain;
    if (!oldId || !drain) return;
    let since = this.promotedAt;
    const deadline = Date.now() + drain.maxWaitMs;
    let told = false;
    for (;;) {
      if (state.revokeNowAsked) return;
      if (state.abortReason) throw this.abortedAfterPromote();
      const usage = await steps.checkDrained({ ...this.ref, materialId: oldId, since });
      if (!usage.inUse) return;
      since = usage.checkedAt;
      if (!told) {
        told = true;
        await this.notify('old_still_in_use', `old material is still in use (${usage.detail}); revoke waits until it drains`);
      }
      if (Date.now() >= deadline) {
        state.setStep(STEP.stillInUse, `a human: ${usage.detail}; rotor revoke-now ${input.credentialId} revokes it anyway, rotor abort ${input.credentialId} keeps it`);
        await condition(() => state.revokeNowAsked || state.abortReason !== undefined);
        if (state.abortReason) throw this.abortedAfterPromote();
        return;
      }
      const next = Math.min(drain.checkEveryMs, Math.max(1, deadline - Date.now()));
      state.setStep(
        STEP.draining,
        `the old material to drain: ${usage.detail}; checked again in ${humanDuration(next)}, a human is asked after ${humanDuration(drain.maxWaitMs)}`,
        next,
      );
      await condition(() => state.revokeNowAsked || state.abortReason !== undefined, next);
    }
  }

  /** 7. Revokes the old material left valid after promote. */
  async revokeOld(): Promise<void> {
    const oldId = this.oldToRevoke;
    if (oldId) await this.revokeMaterial('previous', oldId);
  }

  /** Disable first where the system can (then wait the delete delay, unless an emergency), then revoke. */
  private async revokeMaterial(which: 'current' | 'previous', oldId: string): Promise<void> {
    const { plan, state, input, ref } = this;
    if (plan.canDisable) {
      state.setStep(STEP.disabling);
      await steps.disableOldMaterial({ ...ref, which, materialId: oldId });
      if (plan.deleteAfterMs > 0 && !state.isEmergency()) {
        state.setStep(STEP.waitingBeforeDelete, `the disabled old material's delete delay (rotor revoke-now ${input.credentialId} deletes it now)`, plan.deleteAfterMs);
        await condition(() => state.revokeNowAsked || state.emergencyAt !== undefined, plan.deleteAfterMs);
      }
    }
    state.setStep(STEP.revoking);
    await steps.revokeOldMaterial({ ...ref, which, materialId: oldId });
    if (which === 'previous') state.status.materials.previous = null;
  }

  succeeded(): Omit<RotationResult, 'rotationId'> {
    return { outcome: 'succeeded', newMaterialId: this.created?.materialId, oldMaterialId: this.created?.previousMaterialId ?? null };
  }
}

export async function runRotationProtocol(input: RotationInput): Promise<RotationResult> {
  const state = new RotationState(input);
  answerMessages(state);
  const rotation = await Rotation.open(input, state);
  if (!(rotation instanceof Rotation)) return rotation;
  try {
    await rotation.awaitApproval();
    await rotation.takeGroupLock();
    await rotation.preflight();
    await rotation.beforePromote([
      [STEP.creating, () => rotation.create()],
      [STEP.verifying, () => rotation.verify()],
      [STEP.revokingCompromised, () => rotation.revokeCompromised()],
      [STEP.propagating, () => rotation.propagate()],
      [STEP.checkingDependents, () => rotation.checkDependents()],
    ]);
    await rotation.promote();
    await rotation.grace();
    await rotation.drain();
    await rotation.revokeOld();
  } catch (error) {
    if (error instanceof RotationEnds) return rotation.finish(error.result);
    throw error;
  }
  return rotation.finish(rotation.succeeded());
}
