/**
 * The azure-sp-secret provider against the Azure emulator, through the real @azure/identity client
 * and Graph over https (the emulator's CA given as caCertificate): the new secret is staged the
 * moment it exists, a retry never leaves two new secrets, verify waits out Entra ID's propagation,
 * revoke really kills the old secret, drain detection reads the sign-in log for the old secret's
 * keyId (and refuses rather than guess when it cannot), posture names the tenant-takeover Graph
 * permissions and directory roles of the application's service principal (and refuses rather than
 * guess), Graph's refusals say what to fix, and no secret reaches an error or a log.
 */
import { randomUUID } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type CredentialSource } from '../../providers/contracts.js';
import { azureSpSecret, AzureSpSecretSpecSchema, graphScope, secretName, SIGN_IN_LIMITS, type AzureSpSecretSpec } from '../../providers/azure-sp-secret/index.js';
import {
  azureFault,
  DIRECTORY_ROLE_TEMPLATES,
  GRAPH_APP_ID,
  GRAPH_APP_ROLES,
  startAzureEmulator,
  type AzureEmulator,
  type AzureTestApp,
  type DirectoryRoleName,
  type GraphPermission,
} from '../harness/azure/index.js';
import { crashingRequest, createProviderKit, recordingRequest } from '../harness/provider-kit.js';

let az: AzureEmulator;
/** Rotor's own identity: Application.ReadWrite.OwnedBy, made an owner of each app it rotates, and AuditLog.Read.All. */
let rotor: AzureTestApp;
const source = azureSpSecret.source as CredentialSource<AzureSpSecretSpec>;
const kit = createProviderKit({ credentialId: 'test-azure-app' });
const { logs, errors, rejection } = kit;

beforeAll(async () => {
  az = await startAzureEmulator();
  rotor = az.directory.registerApp('rotor', { graphPermissions: ['Application.ReadWrite.OwnedBy', 'AuditLog.Read.All'] });
});

afterAll(async () => {
  await az?.close();
});

const context = (rotationId?: string, identity: { clientId: string; clientSecret: string } = rotor) =>
  kit.context({ ROTOR_CLIENT_ID: identity.clientId, ROTOR_CLIENT_SECRET: identity.clientSecret, AZURE_CA_PEM: az.caPem }, rotationId);

function spec(app: { objectId: string; clientId: string }, extra: Record<string, unknown> = {}): AzureSpSecretSpec {
  return AzureSpSecretSpecSchema.parse({
    tenantId: az.tenantId,
    applicationObjectId: app.objectId,
    clientId: app.clientId,
    authorityHost: az.authorityHost,
    graphEndpoint: az.graphEndpoint,
    credentials: { clientId: 'env:ROTOR_CLIENT_ID', clientSecret: 'env:ROTOR_CLIENT_SECRET' },
    caCertificate: 'env:AZURE_CA_PEM',
    ...extra,
  });
}

const materialOf = (app: AzureTestApp, keyId: string, secret: string) =>
  new Material(keyId, { keyId, clientId: app.clientId, clientSecret: secret, tenantId: app.tenantId });

/** An app registration Rotor owns, with one secret in service, as Material. */
function appWithSecret(): { app: AzureTestApp; current: Material } {
  const app = az.directory.registerApp(`app-${randomUUID().slice(0, 8)}`);
  az.directory.addOwner(app.objectId, rotor.clientId);
  return { app, current: materialOf(app, app.keyId, app.clientSecret) };
}

/** Rotor's identity without AuditLog.Read.All (Application.ReadWrite.OwnedBy only), made owner of `app`. */
function rotorWithoutAuditLog(app: AzureTestApp): AzureTestApp {
  const identity = az.directory.registerApp(`rotor-no-audit-${randomUUID().slice(0, 8)}`, { graphPermissions: ['Application.ReadWrite.OwnedBy'] });
  az.directory.addOwner(app.objectId, identity.clientId);
  return identity;
}

/** A CreateRequest whose stage() records what it got and how many requests the emulator had seen. */
const request = (current: Material | null, staged: Material | null = null) => recordingRequest(() => az.requests.length, current, staged);

/** Whether the material signs in, as a consumer would. */
async function signsIn(material: Material): Promise<boolean> {
  const credential = new ClientSecretCredential(material.reveal('tenantId'), material.reveal('clientId'), material.reveal('clientSecret'), {
    authorityHost: az.authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: az.caPem },
    retryOptions: { maxRetries: 0 },
  });
  return credential.getToken('https://graph.microsoft.com/.default').then(
    () => true,
    () => false,
  );
}

const keyIds = (app: AzureTestApp) => az.directory.passwords(app.objectId).map((p) => p.keyId).sort();
const adds = () => az.requests.filter((r) => r.path.endsWith('/addPassword') && r.status === 200).length;

/** Polls until `check` resolves true (no fixed sleeps); fails after `timeoutMs`. */
async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}


describe('azure-sp-secret: spec', () => {
  it('defaults lifetime and endpoints, and refuses secret values, mixed-up ids and plain http', () => {
    const app = { objectId: randomUUID(), clientId: randomUUID() };
    const parsed = AzureSpSecretSpecSchema.parse({
      tenantId: randomUUID(),
      applicationObjectId: app.objectId,
      clientId: app.clientId,
      credentials: { clientId: 'env:ID', clientSecret: 'file:/run/secrets/rotor' },
    });
    expect(parsed).toMatchObject({
      secretLifetime: '180d',
      authorityHost: 'https://login.microsoftonline.com',
      graphEndpoint: 'https://graph.microsoft.com',
      drainSignal: 'sign-in-logs',
      drainLookback: '2h',
    });
    const base = { tenantId: randomUUID(), applicationObjectId: app.objectId, clientId: app.clientId, credentials: { clientId: 'env:ID', clientSecret: 'env:SECRET' } };
    expect(AzureSpSecretSpecSchema.safeParse({ ...base, credentials: { clientId: 'env:ID', clientSecret: 'abc8Q~plain-secret' } }).success).toBe(false);
    expect(AzureSpSecretSpecSchema.safeParse({ ...base, clientId: app.objectId }).success).toBe(false);
    expect(AzureSpSecretSpecSchema.safeParse({ ...base, authorityHost: 'http://127.0.0.1:1' }).success).toBe(false);
    expect(AzureSpSecretSpecSchema.safeParse({ ...base, secretLifetime: '2h' }).success).toBe(false);
    expect(AzureSpSecretSpecSchema.safeParse({ ...base, applicationObjectId: 'my-app' }).success).toBe(false);
    expect(AzureSpSecretSpecSchema.safeParse({ ...base, drainSignal: 'last-used' }).success).toBe(false);
    expect(AzureSpSecretSpecSchema.safeParse({ ...base, drainLookback: 'two hours' }).success).toBe(false);
    expect(AzureSpSecretSpecSchema.safeParse({ ...base, drainSignal: 'none', drainLookback: '0s' }).success).toBe(true);
    expect(azureSpSecret).toMatchObject({ type: 'azure-sp-secret', workflow: 'rotateAzureClientSecret', defaultEvery: '90d' });
    expect(source.strategies).toEqual(['dual']);
    expect(source.disable).toBeUndefined(); // Entra ID cannot disable a client secret
  });

  it("asks for a national cloud's Graph audience, and the global one for any other host", () => {
    expect(graphScope({ graphEndpoint: 'https://graph.microsoft.us' })).toBe('https://graph.microsoft.us/.default');
    expect(graphScope({ graphEndpoint: 'https://graph.microsoft.com' })).toBe('https://graph.microsoft.com/.default');
    expect(graphScope({ graphEndpoint: 'https://127.0.0.1:8443' })).toBe('https://graph.microsoft.com/.default');
  });
});

describe('azure-sp-secret: create', () => {
  it('stages the new secret right after addPassword, before any other call', async () => {
    const { app, current } = appWithSecret();
    const { req, calls } = request(current);
    const ctx = context();
    const before = Date.now();
    const created = await source.create(ctx, spec(app, { secretLifetime: '30d' }), 'dual', req);

    expect(calls).toHaveLength(1);
    expect(calls[0]!.material).toBe(created);
    expect(az.requests[calls[0]!.requestsSoFar - 1]).toMatchObject({ path: `/v1.0/applications/${app.objectId}/addPassword`, status: 200, clientId: rotor.clientId });
    expect(az.requests.length).toBe(calls[0]!.requestsSoFar); // nothing after the stage
    expect(created.fieldNames()).toEqual(['clientId', 'clientSecret', 'keyId', 'tenantId']);
    expect(created.reveal('keyId')).toBe(created.id);
    expect(created.reveal('clientId')).toBe(app.clientId);
    expect(created.reveal('tenantId')).toBe(az.tenantId);
    expect(keyIds(app)).toEqual([current.id, created.id].sort());
    const added = az.directory.passwords(app.objectId).find((p) => p.keyId === created.id)!;
    expect(added.displayName).toBe(secretName(ctx.rotationId));
    expect(added.endDateTime.getTime()).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
    expect(added.endDateTime.getTime()).toBeLessThan(Date.now() + 30 * 86_400_000 + 1000);
    expect(added.hint).toBe(created.reveal('clientSecret').slice(0, 3));
  });

  it('on a retry with staged material returns the same secret and adds none', async () => {
    const { app, current } = appWithSecret();
    const ctx = context();
    const created = await source.create(ctx, spec(app), 'dual', request(current).req);
    const before = adds();
    const retry = request(current, created);
    expect(await source.create(context(ctx.rotationId), spec(app), 'dual', retry.req)).toBe(created);
    expect(adds()).toBe(before);
    expect(retry.calls).toHaveLength(0);
    expect(keyIds(app)).toEqual([current.id, created.id].sort());
  });

  it('refuses a retry whose staged secret was removed outside Rotor', async () => {
    const { app, current } = appWithSecret();
    const gone = materialOf(app, randomUUID(), 'not-a-real-secret');
    const refused = await rejection(source.create(context(), spec(app), 'dual', request(current, gone).req));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain(`client secret ${gone.id} staged by this rotation no longer exists`);
  });

  it('after a crash between addPassword and stage, a retry removes the lost secret and adds one fresh secret', async () => {
    const { app, current } = appWithSecret();
    const ctx = context();
    expect((await rejection(source.create(ctx, spec(app), 'dual', crashingRequest(current)))).message).toBe('worker died before staging');
    const [orphan] = keyIds(app).filter((id) => id !== current.id);
    expect(orphan).toBeDefined();

    const retry = request(current);
    const created = await source.create(context(ctx.rotationId), spec(app), 'dual', retry.req);
    expect(created.id).not.toBe(orphan);
    expect(keyIds(app)).toEqual([current.id, created.id].sort());
    expect(az.directory.passwords(app.objectId).filter((p) => p.displayName === secretName(ctx.rotationId))).toHaveLength(1);
    expect(logs.some((l) => l.includes(orphan!) && l.includes('never staged'))).toBe(true);
    expect(await signsIn(current)).toBe(true);
  });

  it("another rotation leaves a secret named for a different rotation alone", async () => {
    const { app, current } = appWithSecret();
    await rejection(source.create(context(), spec(app), 'dual', crashingRequest(current)));
    const [leftover] = keyIds(app).filter((id) => id !== current.id);
    const created = await source.create(context(), spec(app), 'dual', request(current).req);
    expect(keyIds(app)).toEqual([current.id, leftover!, created.id].sort());
  });

  it('refuses the single strategy', async () => {
    const { app, current } = appWithSecret();
    expect(await rejection(source.create(context(), spec(app), 'single', request(current).req))).toBeInstanceOf(ProviderRefusal);
  });

  it('refuses, naming the Graph permission, when Rotor may not manage the application; adds nothing', async () => {
    const notOwned = az.directory.registerApp(`not-owned-${randomUUID().slice(0, 8)}`);
    const before = adds();
    const refused = await rejection(source.create(context(), spec(notOwned), 'dual', request(null).req));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('Authorization_RequestDenied');
    expect(refused.message).toContain('HTTP 403');
    expect(refused.message).toContain('Application.ReadWrite.OwnedBy');
    expect(refused.message).toContain('owner of the application');
    expect(refused.message).toContain('Application.ReadWrite.All');
    expect(refused.message).toContain(rotor.clientId);
    expect(adds()).toBe(before);
    expect(keyIds(notOwned)).toEqual([notOwned.keyId]);

    // Application.ReadWrite.All manages any application, owner or not.
    const admin = az.directory.registerApp('rotor-admin', { graphPermissions: ['Application.ReadWrite.All'] });
    const created = await source.create(context(undefined, admin), spec(notOwned), 'dual', request(null).req);
    expect(keyIds(notOwned)).toEqual([notOwned.keyId, created.id].sort());
  });

  it('refuses an application that does not exist, and ids of two different applications', async () => {
    const missing = { objectId: randomUUID(), clientId: randomUUID() };
    const refused = await rejection(source.create(context(), spec(missing), 'dual', request(null).req));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('Request_ResourceNotFound');
    expect(refused.message).toContain(`No application has Object ID ${missing.objectId}`);

    const a = appWithSecret().app;
    const b = appWithSecret().app;
    const mixed = await rejection(source.create(context(), spec({ objectId: a.objectId, clientId: b.clientId }), 'dual', request(null).req));
    expect(mixed).toBeInstanceOf(ProviderRefusal);
    expect(mixed.message).toContain(`has client id ${a.clientId}, not ${b.clientId}`);
  });

  it("refuses when Rotor's own secret is wrong, saying it is Rotor's sign-in", async () => {
    const { app, current } = appWithSecret();
    const refused = await rejection(source.create(context(undefined, { clientId: rotor.clientId, clientSecret: 'abc8Q~' + 'x'.repeat(34) }), spec(app), 'dual', request(current).req));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain(`Rotor's identity (client ${rotor.clientId}) cannot sign in`);
    expect(refused.message).toContain('AADSTS7000215');
  });

  it('reports Graph throttling (429) as retryable, and stages nothing', async () => {
    const { app, current } = appWithSecret();
    az.faults.add({ status: 429, ...azureFault('graph', 'TooManyRequests', 'Too many requests are being made. Retry later.', 7), match: (r) => r.path.endsWith('/addPassword') });
    const { req, calls } = request(current);
    const throttled = await rejection(source.create(context(), spec(app), 'dual', req));
    expect(throttled).not.toBeInstanceOf(ProviderRefusal);
    expect(throttled.message).toContain('TooManyRequests');
    expect(throttled.message).toContain('HTTP 429');
    expect(throttled.message).toContain('Retry-After 7');
    expect(throttled.message).toContain(`application ${app.objectId}`);
    expect(calls).toHaveLength(0);
    expect(keyIds(app)).toEqual([current.id]);
  });

  it('reports a token endpoint outage as retryable', async () => {
    const { app, current } = appWithSecret();
    az.faults.add({ status: 503, ...azureFault('aad', 'temporarily_unavailable', 'AADSTS50000: the service is unavailable'), match: (r) => r.path.endsWith('/oauth2/v2.0/token'), times: 2 });
    const failed = await rejection(source.create(context(), spec(app), 'dual', request(current).req));
    expect(failed).not.toBeInstanceOf(ProviderRefusal);
    expect(failed.message).toContain("Rotor's identity");
  });
});

describe('azure-sp-secret: verify, revoke, discard, retire', () => {
  it("verify fails retryably while Entra ID propagates the new secret, then passes", async () => {
    const { app, current } = appWithSecret();
    az.directory.setPropagationDelay(400);
    try {
      const created = await source.create(context(), spec(app), 'dual', request(current).req);
      const early = await rejection(source.verify(context(), spec(app), created));
      expect(early).not.toBeInstanceOf(ProviderRefusal);
      expect(early.message).toContain('not accepted yet');
      expect(early.message).toContain('AADSTS7000215');
      expect(early.message).toContain(created.id);
      await waitFor(() => source.verify(context(), spec(app), created).then(() => true, () => false));
    } finally {
      az.directory.setPropagationDelay(0);
    }
  });

  it("verify refuses another application's secret and an expired secret", async () => {
    const { app } = appWithSecret();
    const other = appWithSecret();
    const stranger = await rejection(source.verify(context(), spec(app), other.current));
    expect(stranger).toBeInstanceOf(ProviderRefusal);
    expect(stranger.message).toContain(`belongs to client ${other.app.clientId}`);

    const old = az.directory.addPassword(app.objectId, { startDateTime: new Date(Date.now() - 10 * 86_400_000), endDateTime: new Date(Date.now() - 86_400_000) });
    const expired = await rejection(source.verify(context(), spec(app), materialOf(app, old.keyId, old.secretText)));
    expect(expired).toBeInstanceOf(ProviderRefusal);
    expect(expired.message).toContain('expired');
    expect(expired.message).toContain('AADSTS7000222');
  });

  it('revoke removes the old secret, which Entra ID then refuses; a repeat succeeds; the new secret keeps working', async () => {
    const { app, current } = appWithSecret();
    const created = await source.create(context(), spec(app), 'dual', request(current).req);
    await source.verify(context(), spec(app), created);
    expect(await signsIn(current)).toBe(true);
    await source.revoke(context(), spec(app), 'dual', current);
    expect(keyIds(app)).toEqual([created.id]);
    expect(await signsIn(current)).toBe(false);
    const refusal = az.requests.filter((r) => r.service === 'aad' && r.error === 'invalid_client').at(-1);
    expect(refusal).toMatchObject({ status: 401, clientId: app.clientId });
    expect(await signsIn(created)).toBe(true);
    await source.revoke(context(), spec(app), 'dual', current);
  });

  it('revoke refuses to remove the only unexpired secret of the application', async () => {
    const { app, current } = appWithSecret();
    az.directory.addPassword(app.objectId, { startDateTime: new Date(Date.now() - 10 * 86_400_000), endDateTime: new Date(Date.now() - 86_400_000) });
    const refused = await rejection(source.revoke(context(), spec(app), 'dual', current));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('only unexpired client secret');
    expect(await signsIn(current)).toBe(true);
  });

  it('discard removes the created secret (again: no-op) and refuses to discard the current one', async () => {
    const { app, current } = appWithSecret();
    const created = await source.create(context(), spec(app), 'dual', request(current).req);
    await source.discard(context(), spec(app), 'dual', created, current);
    expect(keyIds(app)).toEqual([current.id]);
    expect(await signsIn(created)).toBe(false);
    await source.discard(context(), spec(app), 'dual', created, current);
    expect(await rejection(source.discard(context(), spec(app), 'dual', current, current))).toBeInstanceOf(ProviderRefusal);
    expect(await signsIn(current)).toBe(true);
  });

  it("retire removes even the application's last secret", async () => {
    const { app, current } = appWithSecret();
    await source.retire!(context(), spec(app), 'dual', current);
    expect(keyIds(app)).toEqual([]);
    expect(await signsIn(current)).toBe(false);
    await source.retire!(context(), spec(app), 'dual', current);
  });
});

describe('azure-sp-secret: list and preflight', () => {
  it('lists the secrets with start, end and expired status, never their text', async () => {
    const { app, current } = appWithSecret();
    const expired = az.directory.addPassword(app.objectId, { displayName: 'old', startDateTime: new Date('2020-01-01T00:00:00Z'), endDateTime: new Date('2021-01-01T00:00:00Z') });
    const listed = await source.list(context(), spec(app));
    const byId = new Map(listed.map((c) => [c.id, c]));
    expect(byId.get(current.id)).toMatchObject({ principal: `${app.displayName} (${app.clientId})`, status: 'active' });
    expect(byId.get(current.id)!.expiresAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(byId.get(expired.keyId)).toMatchObject({ status: 'expired', createdAt: '2020-01-01T00:00:00.000Z', expiresAt: '2021-01-01T00:00:00.000Z' });
    expect(JSON.stringify(listed)).not.toContain(expired.secretText);
  });

  it('preflight passes with the permission, names what is missing without it, and throws (retryably) on throttling', async () => {
    const { app } = appWithSecret();
    expect(await source.preflight!(context(), spec(app), 'dual')).toEqual([]);

    const notOwned = az.directory.registerApp(`not-owned-${randomUUID().slice(0, 8)}`);
    const problems = await source.preflight!(context(), spec(notOwned), 'dual');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('Application.ReadWrite.OwnedBy');
    expect((await source.preflight!(context(), spec({ objectId: randomUUID(), clientId: randomUUID() }), 'dual'))[0]).toContain('Request_ResourceNotFound');

    az.faults.add({ status: 429, ...azureFault('graph', 'TooManyRequests', 'Too many requests'), match: (r) => r.path === `/v1.0/applications/${app.objectId}` });
    const throttled = await rejection(source.preflight!(context(), spec(app), 'dual'));
    expect(throttled).not.toBeInstanceOf(ProviderRefusal);
    expect(throttled.message).toContain('TooManyRequests');
  });
});

describe('azure-sp-secret: drain detection from the sign-in log', () => {
  const signInReads = () => az.requests.filter((r) => r.path === '/beta/auditLogs/signIns');
  /** The app's sign-in log entry written last (by the emulator's token endpoint). */
  const lastSignIn = (app: AzureTestApp) => az.directory.signIns(app.clientId).at(-1)!;

  it('in use when the old secret signed in at or after `since`, with when and how often', async () => {
    const { app, current } = appWithSecret();
    const created = await source.create(context(), spec(app), 'dual', request(current).req);
    const since = new Date();
    expect(await signsIn(current)).toBe(true);
    expect(await signsIn(current)).toBe(true);
    const logged = lastSignIn(app);
    expect(logged).toMatchObject({ keyId: current.id, errorCode: 0 }); // the token endpoint logs the keyId it authenticated

    const before = signInReads().length;
    const usage = await source.inUse!(context(), spec(app, { drainLookback: '0s' }), current, since);
    expect(usage.inUse).toBe(true);
    expect(usage.detail).toBe(`client secret ${current.id} signed in ${logged.createdDateTime.toISOString()} (2 sign-ins since ${since.toISOString()})`);
    expect(usage.detail).not.toContain(current.reveal('clientSecret'));
    expect(signInReads().slice(before)).toEqual([expect.objectContaining({ method: 'GET', status: 200, clientId: rotor.clientId })]);
    // The new secret is not the old one: it has not signed in.
    expect((await source.inUse!(context(), spec(app, { drainLookback: '0s' }), created, since)).inUse).toBe(false);
  });

  it('not in use when the old secret signed in only before `since`', async () => {
    const { app, current } = appWithSecret();
    expect(await signsIn(current)).toBe(true);
    const since = new Date(lastSignIn(app).createdDateTime.getTime() + 1);
    const usage = await source.inUse!(context(), spec(app, { drainLookback: '0s' }), current, since);
    expect(usage).toEqual({ inUse: false, detail: `client secret ${current.id} has not signed in since ${since.toISOString()} (0 sign-ins of the application with other credentials; Entra ID logs sign-ins a few minutes late)` });
  });

  it('reads back at least drainLookback from now, whatever `since` is: a cached token hides a client for up to 90 minutes', async () => {
    const { app, current } = appWithSecret();
    expect(await signsIn(current)).toBe(true);
    const since = new Date(lastSignIn(app).createdDateTime.getTime() + 1);
    // The default 2h reaches back past `since` to the sign-in just before it.
    const usage = await source.inUse!(context(), spec(app), current, since);
    expect(usage.inUse).toBe(true);
    const from = new Date(/since (\S+)\)/.exec(usage.detail)![1]!).getTime();
    expect(from).toBeLessThanOrEqual(Date.now() - 2 * 3_600_000);
    expect(from).toBeGreaterThan(Date.now() - 2 * 3_600_000 - 60_000);

    // A sign-in three hours ago is outside the default window, inside a 4h one.
    const quiet = appWithSecret();
    az.directory.recordSignIn(quiet.app.clientId, quiet.current.id, new Date(Date.now() - 3 * 3_600_000));
    expect((await source.inUse!(context(), spec(quiet.app), quiet.current, new Date())).inUse).toBe(false);
    expect((await source.inUse!(context(), spec(quiet.app, { drainLookback: '4h' }), quiet.current, new Date())).inUse).toBe(true);
  });

  it('not in use when only the new secret (and a wrong one) signed in', async () => {
    const { app, current } = appWithSecret();
    const created = await source.create(context(), spec(app), 'dual', request(current).req);
    const since = new Date();
    expect(await signsIn(created)).toBe(true);
    expect(await signsIn(materialOf(app, current.id, 'abc8Q~' + 'x'.repeat(34)))).toBe(false);
    expect(az.directory.signIns(app.clientId).slice(-2)).toEqual([
      expect.objectContaining({ keyId: created.id, errorCode: 0 }),
      expect.objectContaining({ keyId: null, errorCode: 7000215 }), // Entra ID cannot tell which secret a wrong one was
    ]);
    const usage = await source.inUse!(context(), spec(app, { drainLookback: '0s' }), current, since);
    expect(usage.inUse).toBe(false);
    expect(usage.detail).toContain(`client secret ${current.id} has not signed in since ${since.toISOString()} (2 sign-ins of the application with other credentials`);
  });

  it('follows @odata.nextLink to a sign-in of the old secret on a later page', async () => {
    const { app, current } = appWithSecret();
    const created = await source.create(context(), spec(app), 'dual', request(current).req);
    const since = new Date();
    expect(await signsIn(current)).toBe(true); // the oldest: newest first puts it on the last page
    for (let i = 0; i < 4; i++) expect(await signsIn(created)).toBe(true);
    az.directory.setSignInPageSize(2);
    try {
      const before = signInReads().length;
      const usage = await source.inUse!(context(), spec(app, { drainLookback: '0s' }), current, since);
      expect(usage.inUse).toBe(true);
      expect(usage.detail).toContain('(1 sign-in since');
      expect(signInReads().length - before).toBe(3);
    } finally {
      az.directory.setSignInPageSize(1000);
    }
  });

  it('counts a log longer than it reads as still in use, never as drained', async () => {
    const { app, current } = appWithSecret();
    const since = new Date(Date.now() - 60_000);
    for (let i = 0; i <= SIGN_IN_LIMITS.maxPages; i++) az.directory.recordSignIn(app.clientId, randomUUID(), new Date());
    az.directory.setSignInPageSize(1);
    try {
      const before = signInReads().length;
      const usage = await source.inUse!(context(), spec(app, { drainLookback: '0s' }), current, since);
      expect(usage.inUse).toBe(true);
      expect(usage.detail).toContain(`cannot tell whether client secret ${current.id} is still used`);
      expect(usage.detail).toContain(`read the newest ${SIGN_IN_LIMITS.maxPages}`);
      expect(signInReads().length - before).toBe(SIGN_IN_LIMITS.maxPages);
    } finally {
      az.directory.setSignInPageSize(1000);
    }
  });

  it('refuses, naming AuditLog.Read.All and drainSignal: none, when Graph will not show the log; and names the licence', async () => {
    const { app, current } = appWithSecret();
    const identity = rotorWithoutAuditLog(app);
    const refused = await rejection(source.inUse!(context(undefined, identity), spec(app), current, new Date()));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('Authentication_MSGraphPermissionMissing');
    expect(refused.message).toContain('HTTP 403');
    expect(refused.message).toContain(`Rotor's identity (client ${identity.clientId}) lacks the Microsoft Graph application permission AuditLog.Read.All`);
    expect(refused.message).toContain('drainSignal: none');

    az.directory.setPremiumLicence(false);
    try {
      const unlicensed = await rejection(source.inUse!(context(), spec(app), current, new Date()));
      expect(unlicensed).toBeInstanceOf(ProviderRefusal);
      expect(unlicensed.message).toContain('Authentication_RequestFromNonPremiumTenantOrB2CTenant');
      expect(unlicensed.message).toContain('Microsoft Entra ID P1 or P2 licence');
      expect(unlicensed.message).toContain('drainSignal: none');
    } finally {
      az.directory.setPremiumLicence(true);
    }
  });

  it('reports throttling of the sign-in log as retryable', async () => {
    const { app, current } = appWithSecret();
    az.faults.add({ status: 429, ...azureFault('graph', 'TooManyRequests', 'Too many requests', 3), match: (r) => r.path === '/beta/auditLogs/signIns' });
    const throttled = await rejection(source.inUse!(context(), spec(app), current, new Date()));
    expect(throttled).not.toBeInstanceOf(ProviderRefusal);
    expect(throttled.message).toContain('TooManyRequests');
    expect(throttled.message).toContain('Retry-After 3');
  });

  it('drainSignal none: not in use by policy, without reading the log (nor needing AuditLog.Read.All)', async () => {
    const { app, current } = appWithSecret();
    const identity = rotorWithoutAuditLog(app);
    const since = new Date();
    expect(await signsIn(current)).toBe(true);
    const before = signInReads().length;
    const usage = await source.inUse!(context(undefined, identity), spec(app, { drainSignal: 'none' }), current, since);
    expect(usage.inUse).toBe(false);
    expect(usage.detail).toContain('drain signal disabled by policy');
    expect(signInReads().length).toBe(before);
  });

  it('preflight reports a missing AuditLog.Read.All (and licence), unless drainSignal is none', async () => {
    const { app } = appWithSecret();
    const identity = rotorWithoutAuditLog(app);
    const problems = await source.preflight!(context(undefined, identity), spec(app), 'dual');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('AuditLog.Read.All');
    expect(problems[0]).toContain('drainSignal: none');
    expect(await source.preflight!(context(undefined, identity), spec(app, { drainSignal: 'none' }), 'dual')).toEqual([]);

    az.directory.setPremiumLicence(false);
    try {
      const unlicensed = await source.preflight!(context(), spec(app), 'dual');
      expect(unlicensed).toHaveLength(1);
      expect(unlicensed[0]).toContain('P1 or P2');
    } finally {
      az.directory.setPremiumLicence(true);
    }
    expect(await source.preflight!(context(), spec(app), 'dual')).toEqual([]);
  });
});

describe('azure emulator: sign-in log', () => {
  const graphToken = async (identity: AzureTestApp) =>
    (
      await new ClientSecretCredential(az.tenantId, identity.clientId, identity.clientSecret, {
        authorityHost: az.authorityHost,
        disableInstanceDiscovery: true,
        tlsOptions: { ca: az.caPem },
      }).getToken('https://graph.microsoft.com/.default')
    ).token;
  const list = (token: string | undefined, query: Record<string, string>, version = 'beta') =>
    az.raw('GET', `/${version}/auditLogs/signIns?${new URLSearchParams(query).toString()}`, token);
  const filterOf = (appId: string, since: string) => `appId eq '${appId}' and createdDateTime ge ${since} and signInEventTypes/any(t: t eq 'servicePrincipal')`;

  it('lists service-principal sign-ins newest first with the keyId used; refuses what Graph refuses', async () => {
    const { app, current } = appWithSecret();
    const since = new Date(Date.now() - 1000).toISOString();
    expect(await signsIn(current)).toBe(true);
    const token = await graphToken(rotor);

    const ok = await list(token, { $filter: filterOf(app.clientId, since) });
    expect(ok.status).toBe(200);
    const body = JSON.parse(ok.body) as { value: Array<Record<string, unknown>> };
    expect(body.value).toHaveLength(1);
    expect(body.value[0]).toMatchObject({
      appId: app.clientId,
      servicePrincipalCredentialKeyId: current.id,
      signInEventTypes: ['servicePrincipal'],
      isInteractive: false,
      resourceDisplayName: 'Microsoft Graph',
      status: { errorCode: 0 },
    });
    expect(body.value[0]!.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    // Another app's sign-ins, and sign-ins before the window, are not listed.
    expect(JSON.parse((await list(token, { $filter: filterOf(rotor.clientId, new Date().toISOString()) })).body).value).toEqual([]);

    expect((await list(undefined, { $filter: filterOf(app.clientId, since) })).status).toBe(401);
    const denied = await list(await graphToken(rotorWithoutAuditLog(app)), { $filter: filterOf(app.clientId, since) });
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body).error.code).toBe('Authentication_MSGraphPermissionMissing');

    for (const filter of [
      `appId eq '${app.clientId}' and createdDateTime ge '${since}'`, // a quoted DateTimeOffset
      `userId eq '${app.clientId}'`, // a property this emulator does not filter on
      `appId eq '${app.clientId}' or signInEventTypes/any(t: t eq 'servicePrincipal')`,
      `signInEventTypes/any(t: t eq 'robot')`,
    ]) {
      const bad = await list(token, { $filter: filter });
      expect(bad.status, filter).toBe(400);
      expect(JSON.parse(bad.body).error.code).toBe('BadRequest');
    }
    expect((await list(token, { $filter: filterOf(app.clientId, since), $top: 'ten' })).status).toBe(400);
    expect((await list(token, { $filter: filterOf(app.clientId, since), $orderby: 'createdDateTime' })).status).toBe(400);
    // v1.0's signIn has no signInEventTypes: service-principal sign-ins are on beta only.
    const v1 = await list(token, { $filter: filterOf(app.clientId, since) }, 'v1.0');
    expect(v1.status).toBe(400);
    expect(JSON.parse(v1.body).error.message).toContain('signInEventTypes');
  });

  it('pages with $top and an absolute @odata.nextLink', async () => {
    const { app, current } = appWithSecret();
    const since = new Date(Date.now() - 1000).toISOString();
    for (let i = 0; i < 3; i++) az.directory.recordSignIn(app.clientId, current.id, new Date());
    const token = await graphToken(rotor);
    const first = JSON.parse((await list(token, { $filter: filterOf(app.clientId, since), $top: '2' })).body) as { value: unknown[]; '@odata.nextLink'?: string };
    expect(first.value).toHaveLength(2);
    expect(first['@odata.nextLink']).toMatch(new RegExp(`^${az.url}/beta/auditLogs/signins\\?`));
    const next = new URL(first['@odata.nextLink']!);
    const second = JSON.parse((await az.raw('GET', `${next.pathname}${next.search}`, token)).body) as { value: Array<{ id: string }>; '@odata.nextLink'?: string };
    expect(second.value).toHaveLength(1);
    expect(second['@odata.nextLink']).toBeUndefined();
    const ids = [...(first.value as Array<{ id: string }>), ...second.value].map((v) => v.id);
    expect(new Set(ids).size).toBe(3);
  });
});

describe('azure emulator: Graph authentication', () => {
  it('refuses a request without a token, with a forged token and with a token for another audience', async () => {
    const { app } = appWithSecret();
    const path = `/v1.0/applications/${app.objectId}`;
    const none = await az.raw('GET', path);
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toMatchObject({ error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty.' } });
    expect(none.headers['www-authenticate']).toContain('Bearer');

    const forged = await az.raw('GET', path, Buffer.from(`${rotor.clientId}:graph`).toString('base64url'));
    expect(forged.status).toBe(401);
    expect(JSON.parse(forged.body).error.code).toBe('InvalidAuthenticationToken');

    const credential = new ClientSecretCredential(az.tenantId, rotor.clientId, rotor.clientSecret, { authorityHost: az.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: az.caPem } });
    const vaultToken = (await credential.getToken('https://vault.azure.net/.default')).token;
    const wrongAudience = await az.raw('GET', path, vaultToken);
    expect(wrongAudience.status).toBe(401);
    expect(JSON.parse(wrongAudience.body).error.message).toContain('Invalid audience');

    const graphToken = (await credential.getToken('https://graph.microsoft.com/.default')).token;
    const ok = await az.raw('GET', path, graphToken);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).passwordCredentials[0]).toMatchObject({ keyId: app.keyId, secretText: null, hint: app.clientSecret.slice(0, 3) });
    az.directory.expireTokens(rotor.clientId);
    expect((await az.raw('GET', path, graphToken)).status).toBe(401);
  });

  it('trusts nothing but its CA: a client without caCertificate cannot connect', async () => {
    const { app } = appWithSecret();
    const withoutCa = AzureSpSecretSpecSchema.parse({ ...spec(app), caCertificate: undefined });
    const failed = await rejection(source.list(context(), withoutCa));
    expect(failed).toBeInstanceOf(ProviderRefusal);
    expect(failed.message).toContain('TLS: UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(failed.message).toContain('caCertificate');

    // A wrong tenant is refused by Entra ID's metadata endpoint, and said so.
    const wrongTenant = await rejection(source.list(context(), spec(app, { tenantId: randomUUID() })));
    expect(wrongTenant).toBeInstanceOf(ProviderRefusal);
    expect(wrongTenant.message).toContain('invalid_tenant');
  });
});

describe('azure-sp-secret: posture (privileges)', () => {
  /** Rotor's identity for posture: Application.Read.All and RoleManagement.Read.Directory. */
  let auditor: AzureTestApp;
  beforeAll(() => {
    auditor = az.directory.registerApp('rotor-auditor', { graphPermissions: ['Application.Read.All', 'RoleManagement.Read.Directory'] });
  });
  const privileges = (app: AzureTestApp, identity: AzureTestApp = auditor) => source.privileges!(context(undefined, identity), spec(app));
  const freshApp = () => az.directory.registerApp(`posture-${randomUUID().slice(0, 8)}`);
  const reads = (app: AzureTestApp, relation: string) => az.requests.filter((r) => r.path === `/v1.0/servicePrincipals/${app.servicePrincipalId}/${relation}`);

  it('finds nothing broad for a plain application, nor for harmless permissions and roles', async () => {
    const plain = freshApp();
    expect(await privileges(plain)).toEqual({ broad: [] });

    const harmless = freshApp();
    for (const permission of ['User.Read.All', 'AuditLog.Read.All', 'Application.Read.All', 'Directory.Read.All', 'GroupMember.Read.All'] as const) {
      az.directory.assignGraphAppRole(harmless.clientId, permission);
    }
    az.directory.addToDirectoryRole(harmless.clientId, 'Directory Readers');
    az.directory.addToDirectoryRole(harmless.clientId, 'Directory Readers', { viaGroup: `readers-${harmless.clientId}` });
    const before = { assignments: reads(harmless, 'appRoleAssignments').length, roles: reads(harmless, 'transitiveMemberOf').length };
    expect(await privileges(harmless)).toEqual({ broad: [] });
    // Both lists were really read (and answered), not skipped.
    expect(reads(harmless, 'appRoleAssignments').slice(before.assignments)).toEqual([expect.objectContaining({ status: 200, clientId: auditor.clientId })]);
    expect(reads(harmless, 'transitiveMemberOf').slice(before.roles)).toEqual([expect.objectContaining({ status: 200, clientId: auditor.clientId })]);
  });

  it("names each tenant-takeover Graph application permission, resolved through Graph's appRoles", async () => {
    const takeover: GraphPermission[] = [
      'Directory.ReadWrite.All',
      'RoleManagement.ReadWrite.Directory',
      'AppRoleAssignment.ReadWrite.All',
      'Application.ReadWrite.All',
      'User.ReadWrite.All',
      'Group.ReadWrite.All',
      'Domain.ReadWrite.All',
    ];
    for (const permission of takeover) {
      const app = freshApp();
      az.directory.assignGraphAppRole(app.clientId, 'User.Read.All');
      az.directory.assignGraphAppRole(app.clientId, permission);
      expect((await privileges(app)).broad, permission).toEqual([`Graph application permission ${permission}`]);
    }
    const all = freshApp();
    for (const permission of [...takeover].reverse()) az.directory.assignGraphAppRole(all.clientId, permission);
    az.directory.assignGraphAppRole(all.clientId, 'AuditLog.Read.All');
    expect((await privileges(all)).broad).toEqual([
      'Graph application permission Directory.ReadWrite.All',
      'Graph application permission RoleManagement.ReadWrite.Directory',
      'Graph application permission AppRoleAssignment.ReadWrite.All',
      'Graph application permission Application.ReadWrite.All',
      'Graph application permission User.ReadWrite.All',
      'Graph application permission Group.ReadWrite.All',
      'Graph application permission Domain.ReadWrite.All',
    ]);
  });

  it('names each privileged directory role, held directly or through a group', async () => {
    const privileged: DirectoryRoleName[] = [
      'Global Administrator',
      'Privileged Role Administrator',
      'Privileged Authentication Administrator',
      'Application Administrator',
      'Cloud Application Administrator',
    ];
    for (const role of privileged) {
      const app = freshApp();
      az.directory.addToDirectoryRole(app.clientId, 'Directory Readers');
      az.directory.addToDirectoryRole(app.clientId, role);
      expect((await privileges(app)).broad, role).toEqual([`directory role ${role}`]);
    }
    // Through a role-assignable group: memberOf would miss it, transitiveMemberOf does not.
    const viaGroup = freshApp();
    az.directory.addToDirectoryRole(viaGroup.clientId, 'Global Administrator', { viaGroup: `admins-${viaGroup.clientId}` });
    expect((await privileges(viaGroup)).broad).toEqual(['directory role Global Administrator']);

    const both = freshApp();
    az.directory.assignGraphAppRole(both.clientId, 'Application.ReadWrite.All');
    az.directory.addToDirectoryRole(both.clientId, 'Cloud Application Administrator');
    az.directory.addToDirectoryRole(both.clientId, 'User Administrator');
    expect((await privileges(both)).broad).toEqual(['Graph application permission Application.ReadWrite.All', 'directory role Cloud Application Administrator']);
  });

  it('follows @odata.nextLink through every page of both lists', async () => {
    const app = freshApp();
    for (const permission of ['User.Read.All', 'Group.ReadWrite.All', 'AuditLog.Read.All', 'Domain.ReadWrite.All', 'Directory.ReadWrite.All'] as const) {
      az.directory.assignGraphAppRole(app.clientId, permission);
    }
    az.directory.addToDirectoryRole(app.clientId, 'Directory Readers');
    az.directory.addToDirectoryRole(app.clientId, 'User Administrator');
    az.directory.addToDirectoryRole(app.clientId, 'Application Administrator', { viaGroup: `apps-${app.clientId}` });
    az.directory.addToDirectoryRole(app.clientId, 'Global Administrator'); // the fifth membership: the last page
    az.directory.setDirectoryPageSize(2);
    try {
      expect((await privileges(app)).broad).toEqual([
        'Graph application permission Directory.ReadWrite.All',
        'Graph application permission Group.ReadWrite.All',
        'Graph application permission Domain.ReadWrite.All',
        'directory role Global Administrator',
        'directory role Application Administrator',
      ]);
      expect(reads(app, 'appRoleAssignments')).toHaveLength(3);
      expect(reads(app, 'transitiveMemberOf')).toHaveLength(3);
    } finally {
      az.directory.setDirectoryPageSize(100);
    }
  });

  it('sends a nextLink to the configured Graph endpoint only, and only to the same list', async () => {
    const app = freshApp();
    az.directory.assignGraphAppRole(app.clientId, 'Directory.ReadWrite.All');
    const path = `/v1.0/servicePrincipals/${app.servicePrincipalId}/appRoleAssignments`;
    az.faults.add({ status: 200, body: { value: [], '@odata.nextLink': `https://graph.elsewhere.invalid${path}?$top=50` }, match: (r) => r.path === path });
    expect((await privileges(app)).broad).toEqual(['Graph application permission Directory.ReadWrite.All']);
    expect(reads(app, 'appRoleAssignments').map((r) => r.status)).toEqual([200, 200]); // the fault's page, then the emulator's

    az.faults.add({ status: 200, body: { value: [], '@odata.nextLink': `${az.url}/v1.0/users?$skiptoken=abc` }, match: (r) => r.path === path });
    const before = az.requests.length;
    const strayed = await rejection(privileges(app));
    expect(strayed.message).toContain('leads to /v1.0/users, not to the list it continues');
    expect(az.requests.slice(before).some((r) => r.path === '/v1.0/users')).toBe(false);
  });

  it('refuses, naming Application.Read.All, when Rotor may not read service principals; Directory.Read.All alone is enough', async () => {
    const app = freshApp();
    az.directory.addToDirectoryRole(app.clientId, 'Privileged Role Administrator');
    const refused = await rejection(privileges(app, rotor)); // Application.ReadWrite.OwnedBy and AuditLog.Read.All only
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain(`cannot read the service principal of application ${app.clientId}`);
    expect(refused.message).toContain('Authorization_RequestDenied');
    expect(refused.message).toContain('HTTP 403');
    expect(refused.message).toContain(`Rotor's identity (client ${rotor.clientId}) lacks the Microsoft Graph application permission Application.Read.All (or Directory.Read.All)`);

    const reader = az.directory.registerApp(`rotor-directory-reader-${randomUUID().slice(0, 8)}`, { graphPermissions: ['Directory.Read.All'] });
    expect((await privileges(app, reader)).broad).toEqual(['directory role Privileged Role Administrator']);
  });

  it('with Application.Read.All alone, reads permissions but refuses to guess which roles Graph would not name', async () => {
    const readAll = az.directory.registerApp(`rotor-read-all-${randomUUID().slice(0, 8)}`, { graphPermissions: ['Application.Read.All'] });
    const noRoles = freshApp();
    az.directory.assignGraphAppRole(noRoles.clientId, 'RoleManagement.ReadWrite.Directory');
    expect((await privileges(noRoles, readAll)).broad).toEqual(['Graph application permission RoleManagement.ReadWrite.Directory']);

    const inRole = freshApp();
    az.directory.addToDirectoryRole(inRole.clientId, 'Directory Readers');
    const refused = await rejection(privileges(inRole, readAll));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain(`cannot read the directory roles of service principal ${inRole.servicePrincipalId}`);
    expect(refused.message).toContain('RoleManagement.Read.Directory');
    expect(refused.message).toContain(readAll.clientId);
  });

  it('reports throttling and server errors as retryable', async () => {
    const app = freshApp();
    az.faults.add({ status: 429, ...azureFault('graph', 'TooManyRequests', 'Too many requests', 5), match: (r) => r.path === `/v1.0/servicePrincipals/${app.servicePrincipalId}/transitiveMemberOf` });
    const throttled = await rejection(privileges(app));
    expect(throttled).not.toBeInstanceOf(ProviderRefusal);
    expect(throttled.message).toContain('TooManyRequests');
    expect(throttled.message).toContain('Retry-After 5');
    expect(throttled.message).toContain(`cannot read the directory roles of service principal ${app.servicePrincipalId}`);

    az.faults.add({ status: 503, ...azureFault('graph', 'serviceNotAvailable', 'Service unavailable'), match: (r) => r.path.startsWith('/v1.0/servicePrincipals(') });
    const down = await rejection(privileges(app));
    expect(down).not.toBeInstanceOf(ProviderRefusal);
    expect(down.message).toContain('HTTP 503');
    expect(await privileges(app)).toEqual({ broad: [] });
  });

  it("an application without a service principal holds nothing; any other 404 is refused", async () => {
    const app = freshApp();
    az.directory.assignGraphAppRole(app.clientId, 'Directory.ReadWrite.All');
    const lookup = (r: { path: string }) => r.path === `/v1.0/servicePrincipals(appId='${app.clientId}')`;
    az.faults.add({ status: 404, ...azureFault('graph', 'Request_ResourceNotFound', `Resource '${app.clientId}' does not exist or one of its queried reference-property objects are not present.`), match: lookup });
    expect(await privileges(app)).toEqual({ broad: [] });
    expect(logs.some((l) => l.includes(app.clientId) && l.includes('no service principal'))).toBe(true);

    az.faults.add({ status: 404, body: '<html>Not Found</html>', headers: { 'content-type': 'text/html' }, match: lookup });
    const wrongEndpoint = await rejection(privileges(app));
    expect(wrongEndpoint).toBeInstanceOf(ProviderRefusal);
    expect(wrongEndpoint.message).toContain('HTTP 404');
    expect((await privileges(app)).broad).toEqual(['Graph application permission Directory.ReadWrite.All']);
  });
});

describe('azure emulator: service principals', () => {
  const tokenOf = async (identity: AzureTestApp) =>
    (
      await new ClientSecretCredential(az.tenantId, identity.clientId, identity.clientSecret, {
        authorityHost: az.authorityHost,
        disableInstanceDiscovery: true,
        tlsOptions: { ca: az.caPem },
      }).getToken('https://graph.microsoft.com/.default')
    ).token;
  /** A Graph reply's JSON, loosely typed: an entity, a collection or an error. */
  type GraphJson = Record<string, unknown> & { value: Array<Record<string, unknown>>; error: { code: string } };
  const json = async (reply: Promise<{ status: number; body: string }>) => {
    const { status, body } = await reply;
    return { status, body: JSON.parse(body) as GraphJson };
  };

  it('finds a service principal by appId (both forms) and by id; refuses callers without Application.Read.All or a token', async () => {
    const app = az.directory.registerApp(`sp-${randomUUID().slice(0, 8)}`);
    const reader = az.directory.registerApp(`sp-reader-${randomUUID().slice(0, 8)}`, { graphPermissions: ['Application.Read.All'] });
    const token = await tokenOf(reader);
    const byAppId = await json(az.raw('GET', `/v1.0/servicePrincipals(appId='${app.clientId}')?$select=id,appId,displayName`, token));
    expect(byAppId).toMatchObject({ status: 200, body: { id: app.servicePrincipalId, appId: app.clientId, displayName: app.displayName } });
    expect(byAppId.body.appRoles).toBeUndefined(); // $select
    const byId = await json(az.raw('GET', `/v1.0/servicePrincipals/${app.servicePrincipalId}`, token));
    expect(byId.body).toMatchObject({ id: app.servicePrincipalId, appId: app.clientId, servicePrincipalType: 'Application' });
    const filtered = await json(az.raw('GET', `/v1.0/servicePrincipals?$filter=${encodeURIComponent(`appId eq '${app.clientId}'`)}`, token));
    expect(filtered.body.value).toEqual([expect.objectContaining({ id: app.servicePrincipalId })]);

    const missing = await json(az.raw('GET', `/v1.0/servicePrincipals(appId='${randomUUID()}')`, token));
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'Request_ResourceNotFound' } } });
    expect((await az.raw('GET', `/v1.0/servicePrincipals/${app.servicePrincipalId}/appRoleAssignments?$orderby=id`, token)).status).toBe(400);
    expect((await az.raw('GET', `/v1.0/servicePrincipals/${app.servicePrincipalId}/appRoleAssignments?$skiptoken=forged`, token)).status).toBe(400);
    expect((await az.raw('GET', `/v1.0/servicePrincipals/${app.servicePrincipalId}/transitiveMemberOf/microsoft.graph.directoryRole`, token)).status).toBe(400);

    expect((await json(az.raw('GET', `/v1.0/servicePrincipals/${app.servicePrincipalId}`))).body.error.code).toBe('InvalidAuthenticationToken');
    const denied = await json(az.raw('GET', `/v1.0/servicePrincipals(appId='${randomUUID()}')`, await tokenOf(rotor)));
    expect(denied).toMatchObject({ status: 403, body: { error: { code: 'Authorization_RequestDenied' } } }); // 403 before 404
  });

  it("lists app role assignments by Graph's appRole ids, memberships with and without groups, and limits what the caller may not read", async () => {
    const app = az.directory.registerApp(`sp-${randomUUID().slice(0, 8)}`, { graphPermissions: ['Directory.ReadWrite.All'] });
    az.directory.addToDirectoryRole(app.clientId, 'Global Administrator', { viaGroup: `admins-${app.clientId}` });
    const reader = az.directory.registerApp(`sp-reader-${randomUUID().slice(0, 8)}`, { graphPermissions: ['Application.Read.All'] });
    const token = await tokenOf(reader);

    const graphSp = await json(az.raw('GET', `/v1.0/servicePrincipals(appId='${GRAPH_APP_ID}')?$select=id,appRoles`, token));
    expect(graphSp.body.appRoles).toContainEqual(expect.objectContaining({ id: GRAPH_APP_ROLES['Directory.ReadWrite.All'], value: 'Directory.ReadWrite.All', allowedMemberTypes: ['Application'] }));
    const assignments = await json(az.raw('GET', `/v1.0/servicePrincipals/${app.servicePrincipalId}/appRoleAssignments`, token));
    expect(assignments.body.value).toEqual([
      expect.objectContaining({ appRoleId: GRAPH_APP_ROLES['Directory.ReadWrite.All'], principalId: app.servicePrincipalId, principalType: 'ServicePrincipal', resourceId: graphSp.body.id }),
    ]);

    const direct = await json(az.raw('GET', `/v1.0/servicePrincipals/${app.servicePrincipalId}/memberOf`, token));
    expect(direct.body.value.map((o) => o['@odata.type'])).toEqual(['#microsoft.graph.group']);
    const transitive = await json(az.raw('GET', `/v1.0/servicePrincipals/${app.servicePrincipalId}/transitiveMemberOf`, token));
    const role = transitive.body.value.find((o) => o['@odata.type'] === '#microsoft.graph.directoryRole')!;
    expect(role).toMatchObject({ displayName: null, roleTemplateId: null }); // Application.Read.All may not read directory roles
    expect(role.id).toMatch(/^[0-9a-f-]{36}$/);

    az.directory.grantGraph(reader.clientId, 'RoleManagement.Read.Directory');
    const named = await json(az.raw('GET', `/v1.0/servicePrincipals/${app.servicePrincipalId}/transitiveMemberOf`, token));
    expect(named.body.value).toContainEqual(expect.objectContaining({ id: role.id, displayName: 'Global Administrator', roleTemplateId: DIRECTORY_ROLE_TEMPLATES['Global Administrator'] }));
  });
});

describe('azure-sp-secret: no secret leaks', () => {
  it('no client secret or access token appears in any thrown error or log line', () => {
    const secrets = az.directory.issuedSecrets();
    expect(errors.length).toBeGreaterThan(10);
    expect(secrets.length).toBeGreaterThan(20);
    const text = kit.errorsAndLogsText();
    // The scan reads real content: key ids and what happened to them do appear.
    expect(text).toContain('azure client secret added');
    expect(text).toMatch(/"keyId":"[0-9a-f]{8}-[0-9a-f]{4}-/);
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});
