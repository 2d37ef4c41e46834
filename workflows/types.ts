/**
 * Shapes that cross the workflow/activity boundary. They hold references only (credential ids,
 * material ids, version ids, step names): never a secret value, because all of it is recorded in
 * Temporal history.
 */

import type { Receipt } from '../providers/contracts.js';
import type { Outcome as RunOutcome, Trigger } from '../store/index.js';

/** Declared once, with the runs the store records (type imports only: nothing of either enters the bundle). */
export type { Trigger };

export interface RotationInput {
  credentialId: string;
  trigger: Trigger;
  /** Why, for manual and emergency rotations; recorded in the audit log. */
  reason?: string;
  /** Who asked (daemon/auth/actor.ts actorId, e.g. `oidc:<sub>`): they may not approve or reject it. */
  requestedBy?: string;
  /** Confirmed compromise: revoke the old material before propagating (documented downtime). */
  revokeFirst?: boolean;
}

/** Events worth a message to the owner (never with secret values). */
export type NotificationEvent =
  | 'failed'
  | 'rolled_back'
  | 'emergency_started'
  | 'emergency_finished'
  | 'awaiting_approval'
  | 'awaiting_decision'
  | 'old_still_in_use';

/** A dependent's receipt crosses the boundary as it is: it holds version ids only. */
export type ReceiptRef = Receipt;

export interface CreatedRef {
  materialId: string;
  previousMaterialId: string | null;
}

/** How a finished rotation ended: the store's run outcomes but `running`. */
export type Outcome = Exclude<RunOutcome, 'running'>;

export interface RotationResult {
  rotationId: string;
  outcome: Outcome;
  newMaterialId?: string;
  oldMaterialId?: string | null;
  /** The step that failed and why (no secret values: providers never put them in errors). */
  error?: string;
}

/**
 * Every step a rotation reports, by name: the one vocabulary of the status query (`status.step`),
 * the step recorded with each decision in the audit log, `rotor status` and the tests. Code names a
 * step through this table, never by its text.
 */
export const STEP = {
  planning: 'planning',
  waitingForApproval: 'waiting for approval',
  waitingForGroupLock: 'waiting for group lock',
  preflight: 'pre-flight',
  creating: 'creating new material',
  verifying: 'verifying new material',
  revokingCompromised: 'revoking compromised material',
  propagating: 'propagating to dependents',
  checkingDependents: 'checking dependents',
  rollingBack: 'rolling back',
  promoting: 'promoting new material',
  grace: 'grace period',
  draining: 'waiting for old material to drain',
  stillInUse: 'old material still in use',
  disabling: 'disabling old material',
  waitingBeforeDelete: 'waiting before delete',
  revoking: 'revoking old material',
} as const;

/** The protocol's steps before promote: any of them may fail and be rolled back. */
export const PRE_PROMOTE_STEPS = [STEP.creating, STEP.verifying, STEP.revokingCompromised, STEP.propagating, STEP.checkingDependents] as const;
export type PrePromoteStep = (typeof PRE_PROMOTE_STEPS)[number];

/** A pre-promote step that failed under `rollback: manual`: the rotation waits for a human. */
export type FailedStep = `failed: ${PrePromoteStep}`;
export const failedStep = (step: PrePromoteStep): FailedStep => `failed: ${step}`;

export const OUTCOMES: readonly Outcome[] = ['succeeded', 'rolled_back', 'failed', 'aborted'];
/** A rotation's last step is its outcome. */
export const isOutcome = (step: string): step is Outcome => (OUTCOMES as readonly string[]).includes(step);

/** Every step a rotation reports (status query, `rotor status`, audit, tests): one typed vocabulary. */
export type RotationStep = (typeof STEP)[keyof typeof STEP] | FailedStep | Outcome;

/** Which material id is in which stage of the primary store, as this rotation knows it. */
export interface MaterialStages {
  pending: string | null;
  current: string | null;
  previous: string | null;
}

/** Answer of the `status` query: what the rotation is doing, since when, and what it waits for. */
export interface RotationStatus {
  step: RotationStep;
  since: string;
  /** What the step waits for, in words that follow "waiting for" (no raw milliseconds). */
  waitingFor?: string;
  /** When the wait ends by itself (ISO time), if it does. */
  until?: string;
  lastError?: string;
  /** The run's trigger; `upgradedFrom` when an emergency was sent into a running rotation. */
  trigger: Trigger;
  upgradedFrom?: Trigger;
  materials: MaterialStages;
}

export type HumanDecision = 'retry' | 'rollback' | 'continue';
