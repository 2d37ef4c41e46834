/**
 * The activities that reach the credential's consumers: write the new material to each dependent,
 * check it serves it, restore it on rollback, and probe the policy's HTTP health checks.
 */
import { durationMs } from '../config/duration.js';
import { ProviderRefusal } from '../providers/contracts.js';
import type { ReceiptRef } from '../workflows/types.js';
import type { Ref, RunStep } from './step.js';

type DependentRef = Ref & { dependent: string };

export function dependentActivities(step: RunStep) {
  return {
    async propagateToDependent(ref: DependentRef): Promise<ReceiptRef> {
      return step(ref, 'dependent.written', async (s) => {
        const d = s.dependent(ref.dependent);
        return d.impl.write(s.ctx, d.spec, await s.requirePending());
      }, (r) => ({ dependent: ref.dependent, version: r.version, previousVersion: r.previousVersion }));
    },

    async checkDependent(ref: DependentRef & { receipt?: ReceiptRef }): Promise<void> {
      await step(ref, 'dependent.checked', async (s) => {
        const d = s.dependent(ref.dependent);
        await d.impl.check(s.ctx, d.spec, await s.requirePending(), ref.receipt);
      }, () => ({ dependent: ref.dependent }));
    },

    /** Rollback: puts a dependent back to what its receipt says it held. */
    async restoreDependent(ref: DependentRef & { receipt: ReceiptRef }): Promise<void> {
      await step(ref, 'dependent.restored', async (s) => {
        const d = s.dependent(ref.dependent);
        // Before promote, the primary store's current is still the old material: what to put back
        // where a dependent cannot return its own previous value (GitHub Actions secrets).
        await d.impl.restore(s.ctx, d.spec, ref.receipt, await s.read('current'));
      }, () => ({ dependent: ref.dependent, version: ref.receipt.previousVersion }));
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
  };
}
