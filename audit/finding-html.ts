/**
 * One rendering of a finding, shared by the static report (audit/report-html.ts) and the console
 * (console/): severity, what is wrong, what to do, with ids and commands that wrap only between
 * tokens or after a separator (`/`, `:`), never inside a name at a hyphen.
 */
import { html, trusted, type Html } from '../lib/html.js';
import type { Finding, Severity } from './types.js';

/** Badge colours: each text colour meets WCAG AA (4.5:1) on its background (test/console/palette.test.ts). */
export const SEVERITY_PALETTE: Record<Severity, { background: string; text: string }> = {
  critical: { background: '#8b0000', text: '#ffffff' },
  high: { background: '#a33a08', text: '#ffffff' },
  medium: { background: '#f0b429', text: '#1b1b1b' },
  low: { background: '#1c64a0', text: '#ffffff' },
  info: { background: '#595f66', text: '#ffffff' },
};

/** A name's segments: each unbreakable, with a break opportunity (<wbr>) after each separator, outside any nowrap box. */
function segments(text: string): Html {
  const parts = text.split(/(?<=[/:])/);
  return html`${parts.map((p, i) => html`${i === 0 ? '' : html`<wbr>`}<span class="tok">${p}</span>`)}`;
}

/**
 * An id: it wraps only after a separator (`/`, `:`), never inside a name at a hyphen; a segment
 * wider than the screen scrolls inside its own box instead of breaking or widening the page.
 */
export function idHtml(text: string): Html {
  return html`<span class="id">${segments(text)}</span>`;
}

/** A command: it wraps between its tokens, each token stays whole (and the box scrolls if one cannot fit). */
export function commandHtml(command: string): Html {
  const tokens = command.split(/\s+/).filter(Boolean);
  return html`<code class="cmd">${tokens.map((t, i) => (i === 0 ? segments(t) : html` ${segments(t)}`))}</code>`;
}

/** `rotor <verb> <id or --flag>` as the rules write it inside their messages. */
const COMMAND = /\brotor [a-z]+(?: (?:--[a-z-]+|[A-Za-z0-9][^\s,()]*[^\s,().]|[A-Za-z0-9]))?/g;

/** A finding's message with its commands set as code, and the ids it names kept whole. */
export function messageHtml(message: string, ids: string[] = []): Html {
  const names = ids.filter((id) => id.length > 0);
  const plain = (text: string): Html => {
    const id = names.find((n) => text.includes(n));
    if (!id) return html`${text}`;
    const [before, ...rest] = text.split(id);
    return html`${plain(before!)}${rest.map((part) => html`${idHtml(id)}${plain(part)}`)}`;
  };
  const out: Html[] = [];
  let last = 0;
  for (const match of message.matchAll(COMMAND)) {
    out.push(plain(message.slice(last, match.index)), commandHtml(match[0]));
    last = match.index + match[0].length;
  }
  out.push(plain(message.slice(last)));
  return html`${out}`;
}

export function severityBadge(severity: Severity): Html {
  return html`<span class="sev sev-${severity}">${severity}</span>`;
}

/** One finding as a list item; `subjectHref` links its credential (the console's page of it). */
export function renderFinding(f: Finding, options: { subjectHref?: string } = {}): Html {
  const subject = options.subjectHref ? html`<a href="${options.subjectHref}">${idHtml(f.subject)}</a>` : idHtml(f.subject);
  return html`<li class="finding" data-rule="${f.rule}" data-severity="${f.severity}">
<p class="finding-head">${severityBadge(f.severity)} <strong>${f.title}</strong></p>
<p class="finding-subject">${subject} <span class="muted">· ${f.type} · ${f.owner ?? '(no owner)'} · rule <code>${f.rule}</code></span></p>
<p class="finding-message">${messageHtml(f.message, [f.subject])}</p>
</li>`;
}

export function renderFindings(findings: Finding[], options: { subjectHref?: (f: Finding) => string | undefined } = {}): Html {
  if (findings.length === 0) return html`<p>No findings.</p>`;
  return html`<ol class="findings">${findings.map((f) => renderFinding(f, { subjectHref: options.subjectHref?.(f) }))}</ol>`;
}

/** The CSS of the rendering above (the report inlines it, the console serves it). */
export const FINDING_CSS = trusted(
  [
    '.findings{list-style:none;margin:0;padding:0}',
    '.finding{border-bottom:1px solid #c8c8c8;padding:8px 0}',
    '.finding p{margin:2px 0}',
    '.tok{white-space:nowrap}',
    '.id,.cmd{display:inline-block;max-width:100%;overflow-x:auto;vertical-align:bottom}',
    '.cmd{background:#eef0f2;padding:0 3px;border-radius:3px}',
    '.sev{display:inline-block;padding:1px 6px;border-radius:3px;font-size:12px;font-weight:600}',
    ...Object.entries(SEVERITY_PALETTE).map(([s, c]) => `.sev-${s}{background:${c.background};color:${c.text}}`),
  ].join('\n'),
);
