/**
 * The audit as one self-contained HTML page: inline CSS and an inline SVG chart, no scripts, no
 * external assets (it is mailed around and opened offline). Every text is escaped.
 */
import { SEVERITIES, type Severity } from './types.js';
import type { AuditResult } from './index.js';

const SEVERITY_COLOURS: Record<Severity, string> = {
  critical: '#8b0000',
  high: '#d9480f',
  medium: '#e8a200',
  low: '#2b7bb9',
  info: '#6c757d',
};

/** Age buckets of the chart, in days (upper bound inclusive). */
const AGE_BUCKETS: Array<{ label: string; max: number }> = [
  { label: '0–30', max: 30 },
  { label: '31–60', max: 60 },
  { label: '61–90', max: 90 },
  { label: '91–180', max: 180 },
  { label: '181–365', max: 365 },
  { label: '> 365', max: Infinity },
];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function countTable(caption: string, counts: Record<string, number>): string {
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const body = rows.length ? rows.map(([k, n]) => `<tr><td>${escapeHtml(k)}</td><td class="n">${n}</td></tr>`).join('') : '<tr><td colspan="2">none</td></tr>';
  return `<table class="counts" data-counts="${escapeHtml(caption)}"><caption>${escapeHtml(caption)}</caption><tbody>${body}</tbody></table>`;
}

/** A bar chart of how many live credentials fall in each age bucket. */
export function ageChartSvg(ages: AuditResult['ages']): string {
  const counts = AGE_BUCKETS.map(() => 0);
  for (const { days } of ages) counts[AGE_BUCKETS.findIndex((b) => days <= b.max)]!++;
  const width = 560;
  const height = 220;
  const left = 40;
  const bottom = 30;
  const barSpace = (width - left) / AGE_BUCKETS.length;
  const top = Math.max(1, ...counts);
  const bars = counts
    .map((n, i) => {
      const h = Math.round(((height - bottom - 34) * n) / top);
      const x = Math.round(left + i * barSpace + barSpace * 0.15);
      const y = height - bottom - h;
      // Older than 90 days is past the cloud-key maximum: drawn in the warning colour.
      const fill = AGE_BUCKETS[i]!.max > 90 ? SEVERITY_COLOURS.high : SEVERITY_COLOURS.low;
      return `<rect x="${x}" y="${y}" width="${Math.round(barSpace * 0.7)}" height="${h}" fill="${fill}"><title>${n} credential(s) aged ${AGE_BUCKETS[i]!.label} days</title></rect>` +
        `<text x="${x + Math.round(barSpace * 0.35)}" y="${y - 4}" text-anchor="middle" class="v">${n}</text>` +
        `<text x="${x + Math.round(barSpace * 0.35)}" y="${height - bottom + 16}" text-anchor="middle">${AGE_BUCKETS[i]!.label}</text>`;
    })
    .join('');
  return `<svg id="age-chart" role="img" aria-label="Credential age in days" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">` +
    `<line x1="${left}" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" stroke="#333"/>` +
    `<text x="4" y="14">credentials</text>${bars}</svg>`;
}

export function renderHtmlReport(result: AuditResult): string {
  const severityCards = SEVERITIES.map(
    (s) => `<div class="card" style="border-color:${SEVERITY_COLOURS[s]}"><span class="count" data-severity="${s}">${result.bySeverity[s]}</span><span>${s}</span></div>`,
  ).join('');
  const findings = result.findings.length
    ? result.findings
        .map(
          (f) =>
            `<tr><td><span class="sev" style="background:${SEVERITY_COLOURS[f.severity]}">${f.severity}</span></td>` +
            `<td>${escapeHtml(f.subject)}</td><td>${escapeHtml(f.type)}</td><td>${escapeHtml(f.owner ?? '(no owner)')}</td>` +
            `<td><strong>${escapeHtml(f.title)}</strong><br>${escapeHtml(f.message)}</td><td><code>${escapeHtml(f.rule)}</code></td></tr>`,
        )
        .join('')
    : '<tr><td colspan="6">No findings.</td></tr>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rotor posture audit</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{margin:0 0 4px}.muted{color:#666}
.cards{display:flex;gap:12px;margin:16px 0}.card{border-left:6px solid;padding:8px 14px;background:#f6f6f6;min-width:90px}
.card .count{display:block;font-size:26px;font-weight:600}
.grid{display:flex;gap:32px;flex-wrap:wrap;align-items:flex-start}
table{border-collapse:collapse;margin:8px 0}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
caption{text-align:left;font-weight:600}.n{text-align:right}
.sev{color:#fff;padding:1px 6px;border-radius:3px;font-size:12px}
svg text{font-size:12px;fill:#333}
</style></head><body>
<h1>Rotor posture audit</h1>
<p class="muted">Generated ${escapeHtml(result.generatedAt)} · ${result.credentials} credentials examined · ${result.findings.length} findings</p>
<section class="cards" aria-label="Findings by severity">${severityCards}</section>
<section class="grid">
${countTable('Findings by owner', result.byOwner)}
${countTable('Findings by type', result.byType)}
<figure><figcaption><strong>Credential age (days)</strong></figcaption>${ageChartSvg(result.ages)}</figure>
</section>
<h2>Findings</h2>
<table class="findings"><thead><tr><th>Severity</th><th>Credential</th><th>Type</th><th>Owner</th><th>Finding and what to do</th><th>Rule</th></tr></thead>
<tbody>${findings}</tbody></table>
</body></html>
`;
}
