/**
 * The console in a real browser: Debian's Chromium (playwright-core) against the daemon, a real
 * OpenID Provider (oidc-provider, test/harness/oidc.ts) and the official Temporal dev server. An
 * owner logs in, filters the inventory, opens a credential and starts a rotation that waits for
 * approval; a security officer logs in and approves it; the owner's page follows it through its
 * steps to the end; the audit trail names both. A viewer's action, a cross-team action and a post
 * without the CSRF token are refused by the server. No page the browser received holds a secret.
 * Screenshots at 360 and 1440 px: test-results/, or docs/images/ with ROTOR_UPDATE_SCREENSHOTS=1.
 */
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../daemon/run.js';
import { servedLogin } from '../harness/db-rotation.js';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { chromiumPath, CHROMIUM_ARGS, SCREENSHOTS } from '../harness/chromium.js';
import { startTestDaemon } from '../harness/daemon.js';
import { startTestIdp, type TestIdp } from '../harness/oidc.js';
import { freePort, LOOPBACK } from '../harness/ports.js';

const IMAGES = SCREENSHOTS;
const API_TOKEN = 'console-test-api-token-0123456789abcdef';

let env: RotorEnv;
let idp: TestIdp;
let daemon: RunningDaemon;
let browser: Browser;
let dir: string;
let rotor: string;
/** The application's health endpoint: it answers slowly, so the rotation dwells at its check long enough to be seen. */
let health: Server;
let healthUrl: string;
/** Every HTML document and fragment the browser received, for the secret scan. */
const received: string[] = [];

function policy(e: RotorEnv, id: string, owner: string, extra = ''): string {
  const { postgres, vault } = e;
  return `
id: ${id}
owner: ${owner}
purpose: ${id === 'payments-db' ? 'Payments API login to the orders database' : 'Order history reader'}
environment: production
credential:
  type: postgres-password
  host: ${postgres.host}
  port: ${postgres.port}
  database: ${postgres.database}
  admin:
    user: ${postgres.adminUser}
    password: env:PG_ADMIN_PASSWORD
  role: ${id.replace(/-/g, '_')}_app
strategy: dual
store:
  type: vault-kv
  address: ${vault.address}
  token: env:VAULT_TOKEN
  path: rotor/${id}
dependents:
  - name: ${id}-api
    type: vault-kv
    address: ${vault.address}
    token: env:VAULT_TOKEN
    path: apps/${id}/db
healthChecks:
  - name: ${id}-api
    http:
      url: ${healthUrl}
revoke:
  after: 0s
${extra}`;
}

beforeAll(async () => {
  const executablePath = chromiumPath();
  env = await startRotorEnv({ temporal: 'dev', ui: true });
  health = createServer((_request, response) => void setTimeout(() => response.end('ok'), 5000));
  const healthPort = await freePort();
  await new Promise<void>((done) => health.listen(healthPort, LOOPBACK, done));
  healthUrl = `http://${LOOPBACK}:${healthPort}/health`;
  const port = await freePort();
  rotor = `http://${LOOPBACK}:${port}`;
  idp = await startTestIdp({
    redirectUris: [`${rotor}/ui/callback`],
    users: {
      alice: { name: 'Alice Owner', groups: ['team-payments'] },
      sam: { name: 'Sam Security', groups: ['security'] },
      vera: { name: 'Vera Viewer', groups: ['auditors'] },
    },
  });
  dir = await mkdtemp(join(tmpdir(), 'rotor-console-'));
  await writeFile(join(dir, 'policies.yaml'), [policy(env, 'payments-db', 'team-payments', 'approval:\n  required: true\n'), policy(env, 'orders-db', 'team-orders')].join('\n---\n'));
  daemon = await startTestDaemon(env, dir, {
    apiToken: API_TOKEN,
    http: { host: LOOPBACK, port },
    temporalUiUrl: env.temporal.uiUrl,
    auth: {
      roles: { 'team-payments': ['owner-operator'], security: ['security'], auditors: ['viewer'] },
      oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, redirectUrl: `${rotor}/ui/callback`, scopes: 'openid profile groups', groupsClaim: 'groups' },
    },
  });
  browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  await mkdir(IMAGES, { recursive: true });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await daemon?.stop();
  await idp?.close();
  await new Promise((done) => (health ? health.close(done) : done(undefined)));
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Waits until the locator's text contains `text` (pages refresh themselves; no fixed sleeps). */
async function seeText(locator: Locator, text: string, timeout = 30_000): Promise<void> {
  await locator.filter({ hasText: text }).first().waitFor({ timeout });
}

/** Waits until the first element matching `selector` has the attribute value. */
async function seeAttribute(page: Page, selector: string, name: string, value: string, timeout = 30_000): Promise<void> {
  // A locator, not waitForFunction: the console's CSP (rightly) refuses the eval that one polls with.
  await page.locator(`${selector}[${name}=${JSON.stringify(value)}]`).first().waitFor({ timeout });
}

/** A browser of its own for `user`, logged in through the IdP's login form. */
async function logIn(user: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  const page = await context.newPage();
  page.on('response', async (response) => {
    if (/text\/html/.test(response.headers()['content-type'] ?? '')) received.push(await response.text().catch(() => ''));
  });
  await page.goto(`${rotor}/ui/inventory`);
  // Not signed in: the console sends the browser to the IdP's login form.
  await page.locator('input[name=login]').fill(user);
  await page.locator('input[name=password]').fill('any');
  await page.locator('button[type=submit]').click();
  await page.waitForURL(`${rotor}/ui/inventory`, { timeout: 60_000 });
  return { context, page };
}

/** Opens an action's form on the credential page, gives the reason, confirms and submits. */
async function act(page: Page, label: string, reason: string): Promise<void> {
  await page.getByText(label, { exact: true }).first().click();
  const form = page.locator('details[open] form');
  await form.getByLabel('Reason (recorded in the audit log)').fill(reason);
  await form.getByRole('checkbox').check();
  await form.getByRole('button', { name: label }).click();
}

/** Posts a form as this browser session (its cookies), as a page would. */
function postForm(context: BrowserContext, path: string, form: Record<string, string>) {
  return context.request.post(`${rotor}${path}`, { form, maxRedirects: 0 });
}

async function csrfOf(page: Page): Promise<string> {
  return (await page.locator('header input[name=_csrf]').getAttribute('value')) ?? '';
}

async function screenshots(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(IMAGES, `console-${name}-1440.png`), fullPage: true });
  await page.setViewportSize({ width: 360, height: 800 });
  await page.screenshot({ path: join(IMAGES, `console-${name}-360.png`), fullPage: true });
  // Nothing wider than the narrow screen: tables scroll inside their own region.
  expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
  await page.setViewportSize({ width: 1440, height: 1000 });
}

describe('the console in a browser', () => {
  it('an owner rotates, a security officer approves, both are in the audit trail; refusals are the server’s', async () => {
    const alice = await logIn('alice');
    const page = alice.page;
    await seeText(page.locator('header .who'), 'Alice Owner');

    // Filter the inventory by owner.
    await page.getByLabel('Owner', { exact: true }).selectOption('team-payments');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/owner=team-payments/);
    const table = page.locator('table');
    await seeText(table, 'payments-db');
    expect(await table.innerText()).not.toContain('orders-db');
    await seeText(page.locator('caption'), '1 credential(s)');
    await page.getByLabel('Owner', { exact: true }).selectOption('');
    await page.getByRole('button', { name: 'Apply' }).click();
    await seeText(page.locator('table'), 'orders-db');
    await screenshots(page, 'inventory');

    // Keyboard: the skip link is the first stop and takes focus to the content.
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.className')).toBe('skip');

    // Open the credential, start a rotation: it waits for approval.
    await page.getByRole('link', { name: 'payments-db' }).first().click();
    await page.waitForURL(`${rotor}/ui/credentials/payments-db`);
    await seeText(page.locator('h1'), 'payments-db');
    await act(page, 'Rotate now', 'quarterly rotation, change 4711');
    await seeText(page.locator('[role=status]'), 'Rotation started.');
    await seeAttribute(page, '#live [data-step]', 'data-step', 'waiting for approval', 60_000).catch(async (e) => {
      throw new Error(`${e}: the page shows ${await page.locator('main').innerText()}`);
    });
    // The requester cannot approve their own rotation (a second person must): the form says so.
    expect(await page.locator('details[data-action=approve]').textContent()).toContain('oidc:alice requested this rotation and cannot approve it');
    await screenshots(page, 'credential');

    // Refused by the server, whatever the page shows: a cross-team rotation, and a post without the CSRF token.
    const csrf = await csrfOf(page);
    const crossTeam = await postForm(alice.context, '/ui/credentials/orders-db/actions/rotate', { _csrf: csrf, reason: 'not mine', confirm: 'yes' });
    expect(crossTeam.status()).toBe(403);
    expect(await crossTeam.text()).toContain('orders-db is owned by team-orders');
    const forged = await postForm(alice.context, '/ui/credentials/payments-db/actions/approve', { reason: 'forged', confirm: 'yes' });
    expect(forged.status()).toBe(403);
    expect(await forged.text()).toContain('without its CSRF token');

    // A viewer sees everything and may do nothing, not even by posting the form itself.
    const vera = await logIn('vera');
    await vera.page.goto(`${rotor}/ui/credentials/payments-db`);
    expect(await vera.page.locator('#actions').textContent()).toContain('Not allowed');
    const viewerPost = await postForm(vera.context, '/ui/credentials/payments-db/actions/approve', { _csrf: await csrfOf(vera.page), reason: 'viewer', confirm: 'yes' });
    expect(viewerPost.status()).toBe(403);
    await vera.context.close();

    // The owner's page follows the rotation (console.js refreshes the live step) while Sam approves.
    const steps = new Set<string>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const step = await page.locator('#live [data-step]').getAttribute('data-step', { timeout: 1000 }).catch(() => null);
        if (step) steps.add(step);
        // Ends quietly when the page closes (a failing test closes the browser).
        await page.waitForTimeout(100).catch(() => (watching = false));
      }
    })();
    const sam = await logIn('sam');
    await sam.page.goto(`${rotor}/ui/credentials/payments-db`);
    await act(sam.page, 'Approve the rotation', 'change 4711 approved by security');
    await seeText(sam.page.locator('[role=status]'), 'Decision accepted.');
    // The owner's page, never reloaded by the test, shows the run's end.
    await seeAttribute(page, '#live', 'data-running', 'no', 120_000);
    watching = false;
    await watch;
    expect(steps.has('waiting for approval')).toBe(true);
    expect(steps.size, [...steps].join(", ")).toBeGreaterThan(1);
    await page.reload();
    // The action's notice was shown once (console.js took it off the address).
    expect(await page.locator('[role=status]').count()).toBe(0);
    await seeText(page.locator('#runs tbody tr').first(), 'succeeded');
    // Each run links to its page in the Temporal UI.
    const href = await page.locator('#runs a').first().getAttribute('href');
    expect(href).toMatch(new RegExp(`^${env.temporal.uiUrl}/namespaces/${env.temporal.namespace}/workflows/rotate%2Fpayments-db/[0-9a-f-]+/history$`));
    // Both people, by name, with their reasons.
    const audit = page.locator('#audit');
    await seeText(audit, 'Alice Owner');
    await seeText(audit, 'quarterly rotation, change 4711');
    await seeText(audit, 'Sam Security');
    await seeText(audit, 'change 4711 approved by security');
    await screenshots(page, 'credential-done');

    await page.goto(`${rotor}/ui/posture`);
    await seeText(page.locator('h1'), 'Posture');
    await screenshots(page, 'posture');
    await sam.context.close();
    await alice.context.close();

    // No page held a secret: the database admin password, the Vault token, the rotated password, the IdP's client secret.
    const served = await servedLogin(env, 'payments-db');
    const secrets = [env.postgres.adminPassword, env.vault.token, served.password, idp.clientSecret, API_TOKEN];
    expect(received.length).toBeGreaterThan(10);
    for (const secret of secrets) for (const html of received) expect(html.includes(secret), 'a page held a secret value').toBe(false);
  }, 600_000);
});
