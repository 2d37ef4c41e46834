/**
 * The console's colours and stylesheet (served as /ui/static/console.css: the CSP allows no inline
 * style). Every pair of text and background the pages use is listed in TEXT_PAIRS, and
 * test/console/palette.test.ts checks each meets WCAG 2.1 AA (4.5:1; 3:1 for the focus ring).
 */
import { FINDING_CSS, SEVERITY_PALETTE } from '../audit/finding-html.js';

export const PALETTE = {
  text: '#1b1b1b',
  muted: '#595959',
  background: '#ffffff',
  surface: '#f3f4f6',
  border: '#8a8f98',
  link: '#0b57a4',
  headerBackground: '#14213d',
  headerText: '#ffffff',
  button: '#0b57a4',
  buttonText: '#ffffff',
  danger: '#8b0000',
  dangerText: '#ffffff',
  errorBackground: '#fdecea',
  errorText: '#7a1010',
  noticeBackground: '#e7f4ea',
  noticeText: '#14532d',
  focus: '#b34700',
} as const;

/** [foreground, background, minimum ratio, where]. */
export const TEXT_PAIRS: Array<[string, string, number, string]> = [
  [PALETTE.text, PALETTE.background, 4.5, 'body text'],
  [PALETTE.muted, PALETTE.background, 4.5, 'muted text'],
  [PALETTE.text, PALETTE.surface, 4.5, 'table headers, panels'],
  [PALETTE.muted, PALETTE.surface, 4.5, 'muted text on panels'],
  [PALETTE.link, PALETTE.background, 4.5, 'links'],
  [PALETTE.link, PALETTE.surface, 4.5, 'links on panels'],
  [PALETTE.headerText, PALETTE.headerBackground, 4.5, 'header and navigation'],
  [PALETTE.buttonText, PALETTE.button, 4.5, 'buttons'],
  [PALETTE.dangerText, PALETTE.danger, 4.5, 'emergency button'],
  [PALETTE.errorText, PALETTE.errorBackground, 4.5, 'refusals'],
  [PALETTE.noticeText, PALETTE.noticeBackground, 4.5, 'notices'],
  [PALETTE.focus, PALETTE.background, 3, 'focus ring (non-text)'],
  [PALETTE.headerText, PALETTE.focus, 3, 'focus ring on the header (non-text)'],
  [PALETTE.border, PALETTE.background, 3, 'form control borders (non-text)'],
  ...Object.entries(SEVERITY_PALETTE).map(([s, c]): [string, string, number, string] => [c.text, c.background, 4.5, `severity ${s}`]),
];

const P = PALETTE;
export const CONSOLE_CSS = `
*{box-sizing:border-box}
html{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:${P.text};background:${P.background}}
body{margin:0}
a{color:${P.link}}
:focus-visible{outline:3px solid ${P.focus};outline-offset:2px}
.skip{position:absolute;left:8px;top:-48px;background:${P.background};color:${P.link};padding:8px 12px;z-index:10}
.skip:focus{top:8px}
.top{background:${P.headerBackground};color:${P.headerText};display:flex;flex-wrap:wrap;align-items:center;gap:8px 24px;padding:8px clamp(12px,3vw,40px)}
.top a{color:${P.headerText}}
.brand{font-weight:700;font-size:1.2rem;text-decoration:none}
.top nav ul{display:flex;gap:16px;list-style:none;margin:0;padding:0}
.top nav a[aria-current="page"]{font-weight:700;text-decoration-thickness:3px}
.who{margin-left:auto;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
main{padding:16px clamp(12px,3vw,40px) 48px;max-width:none}
h1{font-size:1.6rem;margin:8px 0 12px;overflow-wrap:anywhere}
h2{font-size:1.25rem;margin:28px 0 8px}
.muted{color:${P.muted}}
.filters{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,180px),1fr));gap:12px;align-items:end;background:${P.surface};padding:12px;border-radius:6px}
.filters .wide{grid-column:span 2}
@media (max-width:420px){.filters .wide{grid-column:auto}}
label{display:block;font-weight:600;font-size:.9rem}
input,select,textarea,button{font:inherit}
input[type=search],input[type=text],select,textarea{width:100%;padding:6px 8px;border:1px solid ${P.border};border-radius:4px;background:${P.background};color:${P.text}}
textarea{min-height:4.5em}
.check{display:flex;gap:8px;align-items:flex-start;font-weight:400}
.check input{margin-top:5px}
button,.button{background:${P.button};color:${P.buttonText};border:0;border-radius:4px;padding:7px 14px;cursor:pointer;text-decoration:none;display:inline-block}
button.danger{background:${P.danger};color:${P.dangerText}}
.top button{background:transparent;border:1px solid ${P.headerText};color:${P.headerText}}
.table-wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:600;padding:6px 0}
th,td{padding:6px 10px;border-bottom:1px solid #d0d3d8;text-align:left;vertical-align:top}
thead th{background:${P.surface}}
td.n,th.n{text-align:right}
.pager{display:flex;gap:16px;align-items:center;flex-wrap:wrap;margin:12px 0}
dl.facts{display:grid;grid-template-columns:minmax(8em,max-content) 1fr;gap:4px 16px;margin:0}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0;overflow-wrap:anywhere}
@media (max-width:480px){dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:6px}}
.panels{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:8px 32px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{background:${P.surface};padding:8px 14px;border-radius:6px;min-width:110px}
.card .count{display:block;font-size:1.6rem;font-weight:700}
.actions{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,300px),1fr));gap:12px}
.actions details{background:${P.surface};border-radius:6px;padding:8px 12px}
.actions summary{font-weight:600;cursor:pointer}
.actions form{display:grid;gap:8px;margin-top:8px}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0}
.banner.error{background:${P.errorBackground};color:${P.errorText}}
.banner.notice{background:${P.noticeBackground};color:${P.noticeText}}
.live{background:${P.surface};padding:8px 12px;border-radius:6px}
code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.92em}
${FINDING_CSS}
`;
