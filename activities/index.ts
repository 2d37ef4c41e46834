/**
 * Rotation activities: thin, idempotent steps that call providers and record what happened.
 * Built by a factory that receives its clients, so tests hand in local ones and the worker real ones.
 *
 * Inputs and outputs are references only. Material moves between steps through the policy's
 * primary store: create stages it as pending, later steps read it back from there.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';
import { heartbeating } from './heartbeat.js';
import type { Policy } from '../config/policy.js';
import { durationMs } from '../config/duration.js';
import { fingerprintValue, type Material } from '../lib/material.js';
import type { Logger } from '../lib/logger.js';
import { postNotification } from '../lib/notify.js';
import { materialSecrets, redactSecrets } from '../lib/redact.js';
import { ProviderRefusal, type CredentialSource, type Dependent, type PrimaryStore, type ProviderContext, type Usage } from '../providers/contracts.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { RotorStore } from '../store/index.js';
import { rotationRefusal } from '../daemon/rotations.js';
import type { RotorMetrics } from '../daemon/metrics.js';
import { preflightPolicy } from '../daemon/preflight.js';
import type { CreatedRef, NotificationEvent, Outcome, ReceiptRef, RotationInput, RotationPlan } from '../workflows/types.js';

export interface ActivityDeps {
  store: RotorStore;
  /** The policy in force for a credential id (policies can be reloaded while the worker runs). */
  policy(credentialId: string): Policy | undefined;
  providers: ProviderRegistry;
  logger: Logger;
  resolveSecret(ref: string): Promise<string>;
  /** Rotation counters and durations, when the process exports metrics. */
  metrics?: RotorMetrics;
}

interface Ref {
  credentialId: string;
  rotationId: string;
}

export type RotationActivities = ReturnType<typeof createActivities>;

export function createActivities(deps: ActivityDeps) {
  const { store } = deps;

  /** Everything one step needs: the policy, its providers and a provider context. */
  function open(ref: Ref) {
    const policy = deps.policy(ref.credentialId);
    if (!policy) throw ApplicationFailure.nonRetryable(`no policy for credential ${ref.credentialId}`, 'UnknownCredential');
    const credential = deps.providers.credential(policy.credential.type);
    const primaryStore = deps.providers.store(policy.store.type);
    if (!credential || !primaryStore?.primary) {
      throw ApplicationFailure.nonRetryable(`providers for ${ref.credentialId} are not registered`, 'UnknownProvider');
    }
    const seen: Material[] = [];
    const ctx: ProviderContext = {
      rotationId: ref.rotationId,
      credentialId: ref.credentialId,
      logger: deps.logger.child({ credentialId: ref.credentialId, rotationId: ref.rotationId }),
      resolveSecret: deps.resolveSecret,
      signal: activitySignal(),
    };
    const source = credential.source as CredentialSource<unknown>;
    const primary = primaryStore.primary as PrimaryStore<unknown>;
    const spec = policy.credential.spec;
    const storeSpec = policy.store.spec;
    /** Reads material from the primary store and remembers it, so errors can be scrubbed of it. */
    const read = async (stage: 'pending' | 'current' | 'previous') => {
      const material = await primary.read(ctx, storeSpec, stage);
      if (material) seen.push(material);
      return material;
    };
    const requirePending = async () => {
      const material = await read('pending');
      if (!material) throw ApplicationFailure.nonRetryable(`no pending material staged by rotation ${ref.rotationId}`, 'NoPendingMaterial');
      return material;
    };
    const dependent = (name: string) => {
      const d = policy.dependents.find((x) => x.name === name);
      const provider = d && deps.providers.store(d.type);
      if (!d || !provider) throw ApplicationFailure.nonRetryable(`no dependent ${name} in policy ${ref.credentialId}`, 'UnknownDependent');
      return { spec: d.spec, impl: provider.dependent as Dependent<unknown> };
    };
    return { policy, ctx, source, spec, primary, storeSpec, read, requirePending, dependent, seen };
  }

  /**
   * Runs one protocol step: records it in the run's steps and the audit log, marks refusals as
   * non-retryable, and scrubs any secret value the step handled out of the error it throws.
   */
  async function step<T>(ref: Ref, name: string, run: (s: ReturnType<typeof open>) => Promise<T>, detail?: (result: T) => Record<string, unknown>): Promise<T> {
    const s = open(ref);
    await store.recordStep(ref.rotationId, name, 'started');
    try {
      const result = await run(s);
      const extra = detail ? detail(result) : {};
      await store.recordStep(ref.rotationId, name, 'succeeded', Object.keys(extra).length ? JSON.stringify(extra) : undefined);
      await store.appendAudit({ credentialId: ref.credentialId, rotationId: ref.rotationId, actor: 'rotor', event: name, detail: extra });
      return result;
    } catch (error) {
      const message = scrub(error instanceof Error ? error.message : String(error), s.seen);
      s.ctx.logger.warn({ step: name, error: message }, 'rotation step failed');
      await store.recordStep(ref.rotationId, name, 'failed', message);
      if (error instanceof ApplicationFailure) throw error;
      const type = error instanceof Error ? error.name : 'Error';
      // A refusal is expected (nothing changed, the message says why): benign, so the worker logs
      // it as one debug line instead of a warning with a stack trace.
      throw error instanceof ProviderRefusal
        ? ApplicationFailure.create({ message, type, nonRetryable: true, category: ApplicationFailureCategory.BENIGN })
        : ApplicationFailure.retryable(message, type);
    }
  }

  return heartbeating({
    /** Opens the run in the store and snapshots what the workflow needs from the policy. */
    async beginRotation(input: RotationInput & { rotationId: string; workflowType: string; workflowId: string }): Promise<RotationPlan | { refused: string }> {
      const { policy } = open(input);
      const inventory = await store.getCredential(input.credentialId);
      const refused = rotationRefusal(input.credentialId, inventory);
      if (refused) {
        await store.appendAudit({
          credentialId: input.credentialId,
          actor: 'rotor',
          event: 'rotation.refused',
          detail: { trigger: input.trigger, reason: input.reason ?? null, refused },
        });
        return { refused };
      }
      const provider = deps.providers.credential(policy.credential.type)!;
      if (provider.workflow !== input.workflowType) {
        throw ApplicationFailure.nonRetryable(
          `${input.credentialId} is a ${policy.credential.type} credential: rotate it with ${provider.workflow}, not ${input.workflowType}`,
          'WrongWorkflow',
        );
      }
      await store.startRun({
        rotationId: input.rotationId,
        credentialId: input.credentialId,
        workflowId: input.workflowId,
        runId: input.rotationId,
        trigger: input.trigger,
        reason: input.reason,
      });
      await store.appendAudit({
        credentialId: input.credentialId,
        rotationId: input.rotationId,
        actor: 'rotor',
        event: 'rotation.started',
        detail: { trigger: input.trigger, reason: input.reason ?? null, type: policy.credential.type, strategy: policy.strategy },
      });
      const emergency = input.trigger === 'emergency';
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
        canDisable: provider.source.disable !== undefined,
        createRevokesOld: provider.source.createRevokesOld === true,
        approvalTimeoutMs: policy.approval.required && !emergency ? durationMs(policy.approval.timeout) : 0,
        notifies: policy.notify !== undefined,
        drain:
          provider.source.inUse && (emergency ? policy.emergency.requireDrained : policy.revoke.requireDrained)
            ? { checkEveryMs: durationMs(policy.revoke.drainCheckEvery), maxWaitMs: durationMs(policy.revoke.maxWait) }
            : null,
        group: policy.group ?? null,
        currentMaterialId: inventory?.currentMaterial ?? null,
        emergencyRequiresDrain: provider.source.inUse !== undefined && policy.emergency.requireDrained,
      };
    },

    /** Creates new material (or finds the material an earlier attempt staged) and stages it as pending. */
    async createMaterial(ref: Ref): Promise<CreatedRef> {
      return step(ref, 'material.created', async ({ ctx, source, spec, policy, primary, storeSpec, read, seen }) => {
        const current = await read('current');
        const staged = await read('pending');
        const stage = async (material: Material) => {
          seen.push(material);
          await primary.stagePending(ctx, storeSpec, material);
        };
        const material = await source.create(ctx, spec, policy.strategy, { staged, current, stage });
        seen.push(material);
        await stage(material); // a no-op when the provider staged it already
        await store.setMaterials(ref.rotationId, { old: current?.id ?? null, new: material.id });
        await store.recordFingerprints(ref.credentialId, ref.rotationId, material.id, fieldFingerprints(material));
        return { materialId: material.id, previousMaterialId: current?.id ?? null };
      }, (r) => ({ material: r.materialId, previous: r.previousMaterialId }));
    },

    /** The new material authenticates against its own system. */
    async verifyMaterial(ref: Ref): Promise<void> {
      await step(ref, 'material.verified', async ({ ctx, source, spec, requirePending }) => {
        await source.verify(ctx, spec, await requirePending());
      });
    },

    async propagateToDependent(ref: Ref & { dependent: string }): Promise<ReceiptRef> {
      return step(ref, 'dependent.written', async (s) => {
        const d = s.dependent(ref.dependent);
        return d.impl.write(s.ctx, d.spec, await s.requirePending());
      }, (r) => ({ dependent: ref.dependent, version: r.version, previousVersion: r.previousVersion }));
    },

    async checkDependent(ref: Ref & { dependent: string; receipt?: ReceiptRef }): Promise<void> {
      await step(ref, 'dependent.checked', async (s) => {
        const d = s.dependent(ref.dependent);
        await d.impl.check(s.ctx, d.spec, await s.requirePending(), ref.receipt);
      }, () => ({ dependent: ref.dependent }));
    },

    /** An HTTP probe of a consumer: it must answer with the expected status once it uses the new material. */
    async runHealthCheck(ref: Ref & { check: string }): Promise<void> {
      await step(ref, 'health.checked', async ({ policy, ctx }) => {
        const check = policy.healthChecks.find((c) => c.name === ref.check);
        if (!check) throw new ProviderRefusal(`no health check ${ref.check} in policy ${ref.credentialId}`);
        const { url, method, expectStatus, timeout } = check.http;
        // Also given up when the activity is cancelled (e.g. the worker's shutdown grace ran out).
        const deadline = AbortSignal.timeout(durationMs(timeout));
        const response = await fetch(url, { method, signal: ctx.signal ? AbortSignal.any([deadline, ctx.signal]) : deadline });
        await response.body?.cancel();
        if (response.status !== expectStatus) {
          throw new Error(`health check ${check.name}: ${method} ${url} answered ${response.status}, expected ${expectStatus}`);
        }
      }, () => ({ check: ref.check }));
    },

    /** pending → current, current → previous in the primary store. Returns when (system clock). */
    async promoteMaterial(ref: Ref): Promise<{ promotedAt: string }> {
      return step(ref, 'material.promoted', async ({ ctx, primary, storeSpec, read }) => {
        await primary.promote(ctx, storeSpec);
        // The inventory says what serves from now on, not only once the grace is over.
        const current = await read('current');
        if (current) await store.setCurrentMaterial(ref.credentialId, current.id);
        return { promotedAt: new Date().toISOString() };
      });
    },

    async disableOldMaterial(ref: Ref & { which: 'current' | 'previous'; materialId: string }): Promise<void> {
      await step(ref, 'material.disabled', async ({ ctx, source, spec, read }) => {
        const old = await expectOld(await read(ref.which), ref.materialId);
        await source.disable?.(ctx, spec, old);
      }, () => ({ material: ref.materialId }));
    },

    /** Irreversible. Refuses to revoke anything but the exact old material the workflow names. */
    async revokeOldMaterial(ref: Ref & { which: 'current' | 'previous'; materialId: string }): Promise<void> {
      await step(ref, 'material.revoked', async ({ ctx, source, spec, policy, read }) => {
        const old = await expectOld(await read(ref.which), ref.materialId);
        if (ref.which === 'previous' && policy.strategy === 'dual') {
          const current = await read('current');
          if (current && current.id === old.id) throw new ProviderRefusal(`refusing to revoke ${old.id}: it is the current material`);
        }
        await source.revoke(ctx, spec, policy.strategy, old);
      }, () => ({ material: ref.materialId }));
    },

    /** Drain detection: whether the old material was used since the new one was promoted. */
    async checkDrained(ref: Ref & { materialId: string; since: string }): Promise<Usage & { checkedAt: string }> {
      return step(ref, 'material.drain-checked', async ({ ctx, source, spec, read }) => {
        // The system's clock, not the workflow's: usage timestamps come from the system.
        const checkedAt = new Date().toISOString();
        const old = await expectOld(await read('previous'), ref.materialId);
        const usage = source.inUse ? await source.inUse(ctx, spec, old, new Date(ref.since)) : { inUse: false, detail: 'no usage signal' };
        return { ...usage, checkedAt };
      }, (usage) => ({ material: ref.materialId, inUse: usage.inUse, detail: usage.detail }));
    },

    /**
     * Pre-flight, before anything changes: Rotor's identity can do every step for the credential,
     * its primary store and each dependent, and limits allow a new credential. Lists every problem.
     */
    async preflight(ref: Ref): Promise<void> {
      await step(ref, 'rotation.preflight', async (s) => {
        const problems = await preflightPolicy(s.policy, deps.providers, s.ctx);
        if (problems.length > 0) throw new ProviderRefusal(`pre-flight failed, nothing was changed: ${problems.join('; ')}`);
      });
    },

    /** Rollback: puts a dependent back to what its receipt says it held. */
    async restoreDependent(ref: Ref & { dependent: string; receipt: ReceiptRef }): Promise<void> {
      await step(ref, 'dependent.restored', async (s) => {
        const d = s.dependent(ref.dependent);
        // Before promote, the primary store's current is still the old material: what to put back
        // where a dependent cannot return its own previous value (GitHub Actions secrets).
        await d.impl.restore(s.ctx, d.spec, ref.receipt, await s.read('current'));
      }, () => ({ dependent: ref.dependent, version: ref.receipt.previousVersion }));
    },

    /** Rollback: invalidates the new material and drops it from the primary store. */
    async discardMaterial(ref: Ref): Promise<void> {
      await step(ref, 'material.discarded', async ({ ctx, source, spec, policy, primary, storeSpec, read }) => {
        const created = await read('pending');
        if (created) await source.discard(ctx, spec, policy.strategy, created, await read('current'));
        await primary.discardPending(ctx, storeSpec);
      });
    },

    /** Posts a Slack-compatible message to the policy's webhook; retried with backoff by Temporal. */
    async notify(ref: Ref & { event: NotificationEvent; text: string }): Promise<void> {
      const policy = deps.policy(ref.credentialId);
      if (!policy?.notify) return;
      const url = await deps.resolveSecret(policy.notify.webhook);
      const text = `[rotor] ${ref.credentialId} (${policy.owner}, ${policy.environment}): ${ref.text}`;
      await postNotification(url, text, { credential: ref.credentialId, rotation: ref.rotationId, event: ref.event, owner: policy.owner });
      await store.appendAudit({ ...ref, actor: 'rotor', event: 'notification.sent', detail: { event: ref.event } });
    },

    /** A human decision on a running rotation (approve, reject, retry, rollback, continue, revokeNow, abort). */
    async recordDecision(ref: Ref & { step: string; decision: string; by?: string; reason?: string; via?: 'update' | 'signal' }): Promise<void> {
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
    async recordUpgrade(ref: Ref & { from: string; reason?: string; step: string }): Promise<void> {
      await store.appendAudit({
        credentialId: ref.credentialId,
        rotationId: ref.rotationId,
        actor: 'rotor',
        event: 'rotation.upgraded',
        detail: { from: ref.from, to: 'emergency', reason: ref.reason ?? null, step: ref.step },
      });
    },

    async finishRotation(ref: Ref & { outcome: Outcome; error?: string }): Promise<void> {
      const run = await store.getRun(ref.rotationId);
      await store.finishRun(ref.rotationId, ref.outcome, ref.error);
      if (run?.outcome === 'running') {
        const type = deps.policy(ref.credentialId)?.credential.type ?? 'unknown';
        deps.metrics?.recordRotation(type, ref.outcome, (Date.now() - run.startedAt.getTime()) / 1000);
      }
      await store.appendAudit({
        credentialId: ref.credentialId,
        rotationId: ref.rotationId,
        actor: 'rotor',
        event: 'rotation.finished',
        detail: { outcome: ref.outcome, error: ref.error ?? null },
      });
    },
  });
}

async function expectOld(material: Material | null, expectedId: string): Promise<Material> {
  if (!material) throw new ProviderRefusal(`old material ${expectedId} is no longer in the primary store`);
  if (material.id !== expectedId) throw new ProviderRefusal(`old material is ${material.id}, expected ${expectedId}: refusing to touch it`);
  return material;
}

/** Replaces every secret value of the given materials in a message: defence in depth for error text. */
export function scrub(message: string, materials: Material[]): string {
  return redactSecrets(message, materialSecrets(materials));
}

/** SHA-256 of each field but the public id, the form a leaked value is matched in. */
function fieldFingerprints(material: Material): Record<string, string> {
  const all = material.revealAll();
  return Object.fromEntries(
    Object.entries(all)
      .filter(([, value]) => value !== material.id)
      .map(([field, value]) => [field, fingerprintValue(value)]),
  );
}

function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined; // called outside an activity (tests of a single step)
  }
}
