/**
 * Shapes that cross the workflow/activity boundary. They hold references only (credential ids,
 * material ids, version ids, step names): never a secret value, because all of it is recorded in
 * Temporal history.
 */

export type Trigger = 'scheduled' | 'manual' | 'emergency';

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

/** What the workflow needs from the policy, snapshotted at the start of the run. */
export interface RotationPlan {
  rotationId: string;
  credentialType: string;
  strategy: 'dual' | 'single';
  dependents: string[];
  healthChecks: string[];
  graceMs: number;
  /** Grace when an emergency is signalled during a rotation already running. */
  emergencyGraceMs: number;
  deleteAfterMs: number;
  verifyTimeoutMs: number;
  rollback: 'auto' | 'manual';
  revokeFirst: boolean;
  /** The source has a reversible disable step before revoke. */
  canDisable: boolean;
  /** Creating kills the old material (GitLab rotate): after create there is nothing to roll back to. */
  createRevokesOld: boolean;
  /** Wait for an approve/reject signal this long before changing anything; 0 when not required. */
  approvalTimeoutMs: number;
  /** The policy names a notification webhook. */
  notifies: boolean;
  /** Drain detection before revoke: 0 interval means off. */
  drain: { checkEveryMs: number; maxWaitMs: number } | null;
  /** Rotations of this group hold a lock so they never overlap. */
  group: string | null;
  /** The material the inventory holds as current when the run starts. */
  currentMaterialId: string | null;
  /** `emergency.requireDrained`: an emergency sent into this run still waits for drain. */
  emergencyRequiresDrain: boolean;
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

/** Names the version a dependent held before a write (mirrors providers/contracts Receipt). */
export interface ReceiptRef {
  version: string;
  previousVersion: string | null;
}

export interface CreatedRef {
  materialId: string;
  previousMaterialId: string | null;
}

export type Outcome = 'succeeded' | 'rolled_back' | 'failed' | 'aborted';

export interface RotationResult {
  rotationId: string;
  outcome: Outcome;
  newMaterialId?: string;
  oldMaterialId?: string | null;
  /** The step that failed and why (no secret values: providers never put them in errors). */
  error?: string;
}

/** The protocol's steps before promote: any of them may fail and be rolled back. */
export const PRE_PROMOTE_STEPS = [
  'creating new material',
  'verifying new material',
  'revoking compromised material',
  'propagating to dependents',
  'checking dependents',
] as const;
export type PrePromoteStep = (typeof PRE_PROMOTE_STEPS)[number];

/** Every step a rotation reports (status query, `rotor status`, tests): one vocabulary. */
export type RotationStep =
  | 'planning'
  | 'waiting for approval'
  | 'waiting for group lock'
  | 'pre-flight'
  | PrePromoteStep
  | `failed: ${PrePromoteStep}`
  | 'rolling back'
  | 'promoting new material'
  | 'grace period'
  | 'waiting for old material to drain'
  | 'old material still in use'
  | 'disabling old material'
  | 'waiting before delete'
  | 'revoking old material'
  | Outcome;

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
