/**
 * What a running rotation knows that messages can change: its status (the answer of the status
 * query) and the decisions humans sent. One method per decision, called by that decision's Update
 * or signal handler (workflows/protocol.ts sets them); the protocol only reads the fields. The
 * shape of Temporal's safe-message-handlers sample (its ClusterManager). Workflow code only.
 */
import { condition, patched, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import { decisionEffect, decisionRefusal, requesterRefusal, type Decision, type DecisionInput, type DecisionOutcome } from './decisions.js';
import { bookkeeping } from './proxies.js';
import { ROTOR_TRIGGER } from './search-attributes.js';
import { STEP, type HumanDecision, type RotationInput, type RotationStatus, type RotationStep } from './types.js';

/** The run as the store knows it: what decisions and upgrades are recorded against. */
export interface RunRef {
  credentialId: string;
  rotationId: string;
}

/** Puts the latest accepted decision, who made it and why, in the workflow's memo. */
function recordDeciderInMemo(decision: Decision, who: DecisionInput, step: RotationStep): void {
  // Patched: runs that accepted a decision before this release replay without the memo command.
  if (patched('decider-memo')) upsertMemo({ lastDecision: { decision, by: who.by ?? null, reason: who.reason ?? null, step } });
}

export class RotationState {
  readonly status: RotationStatus;
  /** The answer to a failed step under `rollback: manual`. */
  failureDecision: HumanDecision | undefined;
  approval: { approved: boolean; by?: string; reason?: string } | undefined;
  revokeNowAsked = false;
  abortReason: string | undefined;
  /** Workflow time at which an emergency was signalled, if one was. */
  emergencyAt: number | undefined;
  /** Set once the run is open in the store. */
  private run: RunRef | undefined;
  /** The run was refused before it opened: there is nothing to record against. */
  private refused = false;

  constructor(private readonly input: RotationInput) {
    this.status = {
      step: STEP.planning,
      since: new Date().toISOString(),
      trigger: input.trigger,
      materials: { pending: null, current: null, previous: null },
    };
  }

  /** The step the status query reports, what it waits for and until when. */
  setStep(step: RotationStep, waitingFor?: string, waitMs?: number): void {
    this.status.step = step;
    this.status.since = new Date().toISOString();
    this.status.waitingFor = waitingFor;
    this.status.until = waitMs !== undefined ? new Date(Date.now() + waitMs).toISOString() : undefined;
  }

  /** An emergency run, or one upgraded to an emergency while it runs: emergencies never wait. */
  isEmergency(): boolean {
    return this.input.trigger === 'emergency' || this.emergencyAt !== undefined;
  }

  /** The run is open in the store: decisions waiting for it are recorded now. */
  opened(run: RunRef): void {
    this.run = run;
  }

  /** The run was refused before it opened: decisions waiting for it are not recorded. */
  refusedBeforeOpen(): void {
    this.refused = true;
  }

  /** Whether `d` applies now, from `who`; undefined when it does. */
  refusal(d: Decision, who?: DecisionInput): string | undefined {
    return requesterRefusal(d, this.input.requestedBy, who) ?? decisionRefusal(d, {
      step: this.status.step,
      aborting: this.abortReason !== undefined,
      pending:
        d === 'approve' || d === 'reject'
          ? this.approval !== undefined
          : d === 'revokeNow'
            ? this.revokeNowAsked
            : d === 'abort'
              ? false
              : this.failureDecision !== undefined,
    });
  }

  /** Acts on an accepted decision and records it, with who and why, in the audit log. */
  async decide(d: Decision, who: DecisionInput = {}, via: 'update' | 'signal'): Promise<DecisionOutcome> {
    const step = this.status.step;
    const effect = decisionEffect(d, step);
    this[d](who);
    recordDeciderInMemo(d, who, step);
    const run = await this.recordable();
    if (run) await bookkeeping.recordDecision({ ...run, step, decision: d, by: who.by, reason: who.reason, via });
    return { decision: d, step, effect };
  }

  approve(who: DecisionInput): void {
    this.approval = { approved: true, by: who.by, reason: who.reason };
  }

  reject(who: DecisionInput): void {
    this.approval = { approved: false, by: who.by, reason: who.reason };
  }

  retry(): void {
    this.failureDecision = 'retry';
  }

  rollback(): void {
    this.failureDecision = 'rollback';
  }

  continue(): void {
    this.failureDecision = 'continue';
  }

  revokeNow(): void {
    this.revokeNowAsked = true;
  }

  abort(who: DecisionInput): void {
    this.abortReason = who.reason ? `aborted: ${who.reason}` : 'aborted by an operator';
  }

  /** A leak reported while this rotation runs: it finishes as an emergency (recorded as an upgrade). */
  async emergency(request?: { reason?: string }): Promise<void> {
    if (this.isEmergency()) return;
    this.emergencyAt = Date.now();
    this.status.upgradedFrom = this.input.trigger;
    this.status.trigger = 'emergency';
    upsertSearchAttributes([{ key: ROTOR_TRIGGER, value: 'emergency' }]);
    const step = this.status.step;
    const run = await this.recordable();
    if (run) await bookkeeping.recordUpgrade({ ...run, from: this.input.trigger, reason: request?.reason, step });
  }

  /** Waits until the run is open (or refused): a message that arrives while it plans is recorded once it is. */
  private async recordable(): Promise<RunRef | undefined> {
    await condition(() => this.run !== undefined || this.refused);
    return this.run;
  }
}
