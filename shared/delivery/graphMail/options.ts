/**
 * The options of a `graphMail` destination, as a zod schema: the connection that sends, the
 * message's templates (addresses: shared/delivery/addresses.ts; an HTML body's values are
 * HTML-escaped, its markup is the administrator's) and its size limit. Each option's description
 * is its line in docs/destinations.md.
 */
import { z } from 'zod';
import { anyText, connectionId, flag, text, wholeNumber } from '../options';

/** Exchange Online's default message size limit. */
export const DEFAULT_MAX_MESSAGE_BYTES = 35 * 1024 * 1024;
/** Exchange Online's largest message (with raised mailbox limits) and Graph's largest attachment by upload session. */
export const MAX_MESSAGE_BYTES = 150 * 1024 * 1024;

export const graphMailOptionsSchema = z.object(
  {
    connectionId: connectionId().meta({
      description: 'The authorized connection of type `exchangeMicrosoft` (`Mail.Send`): the mail is sent as its account.',
    }),
    to: text().meta({ description: 'The recipients: an address *template*, comma-separated; each item must render to one address.' }),
    cc: text().optional().meta({ description: 'Copies: an address *template*, as `to`.' }),
    bcc: text().optional().meta({ description: 'Blind copies: an address *template*, as `to`.' }),
    subject: text().meta({ description: 'A *template*.' }),
    body: anyText().default('').meta({ description: 'The body, a *template* of text or HTML (`bodyType`).' }),
    bodyType: z
      .enum(['text', 'html'], { error: 'must be "text" or "html"' })
      .default('text')
      .meta({ description: '`text` or `html`: with `html` the template is HTML and every value in it is HTML-escaped.' }),
    saveToSentItems: flag()
      .default(true)
      .meta({ description: "Keep a small message in the account's Sent Items (a large one, sent from a draft, always is)." }),
    // Checked before any request, nothing sent. Exchange Online counts the encoded MIME size, about a
    // third above the raw bytes: a message it still finds too large is refused at send (413, permanent).
    maxMessageBytes: wholeNumber(
      1,
      MAX_MESSAGE_BYTES,
      `must be a whole number of bytes from 1 to ${MAX_MESSAGE_BYTES} (150 MB, Exchange Online's largest)`,
    )
      .default(DEFAULT_MAX_MESSAGE_BYTES)
      .meta({
        description:
          "The largest message, attachments and body, in bytes, checked before sending. The default, 35 MiB, is Exchange Online's default limit; up to 150 MiB needs the mailbox's MaxSendSize raised.",
      }),
  },
  { error: 'must be an object with "connectionId", "to" and "subject"' },
);

export type GraphMailOptions = z.output<typeof graphMailOptionsSchema>;
