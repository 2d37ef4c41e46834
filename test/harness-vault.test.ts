/**
 * The Vault emulator, driven through the real node-vault client: if these hold, providers tested
 * against the emulator see what a real Vault KV v2 would answer.
 */
import vault from 'node-vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultInjector } from './harness/faults.js';
import { startVaultEmulator, type VaultEmulator } from './harness/vault/index.js';

let emulator: VaultEmulator;
let client: vault.client;

interface Failure {
  message: string;
  response: { statusCode: number; body: { errors?: string[]; data?: { data: unknown; metadata: Record<string, unknown> } } };
}

/** The rejection of a node-vault call, which must fail. */
async function failure(call: Promise<unknown>): Promise<Failure> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => error as Failure,
  );
  if (!outcome) throw new Error('expected the call to fail');
  return outcome;
}

beforeAll(async () => {
  emulator = await startVaultEmulator();
  client = vault({ apiVersion: 'v1', endpoint: emulator.address, token: emulator.token, noCustomHTTPVerbs: true });
});

afterAll(async () => {
  await emulator?.close();
});

describe('Vault emulator: auth and system endpoints', () => {
  it('refuses a missing or wrong token with 403 permission denied', async () => {
    const wrong = vault({ endpoint: emulator.address, token: 'not-the-token', noCustomHTTPVerbs: true });
    const denied = await failure(wrong.read('secret/data/anything'));
    expect(denied.response.statusCode).toBe(403);
    expect(denied.response.body).toEqual({ errors: ['permission denied'] });

    const anonymous = vault({ endpoint: emulator.address, token: '', noCustomHTTPVerbs: true });
    expect((await failure(anonymous.read('secret/data/anything'))).response.statusCode).toBe(403);
  });

  it('answers sys/health without a token and token lookup-self with one', async () => {
    const anonymous = vault({ endpoint: emulator.address, token: '', noCustomHTTPVerbs: true });
    expect(await anonymous.health()).toMatchObject({ initialized: true, sealed: false });
    const self = await client.tokenLookupSelf();
    expect(self).toMatchObject({ lease_id: '', renewable: false, data: { policies: ['root'] } });
  });

  it('answers unknown mounts with 404', async () => {
    expect((await failure(client.read('nomount/data/x'))).response.statusCode).toBe(404);
  });
});

describe('Vault emulator: KV version 2', () => {
  it('writes versions, reads the latest or a given one, in the Vault envelope', async () => {
    const first = await client.write('secret/data/app/db', { data: { password: 'one' } });
    expect(first).toMatchObject({ lease_id: '', renewable: false, lease_duration: 0, wrap_info: null, warnings: null, auth: null });
    expect(first.data).toMatchObject({ version: 1, deletion_time: '', destroyed: false });
    expect(typeof first.request_id).toBe('string');
    await client.write('secret/data/app/db', { data: { password: 'two' } });

    const latest = await client.read('secret/data/app/db');
    expect(latest.data.data).toEqual({ password: 'two' });
    expect(latest.data.metadata).toMatchObject({ version: 2, destroyed: false, deletion_time: '', custom_metadata: null });
    expect((await client.read('secret/data/app/db?version=1')).data.data).toEqual({ password: 'one' });
  });

  it('answers an absent secret or version with 404 and no errors', async () => {
    const absent = await failure(client.read('secret/data/app/none'));
    expect(absent.response).toEqual({ statusCode: 404, body: { errors: [] } });
    expect((await failure(client.read('secret/data/app/db?version=99'))).response.statusCode).toBe(404);
  });

  it('enforces check-and-set with Vault\'s messages', async () => {
    await client.write('secret/data/cas/one', { data: { v: '1' }, options: { cas: 0 } });
    const stale = await failure(client.write('secret/data/cas/one', { data: { v: 'x' }, options: { cas: 0 } }));
    expect(stale.response).toEqual({ statusCode: 400, body: { errors: ['check-and-set parameter did not match the current version'] } });
    const second = await client.write('secret/data/cas/one', { data: { v: '2' }, options: { cas: 1 } });
    expect(second.data.version).toBe(2);

    await client.write('secret/metadata/cas/one', { cas_required: true });
    const missing = await failure(client.write('secret/data/cas/one', { data: { v: '3' } }));
    expect(missing.response.body.errors).toEqual(['check-and-set parameter required for this call']);
  });

  it('keeps custom_metadata and settings in the metadata, shown on data reads too', async () => {
    await client.write('secret/data/meta/app', { data: { k: 'v1' } });
    await client.write('secret/data/meta/app', { data: { k: 'v2' } });
    await client.write('secret/metadata/meta/app', { custom_metadata: { owner: 'team-a', rotor_rotation: 'r1' }, max_versions: 5 });

    const meta = (await client.read('secret/metadata/meta/app')).data;
    expect(meta).toMatchObject({ current_version: 2, oldest_version: 0, max_versions: 5, cas_required: false, custom_metadata: { owner: 'team-a', rotor_rotation: 'r1' } });
    expect(Object.keys(meta.versions)).toEqual(['1', '2']);
    expect(meta.versions['1']).toEqual({ created_time: expect.any(String), deletion_time: '', destroyed: false });
    expect((await client.read('secret/data/meta/app')).data.metadata.custom_metadata).toEqual({ owner: 'team-a', rotor_rotation: 'r1' });

    // custom_metadata is replaced as a whole, and Vault refuses empty values.
    await client.write('secret/metadata/meta/app', { custom_metadata: { owner: 'team-b' } });
    expect((await client.read('secret/metadata/meta/app')).data.custom_metadata).toEqual({ owner: 'team-b' });
    const empty = await failure(client.write('secret/metadata/meta/app', { custom_metadata: { owner: '' } }));
    expect(empty.response.statusCode).toBe(400);
  });

  it('prunes versions beyond max_versions', async () => {
    await client.write('secret/metadata/prune/app', { max_versions: 2 });
    for (const v of ['1', '2', '3']) await client.write('secret/data/prune/app', { data: { v } });
    const meta = (await client.read('secret/metadata/prune/app')).data;
    expect(Object.keys(meta.versions)).toEqual(['2', '3']);
    expect(meta.oldest_version).toBe(2);
    expect((await failure(client.read('secret/data/prune/app?version=1'))).response.statusCode).toBe(404);
  });

  it('soft-deletes, undeletes and destroys versions; deleted reads are 404 with metadata', async () => {
    await client.write('secret/data/life/app', { data: { v: '1' } });
    await client.write('secret/data/life/app', { data: { v: '2' } });

    await client.delete('secret/data/life/app'); // soft-deletes the latest
    const deleted = await failure(client.read('secret/data/life/app'));
    expect(deleted.response.statusCode).toBe(404);
    expect(deleted.response.body.data?.data).toBeNull();
    expect(deleted.response.body.data?.metadata).toMatchObject({ version: 2, destroyed: false, deletion_time: expect.stringMatching(/^\d{4}-/) });
    expect((await client.read('secret/data/life/app?version=1')).data.data).toEqual({ v: '1' });

    await client.write('secret/undelete/life/app', { versions: [2] });
    expect((await client.read('secret/data/life/app')).data.data).toEqual({ v: '2' });

    await client.write('secret/delete/life/app', { versions: [1] });
    expect((await failure(client.read('secret/data/life/app?version=1'))).response.statusCode).toBe(404);

    await client.write('secret/destroy/life/app', { versions: [2] });
    const destroyed = await failure(client.read('secret/data/life/app'));
    expect(destroyed.response.body.data?.metadata).toMatchObject({ version: 2, destroyed: true });
    await client.write('secret/undelete/life/app', { versions: [2] });
    expect((await failure(client.read('secret/data/life/app'))).response.statusCode).toBe(404);

    const noVersions = await failure(client.write('secret/delete/life/app', {}));
    expect(noVersions.response.body.errors).toEqual(['no version number provided']);

    await client.delete('secret/metadata/life/app');
    expect((await failure(client.read('secret/metadata/life/app'))).response).toEqual({ statusCode: 404, body: { errors: [] } });
  });

  it('lists keys and folders with GET ?list=true', async () => {
    await client.write('secret/data/list/a', { data: { v: '1' } });
    await client.write('secret/data/list/b', { data: { v: '1' } });
    await client.write('secret/data/list/sub/c', { data: { v: '1' } });
    const listed = await client.list('secret/metadata/list');
    expect(listed.data).toEqual({ keys: ['a', 'b', 'sub/'] });
    expect((await client.list('secret/metadata/list/sub/')).data.keys).toEqual(['c']);
    expect((await failure(client.list('secret/metadata/nothing-here'))).response.statusCode).toBe(404);
  });

  it('serves extra mounts separately', async () => {
    emulator.mount('kv-apps');
    await client.write('kv-apps/data/shared', { data: { v: 'apps' } });
    expect((await client.read('kv-apps/data/shared')).data.data).toEqual({ v: 'apps' });
    expect((await failure(client.read('secret/data/shared'))).response.statusCode).toBe(404);
  });

  it('logs methods and paths only', async () => {
    const before = emulator.requests.length;
    await client.write('secret/data/logged', { data: { password: 'never-in-the-log' } });
    const entry = emulator.requests[before];
    expect(entry).toEqual({ method: 'POST', path: '/v1/secret/data/logged', query: '' });
    expect(JSON.stringify(emulator.requests)).not.toContain('never-in-the-log');
  });
});

describe('Vault emulator: fault injection', () => {
  it('answers a 503 once, then serves the request normally', async () => {
    await client.write('secret/data/faulty', { data: { v: '1' } });
    emulator.faults.add({ match: (r) => r.path === '/v1/secret/data/faulty', status: 503, body: { errors: ['Vault is sealed'] } });
    const sealed = await failure(client.read('secret/data/faulty'));
    expect(sealed.response).toEqual({ statusCode: 503, body: { errors: ['Vault is sealed'] } });
    expect((await client.read('secret/data/faulty')).data.data).toEqual({ v: '1' });
    expect(emulator.faults.pending).toBe(0);
  });

  it('applies a rule `times` times and only to matching requests', async () => {
    emulator.faults.add({ match: (r) => r.method === 'POST', status: 429, headers: { 'retry-after': '1' }, times: 2 });
    expect((await client.read('secret/data/faulty')).data.data).toEqual({ v: '1' });
    expect((await failure(client.write('secret/data/faulty', { data: { v: '2' } }))).response.statusCode).toBe(429);
    expect((await failure(client.write('secret/data/faulty', { data: { v: '2' } }))).response.statusCode).toBe(429);
    expect((await client.write('secret/data/faulty', { data: { v: '2' } })).data.version).toBe(2);
  });
});

describe('FaultInjector', () => {
  it('hands out faults in rule order, counts uses, supports Infinity and clear()', () => {
    const faults = new FaultInjector();
    faults.add({ status: 500, times: Infinity }).add({ status: 502 });
    for (let i = 0; i < 5; i++) expect(faults.take({ method: 'GET', path: '/' })?.status).toBe(500);
    expect(faults.injected).toBe(5);
    faults.clear();
    expect(faults.take({ method: 'GET', path: '/' })).toBeUndefined();
    expect(() => faults.add({ times: 0 })).toThrow(/positive/);
  });

  it('a delay-only rule lets the request through after the delay', async () => {
    emulator.faults.add({ delayMs: 30 });
    const started = performance.now();
    expect((await client.read('secret/data/faulty')).data.data).toEqual({ v: '2' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });
});
