/**
 * The mission's "run history in the Temporal UI", proven in a real browser: Debian's Chromium,
 * driven by playwright-core, against the Web UI of the official dev server after a real rotation.
 * It filters the workflow list by RotorCredentialId, opens the run and finds the workflow type, the
 * protocol's activities, the search attributes and the outcome. The screenshots it takes are the
 * README's (docs/images/temporal-ui-*.png).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateDb, servedLogin } from '../harness/db-rotation.js';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { chromiumPath, CHROMIUM_ARGS, SCREENSHOTS } from '../harness/chromium.js';

const IMAGES = SCREENSHOTS;
const ID = 'payments-db';

let env: RotorEnv;
let browser: BrowserContext;
let profile: string;

function policy(e: RotorEnv): string {
  const { postgres, vault } = e;
  return `
id: ${ID}
owner: team-payments
purpose: Payments API login to the orders database
environment: production
credential:
  type: postgres-password
  host: ${postgres.host}
  port: ${postgres.port}
  database: ${postgres.database}
  admin:
    user: ${postgres.adminUser}
    password: env:PG_ADMIN_PASSWORD
  role: payments_app
strategy: dual
store:
  type: vault-kv
  address: ${vault.address}
  token: env:VAULT_TOKEN
  path: rotor/${ID}
dependents:
  - name: payments-api
    type: vault-kv
    address: ${vault.address}
    token: env:VAULT_TOKEN
    path: apps/${ID}/db
revoke:
  after: 0s
`;
}

beforeAll(async () => {
  const executablePath = chromiumPath();
  env = await startRotorEnv({ temporal: 'dev', ui: true });
  profile = await mkdtemp(join(tmpdir(), 'rotor-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1440, height: 1200 },
    args: [...CHROMIUM_ARGS, '--disable-quic'],
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await env?.close();
});

async function bodyText(page: Page): Promise<string> {
  return page.locator('body').innerText();
}

describe('the Temporal Web UI shows a rotation', () => {
  it('lists the run by RotorCredentialId and shows its type, activities, search attributes and outcome', async () => {
    await env.usePolicies(policy(env));
    await env.startWorker();
    // Two rotations: the second has old material, so its run shows the grace and the revoke too.
    expect((await rotateDb(env, ID)).outcome).toBe('succeeded');
    const second = await rotateDb(env, ID);
    expect(second.outcome).toBe('succeeded');
    await mkdir(IMAGES, { recursive: true });

    const page = await browser.newPage();
    const query = `RotorCredentialId = '${ID}'`;
    await page.goto(`${env.temporal.uiUrl}/namespaces/${env.temporal.namespace}/workflows?query=${encodeURIComponent(query)}`);
    // Newest first: the first row is the second rotation.
    const row = page.getByRole('link', { name: `rotate/${ID}` }).first();
    await row.waitFor({ timeout: 60_000 });
    const list = await bodyText(page);
    expect(list).toContain('rotateDatabasePassword');
    expect(list).toContain('2 Completed');
    await page.screenshot({ path: join(IMAGES, 'temporal-ui-list.png') });

    await row.click();
    await page.waitForURL(/\/workflows\/rotate%2Fpayments-db\/[0-9a-f-]+\/history/, { timeout: 60_000 });
    expect(page.url()).toContain(second.rotationId);
    await page.getByText('revokeOldMaterial').first().waitFor({ timeout: 60_000 });
    await page.waitForLoadState('networkidle');
    const run = await bodyText(page);
    expect(run).toMatch(/Workflow Type\s+rotateDatabasePassword/);
    // The protocol's steps, each an activity in the run's history, by name.
    for (const activity of ['beginRotation', 'preflight', 'createMaterial', 'verifyMaterial', 'propagateToDependent', 'checkDependent', 'promoteMaterial', 'checkDrained', 'revokeOldMaterial', 'finishRotation']) {
      expect(run, activity).toContain(activity);
    }
    // The outcome: the run's status and its result.
    expect(run).toMatch(/^Completed$/m);
    expect(run).toContain('"outcome": "succeeded"');
    // History carries references, never the material: the rotated password is nowhere on the page.
    const served = await servedLogin(env, ID);
    expect(run).not.toContain(served.password);
    await page.screenshot({ path: join(IMAGES, 'temporal-ui-run.png') });

    // The search attributes Rotor sets on every run, on the run's own tab.
    await page.getByText('Search Attributes', { exact: true }).first().click();
    await page.getByText('RotorOwner').first().waitFor({ timeout: 30_000 });
    const attributes = await bodyText(page);
    for (const [key, value] of [['RotorCredentialId', ID], ['RotorCredentialType', 'postgres-password'], ['RotorOwner', 'team-payments'], ['RotorEnvironment', 'production'], ['RotorTrigger', 'manual']]) {
      expect(attributes, key).toContain(`"${key}": "${value}"`);
    }
    await page.screenshot({ path: join(IMAGES, 'temporal-ui-search-attributes.png') });
  }, 300_000);
});
