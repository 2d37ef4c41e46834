/**
 * Issue 19, last bullet (validation reporting): every problem at its own line, a "did you mean"
 * for a near-miss key, and all the problems of a document in one run (a typo in a credential
 * field shows together with the top-level errors).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatProblem } from '../../config/load.js';
import { refusal, tempDir, validPolicy } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
beforeEach(async () => ({ dir, remove } = await tempDir('rotor-report-')));
afterEach(() => remove());

describe('validation reporting', () => {
  it('reports a top-level unknown key at its own line, with a suggestion', async () => {
    await writeFile(join(dir, 'p.yaml'), validPolicy('payments-db', 'schedual:\n  every: 30d\n'));
    const printed = (await refusal(dir)).map(formatProblem);
    expect(printed).toEqual([`${join(dir, 'p.yaml')}:18: schedual: unknown field "schedual"; did you mean "schedule"?`]);
  });

  it('suggests near-miss keys inside provider blocks and nested policy blocks', async () => {
    await writeFile(join(dir, 'p.yaml'), validPolicy('payments-db', 'revoke:\n  aftr: 24h\n').replace('  database: orders', '  databse: orders'));
    const problems = await refusal(dir);
    expect(problems.map((p) => [p.path, p.line, p.message]).sort()).toEqual([
      ['credential.database', 5, 'is required'], // at the credential block that should hold it
      ['credential.databse', 8, 'unknown field "databse"; did you mean "database"?'],
      ['revoke.aftr', 19, 'unknown field "aftr"; did you mean "after"?'],
    ]);
  });

  it('lists a credential typo together with the top-level errors, in one run', async () => {
    await writeFile(join(dir, 'p.yaml'), validPolicy().replace('owner: team-payments\n', '').replace('  role: payments', '  rolee: payments').replace('environment: production', 'environment: Production!'));
    const problems = await refusal(dir);
    expect(problems.map((p) => p.path).sort()).toEqual(['credential.role', 'credential.rolee', 'environment', 'owner']);
    expect(problems.find((p) => p.path === 'credential.rolee')).toMatchObject({ line: 11, message: expect.stringMatching(/did you mean "role"/) });
  });

  it('says nothing it cannot back up: a key far from every known one gets no suggestion', async () => {
    await writeFile(join(dir, 'p.yaml'), validPolicy('payments-db', 'colour: blue\n'));
    const [problem] = await refusal(dir);
    expect(problem).toMatchObject({ path: 'colour', line: 18, message: 'unknown field "colour"' });
  });
});
