/**
 * Issue 18: the daemon's reload after a watched change re-checks only the entries the watcher named
 * (inspectChangedEntries, PolicySet.reloadEntries). Whatever the change, the result is exactly a
 * full reload's: the same policies in the same order, the same problems; a change the entries
 * cannot pin down (a new or renamed directory, a ConfigMap's `..data` swap, a link) is read by a
 * walk of the whole directory, and a refused reload keeps the old set.
 */
import { mkdir, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectChangedEntries, inspectPolicyDirectory, PolicyFileCache, PolicyLoadError, type ChangedEntry } from '../../config/load.js';
import { PolicySet } from '../../daemon/policies.js';
import { registry } from '../../providers/registry.js';
import { tempDir, validPolicy, writeConfigMap } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
let outside: Awaited<ReturnType<typeof tempDir>>;
let cache: PolicyFileCache;
let set: PolicySet;

beforeEach(async () => {
  ({ dir, remove } = await tempDir('rotor-watched-reload-'));
  outside = await tempDir('rotor-outside-');
  await mkdir(join(dir, 'team'));
  await writeFile(join(dir, 'a.yaml'), validPolicy('a-db'));
  await writeFile(join(dir, 'b.yaml'), [validPolicy('b-db'), validPolicy('b2-db')].join('---\n'));
  await writeFile(join(dir, 'team', 'c.yaml'), validPolicy('c-db'));
  cache = new PolicyFileCache();
  await inspectPolicyDirectory(dir, registry.catalog, { cache });
  set = await PolicySet.load(dir, registry.catalog);
});
afterEach(async () => {
  await remove();
  await outside.remove();
});

/** The entry a watcher names for `path` (relative to the policy directory): its directory's real path and its name. */
async function named(...paths: string[]): Promise<ChangedEntry[]> {
  return Promise.all(
    paths.map(async (path) => {
      const parts = path.split('/');
      return { dir: await realpath(join(dir, ...parts.slice(0, -1))), name: parts.at(-1)! };
    }),
  );
}

/**
 * Reloads from the named entries, and checks the result against a full reload from scratch (no
 * cache) and the PolicySet's against a fresh set's. Says whether the entries sufficed (no walk).
 */
async function reloadMatchesFull(changed: ChangedEntry[]): Promise<{ walked: boolean; refused: boolean }> {
  const full = await inspectPolicyDirectory(dir, registry.catalog);
  const patched = await inspectChangedEntries(dir, registry.catalog, changed, { cache });
  const walked = patched === undefined;
  if (patched) {
    expect(patched.inspection()).toEqual(full);
    expect(patched.problems).toEqual(full.problems);
    expect(patched.manual).toEqual(full.manual);
    expect(patched.discovery).toEqual(full.discovery);
  } else {
    expect(await inspectPolicyDirectory(dir, registry.catalog, { cache })).toEqual(full);
  }
  const before = set.all();
  const reloaded = await set.reloadEntries(changed).catch((error: unknown) => error);
  if (full.problems.length > 0) {
    expect(reloaded).toBeInstanceOf(PolicyLoadError);
    expect((reloaded as PolicyLoadError).problems).toEqual(full.problems);
    expect(set.all()).toEqual(before); // refused: the old set stays in force
    return { walked, refused: true };
  }
  expect(set.all()).toEqual(full.policies);
  for (const p of full.policies) expect(set.get(p.id)).toEqual(p);
  expect(set.manual()).toEqual(full.manual);
  return { walked, refused: false };
}

const ids = () => set.all().map((p) => p.id);

describe('the reload of the entries a watcher named', () => {
  it('an edit (in place, and by an atomic rename of a hidden temporary file) re-reads that file only', async () => {
    await writeFile(join(dir, 'team', 'c.yaml'), validPolicy('c-db').replace('team-payments', 'team-checkout'));
    expect(await reloadMatchesFull(await named('team/c.yaml'))).toEqual({ walked: false, refused: false });
    expect(set.get('c-db')!.owner).toBe('team-checkout');

    await writeFile(join(dir, '.a.yaml.tmp'), validPolicy('a-db').replace('team-payments', 'team-ledger'));
    await rename(join(dir, '.a.yaml.tmp'), join(dir, 'a.yaml'));
    expect(await reloadMatchesFull(await named('.a.yaml.tmp', 'a.yaml'))).toEqual({ walked: false, refused: false });
    expect(set.get('a-db')!.owner).toBe('team-ledger');
  });

  it('a new file and a removed file, each in its place in the walk order', async () => {
    await writeFile(join(dir, 'team', 'd.yaml'), validPolicy('d-db'));
    await writeFile(join(dir, 'aa.yaml'), validPolicy('aa-db'));
    expect(await reloadMatchesFull(await named('team/d.yaml', 'aa.yaml'))).toEqual({ walked: false, refused: false });
    expect(ids()).toEqual(['a-db', 'aa-db', 'b-db', 'b2-db', 'c-db', 'd-db']);

    await rm(join(dir, 'b.yaml'));
    expect(await reloadMatchesFull(await named('b.yaml'))).toEqual({ walked: false, refused: false });
    expect(ids()).toEqual(['a-db', 'aa-db', 'c-db', 'd-db']);
  });

  it('a rename of a file moves its policies; a rename of a directory is read by a walk', async () => {
    await rename(join(dir, 'a.yaml'), join(dir, 'zz.yaml'));
    expect(await reloadMatchesFull(await named('a.yaml', 'zz.yaml'))).toEqual({ walked: false, refused: false });
    expect(ids()).toEqual(['b-db', 'b2-db', 'c-db', 'a-db']);

    await rename(join(dir, 'team'), join(dir, 'crew'));
    expect(await reloadMatchesFull(await named('team', 'crew'))).toEqual({ walked: true, refused: false });
    expect(set.get('c-db')!.source.file).toBe(join(dir, 'crew', 'c.yaml'));
  });

  it('a new sub-directory with files is read by a walk', async () => {
    await mkdir(join(dir, 'new', 'deeper'), { recursive: true });
    await writeFile(join(dir, 'new', 'e.yaml'), validPolicy('e-db'));
    await writeFile(join(dir, 'new', 'deeper', 'f.yaml'), validPolicy('f-db'));
    expect(await reloadMatchesFull(await named('new'))).toEqual({ walked: true, refused: false });
    expect(ids()).toEqual(['a-db', 'b-db', 'b2-db', 'f-db', 'e-db', 'c-db']); // new/deeper/ sorts before new/e.yaml
  });

  it('a ConfigMap-style ..data swap is read by a walk, and the next edit of a linked file too', async () => {
    await writeConfigMap(dir, '2026_01_01_00_00_00.000000001', { 'g.yaml': validPolicy('g-db') });
    expect(await reloadMatchesFull(await named('..2026_01_01_00_00_00.000000001', '..data_tmp', '..data', 'g.yaml'))).toEqual({ walked: true, refused: false });
    await writeConfigMap(dir, '2026_01_02_00_00_00.000000002', { 'g.yaml': validPolicy('g-db').replace('team-payments', 'team-infra') });
    expect(await reloadMatchesFull(await named('..2026_01_02_00_00_00.000000002', '..data_tmp', '..data'))).toEqual({ walked: true, refused: false });
    expect(set.get('g-db')!.owner).toBe('team-infra');
    // The watcher names the real file behind the link (in the generation directory): a walk.
    await writeFile(join(dir, '..2026_01_02_00_00_00.000000002', 'g.yaml'), validPolicy('g-db').replace('team-payments', 'team-web'));
    expect(await reloadMatchesFull(await named('..2026_01_02_00_00_00.000000002/g.yaml'))).toEqual({ walked: true, refused: false });
    expect(set.get('g-db')!.owner).toBe('team-web');
  });

  it('a duplicate id introduced in a second file is refused, naming both files, and the old set is kept', async () => {
    await writeFile(join(dir, 'team', 'c.yaml'), validPolicy('a-db'));
    await writeFile(join(dir, 'b.yaml'), validPolicy('b-db')); // b2-db removed in the same refused change
    expect(await reloadMatchesFull(await named('team/c.yaml', 'b.yaml'))).toEqual({ walked: false, refused: true });
    expect(set.refusedProblems()).toEqual([
      expect.objectContaining({ file: join(dir, 'team', 'c.yaml'), path: 'id', message: `credential id "a-db" is already declared in ${join(dir, 'a.yaml')}` }),
    ]);
    expect(ids()).toEqual(['a-db', 'b-db', 'b2-db', 'c-db']);
    // Fixed again: taken, from the entries alone, with the removal made while it was refused.
    await writeFile(join(dir, 'team', 'c.yaml'), validPolicy('c-db'));
    expect(await reloadMatchesFull(await named('team/c.yaml'))).toEqual({ walked: false, refused: false });
    expect(ids()).toEqual(['a-db', 'b-db', 'c-db']);
  });

  it('a symbolic link leaving the directory is refused by a walk, and the old set is kept', async () => {
    await writeFile(join(outside.dir, 'stolen.yaml'), validPolicy('stolen-db'));
    await symlink(join(outside.dir, 'stolen.yaml'), join(dir, 'team', 'stolen.yaml'));
    expect(await reloadMatchesFull(await named('team/stolen.yaml'))).toEqual({ walked: true, refused: true });
    expect(set.refusedProblems()).toEqual([expect.objectContaining({ file: join(dir, 'team', 'stolen.yaml'), message: expect.stringMatching(/outside the policy directory/) })]);
    expect(ids()).toEqual(['a-db', 'b-db', 'b2-db', 'c-db']);
  });

  it('a link inside the directory, and the file it names, are re-read by a walk', async () => {
    await symlink('a.yaml', join(dir, '0.yaml')); // walked first: a.yaml is then read as 0.yaml only
    expect(await reloadMatchesFull(await named('0.yaml'))).toEqual({ walked: true, refused: false });
    await writeFile(join(dir, 'a.yaml'), validPolicy('a-db').replace('team-payments', 'team-ops'));
    expect(await reloadMatchesFull(await named('a.yaml'))).toEqual({ walked: true, refused: false });
    await rm(join(dir, '0.yaml'));
    expect(await reloadMatchesFull(await named('0.yaml'))).toEqual({ walked: true, refused: false });
    expect(set.get('a-db')!.source.file).toBe(join(dir, 'a.yaml'));
  });
});
