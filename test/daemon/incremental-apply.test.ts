/**
 * Issue 18: after a watched edit the daemon applies only what changed (applyPolicyChanges): it
 * describes and writes the schedules of the policies added, changed or removed (the whole group
 * where a group changed: its members' offsets depend on all of them), upserts their inventory rows
 * only, lists no schedules, and leaves Temporal and the store as a whole apply would.
 */
import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml } from '../harness/db-rotation.js';
import { registry } from '../../providers/registry.js';
import { PolicySet } from '../../daemon/policies.js';
import { applyPolicyChanges, applyPolicyDirectory, type ApplyTarget } from '../../daemon/apply.js';
import { listRotorSchedules, scheduleId } from '../../daemon/schedules.js';

let env: RotorEnv;
let dir: string;
let target: ApplyTarget;

const policy = (id: string, extra: string) => dbPolicyYaml(env, id, { role: id.replace(/-/g, '_'), extra });
const grouped = (id: string) => policy(id, 'group: ledger\nschedule:\n  every: 30d');

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  dir = await mkdtemp(join(tmpdir(), 'rotor-incremental-apply-'));
  target = { client: env.client, store: env.store, providers: registry, taskQueue: env.taskQueue };
});
afterAll(async () => {
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

/** Counts Temporal's schedule calls by the schedule they name. */
function countScheduleCalls() {
  const service = env.client.workflowService;
  const calls = { list: 0, described: [] as string[], written: [] as string[] };
  const listSchedules = service.listSchedules.bind(service);
  const describeSchedule = service.describeSchedule.bind(service);
  const createSchedule = service.createSchedule.bind(service);
  const deleteSchedule = service.deleteSchedule.bind(service);
  const patchSchedule = service.patchSchedule.bind(service);
  vi.spyOn(service, 'listSchedules').mockImplementation((r) => (calls.list++, listSchedules(r)));
  vi.spyOn(service, 'describeSchedule').mockImplementation((r) => (calls.described.push(r.scheduleId!), describeSchedule(r)));
  vi.spyOn(service, 'createSchedule').mockImplementation((r) => (calls.written.push(`create ${r.scheduleId}`), createSchedule(r)));
  vi.spyOn(service, 'deleteSchedule').mockImplementation((r) => (calls.written.push(`delete ${r.scheduleId}`), deleteSchedule(r)));
  vi.spyOn(service, 'patchSchedule').mockImplementation((r) => (calls.written.push(`patch ${r.scheduleId}`), patchSchedule(r)));
  return calls;
}

/** What Temporal holds: each Rotor schedule with its policy hash and paused state. */
async function temporalState(): Promise<string[]> {
  return (await listRotorSchedules(env.client)).map((s) => `${s.scheduleId} ${s.hash} ${s.paused}`).sort();
}

describe('the incremental apply', () => {
  it('writes only the changed schedules and rows, and leaves what a whole apply would', async () => {
    await writeFile(join(dir, 'a.yaml'), [policy('inc-a', 'schedule:\n  every: 30d'), policy('inc-b', 'schedule:\n  every: 30d')].join('\n---\n'));
    await writeFile(join(dir, 'c.yaml'), policy('inc-c', 'schedule:\n  every: 30d'));
    await writeFile(join(dir, 'ledger.yaml'), [grouped('inc-l1'), grouped('inc-l2')].join('\n---\n'));
    await writeFile(join(dir, 'other.yaml'), policy('inc-o', 'schedule:\n  every: 30d'));
    const set = await PolicySet.load(dir, registry.catalog);
    await applyPolicyDirectory(target, { policies: set.all(), manual: set.manual() }, set.discovery());
    const rowsBefore = new Map((await env.store.listCredentials()).map((c) => [c.id, c]));

    // One policy edited (a.yaml), one file removed (c.yaml), a third member joins the group: the
    // offsets are now 0, 1/3 and 2/3 of the interval, so l2 (was 1/2) is replaced too, l1 (0) is
    // not. other.yaml and inc-b stay as they were.
    await writeFile(join(dir, 'a.yaml'), [policy('inc-a', 'schedule:\n  every: 7d'), policy('inc-b', 'schedule:\n  every: 30d')].join('\n---\n'));
    await rm(join(dir, 'c.yaml'));
    await writeFile(join(dir, 'ledger.yaml'), [grouped('inc-l1'), grouped('inc-l2'), grouped('inc-l3')].join('\n---\n'));
    const root = await realpath(dir);
    const change = await set.reloadEntries(['a.yaml', 'c.yaml', 'ledger.yaml'].map((name) => ({ dir: root, name })));

    const calls = countScheduleCalls();
    const upserts = vi.spyOn(env.store, 'upsertCredentials');
    const changes = await applyPolicyChanges(target, change, set);

    expect(changes.map((c) => `${c.kind} ${c.scheduleId}`).sort()).toEqual(
      ['update inc-a', 'delete inc-c', 'update inc-l2', 'create inc-l3'].map((c) => c.replace(' ', ' rotor/')).sort(),
    );
    expect(calls.list).toBe(0);
    expect(calls.described.sort()).toEqual(['inc-a', 'inc-c', 'inc-l2', 'inc-l3'].map(scheduleId).sort());
    // An update is a delete and a create (Temporal cannot change a memo).
    expect(calls.written.sort()).toEqual(
      [
        ...['inc-a', 'inc-l2'].flatMap((id) => [`create ${scheduleId(id)}`, `delete ${scheduleId(id)}`]),
        `delete ${scheduleId('inc-c')}`,
        `create ${scheduleId('inc-l3')}`,
      ].sort(),
    );
    // Inventory: the edited and the new policy only (a group offset is no inventory change).
    expect(upserts.mock.calls.flatMap(([rows]) => rows.map((r) => r.id)).sort()).toEqual(['inc-a', 'inc-l3']);
    expect((await env.store.getCredential('inc-c'))?.status).toBe('retired');
    expect((await env.store.getCredential('inc-a'))?.policyHash).not.toBe(rowsBefore.get('inc-a')?.policyHash);
    expect((await env.store.getCredential('inc-l3'))?.status).toBe('managed');

    // A whole apply afterwards finds nothing to do: the same final state.
    vi.restoreAllMocks();
    const state = await temporalState();
    const whole = await applyPolicyDirectory(target, { policies: set.all(), manual: set.manual() }, set.discovery());
    expect(whole.filter((c) => c.kind !== 'unchanged')).toEqual([]);
    expect(await temporalState()).toEqual(state);
    expect(state.map((s) => s.split(' ')[0])).toEqual(['inc-a', 'inc-b', 'inc-l1', 'inc-l2', 'inc-l3', 'inc-o'].map(scheduleId));
  });

  it('a file rewritten with the same content writes nothing', async () => {
    const set = await PolicySet.load(dir, registry.catalog);
    await applyPolicyDirectory(target, { policies: set.all(), manual: set.manual() }, set.discovery());
    const before = set.get('inc-a');
    const text = [policy('inc-a', 'schedule:\n  every: 7d'), policy('inc-b', 'schedule:\n  every: 30d')].join('\n---\n');
    await rm(join(dir, 'a.yaml'));
    await writeFile(join(dir, 'a.yaml'), text); // a new inode: re-read, new objects, same content
    const change = await set.reloadEntries([{ dir: await realpath(dir), name: 'a.yaml' }]);
    expect(set.get('inc-a')).not.toBe(before);
    expect([...change.policies.keys()].sort()).toEqual(['inc-a', 'inc-b']);
    const calls = countScheduleCalls();
    const upserts = vi.spyOn(env.store, 'upsertCredentials');
    expect(await applyPolicyChanges(target, change, set)).toEqual([]);
    expect(calls).toEqual({ list: 0, described: [], written: [] });
    expect(upserts.mock.calls.flatMap(([rows]) => rows)).toEqual([]);
  });
});
