/**
 * HTML built by a tagged template that escapes every interpolated value: `html\`<td>${x}</td>\``
 * escapes x unless x is already Html (built by `html` itself, or `trusted` for a fixed fragment
 * such as the CSS). Arrays are joined, null/undefined/false render nothing. One rule, no template
 * engine: a value can only reach the page unescaped by being wrapped on purpose.
 */

/** HTML that is safe to place as it is. Only `html` and `trusted` make one. */
export class Html {
  readonly #text: string;
  private constructor(text: string) {
    this.#text = text;
  }
  /** @internal */
  static make(text: string): Html {
    return new Html(text);
  }
  toString(): string {
    return this.#text;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Escapes text for an element body or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ENTITIES[c]!);
}

export type HtmlValue = Html | string | number | boolean | null | undefined | Date | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.toString();
  if (Array.isArray(value)) return value.map(render).join('');
  if (value instanceof Date) return escapeHtml(Number.isNaN(value.getTime()) ? 'invalid date' : value.toISOString());
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => (out += render(v) + strings[i + 1]!));
  return Html.make(out);
}

/** Marks a fixed fragment written in the source (never data) as HTML. */
export function trusted(fragment: string): Html {
  return Html.make(fragment);
}
