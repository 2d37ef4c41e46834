/**
 * Debian's Chromium for the browser tests (installed by the set-up step), driven by playwright-core:
 * where it is, the flags a closed loopback network and a root user need, and where screenshots go.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';

/** Chromium's path; a clear refusal naming the set-up command when it is missing. */
export function chromiumPath(): string {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`node scripts/setup-tools.mjs chromium\` (npm test runs it)`);
  return CHROMIUM;
}

export const CHROMIUM_ARGS = [
  // As root Chromium refuses to start without this; the pages are our own loopback servers.
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
  '--disable-gpu',
  '--no-first-run',
  // A closed network: nothing to fetch, sync or update in the background.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Screenshots go to the git-ignored test-results/ on every run; ROTOR_UPDATE_SCREENSHOTS=1 writes the README's copies. */
export const SCREENSHOTS = resolve(import.meta.dirname, process.env.ROTOR_UPDATE_SCREENSHOTS === '1' ? '../../docs/images' : '../../test-results/screenshots');

/** Where a test's screenshots go that the README does not show. */
export const TEST_SCREENSHOTS = resolve(import.meta.dirname, '../../test-results/screenshots');
