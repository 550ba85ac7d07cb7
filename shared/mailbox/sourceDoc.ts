/**
 * The options table of a mailbox source in docs/mailbox-ingest.md, rendered from its schema
 * (source.ts) by `npm run docs` between the two markers; the rest of the page is written by hand.
 */
import { renderSchemaTable } from '../delivery/optionsDoc';
import { mailboxSourceSchema } from './source';

export const SOURCE_OPTIONS_START = '<!-- source-options:start -->';
export const SOURCE_OPTIONS_END = '<!-- source-options:end -->';

/** docs/mailbox-ingest.md with the source's options rendered between its markers (which must be there once). */
export function renderSourceOptionsDoc(doc: string): string {
  const a = doc.indexOf(SOURCE_OPTIONS_START);
  const b = doc.indexOf(SOURCE_OPTIONS_END);
  if (a < 0 || b < a || doc.indexOf(SOURCE_OPTIONS_START, a + 1) >= 0)
    throw new Error(
      `docs/mailbox-ingest.md must hold the source options once, between\n${SOURCE_OPTIONS_START}\nand\n${SOURCE_OPTIONS_END}`,
    );
  const table = renderSchemaTable(mailboxSourceSchema, 'a mailbox source (shared/mailbox/source.ts)');
  return `${doc.slice(0, a + SOURCE_OPTIONS_START.length)}\n\n${table}\n\n${doc.slice(b)}`;
}
