/**
 * Decommission activities, run by the `decommissionCredential` workflow (workflows/decommission.ts).
 * They take the rotation activities' dependencies (ActivityDeps: the policy in force, providers,
 * logger, secret resolver, store) and pass references only: material is read from the primary
 * store in the step that uses it, by id.
 *
 * Idempotent: every audit row carries the run's decommissionId and is written once per run and
 * step (a retry after a crash finds the row its earlier attempt wrote); revoke, retire and
 * dependent removal are idempotent in the providers; marking the credential retired keeps the
 * first date.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';
import type { Policy } from '../config/policy.js';
import type { Material } from '../lib/material.js';
import { materialSecrets, redactedMessage } from '../lib/redact.js';
import { ProviderRefusal, type CredentialSource, type Dependent, type PrimaryStore, type ProviderContext } from '../providers/contracts.js';
import { markDecommissioned } from '../store/discovery.js';
import { activityCancellation, heartbeating } from './heartbeat.js';
import type { ActivityDeps } from './index.js';
import type { DecommissionPlan, DecommissionRef, MaterialWhich } from '../workflows/decommission-types.js';

export type DecommissionActivities = ReturnType<typeof createDecommissionActivities>;

export function createDecommissionActivities(deps: Omit<ActivityDeps, 'metrics'>) {
  const { store } = deps;

  /** The policy in force on this worker, else the last one the store recorded (its file is gone). */
  async function policyOf(credentialId: string): Promise<Policy | undefined> {
    return deps.policy(credentialId) ?? ((await store.policySnapshot(credentialId)) as Policy | undefined);
  }

  /** Everything a step needs: the policy, its credential source, a provider context and a reader of the primary store. */
  async function open(ref: DecommissionRef) {
    const policy = await policyOf(ref.credentialId);
    if (!policy) throw ApplicationFailure.nonRetryable(`no policy for credential ${ref.credentialId}`, 'UnknownCredential');
    const credential = deps.providers.credential(policy.credential.type);
    const primaryStore = deps.providers.store(policy.store.type);
    if (!credential || !primaryStore?.primary) throw ApplicationFailure.nonRetryable(`providers of ${ref.credentialId} are not registered`, 'UnknownProvider');
    const ctx: ProviderContext = {
      rotationId: `decommission/${ref.credentialId}`,
      credentialId: ref.credentialId,
      logger: deps.logger.child({ credentialId: ref.credentialId, decommission: true }),
      resolveSecret: deps.resolveSecret,
      signal: activityCancellation(),
    };
    const primary = primaryStore.primary as PrimaryStore<unknown>;
    const read = (which: MaterialWhich) => primary.read(ctx, policy.store.spec, which);
    return { policy, ctx, source: credential.source as CredentialSource<unknown>, read };
  }

  /** Appends an audit row unless this run already wrote it (same event and `key` fields). */
  async function auditOnce(ref: DecommissionRef, event: string, detail: Record<string, unknown>, key: string[] = []): Promise<void> {
    const earlier = await store.listAudit({ credentialId: ref.credentialId });
    const same = (d: Record<string, unknown>) => d.decommissionId === ref.decommissionId && key.every((k) => d[k] === detail[k]);
    if (earlier.some((e) => e.event === event && same((e.detail ?? {}) as Record<string, unknown>))) return;
    await store.appendAudit({ credentialId: ref.credentialId, actor: ref.actor, event, detail: { ...detail, decommissionId: ref.decommissionId } });
  }

  /**
   * A failed step's error, redacted of every secret of the credential's materials: refusals are not
   * retried (nothing a retry can fix), other errors are, a few times, by the workflow's retry policy.
   */
  async function failure(s: Awaited<ReturnType<typeof open>>, error: unknown): Promise<never> {
    if (error instanceof ApplicationFailure) throw error;
    const handled: Material[] = [];
    for (const which of ['current', 'previous'] as const) {
      const m = await s.read(which).catch(() => null);
      if (m) handled.push(m);
    }
    const message = redactedMessage(error, materialSecrets(handled));
    const type = error instanceof Error ? error.name : 'Error';
    throw error instanceof ProviderRefusal
      ? ApplicationFailure.create({ message, type, nonRetryable: true, category: ApplicationFailureCategory.BENIGN })
      : ApplicationFailure.retryable(message, type);
  }

  return heartbeating({
    /** Refuses while a rotation runs; otherwise records the start and lists what to invalidate (ids only). */
    async beginDecommission(ref: DecommissionRef & { reason?: string }): Promise<DecommissionPlan> {
      const [latest] = await store.listRuns(ref.credentialId, 1);
      if (latest?.outcome === 'running') {
        return { refused: `a rotation of ${ref.credentialId} is running (${latest.rotationId}): abort it or let it finish first` };
      }
      const policy = await policyOf(ref.credentialId);
      if (!policy) return { refused: `no policy for credential ${ref.credentialId}, and none recorded in the store` };
      if (!deps.providers.credential(policy.credential.type) || !deps.providers.store(policy.store.type)?.primary) {
        return { refused: `providers of ${ref.credentialId} are not registered` };
      }
      const { read } = await open(ref);
      await auditOnce(ref, 'decommission.started', { reason: ref.reason ?? null, expires: policy.expires ?? null });
      const current = await read('current');
      const previous = await read('previous');
      // Previous first: while current is valid, the provider's revoke guards allow it.
      const materials: Array<{ which: MaterialWhich; materialId: string }> = [];
      if (previous && previous.id !== current?.id) materials.push({ which: 'previous', materialId: previous.id });
      if (current) materials.push({ which: 'current', materialId: current.id });
      return {
        materials,
        problems: current ? [] : [`no current material in the primary store: Rotor never rotated ${ref.credentialId}; revoke its credential in its system by hand`],
        dependents: policy.decommission?.removeFromDependents ? policy.dependents.map((d) => d.name) : [],
      };
    },

    /** Revokes (previous) or retires (current) one material, named by id: anything else there is refused. */
    async invalidateMaterial(ref: DecommissionRef & { which: MaterialWhich; materialId: string }): Promise<{ how: 'revoked' | 'retired' }> {
      const s = await open(ref);
      try {
        const material = await s.read(ref.which);
        if (material?.id !== ref.materialId) {
          throw new ProviderRefusal(`the ${ref.which} material in the primary store is ${material?.id ?? 'gone'}, expected ${ref.materialId}: refusing to touch it`);
        }
        const how = await invalidate(s.ctx, s.source, s.policy, ref.which, material);
        await auditOnce(ref, `material.${how}`, { material: material.id, which: ref.which, decommission: true }, ['material']);
        return { how };
      } catch (error) {
        return failure(s, error);
      }
    },

    /** Removes the credential from one dependent, where the dependent can (policy decommission.removeFromDependents). */
    async removeFromDependent(ref: DecommissionRef & { dependent: string }): Promise<{ removed: true } | { removed: false; problem: string }> {
      const s = await open(ref);
      const d = s.policy.dependents.find((x) => x.name === ref.dependent);
      const dependent = d && (deps.providers.store(d.type)?.dependent as Dependent<unknown> | undefined);
      if (!d || !dependent?.remove) {
        return { removed: false, problem: `dependent ${ref.dependent}${d ? ` (${d.type})` : ''} cannot remove material: remove it by hand` };
      }
      try {
        await dependent.remove(s.ctx, d.spec);
        await auditOnce(ref, 'dependent.removed', { dependent: d.name }, ['dependent']);
        return { removed: true };
      } catch (error) {
        return failure(s, error);
      }
    },

    /** A step that failed for good (its message already redacted): recorded, the decommission goes on. */
    async recordDecommissionFailure(ref: DecommissionRef & { event: 'material.revoke-failed' | 'dependent.remove-failed'; detail: Record<string, unknown> }): Promise<void> {
      await auditOnce(ref, ref.event, ref.detail, ['material', 'dependent']);
    },

    /** Marks the credential retired in the inventory and records the outcome. */
    async finishDecommission(ref: DecommissionRef & { material: string[]; dependentsRemoved: string[]; problems: number }): Promise<void> {
      await markDecommissioned(store, ref.credentialId);
      await auditOnce(ref, 'credential.decommissioned', { material: ref.material, dependentsRemoved: ref.dependentsRemoved, complete: ref.problems === 0 });
      deps.logger.child({ credentialId: ref.credentialId, decommission: true }).info({ material: ref.material, problems: ref.problems }, 'credential decommissioned');
    },
  });
}

/**
 * Revokes the previous material the ordinary way; the current one is retired (the provider's
 * revoke keeps the last valid credential on purpose), falling back to revoke where a provider
 * has no retire.
 */
async function invalidate(ctx: ProviderContext, source: CredentialSource<unknown>, policy: Policy, which: MaterialWhich, material: Material): Promise<'revoked' | 'retired'> {
  const spec = policy.credential.spec;
  if (which === 'previous' || !source.retire) {
    try {
      await source.revoke(ctx, spec, policy.strategy, material);
      return 'revoked';
    } catch (error) {
      if (!(error instanceof ProviderRefusal) || !source.retire) throw error;
    }
  }
  await source.retire!(ctx, spec, policy.strategy, material);
  return 'retired';
}
