/**
 * Issue 14 item 8: the loader's edges. Hidden files and directories are skipped, `.YAML` counts,
 * symlinks are followed inside the policy directory and refused by name outside it, every name and
 * value printed has its control characters escaped, NUL and invalid UTF-8 are refused, deep
 * nesting is reported as a limit, and each problem is printed once.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatProblem, loadPolicies } from '../../config/load.js';
import { registry } from '../../providers/registry.js';
import { refusal, tempDir, validPolicy } from './fixtures.js';

let dir: string;
let outside: string;
const cleanups: Array<() => Promise<void>> = [];
beforeEach(async () => {
  const a = await tempDir();
  const b = await tempDir('rotor-outside-');
  [dir, outside] = [a.dir, b.dir];
  cleanups.push(a.remove, b.remove);
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const ids = async () => (await loadPolicies(dir, registry.catalog)).map((p) => p.id).sort();

describe('which files are policies', () => {
  it('skips hidden files and directories (.git/, editor leftovers)', async () => {
    await writeFile(join(dir, 'payments.yaml'), validPolicy('payments-db'));
    await mkdir(join(dir, '.git', 'refs'), { recursive: true });
    await writeFile(join(dir, '.git', 'refs', 'old.yaml'), validPolicy('payments-db')); // would be a duplicate id
    await writeFile(join(dir, '.payments.yaml.swp'), 'not: [yaml');
    await writeFile(join(dir, '.hidden.yaml'), 'not: [yaml');
    expect(await ids()).toEqual(['payments-db']);
  });

  it('takes .yaml and .yml in any case', async () => {
    await writeFile(join(dir, 'A.YAML'), validPolicy('a-db'));
    await writeFile(join(dir, 'b.Yml'), validPolicy('b-db'));
    await writeFile(join(dir, 'c.txt'), validPolicy('c-db'));
    expect(await ids()).toEqual(['a-db', 'b-db']);
  });

  it('follows symlinks that stay inside the policy directory (files and directories), each real file once', async () => {
    await mkdir(join(dir, 'shared'));
    await writeFile(join(dir, 'shared', 'base.txt'), validPolicy('base-db')); // not a policy name itself
    await symlink('shared/base.txt', join(dir, 'linked.yaml'));
    await symlink('shared/base.txt', join(dir, 'again.yaml')); // a second name of one file: read once
    await mkdir(join(dir, '.teams'));
    await writeFile(join(dir, '.teams', 'team.yaml'), validPolicy('team-db'));
    await symlink('.teams', join(dir, 'team-link'));
    await symlink('..', join(dir, '.teams', 'loop')); // a cycle is not walked twice
    const policies = await loadPolicies(dir, registry.catalog);
    expect(policies.map((p) => [p.id, p.source.file]).sort()).toEqual([
      ['base-db', join(dir, 'again.yaml')],
      ['team-db', join(dir, 'team-link', 'team.yaml')],
    ]);
  });

  it('refuses, by name, symlinks that leave the policy directory', async () => {
    await writeFile(join(outside, 'secret.yaml'), validPolicy('outside-db'));
    await writeFile(join(dir, 'payments.yaml'), validPolicy('payments-db'));
    await symlink(join(outside, 'secret.yaml'), join(dir, 'escape.yaml'));
    await symlink(outside, join(dir, 'escape-dir'));
    const problems = await refusal(dir);
    expect(problems.map((p) => [p.file, p.message])).toEqual([
      [join(dir, 'escape-dir'), expect.stringMatching(/symbolic link to .* outside the policy directory/)],
      [join(dir, 'escape.yaml'), expect.stringMatching(/symbolic link to .* outside the policy directory/)],
    ]);
  });

  it('refuses a dangling symlink by name', async () => {
    await symlink(join(dir, 'gone.yaml'), join(dir, 'dangling.yaml'));
    expect(await refusal(dir)).toEqual([expect.objectContaining({ file: join(dir, 'dangling.yaml'), message: expect.stringMatching(/dangling/) })]);
  });
});

describe('what is printed', () => {
  it('escapes control characters in file names and values (no terminal injection)', async () => {
    const name = 'evil\n\u001b[2Kname\u202e.yaml';
    await writeFile(join(dir, name), validPolicy('payments-db').replace('owner: team-payments', 'owner: ""').replace('environment: production', 'environment: "prod\\u001b[31m\\nuction"'));
    const printed = (await refusal(dir)).map(formatProblem);
    expect(printed.length).toBeGreaterThan(0);
    for (const line of printed) {
      // eslint-disable-next-line no-control-regex
      expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
      expect(line).toContain('evil\\n\\x1b[2Kname\\u202e.yaml');
    }
  });

  it('prints each problem once (an inline password is not reported twice)', async () => {
    await writeFile(join(dir, 'p.yaml'), validPolicy().replace('env:ORDERS_ADMIN_PASSWORD', 'hunter2-not-a-reference'));
    const printed = (await refusal(dir)).map(formatProblem);
    expect(printed).toHaveLength(1);
    expect(printed[0]).toMatch(/credential\.admin\.password: must be a secret reference/);
  });
});

describe('what text is accepted', () => {
  it('refuses a NUL character, raw or escaped, naming the line', async () => {
    await writeFile(join(dir, 'raw.yaml'), validPolicy('raw-db').replace('purpose: Payments', 'purpose: Pay\0ments'));
    await writeFile(join(dir, 'escaped.yaml'), validPolicy('escaped-db').replace('purpose: Payments API login to the orders database', 'purpose: "Pay\\0ments API login"'));
    const problems = await refusal(dir);
    expect(problems).toEqual([
      expect.objectContaining({ file: join(dir, 'escaped.yaml'), path: 'purpose', line: 3, message: expect.stringMatching(/NUL/) }),
      expect.objectContaining({ file: join(dir, 'raw.yaml'), line: 3, message: expect.stringMatching(/NUL/) }),
    ]);
  });

  it('refuses invalid UTF-8 and unpaired surrogates, naming the line', async () => {
    const text = Buffer.concat([Buffer.from(validPolicy('bytes-db').replace('purpose: Payments API', 'purpose: Pay')), Buffer.from('owner2: \xff\xfe\n', 'latin1')]);
    await writeFile(join(dir, 'bytes.yaml'), text);
    await writeFile(join(dir, 'surrogate.yaml'), validPolicy('surrogate-db').replace('purpose: Payments API login to the orders database', 'purpose: "Payments \\ud800 login"'));
    const problems = await refusal(dir);
    expect(problems).toEqual([
      expect.objectContaining({ file: join(dir, 'bytes.yaml'), line: validPolicy('bytes-db').split('\n').length, message: expect.stringMatching(/not valid UTF-8/) }),
      expect.objectContaining({ file: join(dir, 'surrogate.yaml'), path: 'purpose', message: expect.stringMatching(/surrogate/) }),
    ]);
  });

  it('reports a 10,000-deep document as a clear limit, not a stack overflow', async () => {
    await writeFile(join(dir, 'flow.yaml'), `id: deep-db\npurpose: ${'['.repeat(10_000)}1${']'.repeat(10_000)}\n`);
    await writeFile(join(dir, 'block.yaml'), `${Array.from({ length: 100 }, (_, i) => `${' '.repeat(i)}a:`).join('\n')} 1\n`);
    const problems = await refusal(dir);
    expect(problems.map((p) => [p.file, p.message])).toEqual([
      [join(dir, 'block.yaml'), expect.stringMatching(/nested .*documents are limited to 64 levels/)],
      [join(dir, 'flow.yaml'), expect.stringMatching(/nested .*documents are limited to 64 levels/)],
    ]);
    for (const p of problems) expect(p.message).not.toMatch(/call stack/i);
  });
});
