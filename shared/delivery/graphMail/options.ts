/**
 * The options of a `graphMail` destination, as a zod schema: who sends (`auth`: the account of a
 * connection, or the user a template names, with the app's own permissions), the message's
 * templates (addresses: shared/delivery/addresses.ts; an HTML body's values are HTML-escaped, its
 * markup is the administrator's) and its size limit. Each option belongs to one `auth`: the other
 * one's is refused, not ignored. Each option's description is its line in docs/destinations.md.
 */
import { z } from 'zod';
import { anyText, connectionId, flag, text, wholeNumber } from '../options';

/** Exchange Online's default message size limit. */
export const DEFAULT_MAX_MESSAGE_BYTES = 35 * 1024 * 1024;
/** Exchange Online's largest message (with raised mailbox limits) and Graph's largest attachment by upload session. */
export const MAX_MESSAGE_BYTES = 150 * 1024 * 1024;
/** Whom an application destination sends as, without a `from`: the scanning user. */
export const DEFAULT_FROM = '%userEmail%';

export const graphMailOptionsSchema = z
  .object(
    {
      auth: z.enum(['delegated', 'application'], { error: 'must be "delegated" or "application"' }).default('delegated').meta({
        description:
          "`delegated`: sent as the account that authorized `connectionId` (`/me`). `application`: the app registration's own token (client credentials; application permission `Mail.Send`, and `Mail.ReadWrite` for messages sent from a draft, best scoped to the scanning users' mailboxes with RBAC for Applications, see [Permissions](permissions.md); `OAUTH_TENANT` must be your tenant ID), sent as the user `from` names, into that user's Sent Items.",
      }),
      connectionId: connectionId()
        .optional()
        .meta({ description: 'With `delegated` (required there): the authorized connection of type `exchangeMicrosoft` (`Mail.Send`).' }),
      from: text('must be a template naming the sender, e.g. "%userEmail%"').optional().meta({
        description:
          "With `application`: an address *template* that must render to exactly one address, the mailbox the message is sent from; without it `%userEmail%`, the scanning user (the job's field, or the directory's e-mail of its `username`).",
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
        .meta({ description: "Keep a small message in the sender's Sent Items (a large one, sent from a draft, always is)." }),
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
            "The largest message, attachments and body, in bytes, checked before sending (nothing is sent above it). The default, 35 MiB, is Exchange Online's default limit; up to 150 MiB needs the mailbox's MaxSendSize raised.",
        }),
    },
    { error: 'must be an object with "to" and "subject" (and "connectionId", or "auth": "application")' },
  )
  .superRefine((o, ctx) => {
    const refuse = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (o.auth === 'delegated') {
      if (o.from !== undefined)
        refuse('from', 'is for "auth": "application"; a delegated destination sends as the account that authorized the connection');
      else if (o.connectionId === undefined) refuse('connectionId', 'must name an authorized connection');
    } else if (o.connectionId !== undefined) {
      refuse('connectionId', 'is for "auth": "delegated"; "application" sends with the app registration\'s own permissions');
    }
  })
  // connectionId is there for delegated: checked above.
  .transform(({ auth, connectionId, from, ...message }) =>
    auth === 'delegated' ? { ...message, auth, connectionId: connectionId! } : { ...message, auth, from: from ?? DEFAULT_FROM },
  );

export type GraphMailOptions = z.output<typeof graphMailOptionsSchema>;
