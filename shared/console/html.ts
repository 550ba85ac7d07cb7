/**
 * HTML that escapes every value by construction. `html\`<p>${name}</p>\`` escapes `name`; only
 * another `html` fragment (or `raw`, for the few constants that need it) goes in as markup. A value
 * in a URL attribute (href, src, action, formaction) must be a relative path or an http(s) URL,
 * else it becomes `#`; values in event-handler attributes, `<script>` or `<style>` are refused:
 * the console has no inline script (its CSP forbids it) and builds no style from data.
 */

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Markup that is trusted as it is: for constants written in this code base only. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const URL_ATTRIBUTE = /\s(?:href|src|action|formaction)\s*=\s*["']?$/i;
const HANDLER_ATTRIBUTE = /\son[a-z]+\s*=\s*["']?$/i;
const STYLE_ATTRIBUTE = /\sstyle\s*=\s*["']?$/i;
const RAW_TEXT_OPEN = /<(?:script|style)\b[^>]*>/gi;
const RAW_TEXT_CLOSE = /<\/(?:script|style)\b/gi;

/** Whether a literal leaves a <script> or <style> element open (given whether it started inside one). */
function endsInRawText(literal: string, inside: boolean): boolean {
  const last = (re: RegExp) => Math.max(-1, ...[...literal.matchAll(re)].map((m) => m.index));
  const open = last(RAW_TEXT_OPEN);
  const close = last(RAW_TEXT_CLOSE);
  return open === -1 && close === -1 ? inside : open > close;
}

/** A URL that is safe in an attribute: a path of this site, or an http(s) URL; otherwise `#`. */
export function safeUrl(value: string): string {
  const v = value.trim();
  if (v.startsWith('/') && !v.startsWith('//') && !v.startsWith('/\\')) return v;
  if (v.startsWith('?') || v.startsWith('#')) return v;
  return /^https?:\/\//i.test(v) ? v : '#';
}

function render(value: unknown, inUrl: boolean): string {
  if (value instanceof SafeHtml) {
    if (inUrl) throw new Error('html: a markup fragment cannot be a URL attribute.');
    return value.value;
  }
  if (value === undefined || value === null || value === false) return '';
  if (Array.isArray(value)) return value.map((v) => render(v, inUrl)).join('');
  if (value instanceof Date) return escapeHtml(value.toISOString());
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    const text = String(value);
    return escapeHtml(inUrl ? safeUrl(text) : text);
  }
  throw new Error('html: only text, numbers, dates and fragments can be interpolated.');
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  let inRawText = false;
  for (let i = 0; i < values.length; i++) {
    const before = strings[i]!;
    inRawText = endsInRawText(before, inRawText);
    if (HANDLER_ATTRIBUTE.test(before) || STYLE_ATTRIBUTE.test(before) || inRawText) {
      throw new Error('html: values cannot go into event handlers, style attributes, <script> or <style>.');
    }
    out += render(values[i], URL_ATTRIBUTE.test(before)) + strings[i + 1]!;
  }
  return new SafeHtml(out);
}

/** Joins fragments with a separator (itself markup). */
export function join(parts: readonly SafeHtml[], separator: SafeHtml = raw('')): SafeHtml {
  return new SafeHtml(parts.map((p) => p.value).join(separator.value));
}
