/**
 * Who may do what, end to end: a real OpenID Provider (oidc-provider) on loopback, the official
 * Temporal dev server (Updates), PostgreSQL, the Vault emulator and Rotor's worker. People log in
 * through the real authorization-code flow (PKCE, state, nonce) with plain HTTP; the HTTP API
 * authorizes every action server side; the actor and reason of each action reach the audit log,
 * the workflow's memo and `rotor history`; no secret reaches logs, audit rows or history.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { capturedLogs, startRotorEnv, type RotorEnv } from '../harness/env.js';
import { captureOutput, cliFor } from '../harness/cli.js';
import { dbPolicyYaml } from '../harness/db-rotation.js';
import { historyText } from '../harness/leaks.js';
import { CookieJar, oidcLogin, startTestIdp, type TestIdp } from '../harness/oidc.js';
import { freePort, LOOPBACK } from '../harness/ports.js';
import { buildHttpServer } from '../../daemon/http.js';
import { RotorMetrics } from '../../daemon/metrics.js';
import { rotationWorkflowId } from '../../daemon/rotations.js';
import { LOGIN_COOKIE, SESSION_COOKIE } from '../../daemon/auth/oidc.js';
import { Sealer, type LoginClaims } from '../../daemon/auth/session.js';
import { registry } from '../../providers/registry.js';
import { createLogger } from '../../lib/logger.js';
import { approveSignal, decisionUpdates } from '../../workflows/decisions.js';
import { statusQuery } from '../../workflows/protocol.js';
import type { RotationResult, RotationStep } from '../../workflows/types.js';

let env: RotorEnv;
let idp: TestIdp;
let app: FastifyInstance;
let rotor: string;
let dir: string;
const legacyToken = randomBytes(24).toString('base64url');
const ciToken = randomBytes(24).toString('base64url');
const secbotToken = randomBytes(24).toString('base64url');
const sessionKey = randomBytes(32).toString('base64url');
const roles = { 'team-payments': ['owner-operator' as const], 'team-shipping': ['owner-operator' as const], secops: ['security' as const], staff: ['viewer' as const] };
const users = {
  alice: { name: 'Alice Payments', groups: ['staff', 'team-payments'] },
  bob: { name: 'Bob Security', groups: ['staff', 'secops'] },
  vera: { name: 'Vera Viewer', groups: ['staff'] },
};
/** Every CSRF token handed out, scanned for later (a session's own secret). */
const csrfTokens: string[] = [];

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  await env.startWorker();
  dir = await mkdtemp(join(tmpdir(), 'rotor-identity-'));
  const port = await freePort();
  rotor = `http://${LOOPBACK}:${port}`;
  idp = await startTestIdp({ redirectUris: [`${rotor}/ui/callback`], users });
  app = buildHttpServer({
    client: env.client,
    providers: registry,
    policies: env.policies,
    taskQueue: env.taskQueue,
    metrics: new RotorMetrics(),
    store: env.store,
    apiToken: legacyToken,
    ready: async () => true,
    auth: {
      tokens: [
        { name: 'ci-payments', secret: ciToken, roles: ['owner-operator'], groups: ['team-payments'] },
        { name: 'secbot', secret: secbotToken, roles: ['security'], groups: [] },
      ],
      roles,
      oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, redirectUrl: `${rotor}/ui/callback`, scopes: 'openid profile groups', groupsClaim: 'groups' },
      sessionKey,
      // Refused logins are logged here, so the leak scan below reads them too.
      logger: createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, done) => (capturedLogs.push(String(c)), done()) }) }),
    },
  });
  await app.listen({ host: LOOPBACK, port });
  // Two credentials of two teams; pay-db waits for an approval.
  const pay = dbPolicyYaml(env, 'pay-db', { role: 'pay_app', extra: 'approval:\n  required: true' }).replace('after: 24h', 'after: 0s');
  const ship = dbPolicyYaml(env, 'ship-db', { role: 'ship_app' }).replace('after: 24h', 'after: 0s').replace('owner: team-payments', 'owner: team-shipping');
  await writeFile(join(dir, 'pay.yaml'), pay);
  await writeFile(join(dir, 'ship.yaml'), ship);
  await env.usePolicies(`${pay}\n---\n${ship}`);
}, 180_000);
afterAll(async () => {
  await app?.close();
  await idp?.close();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

/** A logged-in person: their cookie jar and CSRF token. */
async function loggedIn(user: keyof typeof users): Promise<{ jar: CookieJar; csrf: string }> {
  const jar = new CookieJar();
  const response = await oidcLogin(rotor, jar, user);
  expect(response.status).toBe(303);
  const me = await jar.fetch(`${rotor}/v1/whoami`);
  const body = (await me.json()) as { csrfToken: string };
  csrfTokens.push(body.csrfToken);
  return { jar, csrf: body.csrfToken };
}

const json = (body: unknown, extra: Record<string, string> = {}) => ({ method: 'POST', headers: { 'content-type': 'application/json', ...extra }, body: JSON.stringify(body) });
const withToken = (token: string, body: unknown) => fetch(`${rotor}/v1/rotations`, json(body, { authorization: `Bearer ${token}` }));
const decideWithToken = (token: string, credential: string, body: unknown) => fetch(`${rotor}/v1/rotations/${credential}/decisions`, json(body, { authorization: `Bearer ${token}` }));

async function untilAt(credential: string, step: RotationStep): Promise<void> {
  const handle = env.client.workflow.getHandle(rotationWorkflowId(credential));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await handle.query(statusQuery).catch(() => undefined);
    if (status?.step === step) return;
    if (Date.now() > deadline) throw new Error(`${credential} never reached ${step} (at ${status?.step})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
const result = (credential: string) => env.client.workflow.getHandle(rotationWorkflowId(credential)).result() as Promise<RotationResult>;

describe('OIDC login (authorization code + PKCE, state, nonce)', () => {
  it('a login creates a session: HttpOnly, SameSite=Lax cookie (not Secure over loopback http), the person’s groups and roles', async () => {
    const jar = new CookieJar();
    const callback = await oidcLogin(rotor, jar, 'alice');
    expect(callback.status).toBe(303);
    expect(callback.headers.get('location')).toBe('/ui');
    const setCookie = callback.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).not.toMatch(/Secure/);
    // Sealed: the cookie does not show who is logged in.
    expect(jar.get(rotor, SESSION_COOKIE)).not.toMatch(/alice|team-payments/);
    const me = (await (await jar.fetch(`${rotor}/v1/whoami`)).json()) as { actor: unknown; authenticatedBy: string };
    expect(me).toMatchObject({ authenticatedBy: 'session', actor: { kind: 'oidc', subject: 'alice', name: 'Alice Payments', groups: ['staff', 'team-payments'], roles: ['viewer', 'owner-operator'] } });
  });

  it('the callback refuses a wrong state and a wrong nonce; no session is made', async () => {
    const jar = new CookieJar();
    const wrongState = await oidcLogin(rotor, jar, 'alice', (url) => (url.searchParams.set('state', 'not-the-state'), url));
    expect(wrongState.status).toBe(400);
    expect(await wrongState.text()).toMatch(/state/);
    expect(jar.get(rotor, SESSION_COOKIE)).toBeUndefined();

    // A login whose sealed state carries another nonce than the one the IdP puts in the ID token.
    const sealer = new Sealer(sessionKey);
    const jar3 = new CookieJar();
    const nonceRefused = await (async () => {
      // The same flow with the nonce changed inside the sealed login cookie (the test knows the key).
      const start = await jar3.fetch(`${rotor}/ui/login`);
      const login = await sealer.open<LoginClaims>('login', jar3.get(rotor, LOGIN_COOKIE));
      expect(login).toBeDefined();
      jar3.set(rotor, LOGIN_COOKIE, await sealer.seal('login', { ...login!, nonce: 'another-nonce' }, 600));
      return oidcLoginFrom(jar3, new URL(start.headers.get('location')!).href, 'alice');
    })();
    expect(nonceRefused.status).toBe(400);
    expect(await nonceRefused.text()).toMatch(/nonce/);
    expect(jar3.get(rotor, SESSION_COOKIE)).toBeUndefined();
  });

  it('a callback without a login started here is refused', async () => {
    const response = await fetch(`${rotor}/ui/callback?code=x&state=y`, { redirect: 'manual' });
    expect(response.status).toBe(400);
  });

  it('logout (POST with the CSRF token) ends the session; the old cookie is refused afterwards', async () => {
    const { jar, csrf } = await loggedIn('vera');
    const cookie = jar.get(rotor, SESSION_COOKIE)!;
    const withoutToken = await jar.fetch(`${rotor}/ui/logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(withoutToken.status).toBe(403);
    const out = await jar.fetch(`${rotor}/ui/logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${encodeURIComponent(csrf)}` });
    expect(out.status).toBe(200);
    expect(jar.get(rotor, SESSION_COOKIE)).toBeUndefined();
    const replayed = await fetch(`${rotor}/v1/whoami`, { headers: { cookie: `${SESSION_COOKIE}=${cookie}` } });
    expect(replayed.status).toBe(401);
  });
});

/** Finishes a login begun elsewhere: from the IdP's authorize URL to Rotor's callback. */
async function oidcLoginFrom(jar: CookieJar, authorizeUrl: string, user: string): Promise<Response> {
  let response = await jar.fetch(authorizeUrl);
  let location = authorizeUrl;
  for (let hops = 0; hops < 10; hops++) {
    if (response.status === 200) {
      const html = await response.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(html)![1]!;
      response = await jar.fetch(new URL(action.replace(/&amp;/g, '&'), location).href, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ prompt: 'login', login: user, password: 'any' }).toString(),
      });
    }
    location = new URL(response.headers.get('location')!, location).href;
    if (location.startsWith(rotor)) return jar.fetch(location);
    response = await jar.fetch(location);
  }
  throw new Error('the login never came back to Rotor');
}

describe('who may do what (server side)', () => {
  it('a viewer is refused every action (403); an owner-operator is refused another team’s credential and approvals', async () => {
    const vera = await loggedIn('vera');
    for (const body of [{ credential: 'pay-db' }, { credential: 'pay-db', emergency: true }]) {
      const refused = await vera.jar.fetch(`${rotor}/v1/rotations`, json(body, { 'x-csrf-token': vera.csrf }));
      expect(refused.status).toBe(403);
    }
    for (const decision of ['approve', 'reject', 'retry', 'rollback', 'continue', 'revokeNow', 'abort']) {
      const refused = await vera.jar.fetch(`${rotor}/v1/rotations/pay-db/decisions`, json({ decision }, { 'x-csrf-token': vera.csrf }));
      expect(refused.status).toBe(403);
    }
    const alice = await loggedIn('alice');
    const crossTeam = await alice.jar.fetch(`${rotor}/v1/rotations`, json({ credential: 'ship-db', reason: 'not mine' }, { 'x-csrf-token': alice.csrf }));
    expect(crossTeam.status).toBe(403);
    expect(((await crossTeam.json()) as { error: string }).error).toMatch(/ship-db is owned by team-shipping/);
    expect((await alice.jar.fetch(`${rotor}/v1/rotations`, json({ credential: 'pay-db', emergency: true }, { 'x-csrf-token': alice.csrf }))).status).toBe(403);
    // Nothing was started by any refusal.
    expect(await env.client.workflow.getHandle(rotationWorkflowId('ship-db')).describe().catch(() => 'none')).toBe('none');
    const refusals = (await env.store.listAudit({ credentialId: 'ship-db' })).filter((e) => e.event === 'action.refused');
    expect(refusals).toEqual([expect.objectContaining({ actor: 'oidc:alice', reason: 'not mine', actorInfo: { kind: 'oidc', subject: 'alice', name: 'Alice Payments', roles: ['viewer', 'owner-operator'] } })]);
  });

  it('named tokens act with their own roles and groups', async () => {
    expect((await withToken(ciToken, { credential: 'ship-db' })).status).toBe(403);
    expect((await withToken(ciToken, { credential: 'pay-db', emergency: true })).status).toBe(403);
    expect((await withToken(secbotToken, { credential: 'ship-db' })).status).toBe(403);
    expect((await withToken('x'.repeat(40), { credential: 'ship-db' })).status).toBe(401);
    const me = (await (await fetch(`${rotor}/v1/whoami`, { headers: { authorization: `Bearer ${ciToken}` } })).json()) as { actor: unknown };
    expect(me.actor).toEqual({ kind: 'token', subject: 'ci-payments', name: 'ci-payments', groups: ['team-payments'], roles: ['owner-operator'] });
  });

  it('CSRF: a cookie-authenticated POST without the token is refused, with it accepted; an owner rotates, security approves; both are audited', async () => {
    const alice = await loggedIn('alice');
    const noToken = await alice.jar.fetch(`${rotor}/v1/rotations`, json({ credential: 'pay-db', reason: 'forged' }));
    expect(noToken.status).toBe(403);
    expect(((await noToken.json()) as { why: string }).why).toMatch(/CSRF token/);
    const wrongToken = await alice.jar.fetch(`${rotor}/v1/rotations`, json({ credential: 'pay-db' }, { 'x-csrf-token': 'x'.repeat(43) }));
    expect(wrongToken.status).toBe(403);
    // The token as a body field works too (it is removed before the route's strict schema sees it).
    const started = await alice.jar.fetch(`${rotor}/v1/rotations`, json({ credential: 'pay-db', reason: 'quarterly, CHG-1', _csrf: alice.csrf }));
    expect(started.status).toBe(202);
    const { runId } = (await started.json()) as { runId: string };
    await untilAt('pay-db', 'waiting for approval');

    // The requester cannot approve (and alice has no security role anyway); bob can.
    expect((await alice.jar.fetch(`${rotor}/v1/rotations/pay-db/decisions`, json({ decision: 'approve' }, { 'x-csrf-token': alice.csrf }))).status).toBe(403);
    const bob = await loggedIn('bob');
    const approved = await bob.jar.fetch(`${rotor}/v1/rotations/pay-db/decisions`, json({ decision: 'approve', reason: 'reviewed CHG-1' }, { 'x-csrf-token': bob.csrf }));
    expect(approved.status).toBe(200);
    expect((await result('pay-db')).outcome).toBe('succeeded');

    const rows = await env.store.listAudit({ credentialId: 'pay-db' });
    expect(rows.find((e) => e.event === 'rotation.requested')).toMatchObject({ rotationId: runId, actor: 'oidc:alice', reason: 'quarterly, CHG-1', actorInfo: { name: 'Alice Payments' } });
    expect(rows.find((e) => e.event === 'rotation.decided')).toMatchObject({ actor: 'oidc:bob', reason: 'reviewed CHG-1', actorInfo: { name: 'Bob Security' }, detail: { decision: 'approve' } });
    expect(rows.find((e) => e.event === 'rotation.decision')).toMatchObject({ actor: 'oidc:bob', detail: { decision: 'approve', reason: 'reviewed CHG-1' } });
    const memo = (await env.client.workflow.getHandle(rotationWorkflowId('pay-db'), runId).describe()).memo;
    expect(memo).toMatchObject({ requestedBy: 'oidc:alice', requestedByName: 'Alice Payments', reason: 'quarterly, CHG-1', lastDecision: { decision: 'approve', by: 'oidc:bob', reason: 'reviewed CHG-1' } });
  });

  it('the requester cannot approve its own rotation: refused over HTTP, and by the workflow to a raw Temporal client', async () => {
    // The legacy token (security and owner-operator of all) requests, then tries to approve.
    const started = await withToken(legacyToken, { credential: 'pay-db', reason: 'legacy token run' });
    expect(started.status).toBe(202);
    await untilAt('pay-db', 'waiting for approval');
    const own = await decideWithToken(legacyToken, 'pay-db', { decision: 'approve' });
    expect(own.status).toBe(403);
    expect(((await own.json()) as { error: string }).error).toMatch(/token:rotor requested this rotation and cannot approve it/);
    // Around the daemon, straight to Temporal: the Update validator refuses it.
    const handle = env.client.workflow.getHandle(rotationWorkflowId('pay-db'));
    const raw = await handle.executeUpdate(decisionUpdates.approve, { args: [{ by: 'token:rotor' }] }).catch((e: unknown) => e);
    expect(raw).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(String((raw as Error & { cause?: Error }).cause?.message)).toMatch(/requested this rotation and cannot approve it/);
    expect((await handle.query(statusQuery)).step).toBe('waiting for approval');
    // The compatibility signal cannot answer: it is dropped (the reject below would be refused otherwise).
    await handle.signal(approveSignal, { by: 'token:rotor' });
    // The security token (another actor) may reject it.
    const rejected = await decideWithToken(secbotToken, 'pay-db', { decision: 'reject', reason: 'not now' });
    expect(rejected.status).toBe(200);
    expect((await result('pay-db')).outcome).toBe('aborted');
    const rows = await env.store.listAudit({ credentialId: 'pay-db' });
    expect(rows.filter((e) => e.event === 'rotation.requested').map((e) => e.actor)).toContain('token:rotor');
    expect(rows.find((e) => e.event === 'rotation.decided' && e.actor === 'token:secbot')).toMatchObject({ reason: 'not now' });
  });
});

describe('the CLI records its local user', () => {
  it('rotor rotate / reject name cli:<user> with the reason in the audit log; rotor history shows actors and reasons', async () => {
    const output = captureOutput();
    const cli = cliFor(env, dir);
    const user = userInfo().username;
    expect(await cli('rotate', 'pay-db', '--reason', 'cli run')).toBe(0);
    await untilAt('pay-db', 'waiting for approval');
    // The same local user cannot approve what it requested (the workflow refuses it).
    expect(await cli('approve', 'pay-db')).toBe(1);
    expect(output.text()).toMatch(/requested this rotation and cannot approve it/);
    expect(await cli('reject', 'pay-db', '--reason', 'changed my mind', '--by', 'Carol')).toBe(1);
    // An approver from the console does it.
    const bob = await loggedIn('bob');
    expect((await bob.jar.fetch(`${rotor}/v1/rotations/pay-db/decisions`, json({ decision: 'reject', reason: 'cli test' }, { 'x-csrf-token': bob.csrf }))).status).toBe(200);
    expect((await result('pay-db')).outcome).toBe('aborted');
    const rows = await env.store.listAudit({ credentialId: 'pay-db' });
    expect(rows.filter((e) => e.event === 'rotation.requested').at(-1)).toMatchObject({ actor: `cli:${user}`, reason: 'cli run', actorInfo: { kind: 'cli', subject: user } });
    expect(rows.filter((e) => e.event === 'rotation.decision-refused').at(-1)).toMatchObject({ actor: `cli:${user}`, actorInfo: { name: 'Carol' }, reason: 'changed my mind' });

    output.clear();
    expect(await cli('history', 'pay-db', '--json')).toBe(0);
    const history = JSON.parse(output.text()) as Array<{ requestedBy: string | null; reason: string | null; decisions: string[] }>;
    expect(history[0]).toMatchObject({ requestedBy: `cli:${user}`, reason: 'cli run', decisions: ['reject by oidc:bob (Bob Security): cli test'] });
    expect(history.find((h) => h.requestedBy === 'oidc:alice')).toMatchObject({ reason: 'quarterly, CHG-1', decisions: ['approve by oidc:bob (Bob Security): reviewed CHG-1'] });
    output.clear();
    expect(await cli('history', 'pay-db')).toBe(0);
    expect(output.text()).toContain('oidc:alice');
    expect(output.text()).toContain('quarterly, CHG-1');

    // The audit chain still verifies with the new fields (and the rows before them)…
    output.clear();
    expect(await cli('audit', 'verify-log')).toBe(0);
    // …and covers them: a changed reason or actor name is found at its row.
    const row = (await env.store.listAudit({ credentialId: 'pay-db' })).find((e) => e.event === 'rotation.requested' && e.actor === 'oidc:alice')!;
    for (const [column, forged, original] of [
      ['reason', 'routine', row.reason],
      ['actor_info', JSON.stringify({ ...row.actorInfo, name: 'Mallory' }), JSON.stringify(row.actorInfo)],
    ] as const) {
      await tamper(`UPDATE audit_log SET ${column} = $1 WHERE seq = $2`, [forged, row.seq]);
      output.clear();
      expect(await cli('audit', 'verify-log')).not.toBe(0);
      expect(output.text()).toContain(`row seq ${row.seq} (rotation.requested) no longer matches its hash`);
      await tamper(`UPDATE audit_log SET ${column} = $1 WHERE seq = $2`, [original, row.seq]);
    }
    expect(await cli('audit', 'verify-log')).toBe(0);
  });
});

/** Changes an audit row as someone with table rights could (the append-only trigger set aside). */
async function tamper(sql: string, params: unknown[]): Promise<void> {
  const client = new pg.Client({ connectionString: env.postgres.url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update');
    await client.query(sql, params);
    await client.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update');
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

describe('no secret anywhere', () => {
  it('the client secret, the tokens, the session key and CSRF tokens are in no log, audit row, workflow history or API answer', async () => {
    const secrets = [idp.clientSecret, legacyToken, ciToken, secbotToken, sessionKey, ...csrfTokens];
    expect(csrfTokens.length).toBeGreaterThan(3);
    expect(capturedLogs.join('\n')).toMatch(/OIDC login refused/);
    const audit = JSON.stringify((await env.store.query('SELECT * FROM audit_log')).rows);
    const histories: string[] = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowId = '${rotationWorkflowId('pay-db')}'` })) {
      histories.push(historyText(await env.client.workflow.getHandle(w.workflowId, w.runId).fetchHistory()));
    }
    expect(histories.length).toBeGreaterThan(2);
    const refusal = await (await withToken('y'.repeat(40), { credential: 'pay-db' })).text();
    for (const secret of secrets) {
      expect(capturedLogs.join('\n')).not.toContain(secret);
      expect(audit).not.toContain(secret);
      for (const h of histories) expect(h).not.toContain(secret);
      expect(refusal).not.toContain(secret);
    }
  });
});
