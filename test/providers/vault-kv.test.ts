/**
 * The vault-kv provider against the Vault emulator, through the real node-vault client: pending
 * material stays out of consumers' sight, promote and write are idempotent (also after a crash
 * between a version and its bookkeeping), restore is Vault's own rollback.
 */
import { randomUUID } from 'node:crypto';
import vault from 'node-vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type Dependent, type PrimaryStore, type ProviderContext } from '../../providers/contracts.js';
import { vaultKv, VaultKvSpecSchema, type VaultKvSpec } from '../../providers/vault-kv/index.js';
import { startVaultEmulator, type VaultEmulator } from '../harness/vault/index.js';
import { createProviderKit } from '../harness/provider-kit.js';

let emulator: VaultEmulator;
let consumer: vault.client;
const kit = createProviderKit({ credentialId: 'test-credential', rotationIdPrefix: 'rot-' });
const { logs, rejection } = kit;
const primary = vaultKv.primary as PrimaryStore<VaultKvSpec>;
const dependent = vaultKv.dependent as Dependent<VaultKvSpec>;
/** Every secret value the tests made, for the leak checks. */
const secrets: string[] = [];

beforeAll(async () => {
  emulator = await startVaultEmulator();
  consumer = vault({ endpoint: emulator.address, token: emulator.token, noCustomHTTPVerbs: true });
});

afterAll(async () => {
  await emulator?.close();
});

const context = (rotationId?: string) => kit.context({ VAULT_TOKEN: emulator.token }, rotationId);

function spec(path: string): VaultKvSpec {
  return VaultKvSpecSchema.parse({ address: emulator.address, token: 'env:VAULT_TOKEN', path });
}

function material(id: string): Material {
  const password = `pw-${randomUUID()}`;
  secrets.push(password);
  return new Material(id, { username: id, password });
}

/** What an application reading the latest version sees (null when nothing is readable). */
async function latest(path: string): Promise<Record<string, string> | null> {
  try {
    return ((await consumer.read(`secret/data/${path}`)) as { data: { data: Record<string, string> } }).data.data;
  } catch (error) {
    if ((error as { response?: { statusCode?: number } }).response?.statusCode === 404) return null;
    throw error;
  }
}

async function metadata(path: string): Promise<{ current_version: number; custom_metadata: Record<string, string> | null } | null> {
  try {
    return ((await consumer.read(`secret/metadata/${path}`)) as { data: { current_version: number; custom_metadata: Record<string, string> | null } }).data;
  } catch (error) {
    if ((error as { response?: { statusCode?: number } }).response?.statusCode === 404) return null;
    throw error;
  }
}

/** Runs one full rotation through the primary store: stage, promote. */
async function rotate(path: string, next: Material): Promise<ProviderContext> {
  const ctx = context();
  await primary.stagePending(ctx, spec(path), next);
  await primary.promote(ctx, spec(path));
  return ctx;
}

describe('vault-kv as primary store', () => {
  it('stages pending material that only its own rotation can read, out of consumers\' sight', async () => {
    const ctx = context();
    const next = material('app_a');
    await primary.stagePending(ctx, spec('primary/stage'), next);

    const read = await primary.read(ctx, spec('primary/stage'), 'pending');
    expect(read?.id).toBe('app_a');
    expect(read?.revealAll()).toEqual(next.revealAll());
    expect(await primary.read(context(), spec('primary/stage'), 'pending')).toBeNull();
    expect(await primary.read(ctx, spec('primary/stage'), 'current')).toBeNull();
    expect(await latest('primary/stage')).toBeNull();
  });

  it('staging again for the same rotation is a no-op; different material for it is refused', async () => {
    const ctx = context();
    const next = material('app_a');
    await primary.stagePending(ctx, spec('primary/again'), next);
    const writes = emulator.requests.filter((r) => r.method === 'POST').length;
    await primary.stagePending(ctx, spec('primary/again'), next);
    expect(emulator.requests.filter((r) => r.method === 'POST').length).toBe(writes);

    const error = await rejection(primary.stagePending(ctx, spec('primary/again'), material('app_b')));
    expect(error).toBeInstanceOf(ProviderRefusal);
    expect(error.message).toMatch(/already staged material app_a at secret\/primary\/again\.rotor-pending/);
    expect((await primary.read(ctx, spec('primary/again'), 'pending'))?.revealAll()).toEqual(next.revealAll());
  });

  it('replaces stale pending material of another rotation', async () => {
    const stale = context();
    await primary.stagePending(stale, spec('primary/stale'), material('app_a'));
    const ctx = context();
    const next = material('app_b');
    await primary.stagePending(ctx, spec('primary/stale'), next);
    expect((await primary.read(ctx, spec('primary/stale'), 'pending'))?.revealAll()).toEqual(next.revealAll());
    expect(await primary.read(stale, spec('primary/stale'), 'pending')).toBeNull();
    expect(logs.join('\n')).toContain(stale.rotationId);
    // Replaced for good: the stale pending value is in no version of the pending secret.
    expect((await metadata('primary/stale.rotor-pending'))?.current_version).toBe(1);
  });

  it('promote makes pending current and current previous, and drops the pending secret', async () => {
    const first = material('app_a');
    await rotate('primary/promote', first);
    const second = material('app_b');
    const ctx = context();
    await primary.stagePending(ctx, spec('primary/promote'), second);
    expect(await latest('primary/promote')).toEqual(first.revealAll()); // consumers still see the current one
    await primary.promote(ctx, spec('primary/promote'));

    expect(await latest('primary/promote')).toEqual(second.revealAll());
    const current = await primary.read(ctx, spec('primary/promote'), 'current');
    const previous = await primary.read(ctx, spec('primary/promote'), 'previous');
    expect([current?.id, current?.fingerprint()]).toEqual(['app_b', second.fingerprint()]);
    expect([previous?.id, previous?.fingerprint()]).toEqual(['app_a', first.fingerprint()]);
    expect(await primary.read(ctx, spec('primary/promote'), 'pending')).toBeNull();
    expect(await metadata('primary/promote.rotor-pending')).toBeNull();

    const meta = await metadata('primary/promote');
    expect(meta?.custom_metadata).toEqual({
      rotor_current_version: '2',
      rotor_current_id: 'app_b',
      rotor_previous_version: '1',
      rotor_previous_id: 'app_a',
      rotor_rotation: ctx.rotationId,
      rotor_fingerprint: second.fingerprint(),
    });
  });

  it('a repeated promote is a no-op; promoting with nothing pending is refused', async () => {
    const ctx = await rotate('primary/repeat', material('app_a'));
    const before = await metadata('primary/repeat');
    await primary.promote(ctx, spec('primary/repeat'));
    expect(await metadata('primary/repeat')).toEqual(before);

    const error = await rejection(primary.promote(context(), spec('primary/repeat')));
    expect(error).toBeInstanceOf(ProviderRefusal);
    expect(error.message).toMatch(/nothing to promote at secret\/primary\/repeat/);
  });

  it('a promote retried after a crash between the version and its bookkeeping writes no second version', async () => {
    const first = material('app_a');
    await rotate('primary/crash', first);
    const ctx = context();
    const second = material('app_b');
    await primary.stagePending(ctx, spec('primary/crash'), second);
    emulator.faults.add({ match: (r) => r.method === 'POST' && r.path === '/v1/secret/metadata/primary/crash', status: 500, body: { errors: ['internal error'] } });

    const error = await rejection(primary.promote(ctx, spec('primary/crash')));
    expect(error.message).toMatch(/cannot write the metadata of secret\/primary\/crash: Vault answered HTTP 500/);
    expect(error).not.toBeInstanceOf(ProviderRefusal);
    expect((await metadata('primary/crash'))?.current_version).toBe(2);

    await primary.promote(ctx, spec('primary/crash'));
    expect((await metadata('primary/crash'))?.current_version).toBe(2);
    expect((await primary.read(ctx, spec('primary/crash'), 'current'))?.id).toBe('app_b');
    const previous = await primary.read(ctx, spec('primary/crash'), 'previous');
    expect([previous?.id, previous?.fingerprint()]).toEqual(['app_a', first.fingerprint()]);
  });

  it('discardPending drops only this rotation\'s pending material', async () => {
    const ctx = context();
    await primary.stagePending(ctx, spec('primary/discard'), material('app_a'));
    await primary.discardPending(context(), spec('primary/discard'));
    expect(await primary.read(ctx, spec('primary/discard'), 'pending')).not.toBeNull();
    await primary.discardPending(ctx, spec('primary/discard'));
    await primary.discardPending(ctx, spec('primary/discard'));
    expect(await primary.read(ctx, spec('primary/discard'), 'pending')).toBeNull();
    expect(await metadata('primary/discard.rotor-pending')).toBeNull();
  });
});

describe('vault-kv as dependent', () => {
  it('writes with a receipt; a retry of the same rotation returns the same receipt without writing', async () => {
    const first = material('app_a');
    expect(await dependent.write(context(), spec('dep/write'), first)).toEqual({ version: '1', previousVersion: null });

    const ctx = context();
    const second = material('app_b');
    const receipt = await dependent.write(ctx, spec('dep/write'), second);
    expect(receipt).toEqual({ version: '2', previousVersion: '1' });
    expect(await dependent.write(ctx, spec('dep/write'), second)).toEqual(receipt);
    expect((await metadata('dep/write'))?.current_version).toBe(2);
    expect(await latest('dep/write')).toEqual(second.revealAll());
  });

  it('check passes for the material served and names path and versions otherwise', async () => {
    const served = material('app_a');
    const ctx = context();
    await dependent.write(ctx, spec('dep/check'), served);
    await dependent.check(ctx, spec('dep/check'), served);

    const other = material('app_b');
    const error = await rejection(dependent.check(ctx, spec('dep/check'), other));
    expect(error.message).toBe(`secret/dep/check latest version 1 does not hold material app_b (Rotor last wrote version 1 in rotation ${ctx.rotationId})`);
    expect(await rejection(dependent.check(ctx, spec('dep/missing'), other))).toHaveProperty('message', 'secret/dep/missing has no readable latest version; expected material app_b');
  });

  it('restore writes the previous data again as a new version, and a retry does nothing more', async () => {
    const first = material('app_a');
    await dependent.write(context(), spec('dep/restore'), first);
    const ctx = context();
    const receipt = await dependent.write(ctx, spec('dep/restore'), material('app_b'));

    await dependent.restore(ctx, spec('dep/restore'), receipt);
    expect(await latest('dep/restore')).toEqual(first.revealAll());
    const meta = await metadata('dep/restore');
    expect(meta?.current_version).toBe(3);
    expect(meta?.custom_metadata).toMatchObject({ rotor_current_version: '3', rotor_current_id: 'app_a', rotor_fingerprint: first.fingerprint() });

    await dependent.restore(ctx, spec('dep/restore'), receipt);
    expect((await metadata('dep/restore'))?.current_version).toBe(3);
    await dependent.check(ctx, spec('dep/restore'), first);
  });

  it('restore of a write that created the secret soft-deletes it', async () => {
    const ctx = context();
    const receipt = await dependent.write(ctx, spec('dep/created'), material('app_a'));
    expect(receipt.previousVersion).toBeNull();
    await dependent.restore(ctx, spec('dep/created'), receipt);
    await dependent.restore(ctx, spec('dep/created'), receipt);
    expect(await latest('dep/created')).toBeNull();
    expect((await metadata('dep/created'))?.custom_metadata).toEqual({});
  });

  it('restore refuses to overwrite another writer', async () => {
    await dependent.write(context(), spec('dep/other'), material('app_a'));
    const ctx = context();
    const receipt = await dependent.write(ctx, spec('dep/other'), material('app_b'));
    await consumer.write('secret/data/dep/other', { data: { username: 'someone-else', password: 'x' } });
    const error = await rejection(dependent.restore(ctx, spec('dep/other'), receipt));
    expect(error).toBeInstanceOf(ProviderRefusal);
    expect(error.message).toBe('not restoring secret/dep/other: it changed since this rotation wrote version 2 (latest is 3)');
  });

  it('a write retried after its bookkeeping failed adopts its own version', async () => {
    const first = material('app_a');
    await dependent.write(context(), spec('dep/crash'), first);
    const ctx = context();
    const second = material('app_b');
    emulator.faults.add({ match: (r) => r.method === 'POST' && r.path === '/v1/secret/metadata/dep/crash', status: 503 });
    await rejection(dependent.write(ctx, spec('dep/crash'), second));
    expect(await dependent.write(ctx, spec('dep/crash'), second)).toEqual({ version: '2', previousVersion: '1' });
    expect((await metadata('dep/crash'))?.custom_metadata).toMatchObject({ rotor_previous_id: 'app_a', rotor_current_id: 'app_b' });
  });
});

describe('vault-kv errors', () => {
  it('a bad token is a refusal naming the path; no error or log line holds a secret value', async () => {
    const ctx = { ...context(), resolveSecret: async () => 'wrong-token' };
    const error = await rejection(dependent.write(ctx, spec('err/token'), material('app_a')));
    expect(error).toBeInstanceOf(ProviderRefusal);
    expect(error.message).toBe('cannot read secret/err/token: Vault answered HTTP 403 (permission denied)');

    emulator.faults.add({ match: (r) => r.method === 'POST' && r.path === '/v1/secret/data/err/write', status: 500, body: { errors: ['storage failure'] } });
    const next = material('app_b');
    const failed = await rejection(dependent.write(context(), spec('err/write'), next));
    expect(failed.message).toBe('cannot write secret/err/write (check-and-set 0): Vault answered HTTP 500 (storage failure)');
    expect(JSON.stringify({ message: failed.message, stack: failed.stack, cause: failed.cause })).not.toContain(next.reveal('password'));

    const everything = logs.join('\n');
    expect(everything.length).toBeGreaterThan(0);
    for (const secret of [...secrets, emulator.token]) expect(everything).not.toContain(secret);
  });

  it('a spec refuses paths that would collide with the pending secret', () => {
    const parsed = VaultKvSpecSchema.safeParse({ address: 'http://127.0.0.1:8200', token: 'env:T', path: 'apps/db.rotor-pending' });
    expect(parsed.success).toBe(false);
    expect(VaultKvSpecSchema.safeParse({ address: 'http://127.0.0.1:8200', token: 'plain-token', path: 'apps/db' }).success).toBe(false);
    expect(VaultKvSpecSchema.parse({ address: 'http://127.0.0.1:8200', token: 'env:T', path: 'apps/db' }).mount).toBe('secret');
  });
});
