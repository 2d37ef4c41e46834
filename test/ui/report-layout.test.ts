/**
 * The static report's layout in a real browser (Debian's Chromium): at 1400 px its sections use
 * the page's width (half of it stayed empty), at 360 px nothing overflows sideways and no id or
 * command breaks inside a name (they broke at hyphens, mid-token).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, CHROMIUM_ARGS, TEST_SCREENSHOTS } from '../harness/chromium.js';
import { runAudit } from '../../audit/index.js';
import { renderHtmlReport } from '../../audit/report-html.js';
import { DAY_MS, DEFAULT_THRESHOLDS, type CredentialFacts } from '../../audit/types.js';

const SHOTS = TEST_SCREENSHOTS;
let browser: Browser;

const now = new Date('2026-06-01T12:00:00Z');
const ago = (days: number) => new Date(now.getTime() - days * DAY_MS);
// Long hyphenated ids, as real ones are; each finding names its id in a command too.
const facts: CredentialFacts[] = Array.from({ length: 12 }, (_, i) => ({
  subject: `payments-orders-replica-${i}-primary-database-login`,
  kind: 'managed',
  type: 'postgres-password',
  owner: `team-payments-platform-${i % 3}`,
  purpose: 'Payments API login',
  status: 'managed',
  lastRotatedAt: ago(40 + i * 20),
  nextDueAt: ago(5 + i),
  firstSeenAt: ago(400),
}));
const report = renderHtmlReport(runAudit(facts, { now, policies: [], allowedOwners: ['team-payments-platform-0'], thresholds: DEFAULT_THRESHOLDS }));

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
  await mkdir(SHOTS, { recursive: true });
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

/** Every occurrence of each credential id in the page's text, as the number of lines it spans. */
const ID_LINES = `(() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const ids = ${JSON.stringify(facts.map((f) => f.subject))};
  // Ids may be split across spans: search the text of each finding's elements.
  for (const el of document.querySelectorAll('li, td, p')) {
    if (el.children.length && [...el.children].some((c) => c.matches('li, td, p'))) continue;
    const text = el.textContent;
    for (const id of ids) {
      let at = text.indexOf(id);
      while (at !== -1) {
        const range = document.createRange();
        let seen = 0, start, end;
        const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        for (let n = w.nextNode(); n; n = w.nextNode()) {
          const len = n.textContent.length;
          if (start === undefined && at < seen + len) start = [n, at - seen];
          if (start !== undefined && at + id.length <= seen + len) { end = [n, at + id.length - seen]; break; }
          seen += len;
        }
        range.setStart(...start); range.setEnd(...end);
        const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        out.push({ id, lines: tops.size });
        at = text.indexOf(id, at + 1);
      }
    }
  }
  return out;
})()`;

describe('the static report in a browser', () => {
  it('uses the width of a 1400 px window', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.setContent(report);
    const { used, width } = await page.evaluate(`(() => {
      const width = document.documentElement.clientWidth;
      const right = Math.max(...[...document.querySelectorAll('.grid > *')].map((e) => e.getBoundingClientRect().right));
      return { used: right, width };
    })()`) as { used: number; width: number };
    expect(used / width).toBeGreaterThan(0.9);
    await page.screenshot({ path: join(SHOTS, 'report-1400.png'), fullPage: true });
    await page.close();
  });

  it('at 360 px nothing overflows sideways and no id breaks inside a name', async () => {
    const page = await browser.newPage({ viewport: { width: 360, height: 800 } });
    await page.setContent(report);
    const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth') as number;
    expect(overflow).toBeLessThanOrEqual(0);
    const spans = await page.evaluate(ID_LINES) as Array<{ id: string; lines: number }>;
    expect(spans.length).toBeGreaterThan(12);
    expect(spans.filter((s) => s.lines !== 1), JSON.stringify(spans.filter((s) => s.lines !== 1).slice(0, 3))).toEqual([]);
    await page.screenshot({ path: join(SHOTS, 'report-360.png'), fullPage: true });
    await page.close();
  });
});
