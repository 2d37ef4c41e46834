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
import type { PolicySnapshot } from './policies.js';
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

/** What an incremental apply writes: computed from two policy sets alone (pure). */
export interface PolicyChangePlan {
  /** The schedule changes of the policies concerned, planned against what the earlier set asked for. */
  schedules: ScheduleChange[];
  /** The desired schedules of the policies concerned in the new set. */
  desired: DesiredSchedule[];
  /** Inventory rows of the policies added or changed. */
  upsert: InventoryEntry[];
  discoveryChanged: boolean;
  remindersChanged: boolean;
  manualChanged: boolean;
}

/**
 * What changed from `before` to `after`. A policy whose object is the same in both came from a file
 * the reload did not re-read (unchanged); the others are compared by content: their schedule's
 * hash and paused state, their inventory row's hash. A group's members are offset by their place
 * among all its members (desiredSchedules), so a change in a group takes in every member of it.
 */
export function planPolicyChanges(before: PolicySnapshot, after: PolicySnapshot, providers: ApplyTarget['providers'], taskQueue: string): PolicyChangePlan {
  const touched = new Set<string>();
  for (const [id, p] of after.byId) if (before.byId.get(id) !== p) touched.add(id);
  for (const id of before.byId.keys()) if (!after.byId.has(id)) touched.add(id);
  const groups = new Set<string>();
  for (const id of touched) for (const p of [before.byId.get(id), after.byId.get(id)]) if (p?.group) groups.add(p.group);
  const concerned = (set: PolicySnapshot): Policy[] => {
    const found: Policy[] = [];
    for (const p of set.byId.values()) if (touched.has(p.id) || (p.group !== undefined && groups.has(p.group))) found.push(p);
    return found;
  };
  // Without groups the policies concerned are the touched ones, found without a pass over the set.
  const pick = (set: PolicySnapshot): Policy[] =>
    groups.size > 0 ? concerned(set) : [...touched].flatMap((id) => set.byId.get(id) ?? []);
  const desired = desiredSchedules(pick(after), providers, taskQueue);
  const earlier = desiredSchedules(pick(before), providers, taskQueue);
  const schedules = planScheduleChanges(desired, earlier).filter((c) => c.kind !== 'unchanged');
  const upsert: InventoryEntry[] = [];
  for (const id of touched) {
    const p = after.byId.get(id);
    if (!p) continue;
    const row = inventoryEntry(p);
    const was = before.byId.get(id);
    if (!was || inventoryEntry(was).policyHash !== row.policyHash) upsert.push(row);
  }
  return {
    schedules,
    desired,
    upsert,
    discoveryChanged: (before.discovery?.every ?? null) !== (after.discovery?.every ?? null),
    remindersChanged: before.manual.length > 0 !== after.manual.length > 0,
    manualChanged: before.manual.length !== after.manual.length || before.manual.some((m, i) => m !== after.manual[i]),
  };
}

/**
 * Applies only what changed from `before` (the set last applied in full or in part) to `after`:
 * describes and writes the schedules concerned (each re-checked against Temporal first, as in the
 * whole apply), upserts or retires their inventory rows, and the jobs and manual credentials only
 * when their inputs changed. Returns the schedule changes made.
 */
export function applyPolicyChanges(t: ApplyTarget, before: PolicySnapshot, after: PolicySnapshot): Promise<ScheduleChange[]> {
  const plan = planPolicyChanges(before, after, t.providers, t.taskQueue);
  return t.store.withAdvisoryLock(RECONCILE_LOCK, async () => {
    const { applied: changes, failures } = await applyScheduleChanges(t.client, plan.schedules, plan.desired);
    if (plan.discoveryChanged) await reconcileDiscoverySchedule(t.client, after.discovery, t.taskQueue);
    if (plan.remindersChanged) await reconcileReminderSchedule(t.client, after.manual.length, t.taskQueue);
    await t.store.upsertCredentials(plan.upsert);
    await t.store.retireCredentials(changes.filter((c) => c.kind === 'delete').map((c) => c.credentialId));
    if (plan.manualChanged) await syncManualCredentials(t.store, [...after.manual]);
    if (failures.length > 0) throw new ScheduleApplyError(failures);
    return changes;
  });
}
