/**
 * The console's pages through Fastify's inject: inventory (filters, search, sort, keyset pages),
 * a credential's page, posture; every hostile value escaped; the CSP and no inline script or style;
 * actions refused before anything starts when the CSRF token, the reason or the confirmation is
 * missing. Real PostgreSQL and Temporal (startRotorEnv); identity's part is the test's ConsoleAuth.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerConsole, CONTENT_SECURITY_POLICY } from '../../console/routes.js';
import { registerAuth } from '../../daemon/auth/plugin.js';
import { SESSION_COOKIE } from '../../daemon/auth/oidc.js';
import { Sealer, type SessionClaims } from '../../daemon/auth/session.js';
import { rotationWorkflowId } from '../../daemon/rotations.js';
import { registry } from '../../providers/registry.js';
import { recordScan } from '../../store/discovery.js';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml } from '../harness/db-rotation.js';
import { randomKeyId } from '../harness/aws/moto.js';

let env: RotorEnv;
let app: FastifyInstance;
const HOSTILE = '<script>alert("x")</script>';
/** An unmanaged access key id of AWS's shape, made at run time: no key-like literal in the repository. */
const unmanagedKeyId = randomKeyId();
const sessionKey = randomBytes(32).toString('base64url');

// Sessions as identity's OIDC callback seals them (the browser suite logs in through a real IdP).
const sessions: Record<string, SessionClaims> = {
  owner: { sub: 'u-owner', name: 'Olive Owner', groups: ['team-payments'], csrf: randomBytes(16).toString('base64url') },
  viewer: { sub: 'u-viewer', name: 'Vic Viewer', groups: ['auditors'], csrf: randomBytes(16).toString('base64url') },
};
const cookies: Record<string, string> = {};

const get = (url: string, user = 'owner') => app.inject({ method: 'GET', url, headers: { cookie: cookies[user]! } });
const post = (url: string, form: Record<string, string>, user = 'owner') =>
  app.inject({ method: 'POST', url, headers: { cookie: cookies[user]!, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(form).toString() });

beforeAll(async () => {
  env = await startRotorEnv();
  await env.usePolicies([dbPolicyYaml(env, 'payments-db', { role: 'payments_app' }), dbPolicyYaml(env, 'orders-db', { role: 'orders_app' }).replace('owner: team-payments', 'owner: team-orders')].join('\n---\n'));
  // Hostile values where the inventory takes text from outside: id, owner, purpose, environment.
  await env.store.upsertCredentials([{ id: HOSTILE, type: 'postgres-password', owner: `team-"><img src=x onerror=alert(1)>`, purpose: HOSTILE, environment: `prod'"<b>`, policyHash: 'x' }]);
  await recordScan(env.store, { sourceType: 'aws-iam-access-key', principal: 'legacy-<i>batch</i>', broadPrivileges: ['AdministratorAccess attached'], credentials: [{ id: unmanagedKeyId, principal: 'legacy-<i>batch</i>', status: 'active', usageTracked: true, createdAt: new Date(Date.now() - 400 * 86_400_000).toISOString() }] });
  const sealer = new Sealer(sessionKey);
  for (const [user, claims] of Object.entries(sessions)) cookies[user] = `${SESSION_COOKIE}=${await sealer.seal('session', claims, 3600)}`;
  app = Fastify();
  registerAuth(app, { tokens: [], roles: { 'team-payments': ['owner-operator'], auditors: ['viewer'] }, sessionKey });
  await registerConsole(app, {
    client: env.client, providers: registry, policies: env.policies, taskQueue: env.taskQueue, store: env.store,
    namespace: env.temporal.namespace, temporalUiUrl: 'http://127.0.0.1:1/ui',
  });
  await app.ready();
}, 300_000);
afterAll(async () => {
  await app?.close();
  await env?.close();
});

/** No value reaches the page as markup, no inline script or style exists for the CSP to allow. */
function expectSafe(body: string): void {
  expect(body).not.toContain('<script>alert');
  expect(body).not.toContain('<img src=x');
  expect(body).not.toContain('<i>batch');
  expect(body).not.toContain("<b>");
  expect(body).not.toMatch(/<script(?![^>]*\bsrc="\/ui\/static\/console\.js")/);
  // Attribute values are quoted and escaped: blank them, then no tag may carry a handler or a style.
  expect(body.replace(/"[^"]*"/g, '""')).not.toMatch(/<[a-z][^>]*\s(style|on[a-z]+)=|<style/i);
}

describe('the console pages', () => {
  it('sends the browser to log in when nobody is signed in', async () => {
    const res = await app.inject({ method: 'GET', url: '/ui/inventory?owner=team-payments' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/ui/login?returnTo=%2Fui%2Finventory%3Fowner%3Dteam-payments');
  });

  it('lists managed, hostile and discovered credentials, escaped, under a strict CSP', async () => {
    const res = await get('/ui/inventory');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');
    expect(res.body).toContain('4 credential(s)');
    expect(res.body).toContain('payments-db');
    expect(res.body).toContain('&lt;script&gt;alert(&quot;x&quot;)');
    expect(res.body).toContain('legacy-&lt;i&gt;batch&lt;/');
    expectSafe(res.body);
  });

  it('filters by owner, status, type, environment, finding severity and search', async () => {
    const count = async (qs: string) => /(\d+) credential\(s\)/.exec((await get(`/ui/inventory?${qs}`)).body)?.[1];
    expect(await count('owner=team-orders')).toBe('1');
    expect(await count('status=discovered')).toBe('1');
    expect(await count('type=aws-iam-access-key')).toBe('1');
    expect(await count('environment=test')).toBe('2');
    expect(await count('q=ORDERS')).toBe('1');
    expect(await count('q=%25')).toBe('0'); // % is a character, not a pattern
    // The discovered admin key nobody manages is critical (over-privileged) in `rotor audit` too.
    expect(await count('severity=critical')).toBe('1');
    const page = await get('/ui/inventory?severity=critical');
    expect(page.body).toContain(unmanagedKeyId);
    // Unknown filter values are dropped, not echoed.
    const bogus = await get(`/ui/inventory?status=${encodeURIComponent(HOSTILE)}&sort=${encodeURIComponent(HOSTILE)}`);
    expect(bogus.statusCode).toBe(200);
    expectSafe(bogus.body);
  });

  it('shows a credential: owner, purpose, policy by reference, runs, findings, actions with CSRF token and reason', async () => {
    const res = await get('/ui/credentials/payments-db');
    expect(res.statusCode).toBe(200);
    for (const text of ['team-payments', 'End-to-end test login', 'postgres-password', 'vault-kv', 'No rotation is running.', 'Never rotated']) expect(res.body).toContain(text);
    expect(res.body).toContain(`name="_csrf" value="${sessions.owner!.csrf}"`);
    expect(res.body).toMatch(/<textarea id="a-rotate-reason" name="reason" required/);
    expect(res.body).toContain('<label for="a-rotate-reason">');
    // References only: the policy's secret references are not even shown, and no resolved value.
    expect(res.body).not.toContain(env.postgres.adminPassword);
    expect(res.body).not.toContain(env.vault.token);
    // The viewer sees the page, and is told it may not act.
    const viewer = await get('/ui/credentials/payments-db', 'viewer');
    expect(viewer.body).toContain('Not allowed: rotate needs the owner-operator role');
    expect(viewer.body).not.toContain('action="/ui/credentials/payments-db/actions/rotate"');
  });

  it('escapes a hostile credential on its own page', async () => {
    const res = await get(`/ui/credentials/${encodeURIComponent(HOSTILE)}`);
    expect(res.statusCode).toBe(200);
    expectSafe(res.body);
    expect(res.body).toContain('&lt;script&gt;');
  });

  it('posture: findings by severity, owner and type, with what to do', async () => {
    const res = await get('/ui/posture');
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/data-severity="critical">1</);
    expect(res.body).toContain('Findings by owner');
    expect(res.body).toContain('<code class="cmd"><span class="tok">rotor</span> <span class="tok">rotate</span> <span class="tok">payments-db</span></code>');
    expectSafe(res.body);
    const onlyOrders = await get('/ui/posture?owner=team-orders');
    expect(onlyOrders.body).toContain('orders-db');
    expect(onlyOrders.body).not.toContain('href="/ui/credentials/payments-db"');
  });

  it('refuses an action without the CSRF token, a reason or the confirmation, a viewer’s and a cross-team one: nothing started', async () => {
    const url = '/ui/credentials/payments-db/actions/rotate';
    const csrf = sessions.owner!.csrf;
    const missing = await post(url, { reason: 'r', confirm: 'yes' });
    expect(missing.statusCode).toBe(403);
    expect(missing.body).toContain('without its CSRF token');
    expect((await post(url, { reason: 'r', confirm: 'yes', _csrf: sessions.viewer!.csrf })).statusCode).toBe(403);
    expect((await post(url, { _csrf: csrf, confirm: 'yes' })).statusCode).toBe(400);
    expect((await post(url, { _csrf: csrf, reason: 'r' })).statusCode).toBe(400);
    expect((await post('/ui/credentials/payments-db/actions/destroy', { _csrf: csrf, reason: 'r', confirm: 'yes' })).statusCode).toBe(404);
    const viewer = await post(url, { _csrf: sessions.viewer!.csrf, reason: 'r', confirm: 'yes' }, 'viewer');
    expect(viewer.statusCode).toBe(403);
    expect(viewer.body).toContain('needs the owner-operator role');
    const crossTeam = await post('/ui/credentials/orders-db/actions/rotate', { _csrf: csrf, reason: 'r', confirm: 'yes' });
    expect(crossTeam.statusCode).toBe(403);
    expect(crossTeam.body).toContain('orders-db is owned by team-orders');
    const emergency = await post('/ui/credentials/payments-db/actions/emergency', { _csrf: csrf, reason: 'r', confirm: 'yes' });
    expect(emergency.statusCode).toBe(403); // emergencies are the security role's
    const started = async (id: string) => env.client.workflow.getHandle(rotationWorkflowId(id)).describe().then(() => true, () => false);
    expect(await started('payments-db')).toBe(false);
    expect(await started('orders-db')).toBe(false);
    const ok = await post(url, { _csrf: csrf, reason: 'quarterly', confirm: 'yes' });
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe('/ui/credentials/payments-db?notice=started');
    const described = await env.client.workflow.getHandle(rotationWorkflowId('payments-db')).describe();
    expect(described.memo?.requestedBy).toBe('oidc:u-owner');
    const audit = await env.store.listAudit({ credentialId: 'orders-db' });
    expect(audit.find((e) => e.event === 'action.refused')?.actorInfo?.name).toBe('Olive Owner');
  });
});

describe('the inventory at 100,000 credentials', () => {
  it('pages by keyset: no row twice, none missed, in order, whatever the sort', async () => {
    await env.store.query(
      `INSERT INTO credentials (id, type, owner, purpose, environment, status, policy_hash, next_due_at)
       SELECT 'bulk-' || lpad(i::text, 6, '0'), 'postgres-password', 'team-' || (i % 50), 'bulk', 'production', 'managed', 'x',
              CASE WHEN i % 3 = 0 THEN NULL ELSE now() + (i || ' minutes')::interval END
       FROM generate_series(1, 100000) AS i`,
    );
    const ids = (body: string) => [...body.matchAll(/href="\/ui\/credentials\/(bulk-\d+)"/g)].map((m) => m[1]!);
    const next = (body: string) => /href="([^"]+)" rel="next"/.exec(body)?.[1]?.replace(/&amp;/g, '&');
    // Owner descending, then id: walk five pages and check order and overlap.
    let url: string | undefined = '/ui/inventory?owner=team-7&sort=nextDue&dir=desc';
    const seen: string[] = [];
    for (let i = 0; i < 5 && url; i++) {
      const res = await get(url);
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('2000 credential(s)');
      seen.push(...ids(res.body));
      url = next(res.body);
    }
    expect(seen).toHaveLength(250);
    expect(new Set(seen).size).toBe(250);
    const { rows } = await env.store.query<{ id: string }>(
      `SELECT id FROM credentials WHERE owner = 'team-7' ORDER BY COALESCE(next_due_at, 'infinity') DESC, id DESC LIMIT 250`,
    );
    expect(seen).toEqual(rows.map((r) => r.id));
    // The default sort reaches the last page through its cursor.
    const first = await get('/ui/inventory?q=bulk-0999');
    expect(ids(first.body)).toHaveLength(50);
    const last = await get(next(first.body)!);
    expect(ids(last.body).at(-1)).toBe('bulk-099999');
    expect(last.body).toContain('Last page');
  }, 120_000);
});
