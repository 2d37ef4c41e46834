/**
 * The static report: its age chart counts every live credential the header counts (a never-rotated
 * one was left out, so 5 credentials showed as 1), and findings are the shared rendering.
 */
import { describe, expect, it } from 'vitest';
import { runAudit } from '../../audit/index.js';
import { renderHtmlReport } from '../../audit/report-html.js';
import { DAY_MS, DEFAULT_THRESHOLDS, type CredentialFacts } from '../../audit/types.js';

const now = new Date('2026-06-01T12:00:00Z');
const ago = (days: number) => new Date(now.getTime() - days * DAY_MS);
const managed = (id: string, lastRotatedAt: Date | null): CredentialFacts => ({
  subject: id, kind: 'managed', type: 'postgres-password', owner: 'team-a', purpose: 'p', status: 'managed', lastRotatedAt, nextDueAt: null, firstSeenAt: ago(10),
});

describe('the static HTML report', () => {
  it('the age chart counts all 5 live credentials, those of unknown age included', () => {
    // The first day under Rotor: one credential rotated, four not yet (their material's age is unknown).
    const facts = [managed('a-db', ago(3)), managed('b-db', null), managed('c-db', null), managed('d-db', null), managed('e-db', null)];
    const html = renderHtmlReport(runAudit(facts, { now, policies: [], allowedOwners: [], thresholds: DEFAULT_THRESHOLDS }));
    expect(html).toContain('5 credentials examined');
    const chart = /<svg id="age-chart".*?<\/svg>/s.exec(html)![0];
    const counted = [...chart.matchAll(/class="v">(\d+)<\/text>/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(counted).toBe(5);
    expect(chart).toContain('data-bucket="unknown" data-count="4"');
  });

  it('sets commands in findings as code whose tokens never break at a hyphen', () => {
    const facts = [managed('payments-orders-primary-db', ago(200))];
    const html = renderHtmlReport(runAudit(facts, { now, policies: [], allowedOwners: [], thresholds: DEFAULT_THRESHOLDS }));
    expect(html).toContain('<code class="cmd"><span class="tok">rotor</span> <span class="tok">rotate</span> <span class="tok">payments-orders-primary-db</span></code>');
  });

  it('escapes hostile ids, owners and messages', () => {
    const hostile = managed('<script>alert(1)</script>', null);
    hostile.owner = '"><img src=x onerror=alert(1)>';
    const html = renderHtmlReport(runAudit([hostile], { now, policies: [], allowedOwners: [], thresholds: DEFAULT_THRESHOLDS }));
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/');
  });
});
