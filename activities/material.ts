/**
 * The activities that act on the credential's material through its source and the primary store:
 * create and stage it, verify it, promote it, and disable, revoke or discard old or new material.
 * Material moves between steps through the primary store (create stages it as pending, later steps
 * read it back), never through the workflow.
 */
import type { Material } from '../lib/material.js';
import { ProviderRefusal, type Usage } from '../providers/contracts.js';
import type { RotorStore } from '../store/index.js';
import type { CreatedRef } from '../workflows/types.js';
import { expectOld, fieldFingerprints, type Ref, type RunStep } from './step.js';

/** Which old material a step touches: `current` before promote (revoke-first), `previous` after. */
type OldRef = Ref & { which: 'current' | 'previous'; materialId: string };

export function materialActivities(store: RotorStore, step: RunStep) {
  return {
    /** Creates new material (or finds the material an earlier attempt staged) and stages it as pending. */
    async createMaterial(ref: Ref): Promise<CreatedRef> {
      return step(ref, 'material.created', async (s) => {
        const current = await s.read('current');
        const staged = await s.read('pending');
        let stagedNow: Material | undefined;
        const stage = async (material: Material) => {
          s.seen.push(material);
          await s.primary.stagePending(s.ctx, s.storeSpec, material);
          stagedNow = material;
        };
        const material = await s.source.create(s.ctx, s.spec, s.policy.strategy, { staged, current, stage });
        s.seen.push(material);
        // Staged unless the provider staged this very material in this attempt (staging again is a no-op that costs requests).
        if (stagedNow !== material) await stage(material);
        await store.recordNewMaterial(ref, current?.id ?? null, { id: material.id, fingerprints: fieldFingerprints(material) });
        return { materialId: material.id, previousMaterialId: current?.id ?? null };
      }, (r) => ({ material: r.materialId, previous: r.previousMaterialId }));
    },

    /** The new material authenticates against its own system. */
    async verifyMaterial(ref: Ref): Promise<void> {
      await step(ref, 'material.verified', async (s) => {
        await s.source.verify(s.ctx, s.spec, await s.requirePending());
      });
    },

    /** pending → current, current → previous in the primary store. Returns when (system clock). */
    async promoteMaterial(ref: Ref): Promise<{ promotedAt: string }> {
      return step(ref, 'material.promoted', async (s) => {
        await s.primary.promote(s.ctx, s.storeSpec);
        // The inventory says what serves from now on, not only once the grace is over.
        const current = await s.read('current');
        if (current) await store.setCurrentMaterial(ref.credentialId, current.id);
        return { promotedAt: new Date().toISOString() };
      });
    },

    async disableOldMaterial(ref: OldRef): Promise<void> {
      await step(ref, 'material.disabled', async (s) => {
        const old = await expectOld(await s.read(ref.which), ref.materialId);
        await s.source.disable?.(s.ctx, s.spec, old);
      }, () => ({ material: ref.materialId }));
    },

    /** Irreversible. Refuses to revoke anything but the exact old material the workflow names. */
    async revokeOldMaterial(ref: OldRef): Promise<void> {
      await step(ref, 'material.revoked', async (s) => {
        const old = await expectOld(await s.read(ref.which), ref.materialId);
        if (ref.which === 'previous' && s.policy.strategy === 'dual') {
          const current = await s.read('current');
          if (current && current.id === old.id) throw new ProviderRefusal(`refusing to revoke ${old.id}: it is the current material`);
        }
        await s.source.revoke(s.ctx, s.spec, s.policy.strategy, old);
      }, () => ({ material: ref.materialId }));
    },

    /** Drain detection: whether the old material was used since the new one was promoted. */
    async checkDrained(ref: Ref & { materialId: string; since: string }): Promise<Usage & { checkedAt: string }> {
      return step(ref, 'material.drain-checked', async (s) => {
        // The system's clock, not the workflow's: usage timestamps come from the system.
        const checkedAt = new Date().toISOString();
        const old = await expectOld(await s.read('previous'), ref.materialId);
        const usage = s.source.inUse ? await s.source.inUse(s.ctx, s.spec, old, new Date(ref.since)) : { inUse: false, detail: 'no usage signal' };
        return { ...usage, checkedAt };
      }, (usage) => ({ material: ref.materialId, inUse: usage.inUse, detail: usage.detail }));
    },

    /** Rollback: invalidates the new material and drops it from the primary store. */
    async discardMaterial(ref: Ref): Promise<void> {
      await step(ref, 'material.discarded', async (s) => {
        const created = await s.read('pending');
        if (created) await s.source.discard(s.ctx, s.spec, s.policy.strategy, created, await s.read('current'));
        await s.primary.discardPending(s.ctx, s.storeSpec);
      });
    },
  };
}
