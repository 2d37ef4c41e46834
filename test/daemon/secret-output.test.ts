/**
 * Issue 14 item 6: no secret, nor a prefix of one, in any output, help text or error — `rotor
 * --help` with a password in ROTOR_DATABASE_URL, a value where ROTOR_API_TOKEN_REF wants a
 * reference, an unknown credential or store type that is really a pasted secret — and the files of
 * `rotor dev` that hold secrets are made owner-only on every write, not only when created.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureOutput } from '../harness/cli.js';
import { runCli } from '../../cli/main.js';
import { resolveSecretRef } from '../../config/secret-ref.js';
import { writePrivateFile } from '../../lib/private-file.js';

const ROTOR = fileURLToPath(new URL('../../bin/rotor.js', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rotor-secret-output-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

/** Runs `rotor …` in its own process (settings are read from the environment at start). */
function rotor(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ROTOR, ...args], {
      env: { PATH: process.env.PATH ?? '', ROTOR_LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c) => (output += String(c)));
    child.stderr.on('data', (c) => (output += String(c)));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

/** The secret, and every 4-character piece of it: no prefix or fragment may show. */
function expectNoneOf(secret: string, text: string): void {
  expect(text).not.toContain(secret);
  for (let i = 0; i + 4 <= secret.length; i++) expect(text, `fragment ${i}`).not.toContain(secret.slice(i, i + 4));
}

describe('no secret in output', () => {
  it('rotor --help does not print the password of ROTOR_DATABASE_URL as a default', async () => {
    const password = randomBytes(12).toString('hex');
    const { code, output } = await rotor(['--help'], { ROTOR_DATABASE_URL: `postgres://rotor:${password}@127.0.0.1:5432/rotor` });
    expectNoneOf(password, output);
    expect(code).toBe(0);
    expect(output).toContain('--database-url');
    expect(output).toContain('$ROTOR_DATABASE_URL');
  });

  it('a value where ROTOR_API_TOKEN_REF wants a reference is refused by name, without any of it', async () => {
    const value = `tok${randomBytes(16).toString('hex')}`;
    const { code, output } = await rotor(['daemon'], { ROTOR_API_TOKEN_REF: value, ROTOR_POLICIES: dir });
    expectNoneOf(value, output);
    expect(code).toBe(2);
    expect(output).toContain('ROTOR_API_TOKEN_REF is not a secret reference');
    // The resolver itself never quotes what it was given either.
    const error = (await resolveSecretRef(value).then(() => new Error('resolved'), (e: unknown) => e)) as Error;
    expect(error.message).toContain('not a secret reference');
    expectNoneOf(value, error.message);
  });

  it('an unknown credential or store type is not echoed: it may be a pasted secret', async () => {
    const pasted = `x${randomBytes(20).toString('hex')}`;
    const policy = (credentialType: string, storeType: string) => `id: pasted
owner: team
purpose: test
environment: test
credential:
  type: ${credentialType}
store:
  type: ${storeType}
`;
    await writeFile(join(dir, 'a.yaml'), policy(pasted, 'vault-kv'));
    await writeFile(join(dir, 'b.yaml'), policy('postgres-password', pasted).replace('id: pasted', 'id: pasted-two'));
    const output = captureOutput();
    expect(await runCli(['validate', dir])).toBe(2);
    const text = output.text();
    vi.restoreAllMocks();
    expect(text).toContain('unknown credential type');
    expect(text).toContain('unknown store type');
    expectNoneOf(pasted, text);
    // A plain typo of a type name is still quoted, so the author sees what to fix.
    await writeFile(join(dir, 'a.yaml'), policy('postgres-pasword', 'vault-kv'));
    const typo = captureOutput();
    expect(await runCli(['validate', dir])).toBe(2);
    expect(typo.text()).toContain('unknown credential type "postgres-pasword"');
    vi.restoreAllMocks();
    await rm(join(dir, 'a.yaml'));
    await rm(join(dir, 'b.yaml'));
  });
});

describe('files that hold secrets', () => {
  it('are owner-only after every write, even when their mode was loosened in between', async () => {
    const file = join(dir, 'api-token');
    await writePrivateFile(file, 'first\n');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await chmod(file, 0o644);
    await writePrivateFile(file, 'second\n');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toBe('second\n');
  });

  // rotor dev's own files (env, api-token, state, vault.json) are checked at 0600 after a stale
  // 0644 copy by the real process in test/dev/rotor-dev.test.ts.
});
