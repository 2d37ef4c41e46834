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

/** Answer of the `status` query: what the rotation is doing, since when, and what it waits for. */
export interface RotationStatus {
  step: string;
  since: string;
  waitingFor?: string;
  lastError?: string;
}

export type HumanDecision = 'retry' | 'rollback' | 'continue';
