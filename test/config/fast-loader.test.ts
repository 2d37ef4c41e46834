/**
 * Issue 18: the loader's fast path (js-yaml for files that turn out valid) and the daemon's
 * per-file cache. Whatever the fast parser is not trusted with goes to the position-keeping
 * parser, so refusals keep their lines; a reload after one edit re-reads that file only.
 */
import { readFile, utimes, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectPolicyDirectory, loadPolicies, PolicyFileCache } from '../../config/load.js';
import { PolicySet } from '../../daemon/policies.js';
import { registry } from '../../providers/registry.js';
import { refusal, tempDir, validPolicy } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
beforeEach(async () => ({ dir, remove } = await tempDir()));
afterEach(() => remove());

describe('the fast path', () => {
  it('a duplicate key is refused at its line, though the fast parser takes most files', async () => {
    await writeFile(join(dir, 'a.yaml'), validPolicy('a-db', 'owner: team-other\n'));
    const problems = await refusal(dir);
    expect(problems).toEqual([expect.objectContaining({ file: join(dir, 'a.yaml'), line: 18, message: expect.stringMatching(/unique/) })]);
  });

  it('anchors and aliases within the limit load as before (the position-keeping parser counts them)', async () => {
    const text = `${validPolicy('a-db')}dependents:\n  - &app { name: app, type: vault-kv, address: http://127.0.0.1:8200, token: env:VAULT_TOKEN, path: apps/a }\n`;
    await writeFile(join(dir, 'a.yaml'), text);
    expect((await loadPolicies(dir, registry.catalog))[0]!.dependents.map((d) => d.name)).toEqual(['app']);
  });

  it('a problem found in a file the fast parser read is reported with its line', async () => {
    await writeFile(join(dir, 'a.yaml'), `${validPolicy('a-db')}schedule:\n  every: 1m\n`);
    expect(await refusal(dir)).toEqual([expect.objectContaining({ path: 'schedule.every', line: 19 })]);
  });

  it('a cron expression with stars (not an alias) loads', async () => {
    await writeFile(join(dir, 'a.yaml'), `${validPolicy('a-db')}schedule:\n  cron: "0 3 * * 1"\n`);
    expect((await loadPolicies(dir, registry.catalog))[0]!.schedule.cron).toBe('0 3 * * 1');
  });
});

describe('the daemon reload cache', () => {
  it('reuses the result of unchanged files and re-reads a changed one', async () => {
    await writeFile(join(dir, 'a.yaml'), validPolicy('a-db'));
    await writeFile(join(dir, 'b.yaml'), validPolicy('b-db'));
    const set = await PolicySet.load(dir, registry.catalog);
    const a = set.get('a-db');
    await writeFile(join(dir, 'b.yaml'), validPolicy('b-db').replace('team-payments', 'team-checkout'));
    await set.reload();
    expect(set.get('a-db')).toBe(a); // the same object: a.yaml was not parsed again
    expect(set.get('b-db')!.owner).toBe('team-checkout');
  });

  it('sees an edit that keeps the size and sets the modification time back (the change time moves)', async () => {
    const file = join(dir, 'a.yaml');
    await writeFile(file, validPolicy('a-db'));
    const cache = new PolicyFileCache();
    await inspectPolicyDirectory(dir, registry.catalog, { cache });
    const before = await stat(file);
    await writeFile(file, (await readFile(file, 'utf8')).replace('team-payments', 'team-paymentz'));
    await utimes(file, before.atime, before.mtime);
    const { policies } = await inspectPolicyDirectory(dir, registry.catalog, { cache });
    expect(policies[0]!.owner).toBe('team-paymentz');
  });

  it('a file that became invalid is refused, and a removed file is forgotten', async () => {
    await writeFile(join(dir, 'a.yaml'), validPolicy('a-db'));
    await writeFile(join(dir, 'b.yaml'), validPolicy('b-db'));
    const cache = new PolicyFileCache();
    await inspectPolicyDirectory(dir, registry.catalog, { cache });
    await writeFile(join(dir, 'b.yaml'), validPolicy('a-db'));
    expect((await inspectPolicyDirectory(dir, registry.catalog, { cache })).problems).toEqual([
      expect.objectContaining({ file: join(dir, 'b.yaml'), message: expect.stringMatching(/already declared/) }),
    ]);
    const { rm } = await import('node:fs/promises');
    await rm(join(dir, 'b.yaml'));
    expect((await inspectPolicyDirectory(dir, registry.catalog, { cache })).policies.map((p) => p.id)).toEqual(['a-db']);
    expect(cache.size).toBe(1);
  });
});
