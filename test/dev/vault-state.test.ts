/**
 * The Vault emulator's state file (what `rotor dev` keeps in .rotor-dev/vault.json): a restart
 * brings back the token and every version with its metadata, and the file is the owner's only.
 */
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vault from 'node-vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultEmulator } from '../../dev/vault/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rotor-vault-state-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const client = (address: string, token: string) => vault({ apiVersion: 'v1', endpoint: address, token, noCustomHTTPVerbs: true });

describe('the Vault emulator with a state file', () => {
  it('keeps the token, versions, soft deletes and custom metadata across a restart', async () => {
    const stateFile = join(dir, 'vault.json');
    const first = await startVaultEmulator({ stateFile });
    const kv = client(first.address, first.token);
    await kv.write('secret/data/apps/db', { data: { password: 'one' } });
    await kv.write('secret/data/apps/db', { data: { password: 'two' } });
    await kv.write('secret/metadata/apps/db', { custom_metadata: { owner: 'team' } });
    await kv.delete('secret/data/apps/db');
    await first.close();

    const second = await startVaultEmulator({ stateFile });
    try {
      expect(second.token).toBe(first.token);
      const again = client(second.address, second.token);
      const metadata = (await again.read('secret/metadata/apps/db')) as { data: { current_version: number; custom_metadata: Record<string, string>; versions: Record<string, { deletion_time: string }> } };
      expect(metadata.data.current_version).toBe(2);
      expect(metadata.data.custom_metadata).toEqual({ owner: 'team' });
      expect(metadata.data.versions['2']!.deletion_time).not.toBe('');
      const v1 = (await again.read('secret/data/apps/db?version=1')) as { data: { data: { password: string } } };
      expect(v1.data.data.password).toBe('one');
      // Still strict on auth after a restart: another token is refused.
      await expect(client(second.address, 'hvs.other').read('secret/data/apps/db?version=1')).rejects.toMatchObject({ response: { statusCode: 403 } });
    } finally {
      await second.close();
    }
  });

  it('takes the file back to mode 0600 on every write, even one that was readable by others', async () => {
    const stateFile = join(dir, 'loose.json');
    await writeFile(stateFile, JSON.stringify({ token: 'hvs.loose', mounts: {} }));
    await chmod(stateFile, 0o644);
    const emulator = await startVaultEmulator({ stateFile });
    try {
      expect(emulator.token).toBe('hvs.loose');
      await client(emulator.address, emulator.token).write('secret/data/x', { data: { value: 'v' } });
      expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
    } finally {
      await emulator.close();
    }
  });

  it('refuses a state file that is not one, and starts nothing', async () => {
    const stateFile = join(dir, 'wrong.json');
    await writeFile(stateFile, JSON.stringify({ hello: 'world' }));
    await expect(startVaultEmulator({ stateFile })).rejects.toThrow(/not a Vault emulator state file/);
  });
});
