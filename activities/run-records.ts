/**
 * The activities that keep the run's record: open it (and snapshot the plan), record human
 * decisions and emergency upgrades, close it with its outcome. Each writes the store and the
 * audit log; none touches a provider.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Outcome, RotationInput, RotationStep } from '../workflows/types.js';
import { rotationPlan, rotationRefusal, type RotationPlan } from './plan.js';
import { policyOf, type ActivityDeps, type Ref } from './step.js';

/** What a decision records: the step it was taken at, by whom, why, and how it was sent. */
type DecisionRecord = Ref & { step: RotationStep; decision: string; by?: string; reason?: string; via?: 'update' | 'signal' };

export function runRecordActivities(deps: ActivityDeps) {
  const { store } = deps;
  return {
    /** Opens the run in the store and snapshots what the workflow needs from the policy. */
    async beginRotation(input: RotationInput & { rotationId: string; workflowType: string; workflowId: string }): Promise<RotationPlan | { refused: string }> {
      const policy = policyOf(deps, input.credentialId);
      const provider = deps.providers.credential(policy.credential.type);
      if (!provider || !deps.providers.store(policy.store.type)?.primary) {
        throw ApplicationFailure.nonRetryable(`providers for ${input.credentialId} are not registered`, 'UnknownProvider');
      }
      const inventory = await store.getCredential(input.credentialId);
      const refused = rotationRefusal(input.credentialId, inventory);
      if (refused) {
        const detail = { trigger: input.trigger, reason: input.reason ?? null, refused };
        await store.appendAudit({ credentialId: input.credentialId, actor: 'rotor', event: 'rotation.refused', detail });
        return { refused };
      }
      if (provider.workflow !== input.workflowType) {
        throw ApplicationFailure.nonRetryable(
          `${input.credentialId} is a ${policy.credential.type} credential: rotate it with ${provider.workflow}, not ${input.workflowType}`,
          'WrongWorkflow',
        );
      }
      const { rotationId, credentialId, workflowId, trigger, reason } = input;
      await store.startRun({ rotationId, credentialId, workflowId, runId: rotationId, trigger, reason }, {
        credentialId,
        rotationId,
        actor: 'rotor',
        event: 'rotation.started',
        detail: { trigger, reason: reason ?? null, type: policy.credential.type, strategy: policy.strategy },
      });
      return rotationPlan(input, policy, provider, inventory?.currentMaterial ?? null);
    },

    /** A human decision on a running rotation (approve, reject, retry, rollback, continue, revokeNow, abort). */
    async recordDecision(ref: DecisionRecord): Promise<void> {
      await store.appendAudit({
        credentialId: ref.credentialId,
        rotationId: ref.rotationId,
        // An actor id (daemon/auth/actor.ts: oidc:…, token:…, cli:…) as it is; a bare name as before.
        actor: ref.by ? (/^(oidc|token|cli):/.test(ref.by) ? ref.by : `operator:${ref.by}`) : 'operator',
        event: 'rotation.decision',
        detail: { step: ref.step, decision: ref.decision, reason: ref.reason ?? null, via: ref.via ?? 'signal' },
      });
    },

    /** An emergency sent into this running rotation: from now on it finishes as an emergency. */
    async recordUpgrade(ref: Ref & { from: string; reason?: string; step: RotationStep }): Promise<void> {
      await store.appendAudit({
        credentialId: ref.credentialId,
        rotationId: ref.rotationId,
        actor: 'rotor',
        event: 'rotation.upgraded',
        detail: { from: ref.from, to: 'emergency', reason: ref.reason ?? null, step: ref.step },
      });
    },

    async finishRotation(ref: Ref & { outcome: Outcome; error?: string }): Promise<void> {
      const before = await store.finishRun(ref.rotationId, ref.outcome, ref.error, {
        credentialId: ref.credentialId,
        rotationId: ref.rotationId,
        actor: 'rotor',
        event: 'rotation.finished',
        detail: { outcome: ref.outcome, error: ref.error ?? null },
      });
      // Counted once: a retry finds the run closed already.
      if (before?.outcome === 'running') {
        const type = deps.policy(ref.credentialId)?.credential.type ?? 'unknown';
        deps.metrics?.recordRotation(type, ref.outcome, (Date.now() - before.startedAt.getTime()) / 1000);
      }
    },
  };
}
