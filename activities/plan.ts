/**
 * The rotation plan: what the workflow needs from the policy and the credential source, snapshotted
 * when the run opens (policies can be reloaded while it runs). This file owns it, its shape and
 * every field's computation; the workflow only reads it. References and durations only: the plan is
 * recorded in Temporal history.
 */
import type { Policy } from '../config/policy.js';
import { durationMs } from '../config/duration.js';
import type { CredentialProvider, Strategy } from '../providers/contracts.js';
import type { CredentialRow } from '../store/index.js';
import type { RotationInput } from '../workflows/types.js';

/** Drain detection before revoke: how often to ask, and how long before a human is asked. */
export interface DrainPlan {
  checkEveryMs: number;
  maxWaitMs: number;
}

export interface RotationPlan {
  rotationId: string;
  credentialType: string;
  strategy: Strategy;
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
  /** Wait for an approve/reject decision this long before changing anything; 0 when not required. */
  approvalTimeoutMs: number;
  /** The policy names a notification webhook. */
  notifies: boolean;
  /** Drain detection before revoke; null when off. */
  drain: DrainPlan | null;
  /** Drain detection when an emergency is sent into this run (`emergency.requireDrained`); null when off. */
  drainWhenUpgraded: DrainPlan | null;
  /** Rotations of this group hold a lock so they never overlap. */
  group: string | null;
  /** The material the inventory holds as current when the run starts. */
  currentMaterialId: string | null;
}

export function rotationPlan(
  input: RotationInput & { rotationId: string },
  policy: Policy,
  provider: Pick<CredentialProvider, 'source'>,
  currentMaterialId: string | null,
): RotationPlan {
  const emergency = input.trigger === 'emergency';
  const { source } = provider;
  const drainEvery: DrainPlan = { checkEveryMs: durationMs(policy.revoke.drainCheckEvery), maxWaitMs: durationMs(policy.revoke.maxWait) };
  const drain = source.inUse && (emergency ? policy.emergency.requireDrained : policy.revoke.requireDrained) ? drainEvery : null;
  return {
    rotationId: input.rotationId,
    credentialType: policy.credential.type,
    strategy: policy.strategy,
    dependents: policy.dependents.map((d) => d.name),
    healthChecks: policy.healthChecks.map((c) => c.name),
    graceMs: durationMs(emergency ? policy.emergency.grace : policy.revoke.after),
    emergencyGraceMs: durationMs(policy.emergency.grace),
    deleteAfterMs: emergency ? 0 : durationMs(policy.revoke.deleteAfter),
    verifyTimeoutMs: durationMs(policy.verify.timeout),
    rollback: policy.rollback,
    revokeFirst: emergency && (input.revokeFirst ?? policy.emergency.revokeFirst),
    canDisable: source.disable !== undefined,
    createRevokesOld: source.createRevokesOld === true,
    approvalTimeoutMs: policy.approval.required && !emergency ? durationMs(policy.approval.timeout) : 0,
    notifies: policy.notify !== undefined,
    drain,
    // An upgraded run was planned as non-emergency: it drains as planned only when the emergency asks for it too.
    drainWhenUpgraded: source.inUse !== undefined && policy.emergency.requireDrained ? drain : null,
    group: policy.group ?? null,
    currentMaterialId,
  };
}

/** Why a credential must not be rotated at all, or undefined. Checked by every caller and again by the workflow. */
export function rotationRefusal(credentialId: string, inventory: Pick<CredentialRow, 'status'> | undefined): string | undefined {
  if (inventory?.status !== 'retired') return undefined;
  return (
    `${credentialId} is retired (decommissioned, or its policy was removed): it is not rotated any more, nothing was started. ` +
    `Remove its policy file; to manage the identity again, give it a policy with a new id`
  );
}
