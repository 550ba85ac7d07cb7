/** Template helpers only the tests use: a whole path rendered at once, and a template's variable names. */
import { findVariables, renderTemplate } from '../../shared/delivery/template';

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

/** The variables a template uses. */
export function templateVariables(template: string): string[] {
  return findVariables(template).map((v) => v.name);
}
