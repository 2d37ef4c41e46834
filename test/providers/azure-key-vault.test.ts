/**
 * The azure-key-vault provider against the Azure emulator, through the real @azure/keyvault-secrets
 * client (401 challenge, token for https://vault.azure.net, the emulator's CA as caCertificate):
 * versions and their tags, pending/current/previous as a primary store, dependent write/restore/check
 * with idempotent receipts, RBAC refusals, throttling, and no value in any error or log.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type Dependent, type PrimaryStore, type ProviderContext, type Stage } from '../../providers/contracts.js';
import { azureKeyVault, AzureKeyVaultSpecSchema, pendingName, TAGS, type AzureKeyVaultSpec } from '../../providers/azure-key-vault/index.js';
import { azureFault, startAzureEmulator, type AzureEmulator, type AzureTestApp } from '../harness/azure/index.js';
import { createProviderKit } from '../harness/provider-kit.js';
import { azureSpSecret } from '../../providers/azure-sp-secret/index.js';
import { postgresPassword } from '../../providers/postgres-password/index.js';

let az: AzureEmulator;
/** Rotor's identity: Key Vault Secrets Officer. */
let rotor: AzureTestApp;
/** An application reading its secret: Key Vault Secrets User. */
let consumer: SecretClient;
const primary = azureKeyVault.primary as PrimaryStore<AzureKeyVaultSpec>;
const dependent = azureKeyVault.dependent as Dependent<AzureKeyVaultSpec>;
const kit = createProviderKit({ credentialId: 'test-credential', material: azureSpSecret.produces });
const { logs, errors, rejection } = kit;
/** Every secret value the tests made, for the leak check. */
const secrets: string[] = [];

beforeAll(async () => {
  az = await startAzureEmulator();
  rotor = az.directory.registerApp('rotor');
  az.keyVault.grant(rotor.clientId, 'Key Vault Secrets Officer');
  const reader = az.directory.registerApp('payments-api');
  az.keyVault.grant(reader.clientId, 'Key Vault Secrets User');
  const credential = new ClientSecretCredential(az.tenantId, reader.clientId, reader.clientSecret, { authorityHost: az.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: az.caPem } });
  consumer = new SecretClient(az.vaultUrl, credential, { disableChallengeResourceVerification: true, tlsOptions: { ca: az.caPem }, retryOptions: { maxRetries: 0 } });
});

afterAll(async () => {
  await az?.close();
});

const context = (rotationId?: string, identity: { clientId: string; clientSecret: string } = rotor) =>
  kit.context({ ROTOR_CLIENT_ID: identity.clientId, ROTOR_CLIENT_SECRET: identity.clientSecret, AZURE_CA_PEM: az.caPem }, rotationId);

function spec(secretName: string, extra: Record<string, unknown> = {}): AzureKeyVaultSpec {
  return AzureKeyVaultSpecSchema.parse({
    vaultUrl: az.vaultUrl,
    secretName,
    tenantId: az.tenantId,
    authorityHost: az.authorityHost,
    credentials: { clientId: 'env:ROTOR_CLIENT_ID', clientSecret: 'env:ROTOR_CLIENT_SECRET' },
    caCertificate: 'env:AZURE_CA_PEM',
    disableChallengeResourceVerification: true,
    ...extra,
  });
}

/** Material like azure-sp-secret makes: id = keyId, a field too. */
function clientSecret(): Material {
  const keyId = randomUUID();
  const secret = `${randomBytes(2).toString('hex').slice(0, 3)}8Q~${randomBytes(26).toString('base64url').slice(0, 34)}`;
  secrets.push(secret);
  return new Material(keyId, { keyId, clientId: 'c0ffee00-0000-4000-8000-000000000001', clientSecret: secret, tenantId: 'c0ffee00-0000-4000-8000-000000000002' });
}

const newName = () => `apps-${randomUUID().slice(0, 8)}`;

/** A secret whose latest version holds `material`, written by someone else (no Rotor tags); returns its name and version. */
async function seeded(material: Material): Promise<{ name: string; version: string }> {
  const name = newName();
  const seeder = new SecretClient(az.vaultUrl, new ClientSecretCredential(az.tenantId, rotor.clientId, rotor.clientSecret, { authorityHost: az.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: az.caPem } }), {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: az.caPem },
  });
  const written = await seeder.setSecret(name, JSON.stringify(material.revealAll()));
  return { name, version: written.properties.version! };
}

/** What an application reading the latest version sees. */
async function served(name: string): Promise<Record<string, string>> {
  return JSON.parse((await consumer.getSecret(name)).value!) as Record<string, string>;
}

const versions = (name: string) => az.keyVault.versions(name);

const read = (ctx: ProviderContext, name: string, stage: Stage) => primary.read(ctx, spec(name), stage);


describe('azure-key-vault: spec', () => {
  it('defaults format and challenge verification, and refuses bad names, URLs and secret values', () => {
    const base = { vaultUrl: 'https://payments-kv.vault.azure.net', secretName: 'payments-api', tenantId: randomUUID(), credentials: { clientId: 'env:ID', clientSecret: 'env:SECRET' } };
    expect(AzureKeyVaultSpecSchema.parse(base)).toMatchObject({ format: 'json', disableChallengeResourceVerification: false, authorityHost: 'https://login.microsoftonline.com' });
    expect(AzureKeyVaultSpecSchema.safeParse({ ...base, secretName: 'apps/payments' }).success).toBe(false);
    expect(AzureKeyVaultSpecSchema.safeParse({ ...base, secretName: 'x'.repeat(114) }).success).toBe(false); // no room for -rotor-pending
    expect(AzureKeyVaultSpecSchema.safeParse({ ...base, vaultUrl: 'ftp://kv' }).success).toBe(false);
    expect(AzureKeyVaultSpecSchema.safeParse({ ...base, credentials: { clientId: 'env:ID', clientSecret: 'plain' } }).success).toBe(false);
    expect(AzureKeyVaultSpecSchema.safeParse({ ...base, format: 'text' }).success).toBe(false);
    expect(pendingName(spec('payments-api'))).toBe('payments-api-rotor-pending');
  });
});

describe('azure-key-vault: primary store', () => {
  it('stages as pending, promotes to the latest version, keeps the old one as previous', async () => {
    const old = clientSecret();
    const { name, version: oldVersion } = await seeded(old);
    const ctx = context();
    expect((await read(ctx, name, 'current'))?.fingerprint()).toBe(old.fingerprint());
    expect((await read(ctx, name, 'current'))?.id).toBe(old.id); // from the keyId field: the seed has no tags
    expect(await read(ctx, name, 'pending')).toBeNull();
    expect(await read(ctx, name, 'previous')).toBeNull();

    const next = clientSecret();
    await primary.stagePending(ctx, spec(name), next);
    const pending = await read(ctx, name, 'pending');
    expect(pending?.id).toBe(next.id);
    expect(pending?.fingerprint()).toBe(next.fingerprint());
    expect(await served(name)).toEqual(old.revealAll()); // consumers still read the old secret
    expect(await read(context(), name, 'pending')).toBeNull(); // not another rotation's
    const [staged] = versions(`${name}-rotor-pending`);
    expect(staged!.tags).toEqual({
      [TAGS.rotation]: ctx.rotationId,
      [TAGS.credential]: 'test-credential',
      [TAGS.fingerprint]: next.fingerprint(),
      [TAGS.material]: next.id,
      [TAGS.stage]: 'pending',
    });

    await primary.stagePending(context(ctx.rotationId), spec(name), next); // retry
    expect(versions(`${name}-rotor-pending`)).toHaveLength(1);
    const other = await rejection(primary.stagePending(ctx, spec(name), clientSecret()));
    expect(other).toBeInstanceOf(ProviderRefusal);
    expect(other.message).toContain('already staged other material');

    await primary.promote(ctx, spec(name));
    expect(await served(name)).toEqual(next.revealAll());
    const after = versions(name);
    expect(after).toHaveLength(2);
    expect(after[1]!.tags).toMatchObject({ [TAGS.rotation]: ctx.rotationId, [TAGS.previous]: oldVersion, [TAGS.material]: next.id });
    expect((await read(ctx, name, 'current'))?.id).toBe(next.id);
    expect((await read(ctx, name, 'previous'))?.id).toBe(old.id);
    expect(await read(ctx, name, 'pending')).toBeNull();
    expect(versions(`${name}-rotor-pending`)[0]).toMatchObject({ enabled: false, tags: { [TAGS.stage]: 'promoted' } });

    await primary.promote(context(ctx.rotationId), spec(name)); // a repeat after success
    expect(versions(name)).toHaveLength(2);
    const nothing = await rejection(primary.promote(context(), spec(name)));
    expect(nothing).toBeInstanceOf(ProviderRefusal);
    expect(nothing.message).toContain('nothing to promote');
  });

  it('a promote that wrote the version but died before retiring the pending copy is finished by its retry', async () => {
    const { name } = await seeded(clientSecret());
    const ctx = context();
    const next = clientSecret();
    await primary.stagePending(ctx, spec(name), next);
    // Retiring the pending copy fails once (after the new version is written): the activity retries.
    az.faults.add({ status: 500, ...azureFault('keyvault', 'InternalServerError', 'boom'), match: (r) => r.method === 'PATCH', times: 2 });
    const failed = await rejection(primary.promote(ctx, spec(name)));
    expect(failed).not.toBeInstanceOf(ProviderRefusal);
    expect(await served(name)).toEqual(next.revealAll());
    await primary.promote(context(ctx.rotationId), spec(name));
    expect(versions(name)).toHaveLength(2);
    expect(versions(`${name}-rotor-pending`)[0]).toMatchObject({ enabled: false, tags: { [TAGS.stage]: 'promoted' } });
  });

  it("discardPending drops only this rotation's pending copy, and a new rotation supersedes a stale one", async () => {
    const old = clientSecret();
    const { name } = await seeded(old);
    const stale = context();
    await primary.stagePending(stale, spec(name), clientSecret());
    const fresh = context();
    await primary.discardPending(fresh, spec(name)); // not its copy: nothing happens
    expect(versions(`${name}-rotor-pending`)[0]).toMatchObject({ enabled: true, tags: { [TAGS.rotation]: stale.rotationId, [TAGS.stage]: 'pending' } });

    const next = clientSecret();
    await primary.stagePending(fresh, spec(name), next);
    expect(await read(stale, name, 'pending')).toBeNull();
    expect(versions(`${name}-rotor-pending`)[0]).toMatchObject({ enabled: false, tags: { [TAGS.stage]: 'superseded' } });
    expect(logs.some((l) => l.includes(stale.rotationId) && l.includes('stale'))).toBe(true);

    await primary.discardPending(fresh, spec(name));
    await primary.discardPending(fresh, spec(name));
    expect(await read(fresh, name, 'pending')).toBeNull();
    expect(versions(`${name}-rotor-pending`).every((v) => !v.enabled)).toBe(true);
    expect(await served(name)).toEqual(old.revealAll());

    // The same rotation staging the same material again (after a discard) enables its copy again.
    await primary.stagePending(fresh, spec(name), next);
    expect((await read(fresh, name, 'pending'))?.fingerprint()).toBe(next.fingerprint());
    expect(versions(`${name}-rotor-pending`)).toHaveLength(2);
  });

  it('stores only the material fields as JSON, and tags never hold a value', async () => {
    const { name } = await seeded(clientSecret());
    const ctx = context();
    const next = clientSecret();
    await primary.stagePending(ctx, spec(name), next);
    await primary.promote(ctx, spec(name));
    const latest = await consumer.getSecret(name);
    expect(JSON.parse(latest.value!)).toEqual({ clientId: next.reveal('clientId'), clientSecret: next.reveal('clientSecret'), keyId: next.id, tenantId: next.reveal('tenantId') });
    expect(latest.properties.contentType).toBe('application/json');
    expect(JSON.stringify(versions(name))).not.toContain(next.reveal('clientSecret'));
  });

  it('finds its pending copy across list pages', async () => {
    az.keyVault.setPageSize(2);
    try {
      const { name } = await seeded(clientSecret());
      for (let i = 0; i < 4; i++) await primary.stagePending(context(), spec(name), clientSecret());
      const ctx = context();
      const next = clientSecret();
      await primary.stagePending(ctx, spec(name), next);
      expect((await read(ctx, name, 'pending'))?.id).toBe(next.id);
      expect(az.requests.filter((r) => r.path === `/secrets/${name}-rotor-pending/versions`).length).toBeGreaterThan(0);
    } finally {
      az.keyVault.setPageSize(25);
    }
  });

  it('refuses to stage into a missing secret; reads ids from tags, fields or the version; refuses non-JSON values without quoting them', async () => {
    const missing = await rejection(primary.stagePending(context(), spec(newName()), clientSecret()));
    expect(missing).toBeInstanceOf(ProviderRefusal);
    expect(missing.message).toContain('does not exist');

    const db = new Material('app_a', { username: 'app_a', password: 'pw-' + randomUUID() });
    secrets.push(db.reveal('password'));
    // Written without Rotor's tags: the id comes from the credential type's declared id field.
    expect((await read({ ...context(), material: postgresPassword.produces }, (await seeded(db)).name, 'current'))?.id).toBe('app_a');

    const opaque = new Material('x', { token: 'tok-' + randomUUID() });
    secrets.push(opaque.reveal('token'));
    const { name, version } = await seeded(opaque);
    expect((await read(context(), name, 'current'))?.id).toBe(version);

    const plain = newName();
    const value = `plain-${randomUUID()}`;
    secrets.push(value);
    await dependent.write(context(), spec(plain), opaque);
    const writer = new SecretClient(az.vaultUrl, new ClientSecretCredential(az.tenantId, rotor.clientId, rotor.clientSecret, { authorityHost: az.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: az.caPem } }), {
      disableChallengeResourceVerification: true,
      tlsOptions: { ca: az.caPem },
    });
    await writer.setSecret(plain, value);
    const refused = await rejection(read(context(), plain, 'current'));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('is not a JSON object');
  });

  it('reports throttling as retryable, after one SDK retry', async () => {
    const { name } = await seeded(clientSecret());
    const puts = () => az.requests.filter((r) => r.method === 'PUT' && r.path === `/secrets/${name}-rotor-pending`).length;
    az.faults.add({ status: 429, ...azureFault('keyvault', 'Throttled', 'Rate exceeded. Too many requests.'), match: (r) => r.method === 'PUT' && r.path === `/secrets/${name}-rotor-pending`, times: 3 });
    const throttled = await rejection(primary.stagePending(context(), spec(name), clientSecret()));
    expect(throttled).not.toBeInstanceOf(ProviderRefusal);
    expect(throttled.message).toContain('Rate exceeded');
    expect(throttled.message).toContain('HTTP 429');
    expect(puts()).toBe(2); // the challenge-less first try is not a retry: 429 twice means one SDK retry
    await primary.stagePending(context(), spec(name), clientSecret()); // the third throttle is absorbed by the SDK's retry
  });
});

describe('azure-key-vault: dependent', () => {
  it('write adds a latest version and names the one it replaced; a retry returns the same receipt', async () => {
    const old = clientSecret();
    const { name, version: oldVersion } = await seeded(old);
    const ctx = context();
    const next = clientSecret();
    const receipt = await dependent.write(ctx, spec(name), next);
    expect(receipt.previousVersion).toBe(oldVersion);
    expect(receipt.version).toMatch(/^[0-9a-f]{32}$/);
    expect(await served(name)).toEqual(next.revealAll());
    await dependent.check(ctx, spec(name), next);

    expect(await dependent.write(context(ctx.rotationId), spec(name), next)).toEqual(receipt);
    expect(versions(name)).toHaveLength(2);
    expect(versions(name)[1]!.tags).toMatchObject({ [TAGS.rotation]: ctx.rotationId, [TAGS.credential]: 'test-credential', [TAGS.fingerprint]: next.fingerprint(), [TAGS.previous]: oldVersion });
    const stale = await rejection(dependent.check(ctx, spec(name), old));
    expect(stale).not.toBeInstanceOf(ProviderRefusal);
    expect(stale.message).toContain(`does not hold material ${old.id}`);
  });

  it('restore writes the previous value back as the latest version and disables the rolled-back one; a repeat is a no-op', async () => {
    const old = clientSecret();
    const { name, version: oldVersion } = await seeded(old);
    const ctx = context();
    const next = clientSecret();
    const receipt = await dependent.write(ctx, spec(name), next);
    await dependent.restore(ctx, spec(name), receipt);
    expect(await served(name)).toEqual(old.revealAll());
    await dependent.check(ctx, spec(name), old);
    const after = versions(name);
    expect(after.map((v) => v.version)).toEqual([oldVersion, receipt.version, after[2]!.version]);
    expect(after[1]).toMatchObject({ enabled: false, tags: { [TAGS.stage]: 'rolled-back' } });
    expect(after[2]!.tags).toMatchObject({ [TAGS.restores]: receipt.version });
    expect(await rejection(consumer.getSecret(name, { version: receipt.version }))).toMatchObject({ statusCode: 403 });

    await dependent.restore(context(ctx.rotationId), spec(name), receipt);
    expect(versions(name)).toHaveLength(3);
    // A later write of the same rotation (a retry after a manual rollback) writes anew.
    const again = await dependent.write(ctx, spec(name), next);
    expect(again.version).not.toBe(receipt.version);
    expect(again.previousVersion).toBe(after[2]!.version);
  });

  it('restore refuses when someone wrote after the rotation', async () => {
    const { name } = await seeded(clientSecret());
    const ctx = context();
    const receipt = await dependent.write(ctx, spec(name), clientSecret());
    const later = clientSecret();
    await dependent.write(context(), spec(name), later);
    const refused = await rejection(dependent.restore(ctx, spec(name), receipt));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('changed since');
    expect(await served(name)).toEqual(later.revealAll());
  });

  it('write creates a missing secret; restoring that write disables it, as there was nothing to read before', async () => {
    const name = newName();
    const ctx = context();
    const next = clientSecret();
    const receipt = await dependent.write(ctx, spec(name), next);
    expect(receipt.previousVersion).toBeNull();
    expect(await served(name)).toEqual(next.revealAll());
    await dependent.restore(ctx, spec(name), receipt);
    await dependent.restore(ctx, spec(name), receipt);
    expect(await rejection(consumer.getSecret(name))).toMatchObject({ statusCode: 403 });
    expect(await rejection(dependent.check(ctx, spec(name), next))).not.toBeInstanceOf(ProviderRefusal);
    // A later rotation writes over it: the disabled version is not "previous".
    const later = await dependent.write(context(), spec(name), clientSecret());
    expect(later.previousVersion).toBeNull();
  });

  it('refuses, naming the data action, when Rotor only has Key Vault Secrets User; preflight says the same', async () => {
    const reader = az.directory.registerApp('read-only-rotor');
    az.keyVault.grant(reader.clientId, 'Key Vault Secrets User');
    const { name } = await seeded(clientSecret());
    const refused = await rejection(dependent.write(context(undefined, reader), spec(name), clientSecret()));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('HTTP 403');
    expect(refused.message).toContain('Microsoft.KeyVault/vaults/secrets/setSecret/action');
    expect(refused.message).toContain(`secret ${name}`);
    expect(await dependent.preflight!(context(undefined, reader), spec(name))).toEqual([]); // reading is allowed

    const nobody = az.directory.registerApp('no-role');
    const problems = await dependent.preflight!(context(undefined, nobody), spec(name));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('getSecret/action');
    expect(await dependent.preflight!(context(), spec(name))).toEqual([]);
  });

  it("says when Rotor's own sign-in fails, and when the vault's certificate is not trusted", async () => {
    const { name } = await seeded(clientSecret());
    const wrong = await rejection(dependent.check(context(undefined, { clientId: rotor.clientId, clientSecret: 'xyz8Q~' + 'y'.repeat(34) }), spec(name), clientSecret()));
    expect(wrong).toBeInstanceOf(ProviderRefusal);
    expect(wrong.message).toContain(`Rotor's identity (client ${rotor.clientId}) cannot sign in to tenant ${az.tenantId}`);
    expect(wrong.message).toContain('AADSTS7000215');

    const untrusted = await rejection(primary.read(context(), AzureKeyVaultSpecSchema.parse({ ...spec(name), caCertificate: undefined }), 'current'));
    expect(untrusted).toBeInstanceOf(ProviderRefusal);
    expect(untrusted.message).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(untrusted.message).toContain('caCertificate');
  });

  it('refuses a soft-deleted secret with what to do; remove deletes it (again: no-op)', async () => {
    const { name } = await seeded(clientSecret());
    await dependent.remove!(context(), spec(name));
    await dependent.remove!(context(), spec(name));
    expect(await rejection(consumer.getSecret(name))).toMatchObject({ statusCode: 404 });
    const refused = await rejection(dependent.write(context(), spec(name), clientSecret()));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('deleted but recoverable');
  });
});

describe('azure emulator: Key Vault authentication', () => {
  it('challenges a request without a token and refuses a forged one or one for Graph', async () => {
    const { name } = await seeded(clientSecret());
    const none = await az.raw('GET', `/secrets/${name}/?api-version=2025-07-01`);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe(`Bearer authorization="${az.authorityHost}/${az.tenantId}", resource="https://vault.azure.net"`);
    const forged = await az.raw('GET', `/secrets/${name}/?api-version=2025-07-01`, randomBytes(48).toString('base64url'));
    expect(forged.status).toBe(401);
    expect(JSON.parse(forged.body).error.code).toBe('Unauthorized');

    const credential = new ClientSecretCredential(az.tenantId, rotor.clientId, rotor.clientSecret, { authorityHost: az.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: az.caPem } });
    const graphToken = (await credential.getToken('https://graph.microsoft.com/.default')).token;
    expect((await az.raw('GET', `/secrets/${name}/?api-version=2025-07-01`, graphToken)).status).toBe(401);
    const vaultToken = (await credential.getToken('https://vault.azure.net/.default')).token;
    expect((await az.raw('GET', `/secrets/${name}/?api-version=2025-07-01`, vaultToken)).status).toBe(200);
    const noVersion = await az.raw('GET', `/secrets/${name}/`, vaultToken);
    expect(noVersion.status).toBe(400);
    expect(JSON.parse(noVersion.body).error.message).toContain('api-version');
  });
});

describe('azure-key-vault: no secret leaks', () => {
  it('no secret value appears in any thrown error or log line', () => {
    expect(errors.length).toBeGreaterThan(8);
    const text = kit.errorsAndLogsText();
    expect(text).toContain('key vault version written');
    for (const secret of [...secrets, ...az.directory.issuedSecrets()]) expect(text).not.toContain(secret);
  });
});
