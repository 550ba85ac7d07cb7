/**
 * The vendor's `%variable%` templates over a job's fields, with each value escaped for where it
 * lands. A variable the job lacks (or has empty) fails with that reason: a destination must not
 * silently deliver to `/Scans//` or to `@fax.example.net`.
 */
import { PermanentDeliveryError } from './types';

export type Escaping =
  /** A mail header value or address: no CR, LF or other control characters. */
  | 'header'
  /** One segment of a path: no separators, no `.`/`..`, no control characters. */
  | 'pathSegment'
  /** A OneDrive/SharePoint item name: also none of `" * : < > ? / \ |`, no leading/trailing dot or space. */
  | 'driveItemName'
  /** A URL query or path component. */
  | 'url'
  /** Plain text (a mail body): control characters except tab and newline removed. */
  | 'text'
  /** A value in an HTML template (a mail body): as `text`, then HTML-escaped; the template's own markup stays. */
  | 'html';

/** The vendor's `%variable%`: a name of letters, digits and underscores, not beginning with a digit. */
const VARIABLE = /%([A-Za-z_][A-Za-z0-9_]*)%/g;

/** A variable a template uses: its name, and where it stands (`template.slice(start, end)` is `%name%`). */
export interface TemplateVariable {
  name: string;
  start: number;
  end: number;
}

export class MissingVariableError extends PermanentDeliveryError {
  constructor(
    readonly variable: string,
    template: string,
  ) {
    super('missing_variable', `The template '${template}' needs %${variable}%, which this scan job does not have (or has empty).`);
    this.name = 'MissingVariableError';
  }
}

/** The variables a template uses, in order. */
export function findVariables(template: string): TemplateVariable[] {
  return [...template.matchAll(VARIABLE)].map((m) => ({ name: m[1]!, start: m.index, end: m.index + m[0].length }));
}

/** The template's own text: the template without its variables. */
export function literalText(template: string): string {
  return template.replace(VARIABLE, '');
}

/**
 * Replaces each variable with the job's value, escaped for where it lands (`escaping`, or a
 * connector's own escape function). A variable the job lacks or has blank is a MissingVariableError.
 */
export function renderTemplate(
  template: string,
  fields: Readonly<Record<string, string>>,
  escaping: Escaping | ((value: string) => string),
): string {
  const escape = typeof escaping === 'function' ? escaping : (value: string) => escapeValue(value, escaping);
  return template.replace(VARIABLE, (_m, name: string) => {
    const value = Object.hasOwn(fields, name) ? fields[name]! : '';
    if (value.trim() === '') throw new MissingVariableError(name, template);
    return escape(value);
  });
}

export function escapeValue(value: string, escaping: Escaping): string {
  switch (escaping) {
    case 'header':
      return value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
    case 'text':
      return value.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
    case 'html':
      return escapeHtml(escapeValue(value, 'text'));
    case 'url':
      return encodeURIComponent(value);
    case 'pathSegment':
      return safeSegment(value.replace(/[\\/]/g, '_'));
    case 'driveItemName':
      return safeSegment(value.replace(/["*:<>?/\\|#%]/g, '_')).replace(/^[.\s]+|[.\s]+$/g, '') || '_';
  }
}

function safeSegment(value: string): string {
  // Runs of dots collapse first, so that no value ('..', '...') can end up as '.' or '..'.
  const cleaned = value
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim()
    .replace(/\.\.+/g, '.');
  return cleaned === '' || cleaned === '.' ? '_' : cleaned;
}

/** Text for HTML (content or a quoted attribute): `& < > " '` as character references. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
