/**
 * Policies → Temporal Schedules, one per credential (`rotor/<credential-id>`), reconciled like
 * `terraform plan/apply`: compute the changes first (pure), then apply them. A hash of everything a
 * schedule is made from (but its paused state) sits in its memo, so an unchanged policy causes no
 * write. Temporal cannot update a schedule's memo, so a changed schedule is replaced (deleted and
 * created again); workflows it already started are not touched.
 */
import { createHash } from 'node:crypto';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleOptions } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { Policy } from '../config/policy.js';
import { durationMs } from '../config/duration.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { ScheduledRotationInput } from '../workflows/scheduled.js';
import { JOB_SCHEDULE_IDS } from './job-schedules.js';
import { memoString } from './memo.js';

export const SCHEDULE_PREFIX = 'rotor/';

export function scheduleId(credentialId: string): string {
  return `${SCHEDULE_PREFIX}${credentialId}`;
}

export interface DesiredSchedule {
  scheduleId: string;
  credentialId: string;
  hash: string;
  paused: boolean;
  options: ScheduleOptions;
}

export interface ExistingSchedule {
  scheduleId: string;
  hash?: string;
  paused: boolean;
}

export type ScheduleChangeKind = 'create' | 'update' | 'pause' | 'unpause' | 'delete' | 'unchanged';

export interface ScheduleChange {
  kind: ScheduleChangeKind;
  scheduleId: string;
  credentialId: string;
}

/**
 * The schedules of a whole policy set. Credentials of one group share its cadence out: the i-th of
 * n (by id) is offset by i/n of the interval, deterministically, so they never fall due together.
 */
export function desiredSchedules(policies: Policy[], providers: ProviderRegistry, taskQueue: string): DesiredSchedule[] {
  const groups = new Map<string, string[]>();
  for (const p of policies) if (p.group) groups.set(p.group, [...(groups.get(p.group) ?? []), p.id]);
  return policies.map((p) => {
    const members = p.group ? groups.get(p.group)!.sort() : [p.id];
    const every = p.schedule.every ? durationMs(p.schedule.every) : 0;
    const offsetMs = members.length > 1 && every > 0 ? Math.floor((members.indexOf(p.id) * every) / members.length) : 0;
    return desiredSchedule(p, providers, taskQueue, offsetMs);
  });
}

/** The schedule a policy asks for; `offsetMs` shifts an interval cadence (group staggering). */
export function desiredSchedule(policy: Policy, providers: ProviderRegistry, taskQueue: string, offsetMs = 0): DesiredSchedule {
  const provider = providers.credential(policy.credential.type);
  if (!provider) throw new Error(`credential type ${policy.credential.type} is not registered`);
  const { every, cron, jitter, windows, outsideWindow } = policy.schedule;
  const input: ScheduledRotationInput = {
    credentialId: policy.id,
    workflowType: provider.workflow,
    windows,
    outsideWindow,
    labels: { type: policy.credential.type, owner: policy.owner, environment: policy.environment, purpose: policy.purpose },
  };
  const spec: ScheduleOptions['spec'] = {
    ...(every ? { intervals: [{ every: every as Duration, ...(offsetMs > 0 ? { offset: offsetMs } : {}) }] } : {}),
    ...(cron ? { cronExpressions: [cron] } : {}),
    jitter: jitter as Duration,
  };
  const id = scheduleId(policy.id);
  const shape = { spec, input, taskQueue };
  const hash = createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 16);
  return {
    scheduleId: id,
    credentialId: policy.id,
    hash,
    paused: !policy.enabled,
    options: {
      scheduleId: id,
      spec,
      action: { type: 'startWorkflow', workflowType: 'scheduledRotation', workflowId: `scheduled/${policy.id}`, taskQueue, args: [input] },
      // A rotation still running when the next one is due: skip, never run two at once.
      policies: { overlap: 'SKIP', catchupWindow: '1d' },
      memo: { rotorPolicyHash: hash, owner: policy.owner, purpose: policy.purpose, environment: policy.environment },
      state: { paused: !policy.enabled, note: policy.enabled ? undefined : 'enabled: false in policy' },
    },
  };
}

/** What to change so that Temporal holds exactly the desired schedules. Pure. */
export function planScheduleChanges(desired: DesiredSchedule[], existing: ExistingSchedule[]): ScheduleChange[] {
  const current = new Map(existing.map((e) => [e.scheduleId, e]));
  const changes: ScheduleChange[] = desired.map((d) => ({ scheduleId: d.scheduleId, credentialId: d.credentialId, kind: changeKind(d, current.get(d.scheduleId)) }));
  const wanted = new Set(desired.map((d) => d.scheduleId));
  for (const e of existing) {
    if (!wanted.has(e.scheduleId)) changes.push({ kind: 'delete', scheduleId: e.scheduleId, credentialId: e.scheduleId.slice(SCHEDULE_PREFIX.length) });
  }
  return changes.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

/** The one change that turns `existing` (absent: undefined) into `desired` (not wanted: undefined). */
function changeKind(desired: DesiredSchedule | undefined, existing: ExistingSchedule | undefined): ScheduleChangeKind {
  if (!desired) return existing ? 'delete' : 'unchanged';
  if (!existing) return 'create';
  if (existing.hash !== desired.hash) return 'update';
  if (existing.paused !== desired.paused) return desired.paused ? 'pause' : 'unpause';
  return 'unchanged';
}

/**
 * Rotor's schedules as Temporal holds them now. Read with the raw list call, decoding only the
 * memo field Rotor wrote: the SDK's list decodes every spec and memo, and one it cannot decode (a
 * spec Temporal stored but the SDK refuses, a foreign memo encoding) would hide all the others, so
 * `plan`/`apply` could not even remove the bad one.
 */
export async function listRotorSchedules(client: Client): Promise<ExistingSchedule[]> {
  const out: ExistingSchedule[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.listSchedules({ namespace: client.options.namespace, maximumPageSize: 1000, nextPageToken });
    for (const s of page.schedules ?? []) {
      const id = s.scheduleId ?? '';
      if (!id.startsWith(SCHEDULE_PREFIX) || JOB_SCHEDULE_IDS.includes(id)) continue;
      out.push({ scheduleId: id, hash: memoString(s.memo?.fields?.rotorPolicyHash), paused: s.info?.paused === true });
    }
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return out;
}

/** One schedule change Temporal refused; the others were still applied. */
export interface ScheduleChangeFailure {
  scheduleId: string;
  kind: ScheduleChangeKind;
  error: string;
}

/** Some schedule changes were refused; `failures` names each with Temporal's reason. */
export class ScheduleApplyError extends Error {
  override readonly name = 'ScheduleApplyError';
  constructor(readonly failures: ScheduleChangeFailure[]) {
    super(`${failures.length} schedule change${failures.length === 1 ? '' : 's'} failed: ${failures.map((f) => `${f.kind} ${f.scheduleId}: ${f.error}`).join('; ')}`);
  }
}

/**
 * Applies a plan and returns what it really changed, and what Temporal refused. The plan comes from
 * the schedule list, which a Temporal server serves from its visibility store and which can lag
 * behind recent writes; so before each write the schedule's own state is read (describe, always
 * current) and the change is recomputed from it: a change another reconciler (another replica,
 * `rotor apply`) already made comes back as `unchanged`. `unchanged` makes no call at all. A change
 * Temporal refuses does not stop the others.
 */
export async function applyScheduleChanges(
  client: Client,
  changes: ScheduleChange[],
  desired: DesiredSchedule[],
): Promise<{ applied: ScheduleChange[]; failures: ScheduleChangeFailure[] }> {
  const byId = new Map(desired.map((d) => [d.scheduleId, d]));
  const applied: ScheduleChange[] = [];
  const failures: ScheduleChangeFailure[] = [];
  for (const planned of changes) {
    if (planned.kind === 'unchanged') {
      applied.push(planned);
      continue;
    }
    const handle = client.schedule.getHandle(planned.scheduleId);
    const d = byId.get(planned.scheduleId);
    let kind: ScheduleChangeKind = planned.kind;
    try {
      kind = changeKind(d, await describeSchedule(client, planned.scheduleId));
      switch (kind) {
        case 'create':
          await client.schedule.create(d!.options);
          break;
        case 'update':
          await handle.delete().catch(ignoreNotFound);
          await createAfterDelete(client, d!.options);
          break;
        case 'pause':
          await handle.pause('enabled: false in policy');
          break;
        case 'unpause':
          await handle.unpause('enabled again in policy');
          break;
        case 'delete':
          await handle.delete().catch(ignoreNotFound);
          break;
        case 'unchanged':
          break;
      }
      applied.push({ ...planned, kind });
    } catch (error) {
      failures.push({ scheduleId: planned.scheduleId, kind, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return { applied, failures };
}

/**
 * A schedule as it is now (not as the list last saw it); undefined when it does not exist. Raw
 * describe, decoding only Rotor's memo field (a spec the SDK cannot decode must not hide it).
 */
async function describeSchedule(client: Client, scheduleId: string): Promise<ExistingSchedule | undefined> {
  try {
    const s = await client.workflowService.describeSchedule({ namespace: client.options.namespace, scheduleId });
    return { scheduleId, hash: memoString(s.memo?.fields?.rotorPolicyHash), paused: s.schedule?.state?.paused === true };
  } catch (error) {
    if ((error as { code?: number }).code === 5) return undefined; // NOT_FOUND
    throw error;
  }
}

/** How long a re-create waits for Temporal to finish deleting the schedule it replaces. */
const RECREATE_WAIT_MS = 30_000;

/**
 * A real Temporal server finishes deleting a schedule asynchronously: a create of the same id right
 * after the delete can be refused as still running. Tried again (backoff to 1 s) for up to 30 s: a
 * busy server took over 5 s, and a re-create given up leaves the credential without a schedule until
 * the next reconcile.
 */
async function createAfterDelete(client: Client, options: ScheduleOptions): Promise<void> {
  const deadline = Date.now() + RECREATE_WAIT_MS;
  for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
    try {
      await client.schedule.create(options);
      return;
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning) || Date.now() + wait > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof ScheduleNotFoundError)) throw error;
}
