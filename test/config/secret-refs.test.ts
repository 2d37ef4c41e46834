/**
 * Issue 14 item 4: which secrets a policy may reference is the operator's decision
 * (ROTOR_SECRET_REFS_ALLOW), never a policy author's. Refused at validation, with file:line and a
 * message naming the setting: Rotor's own secrets, /proc, /sys, `..`, and whatever the allowlist
 * does not list.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatProblem, loadPolicies } from '../../config/load.js';
import { operatorSettingsFromEnv } from '../../config/operator.js';
import { resolveSecretRef, secretRefAllowlist } from '../../config/secret-ref.js';
import { registry } from '../../providers/registry.js';
import { refusal, tempDir, validPolicy } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
const saved = { ...process.env };
beforeEach(async () => ({ dir, remove } = await tempDir('rotor-refs-')));
afterEach(async () => {
  process.env = { ...saved };
  await remove();
});

/** The policy with its admin password referenced as `ref`. */
async function withAdminPassword(ref: string): Promise<string> {
  const file = join(dir, 'p.yaml');
  await writeFile(file, validPolicy().replace('env:ORDERS_ADMIN_PASSWORD', ref));
  return file;
}

describe('secret references policies may use', () => {
  it.each([
    ['file:/etc/shadow', /not allowed by ROTOR_SECRET_REFS_ALLOW/],
    ['file:/run/secrets/rotor/../../../etc/shadow', /must not contain \. or \.\./],
    ['file:/proc/self/environ', /under \/proc, \/sys or \/dev/],
    ['file:/sys/kernel/notes', /under \/proc, \/sys or \/dev/],
    ['env:ROTOR_API_TOKEN', /Rotor's own secrets/],
    ['env:ROTOR_DATABASE_URL', /Rotor's own secrets/],
    ['env:TEMPORAL_API_KEY', /Rotor's own secrets/],
  ])('refuses %s at validation, naming file, line and the setting', async (ref, reason) => {
    const problems = await refusal(await withAdminPassword(ref));
    expect(problems).toEqual([expect.objectContaining({ path: 'credential.admin.password', line: 11, message: expect.stringMatching(reason) })]);
  });

  it('keeps the default useful: env vars and files under /run/secrets/rotor/ pass', async () => {
    await withAdminPassword('file:/run/secrets/rotor/orders-admin');
    expect(await loadPolicies(dir, registry.catalog)).toHaveLength(1);
    await withAdminPassword('env:ORDERS_ADMIN_PASSWORD');
    expect(await loadPolicies(dir, registry.catalog)).toHaveLength(1);
  });

  it('refuses what the operator did not list, once the operator sets the list', async () => {
    process.env.ROTOR_SECRET_REFS_ALLOW = 'env:ORDERS_*, file:/srv/rotor/secrets/, vault:secret/rotor/';
    await writeFile(join(dir, 'p.yaml'), validPolicy().replace('token: env:VAULT_TOKEN', 'token: file:/srv/rotor/secrets/vault-token'));
    expect(await loadPolicies(dir, registry.catalog)).toHaveLength(1);
    await writeFile(join(dir, 'p.yaml'), validPolicy()); // env:VAULT_TOKEN is not listed
    const [problem, ...rest] = await refusal(dir);
    expect(rest).toEqual([]);
    expect(formatProblem(problem!)).toMatch(/p\.yaml:16: store\.token: env:VAULT_TOKEN is not allowed by ROTOR_SECRET_REFS_ALLOW/);
  });

  it('never lets a policy name the reference of Rotor own API token, whatever the list says', async () => {
    process.env.ROTOR_SECRET_REFS_ALLOW = 'env:*,file:/run/secrets/'; // the operator allows a lot
    process.env.ROTOR_API_TOKEN_REF = 'file:/run/secrets/api-token';
    process.env.VAULT_TOKEN_REF = 'env:ROTOR_OWN_VAULT_TOKEN';
    const own = await refusal(await withAdminPassword('file:/run/secrets/api-token'));
    expect(own[0]!.message).toMatch(/Rotor's own secrets/);
    const vault = await refusal(await withAdminPassword('env:ROTOR_OWN_VAULT_TOKEN'));
    expect(vault[0]!.message).toMatch(/Rotor's own secrets/);
  });

  it('refuses a list that would open everything, naming the setting', () => {
    for (const value of ['file:/', 'file:/proc/', 'file:relative/', 'ftp:x']) {
      expect(() => secretRefAllowlist({ ROTOR_SECRET_REFS_ALLOW: value })).toThrow(/ROTOR_SECRET_REFS_ALLOW/);
    }
  });

  it('holds at run time too: the resolver with the allowlist never reads a refused reference', async () => {
    const allow = operatorSettingsFromEnv({}).secretRefs;
    await expect(resolveSecretRef('file:/etc/hostname', { allow })).rejects.toThrow(/not allowed by ROTOR_SECRET_REFS_ALLOW/);
    await expect(resolveSecretRef('env:ROTOR_API_TOKEN', { allow, env: { ROTOR_API_TOKEN: 'x'.repeat(32) } })).rejects.toThrow(/Rotor's own/);
    expect(await resolveSecretRef('env:ORDERS', { allow, env: { ORDERS: 'value' } })).toBe('value');
  });
});
