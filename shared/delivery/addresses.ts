/**
 * Address-list templates for the mail connectors (SMTP, Microsoft Graph mail).
 *
 * A template is a comma-separated list (`%email%, archive@example.com`); each item is rendered
 * with header escaping (no CR/LF/control characters) and must then be exactly ONE mailbox, parsed
 * strictly: a lenient parser would take `bob@x Cc: evil@y` as evil@y. So a variable's value can
 * neither add nor replace recipients (a comma in a value makes its item invalid, it does not split).
 */
import { renderTemplate } from './template';
import { PermanentDeliveryError } from './types';

export interface MailAddress {
  /** Display name ('' when none). */
  name: string;
  address: string;
}

const ADDRESS = String.raw`[^\s@<>()\[\],;:"\\]+@[^\s@<>()\[\],;:"\\]+\.[^\s@<>()\[\],;:"\\]+`;
/** `user@domain`, `Display Name <user@domain>` or `"Display Name" <user@domain>`, nothing else (no groups, comments, lists; the template is split on commas first). */
export const MAILBOX = new RegExp(String.raw`^(?:(${ADDRESS})|(?:"([^"\\]*)"|([^"<>@,;:\\]*?))\s*<(${ADDRESS})>)$`, 'u');

/**
 * Renders a comma-separated address-list template; each item must render to exactly one mailbox.
 * Errors (PermanentDeliveryError) name the option in quotes.
 */
export function renderAddresses(template: string, fields: Readonly<Record<string, string>>, option: string): MailAddress[] {
  const out: MailAddress[] = [];
  for (const item of template.split(',')) {
    if (item.trim() === '') continue;
    const rendered = renderTemplate(item, fields, 'header').trim();
    const m = MAILBOX.exec(rendered);
    if (!m) throw new PermanentDeliveryError('invalid_address', `"${option}": '${rendered.slice(0, 200)}' is not one e-mail address.`);
    out.push(m[1] ? { name: '', address: m[1] } : { name: (m[2] ?? m[3] ?? '').trim(), address: m[4]! });
  }
  if (out.length === 0) throw new PermanentDeliveryError('invalid_address', `"${option}" rendered to no address.`);
  return out;
}
