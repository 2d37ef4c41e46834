import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../cli/main.js';

// config/examples is the docker-compose demo: it rotates every 5 minutes, below the 1h default
// minimum, so it validates with the operator setting compose sets too.
process.env.ROTOR_MIN_INTERVAL ??= '1m';

let dir: string;
let out: string;
let err: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rotor-cli-'));
  out = '';
  err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

describe('the rotor binary', () => {
  it('runs under plain node (ESM imports resolve outside vitest) and exits 0/2 as documented', () => {
    const run = (args: string[]) => spawnSync(process.execPath, ['bin/rotor.js', ...args], { encoding: 'utf8', env: { ...process.env, ROTOR_LOG_LEVEL: 'silent' } });
    const ok = run(['validate', 'config/examples']);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/demo-db-app/);
    expect(run(['validate', '/nonexistent']).status).toBe(2);
  });
});

describe('rotor validate', () => {
  it('accepts the example policies and lists them as JSON', async () => {
    expect(await runCli(['validate', 'config/examples', '--json'])).toBe(0);
    const rows = JSON.parse(out) as Array<{ id: string; type: string }>;
    expect(rows.map((r) => r.id)).toContain('demo-db-app');
  });

  it('accepts the reference policies of docs/policies: one per credential type the README documents', async () => {
    expect(await runCli(['validate', 'docs/policies'])).toBe(0);
    for (const type of ['aws-iam-access-key', 'azure-sp-secret', 'gcp-sa-key', 'github-deploy-key', 'gitlab-token', 'mysql-password', 'redis-acl-password', 'ldap-password']) expect(out).toContain(type);
    expect(out).toMatch(/1 manual credential \(reminded before expiry, not rotated\): release-bot-pat/);
  });

  it('refuses a bad file with exit 2, naming file, line and path', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'id: x\npurpose: no owner here\nenvironment: prod\n');
    expect(await runCli(['validate', dir])).toBe(2);
    expect(err).toContain(`${file}:1: owner:`);
    expect(err).toMatch(/nothing changed/);
  });

  it('exits 2 on unknown options and 2 on an unknown credential', async () => {
    expect(await runCli(['validate', '--frobnicate'])).toBe(2);
    expect(await runCli(['rotate', 'no-such-credential', '--policies', 'config/examples'])).toBe(2);
    expect(err).toMatch(/no policy for credential no-such-credential/);
  });
});
