/**
 * The audit as one self-contained HTML page: inline CSS and an inline SVG chart, no scripts, no
 * external assets (it is mailed around and opened offline). Every text is escaped (lib/html.ts);
 * findings are rendered by audit/finding-html.ts, as in the console.
 */
import { html, trusted, type Html } from '../lib/html.js';
import { FINDING_CSS, renderFindings, SEVERITY_PALETTE, severityBadge } from './finding-html.js';
import { SEVERITIES } from './types.js';
import type { AuditResult } from './index.js';

export { escapeHtml } from '../lib/html.js';

/** Age buckets of the chart, in days (upper bound inclusive); `unknown` holds credentials of unknown age. */
const AGE_BUCKETS: Array<{ label: string; max: number }> = [
  { label: '0–30', max: 30 },
  { label: '31–60', max: 60 },
  { label: '61–90', max: 90 },
  { label: '91–180', max: 180 },
  { label: '181–365', max: 365 },
  { label: '> 365', max: Infinity },
];
const UNKNOWN = 'unknown';

/** How many credentials fall in each bucket; every credential of `ages` is counted once. */
export function ageBuckets(ages: AuditResult['ages']): Array<{ label: string; count: number }> {
  const counts = [...AGE_BUCKETS.map((b) => ({ label: b.label, count: 0 })), { label: UNKNOWN, count: 0 }];
  for (const { days } of ages) counts[days === null ? AGE_BUCKETS.length : AGE_BUCKETS.findIndex((b) => days <= b.max)]!.count++;
  return counts;
}

function countTable(caption: string, counts: Record<string, number>): Html {
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const body = rows.length ? rows.map(([k, n]) => html`<tr><th scope="row">${k}</th><td class="n">${n}</td></tr>`) : html`<tr><td colspan="2">none</td></tr>`;
  return html`<table class="counts" data-counts="${caption}"><caption>${caption}</caption><thead><tr><th scope="col">${caption.replace('Findings by ', '')}</th><th scope="col" class="n">findings</th></tr></thead><tbody>${body}</tbody></table>`;
}

/** A bar chart of how many live credentials fall in each age bucket, unknown ages included. */
export function ageChartSvg(ages: AuditResult['ages']): string {
  const buckets = ageBuckets(ages);
  const width = 600;
  const height = 220;
  const left = 40;
  const bottom = 30;
  const barSpace = (width - left) / buckets.length;
  const top = Math.max(1, ...buckets.map((b) => b.count));
  const bars = buckets.map(({ label, count }, i) => {
    const h = Math.round(((height - bottom - 34) * count) / top);
    const x = Math.round(left + i * barSpace + barSpace * 0.15);
    const y = height - bottom - h;
    // Older than 90 days is past the cloud-key maximum: drawn in the warning colour; unknown in grey.
    const fill = label === UNKNOWN ? SEVERITY_PALETTE.info.background : (AGE_BUCKETS[i]!.max > 90 ? SEVERITY_PALETTE.high.background : SEVERITY_PALETTE.low.background);
    const centre = x + Math.round(barSpace * 0.35);
    return html`<rect x="${x}" y="${y}" width="${Math.round(barSpace * 0.7)}" height="${h}" fill="${fill}" data-bucket="${label}" data-count="${count}"><title>${count} credential(s) aged ${label}${label === UNKNOWN ? '' : ' days'}</title></rect>
<text x="${centre}" y="${y - 4}" text-anchor="middle" class="v">${count}</text><text x="${centre}" y="${height - bottom + 16}" text-anchor="middle">${label}</text>`;
  });
  const summary = buckets.map((b) => `${b.count} aged ${b.label}`).join(', ');
  return html`<svg id="age-chart" role="img" aria-label="Credential age in days: ${summary}" viewBox="0 0 ${width} ${height}"><line x1="${left}" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" stroke="#333"/><text x="4" y="14">credentials</text>${bars}</svg>`.toString();
}

const REPORT_CSS = trusted(`
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:0;padding:16px clamp(12px,3vw,40px);color:#1b1b1b;background:#fff}
h1{margin:0 0 4px}.muted{color:#595959}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.card{border-left:6px solid #595f66;padding:8px 14px;background:#f3f3f3;min-width:110px}
${SEVERITIES.map((s) => `.card-${s}{border-left-color:${SEVERITY_PALETTE[s].background}}`).join('')}
.card .count{display:block;font-size:26px;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,280px),1fr));gap:24px;align-items:start}
.grid figure{margin:0;grid-column:span 2}
@media (max-width:700px){.grid figure{grid-column:auto}}
#age-chart{width:100%;max-width:720px;height:auto}
table{border-collapse:collapse;margin:8px 0;width:100%}td,th{border-bottom:1px solid #c8c8c8;padding:4px 8px;text-align:left;vertical-align:top}
caption{text-align:left;font-weight:600}.n{text-align:right}
svg text{font-size:12px;fill:#1b1b1b}
`);

export function renderHtmlReport(result: AuditResult): string {
  const severityCards = SEVERITIES.map(
    (s) => html`<div class="card card-${s}"><span class="count" data-severity="${s}">${result.bySeverity[s]}</span>${severityBadge(s)}</div>`,
  );
  const live = result.ages.length;
  const unknown = result.ages.filter((a) => a.days === null).length;
  return `<!doctype html>
${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Rotor posture audit</title>
<style>${REPORT_CSS}
${FINDING_CSS}</style></head><body>
<h1>Rotor posture audit</h1>
<p class="muted">Generated ${result.generatedAt} · ${result.credentials} credentials examined · ${result.findings.length} findings</p>
<section class="cards" aria-label="Findings by severity">${severityCards}</section>
<section class="grid">
${countTable('Findings by owner', result.byOwner)}
${countTable('Findings by type', result.byType)}
<figure><figcaption><strong>Credential age (days)</strong>: ${live} live credential(s)${unknown ? `, ${unknown} of unknown age (never rotated by Rotor, or their system does not say when they were made)` : ''}</figcaption>${trusted(ageChartSvg(result.ages))}</figure>
</section>
<h2>Findings</h2>
${renderFindings(result.findings)}
</body></html>`}
`;
}
