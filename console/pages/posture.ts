/** The posture page: findings by severity, owner and type, as `rotor audit` reports them. */
import { renderFindings, severityBadge } from '../../audit/finding-html.js';
import { SEVERITIES, type Severity } from '../../audit/types.js';
import { html, type Html } from '../../lib/html.js';
import type { Posture } from '../posture.js';

export const FINDINGS_PER_PAGE = 200;

function counts(caption: string, column: string, values: Record<string, number>, href: (key: string) => string): Html {
  const rows = Object.entries(values).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return html`<div class="table-wrap"><table><caption>${caption}</caption><thead><tr><th scope="col">${column}</th><th scope="col" class="n">Findings</th></tr></thead>
<tbody>${rows.length ? rows.map(([k, n]) => html`<tr><th scope="row"><a href="${href(k)}">${k}</a></th><td class="n">${n}</td></tr>`) : html`<tr><td colspan="2">none</td></tr>`}</tbody></table></div>`;
}

export interface PostureFilter {
  severity?: Severity;
  owner?: string;
  type?: string;
  page: number;
}

export function postureBody(posture: Posture, filter: PostureFilter, managed: (subject: string) => boolean): Html {
  const r = posture.result;
  const q = (change: Partial<PostureFilter>) => {
    const merged = { ...filter, page: 1, ...change };
    const s = new URLSearchParams();
    if (merged.severity) s.set('severity', merged.severity);
    if (merged.owner) s.set('owner', merged.owner);
    if (merged.type) s.set('type', merged.type);
    if (merged.page > 1) s.set('page', String(merged.page));
    return `/ui/posture${s.size ? `?${s}` : ''}`;
  };
  const cards = SEVERITIES.map((s) => html`<a class="card" href="${q({ severity: s })}"><span class="count" data-severity="${s}">${r.bySeverity[s]}</span>${severityBadge(s)}</a>`);
  const chosen = r.findings.filter((f) => (!filter.severity || f.severity === filter.severity) && (!filter.owner || (f.owner ?? '(no owner)') === filter.owner) && (!filter.type || f.type === filter.type));
  const pages = Math.max(1, Math.ceil(chosen.length / FINDINGS_PER_PAGE));
  const pageNo = Math.min(filter.page, pages);
  const shown = chosen.slice((pageNo - 1) * FINDINGS_PER_PAGE, pageNo * FINDINGS_PER_PAGE);
  const active = [filter.severity && `severity ${filter.severity}`, filter.owner && `owner ${filter.owner}`, filter.type && `type ${filter.type}`].filter(Boolean).join(', ');
  return html`<h1>Posture</h1><p class="muted">${r.credentials} credentials examined · ${r.findings.length} findings · the rules of <code>rotor audit</code>, as of ${r.generatedAt}</p>
<section aria-label="Findings by severity" class="cards">${cards}</section>
<div class="panels">${counts('Findings by owner', 'Owner', r.byOwner, (k) => q({ owner: k }))}${counts('Findings by type', 'Type', r.byType, (k) => q({ type: k }))}</div>
<h2 id="findings-h">Findings${active ? html` (${active}; <a href="/ui/posture">all</a>)` : ''}</h2>
${renderFindings(shown, { subjectHref: (f) => (managed(f.subject) ? `/ui/credentials/${encodeURIComponent(f.subject)}` : undefined) })}
${pages > 1 ? html`<nav class="pager" aria-label="Pages">${pageNo > 1 ? html`<a href="${q({ page: pageNo - 1 })}" rel="prev">Previous</a>` : ''}<span>page ${pageNo} of ${pages}</span>${pageNo < pages ? html`<a href="${q({ page: pageNo + 1 })}" rel="next">Next</a>` : ''}</nav>` : ''}`;
}
