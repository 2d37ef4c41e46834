import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPolicies, loadPolicyDirectory, PolicyLoadError, MAX_POLICY_FILE_BYTES, type PolicyProblem } from '../../config/load.js';
import { registry } from '../../providers/registry.js';

/** A valid policy; each test breaks one thing. */
const VALID = `
id: payments-db
owner: team-payments
purpose: Payments API login to the orders database
environment: production
credential:
  type: postgres-password
  host: 127.0.0.1
  database: orders
  admin:
    user: rotor_admin
    password: env:ORDERS_ADMIN_PASSWORD
  role: payments
store:
  type: vault-kv
  address: http://127.0.0.1:8200
  token: env:VAULT_TOKEN
  path: rotor/payments-db
dependents:
  - name: app
    type: vault-kv
    address: http://127.0.0.1:8200
    token: env:VAULT_TOKEN
    path: apps/payments/db
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rotor-policies-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

async function problemsOf(text: string): Promise<PolicyProblem[]> {
  await write('policy.yaml', text);
  const error = await loadPolicies(dir, registry.catalog).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PolicyLoadError);
  return (error as PolicyLoadError).problems;
}

describe('policy loading', () => {
  it('loads a valid policy with defaults applied', async () => {
    await write('a.yaml', VALID);
    const [policy] = await loadPolicies(dir, registry.catalog);
    expect(policy!.id).toBe('payments-db');
    expect(policy!.strategy).toBe('dual');
    expect(policy!.schedule.every).toBe('30d'); // the database default cadence
    expect(policy!.revoke.after).toBe('24h');
    expect(policy!.rollback).toBe('auto');
    expect(policy!.credential.spec).toMatchObject({ role: 'payments', port: 5432 });
    expect(policy!.dependents.map((d) => d.name)).toEqual(['app']);
  });

  it('loads many policies from one file (documents and a policies list) and from sub-directories', async () => {
    await write('two.yaml', `${VALID}\n---\n${VALID.replace('id: payments-db', 'id: payments-db-2')}`);
    await mkdir(join(dir, 'team'));
    const list = `policies:\n${[3, 4].map((n) => VALID.replace('id: payments-db', `id: payments-db-${n}`).trim().split('\n').map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`)).join('\n')).join('\n')}\n`;
    await writeFile(join(dir, 'team', 'list.yml'), list);
    const ids = (await loadPolicies(dir, registry.catalog)).map((p) => p.id).sort();
    expect(ids).toEqual(['payments-db', 'payments-db-2', 'payments-db-3', 'payments-db-4']);
  });

  it('refuses a policy without an owner, naming file, path and line', async () => {
    const [problem, ...rest] = await problemsOf(VALID.replace('owner: team-payments\n', ''));
    expect(rest).toEqual([]);
    expect(problem!.file).toBe(join(dir, 'policy.yaml'));
    expect(problem!.path).toBe('owner');
    expect(problem!.message).toMatch(/owner/);
  });

  it('points at the line of a wrong value', async () => {
    const [problem] = await problemsOf(VALID.replace('  database: orders', '  database: orders\n  port: many'));
    expect(problem).toMatchObject({ path: 'credential.port', line: 10 });
  });

  it('refuses unknown fields', async () => {
    const problems = await problemsOf(`${VALID}colour: blue\n`);
    expect(problems.map((p) => p.message).join()).toMatch(/colour/);
  });

  it('refuses a bad duration and a bad cron', async () => {
    const problems = await problemsOf(`${VALID}schedule:\n  every: 30 days\n  jitter: soon\n`);
    expect(problems.map((p) => p.path).sort()).toEqual(['schedule.every', 'schedule.jitter']);
    const cron = await problemsOf(`${VALID}schedule:\n  cron: "0 3 * *"\n`);
    expect(cron[0]).toMatchObject({ path: 'schedule.cron' });
  });

  it('refuses secret values written inline, and never repeats them in the message', async () => {
    const inline = 'hunter2-is-not-a-reference';
    const problems = await problemsOf(VALID.replace('env:ORDERS_ADMIN_PASSWORD', inline));
    expect(problems[0]).toMatchObject({ path: 'credential.admin.password' });
    expect(problems[0]!.message).toMatch(/secret reference/);
    const fakeKeyId = ['AKIA', 'Z'.repeat(16)].join('');
    const aws = await problemsOf(VALID.replace('purpose: Payments API', `purpose: ${fakeKeyId} Payments API`));
    expect(aws[0]!.message).toMatch(/AWS access key id/);
    for (const p of [...problems, ...aws]) expect(JSON.stringify(p)).not.toContain(inline);
  });

  it('refuses an unknown credential type, listing the known ones', async () => {
    const [problem] = await problemsOf(VALID.replace('type: postgres-password', 'type: mainframe-password'));
    expect(problem).toMatchObject({ path: 'credential.type' });
    expect(problem!.message).toContain('postgres-password');
  });

  it('refuses a strategy the credential type does not support', async () => {
    const problems = await problemsOf(`${VALID}strategy: triple\n`);
    expect(problems[0]!.path).toBe('strategy');
  });

  it('refuses duplicate credential ids across files, whole set', async () => {
    await write('b.yaml', VALID);
    const problems = await problemsOf(VALID);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toMatch(/already declared/);
  });

  it('refuses YAML syntax errors with a line number', async () => {
    const [problem] = await problemsOf(`${VALID}dependents: [unclosed\n`);
    expect(problem!.message).toMatch(/^YAML/);
    expect(problem!.line).toBeGreaterThan(20);
  });

  it('refuses a YAML alias bomb without expanding it', async () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 10; i++) levels.push(`${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(9).fill(`*${'abcdefghij'[i - 1]}`).join(',')}]`);
    const problems = await problemsOf(levels.join('\n'));
    expect(problems[0]!.message).toMatch(/alias|Excessive/i);
  });

  it('refuses a huge file before parsing it', async () => {
    const problems = await problemsOf(`# ${'x'.repeat(MAX_POLICY_FILE_BYTES)}\n${VALID}`);
    expect(problems[0]!.message).toMatch(/limited to/);
  });

  it('refuses a missing policy directory', async () => {
    await expect(loadPolicies(join(dir, 'missing'), registry.catalog)).rejects.toThrow(/no such file/);
  });
});

/** A credential no API can rotate; each test breaks one thing. */
const MANUAL = `
kind: manual-credential
id: release-bot-pat
owner: team-release
purpose: Fine-grained PAT the release bot uses to push tags
environment: production
system: github
type: github-fine-grained-pat
expires: 2027-03-01
howToRotate: https://wiki.example.com/runbooks/release-bot-pat
`;

describe('manual credentials', () => {
  it('are loaded beside the policies, with default reminders, and are not policies', async () => {
    await write('payments.yaml', VALID);
    await write('manual.yaml', MANUAL);
    const { policies, manual } = await loadPolicyDirectory(dir, registry.catalog);
    expect(policies.map((p) => p.id)).toEqual(['payments-db']);
    expect(manual).toEqual([
      expect.objectContaining({ id: 'release-bot-pat', system: 'github', expires: '2027-03-01', remindBefore: ['14d', '3d', '1d'], source: { file: join(dir, 'manual.yaml') } }),
    ]);
    expect(await loadPolicies(dir, registry.catalog)).toHaveLength(1);
  });

  it('are refused with the whole set when a field is missing or wrong, naming path and line', async () => {
    const problems = await problemsOf(`${VALID}---${MANUAL.replace('expires: 2027-03-01\n', '')}remindBefore: [soon]\n`);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'expires', message: expect.stringMatching(/is required/) }),
        expect.objectContaining({ path: 'remindBefore[0]', line: expect.any(Number), message: expect.stringMatching(/duration/) }),
      ]),
    );
  });

  it('never hold a secret value, and share the id space with the policies', async () => {
    const token = ['ghp', 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'].join('_');
    const inline = await problemsOf(MANUAL.replace(/howToRotate: .*/, `howToRotate: paste ${token} into the release repo settings`));
    expect(inline).toEqual([expect.objectContaining({ path: 'howToRotate', message: expect.stringMatching(/looks like a GitHub token/) })]);
    await write('payments.yaml', VALID);
    const clash = await problemsOf(MANUAL.replace('id: release-bot-pat', 'id: payments-db'));
    expect(clash).toEqual([expect.objectContaining({ path: 'id', message: expect.stringMatching(/"payments-db" is already declared in/) })]);
  });

  it('cannot take the id of one of Rotor own schedules', async () => {
    const problems = await problemsOf(VALID.replace('id: payments-db', 'id: reminders'));
    expect(problems).toEqual([expect.objectContaining({ path: 'id', message: expect.stringMatching(/is reserved/) })]);
  });
});
