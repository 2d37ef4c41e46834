/**
 * Issue 19, second bullet: the daemon's policy watcher sees every way an editor or a deployment
 * replaces a file: an in-place write, a rename over the file, `sed -i` (the real binary: it writes
 * a temporary file and renames it over the original), a file added in a new sub-directory, and a
 * Kubernetes ConfigMap update (new `..<timestamp>` directory, atomic rename of `..data`). After each
 * change, later edits are still seen.
 */
import { execFile } from 'node:child_process';
import { mkdir, realpath, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPolicies, type ChangedEntry } from '../../config/load.js';
import { registry } from '../../providers/registry.js';
import { watchPolicyDirectory, type PolicyWatcher } from '../../daemon/policy-watcher.js';
import { tempDir, validPolicy, writeConfigMap } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
let watcher: PolicyWatcher | undefined;
let changes = 0;
/** What each report named: the entries, or undefined (a walk of the whole directory is asked for). */
let reports: Array<ChangedEntry[] | undefined> = [];

beforeEach(async () => {
  ({ dir, remove } = await tempDir('rotor-watch-'));
  changes = 0;
  reports = [];
});
afterEach(async () => {
  watcher?.close();
  watcher = undefined;
  await remove();
});

async function startWatching(): Promise<void> {
  watcher = watchPolicyDirectory(dir, (named) => (reports.push(named), changes++), { debounceMs: 50 });
  await watcher.ready;
}

/** Makes a change and waits until the watcher reported one more change (fails after 5 s). */
async function seen(change: () => Promise<unknown>): Promise<void> {
  const before = changes;
  await change();
  const deadline = Date.now() + 5000;
  while (changes === before) {
    if (Date.now() > deadline) throw new Error('the watcher did not report the change within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const every = async () => (await loadPolicies(dir, registry.catalog)).map((p) => `${p.id}:${p.schedule.every}`).sort();
const withEvery = (id: string, value: string) => validPolicy(id, `schedule:\n  every: ${value}\n`);

describe('the policy watcher', () => {
  it('sees in-place writes, again and again', async () => {
    await writeFile(join(dir, 'a.yaml'), withEvery('a-db', '30d'));
    await startWatching();
    await seen(() => writeFile(join(dir, 'a.yaml'), withEvery('a-db', '7d')));
    await seen(() => writeFile(join(dir, 'a.yaml'), withEvery('a-db', '8d')));
    expect(await every()).toEqual(['a-db:8d']);
  });

  it('sees a file replaced by a rename (atomic write), and edits after it', async () => {
    await writeFile(join(dir, 'a.yaml'), withEvery('a-db', '30d'));
    await startWatching();
    await seen(async () => {
      await writeFile(join(dir, '.a.yaml.tmp'), withEvery('a-db', '7d'));
      await rename(join(dir, '.a.yaml.tmp'), join(dir, 'a.yaml'));
    });
    await seen(() => writeFile(join(dir, 'a.yaml'), withEvery('a-db', '9d')));
    expect(await every()).toEqual(['a-db:9d']);
  });

  it('sees sed -i on a file added at run time in a new sub-directory, and the edits after it', async () => {
    await startWatching();
    await seen(async () => {
      await mkdir(join(dir, 'team'));
      await writeFile(join(dir, 'team', 'b.yaml'), withEvery('b-db', '30d'));
    });
    await seen(() => promisify(execFile)('sed', ['-i', 's/every: 30d/every: 7d/', join(dir, 'team', 'b.yaml')]));
    await seen(() => promisify(execFile)('sed', ['-i', 's/every: 7d/every: 5d/', join(dir, 'team', 'b.yaml')]));
    await seen(() => writeFile(join(dir, 'team', 'b.yaml'), withEvery('b-db', '6d')));
    expect(await every()).toEqual(['b-db:6d']);
  });

  it('names the entries that changed, each directory by its real path', async () => {
    await mkdir(join(dir, 'team'));
    await writeFile(join(dir, 'team', 'a.yaml'), withEvery('a-db', '30d'));
    await startWatching();
    await seen(() => writeFile(join(dir, 'team', 'a.yaml'), withEvery('a-db', '7d')));
    await seen(() => rename(join(dir, 'team', 'a.yaml'), join(dir, 'team', 'b.yaml')));
    const team = await realpath(join(dir, 'team'));
    const named = reports.flatMap((r) => r ?? []);
    expect(reports).not.toContain(undefined);
    expect(named).toContainEqual({ dir: team, name: 'a.yaml' });
    expect(named).toContainEqual({ dir: team, name: 'b.yaml' });
  });

  it('sees a ConfigMap update (new generation, ..data swapped by rename), twice', async () => {
    await writeConfigMap(dir, '2026_01_01_00_00_00.000000001', { 'c.yaml': withEvery('c-db', '30d') });
    await startWatching();
    await seen(() => writeConfigMap(dir, '2026_01_02_00_00_00.000000002', { 'c.yaml': withEvery('c-db', '7d') }));
    expect(await every()).toEqual(['c-db:7d']);
    // The swap is named as the kubelet made it, and the reload walks the whole directory for it.
    expect(reports.flatMap((r) => r ?? []).map((e) => e.name)).toContain('..data');
    await seen(() => writeConfigMap(dir, '2026_01_03_00_00_00.000000003', { 'c.yaml': withEvery('c-db', '3d') }));
    expect(await every()).toEqual(['c-db:3d']);
  });
});
