/**
 * Human decisions on a running rotation. Each is a Workflow Update with a validator, so the caller
 * learns at once whether it applies to the current step (`rotor approve …` prints the outcome); a
 * refused decision changes nothing and is not recorded in history. The same names also exist as
 * signals, kept only for compatibility with scripts that used `temporal workflow signal`: a signal
 * that does not apply is dropped (it cannot answer).
 */
import type { SignalDefinition, UpdateDefinition } from '@temporalio/common';
import { defineSignal, defineUpdate, patched, upsertMemo } from '@temporalio/workflow';
import type { RotationStep } from './types.js';

export const DECISIONS = ['approve', 'reject', 'retry', 'rollback', 'continue', 'revokeNow', 'abort'] as const;
export type Decision = (typeof DECISIONS)[number];

/** Who decided and why; both end up in the audit log. */
export interface DecisionInput {
  by?: string;
  reason?: string;
}

/** What an accepted decision does, in words for the operator. */
export interface DecisionOutcome {
  decision: Decision;
  /** The step the rotation was at when the decision was accepted. */
  step: RotationStep;
  effect: string;
}

export const decisionUpdates = Object.fromEntries(DECISIONS.map((d) => [d, defineUpdate<DecisionOutcome, [DecisionInput]>(d)])) as Record<
  Decision,
  UpdateDefinition<DecisionOutcome, [DecisionInput]>
>;

/** Compatibility signals (`abort` took the reason as a bare string, `approve`/`reject` an object). */
export const revokeNowSignal = defineSignal('revokeNow');
export const retrySignal = defineSignal('retry');
export const rollbackSignal = defineSignal('rollback');
export const continueSignal = defineSignal('continue');
export const abortSignal = defineSignal<[reason?: string]>('abort');
export const approveSignal = defineSignal<[DecisionInput?]>('approve');
export const rejectSignal = defineSignal<[DecisionInput?]>('reject');
export const decisionSignals: Record<Decision, SignalDefinition<[DecisionInput?]> | SignalDefinition<[string?]> | SignalDefinition<[]>> = {
  approve: approveSignal,
  reject: rejectSignal,
  retry: retrySignal,
  rollback: rollbackSignal,
  continue: continueSignal,
  revokeNow: revokeNowSignal,
  abort: abortSignal,
};

/** Steps where the old material waits to be revoked: revokeNow ends the wait. */
const REVOCABLE: readonly RotationStep[] = ['grace period', 'waiting before delete', 'waiting for old material to drain', 'old material still in use'];
/** Steps an abort cannot stop half-way (an irreversible call in flight, or already over). */
const UNABORTABLE: readonly RotationStep[] = [
  'rolling back',
  'disabling old material',
  'revoking old material',
  'revoking compromised material',
  'succeeded',
  'rolled_back',
  'failed',
  'aborted',
];

/** What the protocol tells the validator beyond its step. */
export interface DecisionContext {
  step: RotationStep;
  /** A decision for this wait was already accepted and is being acted on. */
  pending: boolean;
  aborting: boolean;
}

/** Longest `by` or `reason` accepted: they are kept in history and the audit log. */
export const MAX_DECISION_TEXT = 500;

/** What is wrong with a decision's input (it comes from any client), or undefined. */
export function decisionInputProblem(input: unknown): string | undefined {
  if (input === undefined || input === null) return undefined;
  if (typeof input !== 'object' || Array.isArray(input)) return 'a decision takes an object { by?, reason? }';
  for (const [key, value] of Object.entries(input)) {
    if (key !== 'by' && key !== 'reason') return `unknown field "${key}": a decision takes { by?, reason? }`;
    if (typeof value !== 'string') return `${key} must be text`;
    if (value.length > MAX_DECISION_TEXT) return `${key} is longer than ${MAX_DECISION_TEXT} characters`;
  }
  return undefined;
}

/**
 * Why this decider may not make `decision`: nobody approves or rejects a rotation they requested
 * (`requestedBy` is the run's input; `by` the decider's actor id). Checked in the Update validator,
 * so a raw Temporal client cannot bypass the daemon's own check.
 */
export function requesterRefusal(decision: Decision, requestedBy: string | undefined, who: DecisionInput | undefined): string | undefined {
  if (decision !== 'approve' && decision !== 'reject') return undefined;
  if (!requestedBy || !who?.by || who.by !== requestedBy) return undefined;
  return `${who.by} requested this rotation and cannot ${decision} it: a second person must`;
}

/** Puts the latest accepted decision, who made it and why, in the workflow's memo (workflow code only). */
export function recordDeciderInMemo(decision: Decision, who: DecisionInput, step: RotationStep): void {
  // Patched: runs that accepted a decision before this release replay without the memo command.
  if (patched('decider-memo')) upsertMemo({ lastDecision: { decision, by: who.by ?? null, reason: who.reason ?? null, step } });
}

/** Why `decision` does not apply now, or undefined when it does. */
export function decisionRefusal(decision: Decision, c: DecisionContext): string | undefined {
  const now = `the rotation is at "${c.step}"`;
  switch (decision) {
    case 'approve':
    case 'reject':
      if (c.step !== 'waiting for approval') return `${decision} applies only while a rotation waits for approval; ${now}`;
      return c.pending ? 'a decision on the approval was already accepted' : undefined;
    case 'retry':
    case 'rollback':
    case 'continue':
      if (!c.step.startsWith('failed: ')) {
        return `${decision} applies only after a step failed under rollback: manual; ${now}`;
      }
      return c.pending ? `a decision on "${c.step}" was already accepted` : undefined;
    case 'revokeNow':
      if (!REVOCABLE.includes(c.step)) return `revoke-now applies only while the old material waits to be revoked (grace, drain); ${now}`;
      return c.pending ? 'revoke-now was already accepted' : undefined;
    case 'abort':
      if (c.aborting) return 'the rotation is already aborting';
      if (UNABORTABLE.includes(c.step)) return `abort cannot stop the rotation now: ${now}`;
      return undefined;
  }
}

/** What an accepted decision will do, said back to the operator. */
export function decisionEffect(decision: Decision, step: RotationStep): string {
  const promoted = ['grace period', 'waiting before delete', 'waiting for old material to drain', 'old material still in use', 'promoting new material'].includes(step);
  const untouched = ['planning', 'waiting for approval', 'waiting for group lock', 'pre-flight'].includes(step);
  switch (decision) {
    case 'approve':
      return 'approved: the rotation goes ahead';
    case 'reject':
      return 'rejected: the rotation ends, nothing was changed';
    case 'retry':
      return `the failed step "${step.replace('failed: ', '')}" runs again`;
    case 'rollback':
      return 'rolling back: dependents get their previous material back, the new material is discarded';
    case 'continue':
      return `the failure of "${step.replace('failed: ', '')}" is accepted; the rotation goes on`;
    case 'revokeNow':
      return 'the old material is revoked now, without waiting further';
    case 'abort':
      if (untouched) return 'aborting: the rotation ends, nothing was changed';
      return promoted ? 'aborting: the rotation ends and leaves the old material valid' : 'aborting: what was done is rolled back';
  }
}
