/**
 * Every message a Rotor workflow answers, defined once: the rotation's status query, its decision
 * Updates (and their compatibility signals), the emergency upgrade signal, and the group lock's
 * release. Clients (daemon/, cli/), the workflows and the tests import them from here. The rules of
 * each decision (when it applies, what it does) live in decisions.ts.
 */
import type { SignalDefinition, UpdateDefinition } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { DECISIONS, type Decision, type DecisionInput, type DecisionOutcome } from './decisions.js';
import type { RotationStatus } from './types.js';

/** What a rotation is doing, since when, and what it waits for. */
export const statusQuery = defineQuery<RotationStatus>('status');

/** A leak was reported while this rotation runs: finish it as an emergency (emergency grace). */
export const emergencySignal = defineSignal<[{ reason?: string }]>('emergency');

/** One Update per human decision: its validator refuses, with a reason, a decision that does not apply. */
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

/** Ends the group lock's holder (workflows/group-lock.ts): the rotation holding it is done. */
export const releaseSignal = defineSignal('release');
