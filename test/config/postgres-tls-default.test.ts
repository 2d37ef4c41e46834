/**
 * Issue 14 item 4 (TLS default): a PostgreSQL credential's connections default to sslmode
 * verify-full (encrypted, certificate and host name checked) unless the host is loopback; the
 * policy can still say otherwise. (Making verify-full verify against a CA file is the production
 * branch's part: providers/postgres-password/db.ts.)
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPolicies } from '../../config/load.js';
import { registry } from '../../providers/registry.js';
import { tempDir, validPolicy } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
beforeEach(async () => ({ dir, remove } = await tempDir('rotor-tls-')));
afterEach(() => remove());

async function sslmodeFor(host: string, explicit?: string): Promise<unknown> {
  const text = validPolicy().replace('  host: 127.0.0.1', `  host: ${host}${explicit ? `\n  sslmode: ${explicit}` : ''}`);
  await writeFile(join(dir, 'p.yaml'), text);
  return (await loadPolicies(dir, registry.catalog))[0]!.credential.spec.sslmode;
}

describe('PostgreSQL TLS by default', () => {
  it('verifies the server (verify-full) for any host that is not loopback', async () => {
    expect(await sslmodeFor('db.internal')).toBe('verify-full');
    expect(await sslmodeFor('10.0.0.7')).toBe('verify-full');
  });

  it('keeps plain connections only for loopback, and what the policy says', async () => {
    expect(await sslmodeFor('127.0.0.1')).toBe('disable');
    expect(await sslmodeFor('localhost')).toBe('disable');
    expect(await sslmodeFor('db.internal', 'disable')).toBe('disable');
  });

  it('refuses sslmode require: it encrypts without verifying the server', async () => {
    await expect(sslmodeFor('db.internal', 'require')).rejects.toThrow(/sslmode require does not verify the server's certificate/);
  });
});
