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
  | 'text';

const VARIABLE = /%([A-Za-z_][A-Za-z0-9_]*)%/g;

export class MissingVariableError extends PermanentDeliveryError {
  constructor(
    readonly variable: string,
    template: string,
  ) {
    super('missing_variable', `The template '${template}' needs %${variable}%, which this scan job does not have (or has empty).`);
    this.name = 'MissingVariableError';
  }
}

/** The variables a template uses. */
export function templateVariables(template: string): string[] {
  return [...template.matchAll(VARIABLE)].map((m) => m[1]!);
}

export function renderTemplate(template: string, fields: Readonly<Record<string, string>>, escaping: Escaping): string {
  return template.replace(VARIABLE, (_m, name: string) => {
    const value = Object.hasOwn(fields, name) ? fields[name]! : '';
    if (value.trim() === '') throw new MissingVariableError(name, template);
    return escapeValue(value, escaping);
  });
}

export function escapeValue(value: string, escaping: Escaping): string {
  switch (escaping) {
    case 'header':
      return value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
    case 'text':
      return value.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
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

/**
 * Renders a path template (`/Scans/%deviceName%/%scanDate%`): variables are escaped as path
 * segments, so no value can add a separator or climb with `..`.
 */
export function renderPath(
  template: string,
  fields: Readonly<Record<string, string>>,
  escaping: 'pathSegment' | 'driveItemName' = 'pathSegment',
): string {
  return renderTemplate(template, fields, escaping);
}
