/**
 * The gcp-secret-manager provider against the GCP emulator, through the real
 * @google-cloud/secret-manager client (REST transport, authenticated): stages as version aliases
 * pending → current → previous, bookkeeping in annotations, adoption of a version an interrupted
 * attempt added, dependent write/restore/check on `latest`, old versions taken out of service, and
 * no value in any error or log.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type Dependent, type PrimaryStore } from '../../providers/contracts.js';
import { ANNOTATIONS, gcpSecretManager, GcpSecretManagerSpecSchema, secretName, type GcpSecretManagerSpec } from '../../providers/gcp-secret-manager/index.js';
import { gcpFault, startGcpEmulator, type GcpEmulator, type GcpServiceAccount } from '../harness/gcp/index.js';
import { createProviderKit } from '../harness/provider-kit.js';
import { gcpSaKey } from '../../providers/gcp-sa-key/index.js';
import { gitlabToken } from '../../providers/gitlab-token/index.js';
import { postgresPassword } from '../../providers/postgres-password/index.js';

const PROJECT = 'app-project';
let gcp: GcpEmulator;
let rotor: GcpServiceAccount;
const primary = gcpSecretManager.primary as PrimaryStore<GcpSecretManagerSpec>;
const dependent = gcpSecretManager.dependent as Dependent<GcpSecretManagerSpec>;
const kit = createProviderKit({ credentialId: 'test-credential', material: gcpSaKey.produces });
const { logs, errors, rejection } = kit;
/** Every secret value the tests made, for the leak check. */
const secrets: string[] = [];

beforeAll(async () => {
  gcp = await startGcpEmulator();
  rotor = await gcp.iam.createServiceAccount('rotor@rotor-admin.iam.gserviceaccount.com');
  gcp.iam.grant(rotor.email, `projects/${PROJECT}`, 'roles/secretmanager.admin');
});

afterAll(async () => {
  await gcp?.close();
});

const context = (rotationId?: string, credentials: string = rotor.keyJson) => kit.context({ ROTOR_GCP_KEY: credentials }, rotationId);

function spec(secret: string, extra: Record<string, unknown> = {}): GcpSecretManagerSpec {
  return GcpSecretManagerSpecSchema.parse({ secretId: secret, endpoint: gcp.endpoint, tokenEndpoint: gcp.tokenEndpoint, credentials: 'env:ROTOR_GCP_KEY', ...extra });
}

/** Material shaped like a service-account key (`keyId`, `keyJson`). */
function key(): Material {
  const id = randomBytes(20).toString('hex');
  // A real PEM made now (ed25519: fast), so no key-shaped text is committed.
  const privateKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const keyJson = JSON.stringify({ type: 'service_account', private_key_id: id, private_key: privateKey });
  secrets.push(keyJson, JSON.parse(keyJson).private_key as string);
  return new Material(id, { keyId: id, keyJson });
}

const payloadOf = (material: Material) => JSON.stringify(material.revealAll());

/** A secret whose only version (1) holds `material`. */
function seeded(material: Material, extra: Parameters<GcpEmulator['secretManager']['createSecret']>[1] = {}): string {
  const name = `projects/${PROJECT}/secrets/app-${randomUUID().slice(0, 8)}`;
  gcp.secretManager.createSecret(name, { payloads: [payloadOf(material)], ...extra });
  return name;
}

/** What a consumer of the secret reads at `version` (`latest`, `current`, a number). */
function served(name: string, version: string | number = 'latest'): Record<string, string> {
  return JSON.parse(gcp.secretManager.payload(name, version)!) as Record<string, string>;
}

const states = (name: string) => Object.fromEntries(gcp.secretManager.versions(name).map((v) => [v.version, v.state]));

describe('gcp-secret-manager: spec', () => {
  it('takes a full secret name, or a secret id with its project, and defaults oldVersions to disable', () => {
    expect(GcpSecretManagerSpecSchema.parse({ secretId: 'projects/my-project/secrets/app' })).toEqual({ secretId: 'projects/my-project/secrets/app', oldVersions: 'disable' });
    const short = GcpSecretManagerSpecSchema.parse({ project: 'my-project', secretId: 'app', oldVersions: 'destroy' });
    expect(secretName(short)).toBe('projects/my-project/secrets/app');
    expect(GcpSecretManagerSpecSchema.safeParse({ secretId: 'projects/my-project/secrets/app', project: 'my-project' }).success).toBe(false);
    expect(GcpSecretManagerSpecSchema.safeParse({ secretId: 'app' }).success).toBe(false);
    expect(GcpSecretManagerSpecSchema.safeParse({ secretId: 'projects/my-project/app' }).success).toBe(false);
    expect(GcpSecretManagerSpecSchema.safeParse({ secretId: 'projects/my-project/secrets/app', credentials: rotor.keyJson }).success).toBe(false);
    expect(GcpSecretManagerSpecSchema.safeParse({ secretId: 'projects/my-project/secrets/app', oldVersions: 'delete' }).success).toBe(false);
  });
});

describe('gcp-secret-manager: primary store', () => {
  it('stages as pending, promotes to current and keeps the old as previous, through version aliases', async () => {
    const old = key();
    const name = seeded(old);
    const ctx = context();
    expect((await primary.read(ctx, spec(name), 'current'))?.fingerprint()).toBe(old.fingerprint());
    expect((await primary.read(ctx, spec(name), 'current'))?.id).toBe(old.id);
    expect(await primary.read(ctx, spec(name), 'pending')).toBeNull();
    expect(await primary.read(ctx, spec(name), 'previous')).toBeNull();

    const next = key();
    await primary.stagePending(ctx, spec(name), next);
    // On a first rotation, current is pinned to the version in service before anything is added.
    expect(gcp.secretManager.aliases(name)).toEqual({ current: 1, pending: 2 });
    expect(gcp.secretManager.annotations(name)).toEqual({ [ANNOTATIONS.pending]: ctx.rotationId });
    const pending = await primary.read(ctx, spec(name), 'pending');
    expect(pending?.id).toBe(next.id);
    expect(pending?.fingerprint()).toBe(next.fingerprint());
    expect((await primary.read(ctx, spec(name), 'current'))?.id).toBe(old.id); // the pending version is newer, but not current
    expect(await primary.read(context(), spec(name), 'pending')).toBeNull(); // not another rotation's

    await primary.stagePending(ctx, spec(name), next); // retry
    expect(gcp.secretManager.versions(name)).toHaveLength(2);
    const other = await rejection(primary.stagePending(ctx, spec(name), key()));
    expect(other).toBeInstanceOf(ProviderRefusal);
    expect(other.message).toContain(`already staged other material in version 2 of secret ${name}`);

    await primary.promote(ctx, spec(name));
    expect(gcp.secretManager.aliases(name)).toEqual({ current: 2, previous: 1 });
    expect(gcp.secretManager.annotations(name)).toEqual({ [ANNOTATIONS.promoted]: ctx.rotationId });
    expect(served(name, 'current')).toEqual(next.revealAll());
    expect((await primary.read(ctx, spec(name), 'current'))?.id).toBe(next.id);
    expect((await primary.read(ctx, spec(name), 'previous'))?.id).toBe(old.id);
    expect(await primary.read(ctx, spec(name), 'pending')).toBeNull();

    await primary.promote(ctx, spec(name)); // a repeat after success
    expect(gcp.secretManager.aliases(name)).toEqual({ current: 2, previous: 1 });
    const nothing = await rejection(primary.promote(context(), spec(name)));
    expect(nothing).toBeInstanceOf(ProviderRefusal);
    expect(nothing.message).toContain('has no pending version');
  });

  it('takes the version leaving `previous` out of service as oldVersions says', async () => {
    for (const [oldVersions, expected] of [
      ['disable', 'DISABLED'],
      ['destroy', 'DESTROYED'],
      ['keep', 'ENABLED'],
    ] as const) {
      const name = seeded(key());
      for (let i = 0; i < 2; i++) {
        const ctx = context();
        await primary.stagePending(ctx, spec(name, { oldVersions }), key());
        await primary.promote(ctx, spec(name, { oldVersions }));
      }
      expect(gcp.secretManager.aliases(name)).toEqual({ current: 3, previous: 2 });
      expect(states(name)).toEqual({ 1: expected, 2: 'ENABLED', 3: 'ENABLED' });
    }
  });

  it('discardPending drops only this rotation\'s pending; a new rotation takes over a stale one', async () => {
    const old = key();
    const name = seeded(old);
    const stale = context();
    await primary.stagePending(stale, spec(name), key());
    const fresh = context();
    await primary.discardPending(fresh, spec(name)); // not its pending: nothing happens
    expect(gcp.secretManager.aliases(name)).toEqual({ current: 1, pending: 2 });

    await primary.stagePending(fresh, spec(name), key());
    expect(await primary.read(stale, spec(name), 'pending')).toBeNull();
    expect(logs.some((l) => l.includes(stale.rotationId) && l.includes('stale'))).toBe(true);
    expect(states(name)).toEqual({ 1: 'ENABLED', 2: 'DISABLED', 3: 'ENABLED' });
    await primary.discardPending(fresh, spec(name));
    await primary.discardPending(fresh, spec(name));
    expect(gcp.secretManager.aliases(name)).toEqual({ current: 1 });
    expect(gcp.secretManager.annotations(name)).toEqual({});
    expect(states(name)).toEqual({ 1: 'ENABLED', 2: 'DISABLED', 3: 'DISABLED' });
    expect(await primary.read(fresh, spec(name), 'pending')).toBeNull();
    expect((await primary.read(fresh, spec(name), 'current'))?.id).toBe(old.id);
  });

  it('without a current alias, current is the newest enabled version; refuses a missing or empty secret and id-less material', async () => {
    const first = key();
    const name = seeded(first, { payloads: [payloadOf(first), payloadOf(key())] });
    const ctx = context();
    // Version 2 was disabled by someone: version 1 is what is in service.
    await primaryDisable(name, 2);
    expect((await primary.read(ctx, spec(name), 'current'))?.id).toBe(first.id);
    await primary.stagePending(ctx, spec(name), key());
    expect(gcp.secretManager.aliases(name)).toEqual({ current: 1, pending: 3 });
    await primary.discardPending(ctx, spec(name));
    expect(states(name)).toEqual({ 1: 'ENABLED', 2: 'DISABLED', 3: 'DISABLED' });
    expect((await primary.read(ctx, spec(name), 'current'))?.id).toBe(first.id);

    const missing = await rejection(primary.stagePending(context(), spec(`projects/${PROJECT}/secrets/none`), key()));
    expect(missing).toBeInstanceOf(ProviderRefusal);
    expect(missing.message).toContain('does not exist');

    const empty = `projects/${PROJECT}/secrets/empty-${randomUUID().slice(0, 8)}`;
    gcp.secretManager.createSecret(empty);
    const noCurrent = await rejection(primary.stagePending(context(), spec(empty), key()));
    expect(noCurrent).toBeInstanceOf(ProviderRefusal);
    expect(noCurrent.message).toContain('has no enabled version');
    expect(gcp.secretManager.versions(empty)).toHaveLength(0);

    const anonymous = new Material('role-a', { password: 'p'.repeat(24) });
    secrets.push('p'.repeat(24));
    expect((await rejection(primary.stagePending(context(), spec(name), anonymous))).message).toContain('its declared id field keyId');
    const token = new Material('17', { token: 't'.repeat(24) });
    secrets.push('t'.repeat(24));
    expect((await rejection(primary.stagePending({ ...context(), material: gitlabToken.produces }, spec(name), token))).message).toContain('declares no id field');
  });

  it('reads every page of a long version list (the API pages by 25)', async () => {
    const materials = Array.from({ length: 30 }, () => key());
    const name = seeded(materials[0]!, { payloads: materials.map(payloadOf) });
    await primaryDisable(name, 30);
    await primaryDisable(name, 29);
    const before = gcp.requests.length;
    expect((await primary.read(context(), spec(name), 'current'))?.id).toBe(materials[27]!.id);
    expect(gcp.requests.slice(before).filter((r) => r.path.endsWith('/versions')).length).toBe(2);
  });

  it("reads ids back from the credential type's declared id field, else the version name; refuses non-JSON values without quoting them", async () => {
    const db = new Material('app_a', { username: 'app_a', password: `pw-${randomUUID()}` });
    secrets.push(db.reveal('password'));
    expect((await primary.read({ ...context(), material: postgresPassword.produces }, spec(seeded(db)), 'current'))?.id).toBe('app_a');

    const opaque = new Material('x', { token: `tok-${randomUUID()}` });
    secrets.push(opaque.reveal('token'));
    const opaqueName = seeded(opaque);
    expect((await primary.read({ ...context(), material: gitlabToken.produces }, spec(opaqueName), 'current'))?.id).toBe(`${opaqueName}/versions/1`);

    const plain = `projects/${PROJECT}/secrets/plain-${randomUUID().slice(0, 8)}`;
    const value = `plain-${randomUUID()}`;
    secrets.push(value);
    gcp.secretManager.createSecret(plain, { payloads: [value] });
    const refused = await rejection(primary.read(context(), spec(plain), 'current'));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('is not a JSON object');
  });

  it('a retry adopts the version an interrupted attempt added before its bookkeeping', async () => {
    const name = seeded(key(), { aliases: { current: 1 } });
    const ctx = context();
    const next = key();
    gcp.faults.add({ match: (r) => r.method === 'PATCH', ...gcpFault('UNAVAILABLE', 'The service is currently unavailable.') });
    const failed = await rejection(primary.stagePending(ctx, spec(name), next));
    expect(failed).not.toBeInstanceOf(ProviderRefusal);
    expect(failed.message).toContain('UNAVAILABLE');
    expect(gcp.secretManager.versions(name)).toHaveLength(2);
    expect(await primary.read(ctx, spec(name), 'pending')).toBeNull();

    await primary.stagePending(ctx, spec(name), next);
    expect(gcp.secretManager.versions(name)).toHaveLength(2);
    expect(gcp.secretManager.aliases(name)).toEqual({ current: 1, pending: 2 });
    expect((await primary.read(ctx, spec(name), 'pending'))?.fingerprint()).toBe(next.fingerprint());
  });
});

describe('gcp-secret-manager: dependent', () => {
  it('write adds a version that is latest and current, names the one it replaced; a retry returns the same receipt', async () => {
    const old = key();
    const name = seeded(old);
    const ctx = context();
    const next = key();
    const receipt = await dependent.write(ctx, spec(name), next);
    expect(receipt).toEqual({ version: '2', previousVersion: '1' });
    expect(served(name)).toEqual(next.revealAll());
    expect(gcp.secretManager.aliases(name)).toEqual({ current: 2, previous: 1 });
    expect(JSON.parse(gcp.secretManager.annotations(name)[ANNOTATIONS.written]!)).toEqual({ rotation: ctx.rotationId, version: 2, previous: 1 });
    await dependent.check(ctx, spec(name), next);

    expect(await dependent.write(ctx, spec(name), next)).toEqual(receipt);
    expect(gcp.secretManager.versions(name)).toHaveLength(2);
    const stale = await rejection(dependent.check(ctx, spec(name), old));
    expect(stale).not.toBeInstanceOf(ProviderRefusal);
    expect(stale.message).toBe(`secret ${name} latest (version 2) does not hold material ${old.id}`);

    // The next rotation's write retires the version that leaves `previous`.
    expect(await dependent.write(context(), spec(name), key())).toEqual({ version: '3', previousVersion: '2' });
    expect(states(name)).toEqual({ 1: 'DISABLED', 2: 'ENABLED', 3: 'ENABLED' });
  });

  it('write adopts its own version after a failed bookkeeping update', async () => {
    const name = seeded(key());
    const ctx = context();
    const next = key();
    gcp.faults.add({ match: (r) => r.method === 'PATCH', ...gcpFault('ABORTED', 'The etag provided in the request does not match the current etag of the secret.') });
    expect((await rejection(dependent.write(ctx, spec(name), next))).message).toContain('ABORTED');
    expect(await dependent.write(ctx, spec(name), next)).toEqual({ version: '2', previousVersion: '1' });
    expect(gcp.secretManager.versions(name)).toHaveLength(2);
    expect(logs.some((l) => l.includes('"adopted":true') && l.includes(name))).toBe(true);
  });

  it('restore adds the previous value back as latest and takes the rolled-back version out; a repeat is a no-op', async () => {
    const old = key();
    const name = seeded(old);
    const ctx = context();
    const receipt = await dependent.write(ctx, spec(name), key());
    await dependent.restore(ctx, spec(name), receipt);
    expect(served(name)).toEqual(old.revealAll());
    expect(states(name)).toEqual({ 1: 'ENABLED', 2: 'DISABLED', 3: 'ENABLED' });
    expect(gcp.secretManager.aliases(name)).toMatchObject({ current: 3 });
    await dependent.restore(ctx, spec(name), receipt);
    expect(gcp.secretManager.versions(name)).toHaveLength(3);
    await dependent.check(ctx, spec(name), old);
  });

  it('restore re-enables a disabled previous version, uses the given material for a destroyed one, and refuses without', async () => {
    const old = key();
    const name = seeded(old);
    const ctx = context();
    const receipt = await dependent.write(ctx, spec(name), key());
    // Someone disabled version 1 meanwhile (through the API, as Rotor's identity).
    await primaryDisable(name, 1);
    await dependent.restore(ctx, spec(name), receipt);
    expect(served(name)).toEqual(old.revealAll());
    expect(states(name)[1]).toBe('ENABLED');

    const destroyedOld = key();
    const other = seeded(destroyedOld);
    const ctx2 = context();
    const receipt2 = await dependent.write(ctx2, spec(other, { oldVersions: 'destroy' }), key());
    await primaryDestroy(other, 1);
    const refused = await rejection(dependent.restore(ctx2, spec(other), receipt2));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('previous version 1 is DESTROYED');
    await dependent.restore(ctx2, spec(other, { oldVersions: 'destroy' }), receipt2, destroyedOld);
    expect(served(other)).toEqual(destroyedOld.revealAll());
    expect(states(other)).toEqual({ 1: 'DESTROYED', 2: 'DESTROYED', 3: 'ENABLED' });
  });

  it('restore refuses when someone wrote after the rotation, and disables what it wrote when there was nothing before', async () => {
    const name = seeded(key());
    const ctx = context();
    const receipt = await dependent.write(ctx, spec(name), key());
    const later = key();
    await addVersionAs(name, payloadOf(later));
    const refused = await rejection(dependent.restore(ctx, spec(name), receipt));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('changed since this rotation wrote version 2 (latest is now 3)');
    expect(served(name)).toEqual(later.revealAll());

    const fresh = `projects/${PROJECT}/secrets/fresh-${randomUUID().slice(0, 8)}`;
    gcp.secretManager.createSecret(fresh);
    const ctx2 = context();
    const first = await dependent.write(ctx2, spec(fresh), key());
    expect(first).toEqual({ version: '1', previousVersion: null });
    await dependent.restore(ctx2, spec(fresh), first);
    expect(states(fresh)).toEqual({ 1: 'DISABLED' });
    expect(gcp.secretManager.aliases(fresh)).toEqual({});
  });

  it('write refuses a secret that does not exist, naming it', async () => {
    const refused = await rejection(dependent.write(context(), spec(`projects/${PROJECT}/secrets/missing`), key()));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain(`projects/${PROJECT}/secrets/missing does not exist`);
  });
});

describe('gcp-secret-manager: transport, integrity and errors', () => {
  it('every call is REST with a bearer the emulator verified; payloads carry their CRC32C', async () => {
    const name = seeded(key());
    const before = gcp.requests.length;
    await dependent.write(context(), spec(name), key());
    const calls = gcp.requests.slice(before);
    expect(calls.length).toBeGreaterThan(3);
    for (const call of calls) expect(call).toMatchObject({ api: 'secretmanager', caller: rotor.email, status: 200 });
    expect(calls.some((c) => c.method === 'POST' && c.path.endsWith(':addVersion'))).toBe(true);
    // The emulator refuses a wrong checksum, so a stored one proves the client sent the right one.
    const corrupt = await fetch(`${gcp.endpoint}/v1/${name}:addVersion`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await bearer()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ payload: { data: Buffer.from('{}').toString('base64'), dataCrc32c: '1' } }),
    });
    expect(corrupt.status).toBe(400);
  });

  it('refuses a reply whose payload does not match its CRC32C', async () => {
    const name = seeded(key());
    gcp.faults.add({
      match: (r) => r.path.endsWith(':access'),
      status: 200,
      body: { name: `${name}/versions/1`, payload: { data: Buffer.from('{"keyId":"x"}').toString('base64'), dataCrc32c: '12345' } },
    });
    const corrupted = await rejection(primary.read(context(), spec(name), 'current'));
    expect(corrupted.message).toContain('CRC32C mismatch');
  });

  it('surfaces throttling as retryable and a missing permission as a refusal naming it', async () => {
    const name = seeded(key());
    gcp.faults.add({ match: (r) => r.method === 'GET' && r.path === `/v1/${name}`, ...gcpFault('RESOURCE_EXHAUSTED', "Quota exceeded for quota metric 'Access requests'. Rate exceeded.") });
    const throttled = await rejection(primary.stagePending(context(), spec(name), key()));
    expect(throttled).not.toBeInstanceOf(ProviderRefusal);
    expect(throttled.message).toContain(`cannot read secret ${name}: RESOURCE_EXHAUSTED`);
    expect(throttled.message).toContain('(HTTP 429)');

    const outsider = await gcp.iam.createServiceAccount(`outsider-${randomUUID().slice(0, 6)}@${PROJECT}.iam.gserviceaccount.com`);
    const denied = await rejection(primary.read(context(randomUUID(), outsider.keyJson), spec(name), 'current'));
    expect(denied).toBeInstanceOf(ProviderRefusal);
    expect(denied.message).toBe(
      `cannot read secret ${name}: PERMISSION_DENIED: Permission 'secretmanager.secrets.get' denied for resource '${name}' (or it may not exist). (HTTP 403)`,
    );
  });

  it('refuses when Rotor\'s key is unknown to GCP, and the emulator refuses calls without a valid token', async () => {
    const name = seeded(key());
    const stranger = await gcp.iam.createServiceAccount(`stranger-${randomUUID().slice(0, 6)}@${PROJECT}.iam.gserviceaccount.com`);
    gcp.iam.grant(stranger.email, `projects/${PROJECT}`, 'roles/secretmanager.admin');
    await dependent.check(context(randomUUID(), stranger.keyJson), spec(name), new Material('x', JSON.parse(gcp.secretManager.payload(name, 1)!) as Record<string, string>));
    // The key is deleted: its self-signed JWTs no longer authenticate.
    await fetch(`${gcp.endpoint}/v1/projects/-/serviceAccounts/${stranger.email}/keys/${stranger.keyId}`, { method: 'DELETE', headers: { authorization: `Bearer ${await bearer()}` } });
    const refused = await rejection(dependent.check(context(randomUUID(), stranger.keyJson), spec(name), key()));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('UNAUTHENTICATED');
    expect(refused.message).toContain('(HTTP 401)');

    expect((await fetch(`${gcp.endpoint}/v1/${name}/versions/latest:access`)).status).toBe(401);
    expect((await fetch(`${gcp.endpoint}/v1/${name}/versions/latest:access`, { headers: { authorization: 'Bearer ya29.forged' } })).status).toBe(401);
    expect((await fetch(`${gcp.endpoint}/v1/${name}/versions/latest:access`, { headers: { authorization: `Bearer ${await bearer()}` } })).status).toBe(200);
  });

  it('preflight passes with the admin role and names the missing permissions with a narrower one', async () => {
    const name = seeded(key());
    expect(await dependent.preflight!(context(), spec(name))).toEqual([]);
    const manager = await gcp.iam.createServiceAccount(`manager-${randomUUID().slice(0, 6)}@${PROJECT}.iam.gserviceaccount.com`);
    gcp.iam.grant(manager.email, name, 'roles/secretmanager.secretVersionManager');
    expect(await dependent.preflight!(context(randomUUID(), manager.keyJson), spec(name, { oldVersions: 'destroy' }))).toEqual([
      `Rotor's identity lacks secretmanager.secrets.update, secretmanager.versions.access on secret ${name}: grant it roles/secretmanager.admin on that secret, or a custom role with these permissions`,
    ]);
    const missing = await dependent.preflight!(context(), spec(`projects/${PROJECT}/secrets/not-there`));
    expect(missing).toEqual([expect.stringContaining('NOT_FOUND')]);
  });
});

describe('gcp-secret-manager: no secret leaks', () => {
  it('no secret value appears in any thrown error or log line', () => {
    expect(errors.length).toBeGreaterThan(10);
    const text = kit.errorsAndLogsText();
    expect(text).toContain(`projects/${PROJECT}/secrets/`); // names are public and do appear
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});

/** An access token for Rotor's identity from the emulator's token endpoint, for raw calls. */
async function bearer(): Promise<string> {
  const { JWT } = await import('google-auth-library');
  const file = JSON.parse(rotor.keyJson) as { client_email: string; private_key: string };
  const client = new JWT({ email: file.client_email, key: file.private_key, scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  client.transporter.interceptors.request.add({
    resolved: async (config) => {
      if (String(config.url) === 'https://oauth2.googleapis.com/token') config.url = new URL(gcp.tokenEndpoint);
      return config;
    },
  });
  gcp.iam.grant(rotor.email, rotor.email, 'roles/iam.serviceAccountKeyAdmin');
  gcp.iam.grant(rotor.email, `projects/${PROJECT}`, 'roles/iam.serviceAccountKeyAdmin');
  return (await client.authorize()).access_token!;
}

async function call(path: string, body: unknown): Promise<void> {
  const response = await fetch(`${gcp.endpoint}/v1/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await bearer()}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
}

const primaryDisable = (name: string, version: number) => call(`${name}/versions/${version}:disable`, {});
const primaryDestroy = (name: string, version: number) => call(`${name}/versions/${version}:destroy`, {});
const addVersionAs = (name: string, payload: string) => call(`${name}:addVersion`, { payload: { data: Buffer.from(payload).toString('base64') } });
