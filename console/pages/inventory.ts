/** The inventory page: every credential, filtered, searched, sorted and paged (store/inventory.ts). */
import { severityBadge } from '../../audit/finding-html.js';
import { idHtml } from '../../audit/finding-html.js';
import { SEVERITIES, type Severity } from '../../audit/types.js';
import { html, type Html } from '../../lib/html.js';
import { INVENTORY_SORTS, INVENTORY_STATUSES, type InventoryPage, type InventoryQuery, type InventorySort, type InventoryStatus } from '../../store/inventory.js';
import { when } from '../layout.js';
import type { Posture } from '../posture.js';

/** The query string of the page, checked: anything unknown or too long is dropped, never echoed raw. */
export interface InventoryParams {
  owner?: string;
  type?: string;
  environment?: string;
  status?: InventoryStatus;
  severity?: Severity;
  q?: string;
  sort: InventorySort;
  dir: 'asc' | 'desc';
  after?: string;
}

const text = (v: unknown, max = 200) => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined);

export function parseInventoryParams(query: Record<string, unknown>): InventoryParams {
  const pick = <T extends string>(v: unknown, allowed: readonly T[]) => (allowed as readonly unknown[]).includes(v) ? (v as T) : undefined;
  return {
    owner: text(query.owner),
    type: text(query.type),
    environment: text(query.environment),
    status: pick(query.status, INVENTORY_STATUSES),
    severity: pick(query.severity, SEVERITIES),
    q: text(query.q, 100)?.trim() || undefined,
    sort: pick(query.sort, INVENTORY_SORTS) ?? 'id',
    dir: query.dir === 'desc' ? 'desc' : 'asc',
    after: text(query.after, 2048),
  };
}

export function storeQuery(p: InventoryParams, subjects: string[] | undefined): InventoryQuery {
  return { owner: p.owner, type: p.type, environment: p.environment, status: p.status, subjects, search: p.q, sort: p.sort, descending: p.dir === 'desc', after: p.after, limit: 50 };
}

export function inventoryHref(p: InventoryParams, change: Partial<InventoryParams>): string {
  const merged = { ...p, ...change };
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(merged)) if (v !== undefined && !(k === 'sort' && v === 'id') && !(k === 'dir' && v === 'asc')) search.set(k, String(v));
  const qs = search.toString();
  return `/ui/inventory${qs ? `?${qs}` : ''}`;
}

const SORT_LABELS: Record<InventorySort, string> = { id: 'Credential id', type: 'Type', owner: 'Owner', status: 'Status', environment: 'Environment', nextDue: 'Next due', lastRotated: 'Last rotated / made' };

function select(name: string, label: string, options: readonly string[], chosen: string | undefined, anyLabel = 'any'): Html {
  return html`<div><label for="f-${name}">${label}</label><select id="f-${name}" name="${name}">
<option value="">${anyLabel}</option>${options.map((o) => html`<option value="${o}"${o === chosen ? html` selected` : ''}>${o}</option>`)}</select></div>`;
}

export function worstSeverity(posture: Posture, subject: string): Severity | undefined {
  return posture.bySubject.get(subject)?.[0]?.severity;
}

export function inventoryBody(p: InventoryParams, result: InventoryPage, facets: { owners: string[]; types: string[]; environments: string[] }, posture: Posture): Html {
  const filters = html`<form class="filters" method="get" action="/ui/inventory" role="search" aria-label="Filter the inventory">
<div class="wide"><label for="f-q">Search (id, owner, purpose, material id)</label><input type="search" id="f-q" name="q" value="${p.q ?? ''}" maxlength="100"></div>
${select('owner', 'Owner', facets.owners, p.owner)}
${select('type', 'Type', facets.types, p.type)}
${select('environment', 'Environment', facets.environments, p.environment)}
${select('status', 'Status', INVENTORY_STATUSES, p.status)}
${select('severity', 'Finding at or above', SEVERITIES, p.severity)}
<div><label for="f-sort">Sort by</label><select id="f-sort" name="sort">${INVENTORY_SORTS.map((s) => html`<option value="${s}"${s === p.sort ? html` selected` : ''}>${SORT_LABELS[s]}</option>`)}</select></div>
<div><label for="f-dir">Order</label><select id="f-dir" name="dir"><option value="asc"${p.dir === 'asc' ? html` selected` : ''}>ascending</option><option value="desc"${p.dir === 'desc' ? html` selected` : ''}>descending</option></select></div>
<div><button type="submit">Apply</button> <a href="/ui/inventory">Clear</a></div>
</form>`;
  const sortHeader = (sort: InventorySort, label: string) => {
    const active = p.sort === sort;
    const dir = active && p.dir === 'asc' ? 'desc' : 'asc';
    const aria = active ? (p.dir === 'asc' ? 'ascending' : 'descending') : undefined;
    return html`<th scope="col"${aria ? html` aria-sort="${aria}"` : ''}><a href="${inventoryHref(p, { sort, dir, after: undefined })}">${label}${active ? (p.dir === 'asc' ? ' ▲' : ' ▼') : ''}</a></th>`;
  };
  const rows = result.items.map((c) => {
    const severity = worstSeverity(posture, c.subject);
    const name = c.status === 'discovered' ? idHtml(c.subject) : html`<a href="/ui/credentials/${encodeURIComponent(c.subject)}">${idHtml(c.subject)}</a>`;
    return html`<tr><th scope="row">${name}</th><td>${c.status}${c.state ? html` <span class="muted">(${c.state})</span>` : ''}</td><td>${idHtml(c.type)}</td><td>${c.owner ?? html`<span class="muted">none</span>`}</td><td>${c.environment ?? ''}</td>
<td>${severity ? severityBadge(severity) : html`<span class="muted">none</span>`}</td><td>${when(c.lastRotatedAt)}</td><td>${when(c.nextDueAt)}</td></tr>`;
  });
  const table = html`<div class="table-wrap" role="region" aria-labelledby="inventory-caption" tabindex="0"><table>
<caption id="inventory-caption">${result.total} credential(s)${p.after ? ' (continued)' : ''}</caption>
<thead><tr>${sortHeader('id', 'Credential')}${sortHeader('status', 'Status')}${sortHeader('type', 'Type')}${sortHeader('owner', 'Owner')}${sortHeader('environment', 'Environment')}<th scope="col">Worst finding</th>${sortHeader('lastRotated', 'Last rotated')}${sortHeader('nextDue', 'Next due')}</tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="8">No credential matches.</td></tr>`}</tbody></table></div>`;
  const pager = html`<nav class="pager" aria-label="Pages">${p.after ? html`<a href="${inventoryHref(p, { after: undefined })}">First page</a>` : ''}
${result.next ? html`<a href="${inventoryHref(p, { after: result.next })}" rel="next">Next page</a>` : html`<span class="muted">Last page</span>`}</nav>`;
  return html`<h1>Inventory</h1><p class="muted">Every credential Rotor manages, has discovered, reminds of (manual) or has retired. Findings follow the rules of <code>rotor audit</code>.</p>${filters}${table}${pager}`;
}
