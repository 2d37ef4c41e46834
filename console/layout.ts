/** The page shell every console page shares: skip link, header with navigation and who is signed in. */
import { html, type Html, type HtmlValue } from '../lib/html.js';
import type { Actor } from '../daemon/auth/actor.js';

export type Section = 'inventory' | 'posture' | 'credential' | 'error';

export interface PageShell {
  title: string;
  section: Section;
  actor?: Actor;
  /** For the log-out form. */
  csrfToken?: string;
  body: HtmlValue;
}

export function page(p: PageShell): string {
  const nav = (href: string, label: string, section: Section) =>
    html`<li><a href="${href}"${p.section === section ? html` aria-current="page"` : ''}>${label}</a></li>`;
  const who = p.actor
    ? html`<div class="who"><span>${p.actor.name} <span class="roles">(${p.actor.roles.join(', ') || 'no role'})</span></span>
<form method="post" action="/ui/logout"><input type="hidden" name="_csrf" value="${p.csrfToken ?? ''}"><button type="submit">Log out</button></form></div>`
    : '';
  const doc: Html = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${p.title} · Rotor</title><link rel="stylesheet" href="/ui/static/console.css"><script src="/ui/static/console.js" defer></script></head>
<body><a class="skip" href="#main">Skip to content</a>
<header class="top"><a class="brand" href="/ui/inventory">Rotor</a>
<nav aria-label="Main"><ul>${nav('/ui/inventory', 'Inventory', 'inventory')}${nav('/ui/posture', 'Posture', 'posture')}</ul></nav>${who}</header>
<main id="main" tabindex="-1">${p.body}</main></body></html>
`;
  return doc.toString();
}

/** A date as the operator reads it (UTC, minutes), or a dash. */
export function when(date: Date | null | undefined): Html {
  if (!date) return html`<span class="muted">–</span>`;
  const iso = date.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}
