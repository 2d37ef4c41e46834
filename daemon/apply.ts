/**
 * Makes Temporal and the inventory match a validated policy directory: the rotation schedules, the
 * discovery and reminders jobs, managed and manual credentials in the inventory. The one path for
 * `rotor apply` and the daemon's reconciler.
 *
 * Several replicas (and `rotor apply` beside them) share one store and one Temporal namespace, and
 * each reconciles when its policy files change, typically all at once. A PostgreSQL advisory lock in
 * that shared store makes them take turns, and each compares against the schedules' own state before
 * writing (applyScheduleChanges): the first applies a change, the others find it done and write nothing.
 *
 * After a watched edit the daemon applies only what changed between the set it last applied and the
 * new one (applyPolicyChanges): the schedules and inventory rows of the policies added, changed or
 * removed. The whole apply stays for `rotor apply`, the daemon's start, SIGHUP, a retry after a
 * failure and a periodic run: only it lists Temporal's schedules, so only it repairs drift (a
 * schedule deleted by hand, a write lost with a failed run).
 */
import type { Client } from '@temporalio/client';
import type { DiscoveryConfig } from '../config/discovery.js';
import type { PolicyDirectory } from '../config/load.js';
import type { Policy } from '../config/policy.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { RECONCILE_LOCK, type InventoryEntry, type RotorStore } from '../store/index.js';
import { syncManualCredentials } from '../store/manual.js';
import { inventoryEntry } from './inventory.js';
import { reconcileDiscoverySchedule, reconcileReminderSchedule } from './job-schedules.js';
import type { PolicySet, PolicySetChange } from './policies.js';
import {
  applyScheduleChanges,
  desiredSchedules,
  listRotorSchedules,
  planScheduleChanges,
  ScheduleApplyError,
  type DesiredSchedule,
  type ScheduleChange,
} from './schedules.js';

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

/** What an incremental apply writes: computed from a reload's change and the set now (pure). */
export interface PolicyChangePlan {
  /** The schedule changes of the policies concerned, planned against what the earlier set asked for. */
  schedules: ScheduleChange[];
  /** The desired schedules of the policies concerned in the set now. */
  desired: DesiredSchedule[];
  /** Inventory rows of the policies added or changed. */
  upsert: InventoryEntry[];
  discoveryChanged: boolean;
  remindersChanged: boolean;
  manualChanged: boolean;
}

/**
 * What to write after `change`, `now` being the set in force after it. The policies it names are
 * compared by content (their schedule's hash and paused state, their inventory row's hash), so a
 * file rewritten as it was writes nothing. A group's members are offset by their place among all
 * its members (desiredSchedules): a change in a group takes in every member, before and after.
 */
export function planPolicyChanges(change: PolicySetChange, now: PolicySet, providers: ApplyTarget['providers'], taskQueue: string): PolicyChangePlan {
  const groups = new Set<string>();
  for (const { before, after } of change.policies.values()) for (const p of [before, after]) if (p?.group) groups.add(p.group);
  const earlier: Policy[] = [];
  const later: Policy[] = [];
  for (const { before, after } of change.policies.values()) {
    if (before) earlier.push(before);
    if (after) later.push(after);
  }
  // The members no reload touched are the same in both sets: with the touched ones, each group whole.
  for (const p of groups.size > 0 ? now.members(groups) : []) {
    if (change.policies.has(p.id)) continue;
    earlier.push(p);
    later.push(p);
  }
  const desired = desiredSchedules(later, providers, taskQueue);
  const schedules = planScheduleChanges(desired, desiredSchedules(earlier, providers, taskQueue)).filter((c) => c.kind !== 'unchanged');
  const upsert: InventoryEntry[] = [];
  for (const { before, after } of change.policies.values()) {
    const row = after && inventoryEntry(after);
    if (row && (!before || inventoryEntry(before).policyHash !== row.policyHash)) upsert.push(row);
  }
  const manual = now.manual();
  return {
    schedules,
    desired,
    upsert,
    discoveryChanged: (change.discoveryBefore?.every ?? null) !== (now.discovery()?.every ?? null),
    remindersChanged: change.manualBefore.length > 0 !== manual.length > 0,
    manualChanged: change.manualBefore.length !== manual.length || change.manualBefore.some((m, i) => m !== manual[i]),
  };
}

/**
 * Applies only what `change` (a reload of the set `now`, from a set that was applied) changed:
 * describes and writes the schedules concerned (each re-checked against Temporal first, as in the
 * whole apply), upserts or retires their inventory rows, and the jobs and manual credentials only
 * when their inputs changed. Returns the schedule changes made.
 */
export function applyPolicyChanges(t: ApplyTarget, change: PolicySetChange, now: PolicySet): Promise<ScheduleChange[]> {
  const plan = planPolicyChanges(change, now, t.providers, t.taskQueue);
  return t.store.withAdvisoryLock(RECONCILE_LOCK, async () => {
    const { applied: changes, failures } = await applyScheduleChanges(t.client, plan.schedules, plan.desired);
    if (plan.discoveryChanged) await reconcileDiscoverySchedule(t.client, now.discovery(), t.taskQueue);
    if (plan.remindersChanged) await reconcileReminderSchedule(t.client, now.manual().length, t.taskQueue);
    await t.store.upsertCredentials(plan.upsert);
    await t.store.retireCredentials(changes.filter((c) => c.kind === 'delete').map((c) => c.credentialId));
    if (plan.manualChanged) await syncManualCredentials(t.store, now.manual());
    if (failures.length > 0) throw new ScheduleApplyError(failures);
    return changes;
  });
}
