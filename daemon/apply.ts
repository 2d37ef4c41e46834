/**
 * Makes Temporal and the inventory match a validated policy directory: the rotation schedules, the
 * discovery and reminders jobs, managed and manual credentials in the inventory. The one path for
 * `rotor apply` and the daemon's reconciler.
 *
 * Several replicas (and `rotor apply` beside them) share one store and one Temporal namespace, and
 * each reconciles when its policy files change, typically all at once. A PostgreSQL advisory lock in
 * that shared store makes them take turns, and each compares against the schedules' own state before
 * writing (applyScheduleChanges): the first applies a change, the others find it done and write nothing.
 */
import type { Client } from '@temporalio/client';
import type { DiscoveryConfig } from '../config/discovery.js';
import type { PolicyDirectory } from '../config/load.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { RECONCILE_LOCK, type RotorStore } from '../store/index.js';
import { syncManualCredentials } from '../store/manual.js';
import { inventoryEntry } from './inventory.js';
import { reconcileDiscoverySchedule, reconcileReminderSchedule } from './job-schedules.js';
import { applyScheduleChanges, desiredSchedules, listRotorSchedules, planScheduleChanges, ScheduleApplyError, type ScheduleChange } from './schedules.js';

export interface ApplyTarget {
  client: Client;
  store: RotorStore;
  providers: ProviderRegistry;
  taskQueue: string;
}

/**
 * A schedule change Temporal refuses does not hold up the others (nor the jobs and the inventory):
 * everything else is applied, then a ScheduleApplyError names each refused change. Replicas take
 * turns (advisory lock), and each write re-checks the schedule's own state first.
 */
export function applyPolicyDirectory(t: ApplyTarget, directory: PolicyDirectory, discovery: DiscoveryConfig | null): Promise<ScheduleChange[]> {
  return t.store.withAdvisoryLock(RECONCILE_LOCK, async () => {
    const desired = desiredSchedules(directory.policies, t.providers, t.taskQueue);
    const planned = planScheduleChanges(desired, await listRotorSchedules(t.client));
    const { applied: changes, failures } = await applyScheduleChanges(t.client, planned, desired);
    await reconcileDiscoverySchedule(t.client, discovery, t.taskQueue);
    await reconcileReminderSchedule(t.client, directory.manual.length, t.taskQueue);
    await t.store.upsertCredentials(directory.policies.map(inventoryEntry));
    const failed = new Set(failures.map((f) => f.scheduleId));
    await t.store.retireCredentials(changes.filter((c) => c.kind === 'delete' && !failed.has(c.scheduleId)).map((c) => c.credentialId));
    await syncManualCredentials(t.store, directory.manual);
    if (failures.length > 0) throw new ScheduleApplyError(failures);
    return changes;
  });
}
