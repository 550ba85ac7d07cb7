/**
 * A mailbox source: a mailbox folder ScanRelay reads, the access it reads it with, which
 * messages it accepts, and what happens to a message once its job is stored. Validated as a
 * zod schema (each option's description is its line in docs/mailbox-ingest.md).
 */
import { z } from 'zod';
import { connectionId, flag, text, wholeNumber } from '../delivery/options';

/** A source's id: as a destination's, lowercase letters, digits and dashes. */
export const SOURCE_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;
/** `user@domain`, nothing else (no display name, no list). */
const ADDRESS = /^[^\s@<>()[\],;:"\\\p{Cc}]+@[^\s@<>()[\],;:"\\\p{Cc}]+\.[^\s@<>()[\],;:"\\\p{Cc}]+$/u;
/** `contoso.com` or `@contoso.com`. */
const DOMAIN = /^@?([a-z0-9-]+\.)+[a-z0-9-]+$/i;
/** A folder path below the mailbox's root: display names joined with `/`, or a well-known name. */
const FOLDER_PATH = /^[^/\p{Cc}]+(\/[^/\p{Cc}]+)*$/u;

/** Exchange Online's default message size limit. */
export const DEFAULT_MAX_MESSAGE_BYTES = 35 * 1024 * 1024;
/** Exchange Online's largest message (with raised mailbox limits). */
export const MAX_MESSAGE_BYTES = 150 * 1024 * 1024;
/** What multifunction printers and capture products send. */
export const DEFAULT_ATTACHMENT_TYPES = ['pdf', 'tif', 'tiff', 'jpg', 'jpeg', 'png', 'xps', 'oxps', 'docx', 'xlsx', 'pptx', 'txt'];

const folderPath = (error: string) =>
  z
    .string({ error })
    .transform((v) => v.trim())
    .refine((v) => FOLDER_PATH.test(v) && v.split('/').every((s) => s.trim() === s && s.length <= 255), { error });

export const mailboxSourceSchema = z
  .object(
    {
      mailbox: z
        .string({ error: 'must be the mailbox address (UPN), e.g. scans@contoso.com' })
        .transform((v) => v.trim().toLowerCase())
        .refine((v) => ADDRESS.test(v) && v.length <= 254, { error: 'must be the mailbox address (UPN), e.g. scans@contoso.com' })
        .meta({ description: 'The mailbox the printers mail to, by its address (UPN).' }),
      folder: folderPath('must be a folder path such as "Inbox" or "Inbox/Scans"').default('Inbox').meta({
        description: 'The folder read: a well-known name (`Inbox`) or a path of display names below the mailbox (`Inbox/Scans`).',
      }),
      access: z.enum(['delegated', 'application'], { error: 'must be "delegated" or "application"' }).default('delegated').meta({
        description:
          "`delegated`: the mailbox of the account that authorized `connectionId` (a connection of type `mailboxIngest`, `Mail.ReadWrite`). `application`: the app registration's own token (application permission `Mail.ReadWrite`, scoped to this mailbox with RBAC for Applications; `OAUTH_TENANT` must be your tenant ID).",
      }),
      connectionId: connectionId()
        .optional()
        .meta({ description: 'With `delegated` (required there): the authorized `mailboxIngest` connection.' }),
      workflowName: text('must be the workflow name its jobs get, e.g. "Scan to e-mail"')
        .refine((v) => !/\p{Cc}/u.test(v) && v.length <= 200, { error: 'must be at most 200 characters, no control characters' })
        .meta({ description: 'The `workflowName` every job of this mailbox gets: destinations route on it as on an Extension scan.' }),
      allowedSenders: z
        .array(
          z
            .string({ error: 'must be an address, a domain or "*"' })
            .transform((v) => v.trim().toLowerCase())
            .refine((v) => v === '*' || ADDRESS.test(v) || DOMAIN.test(v), {
              error: 'must be an address, a domain ("contoso.com") or "*"',
            }),
          { error: 'must be a list of addresses and domains' },
        )
        .min(1, { error: 'must name at least one address or domain ("*" accepts any sender)' })
        .meta({
          description:
            'Who may send: addresses (`mfp-3@contoso.com`), domains (`contoso.com`) or `*` for anyone. A message from anyone else is moved to the rejected folder.',
        }),
      attachmentTypes: z
        .array(
          z
            .string({ error: 'must be a file extension or "*"' })
            .transform((v) => v.trim().toLowerCase().replace(/^\./, ''))
            .refine((v) => v === '*' || /^[a-z0-9]{1,10}$/.test(v), { error: 'must be a file extension ("pdf") or "*"' }),
          { error: 'must be a list of file extensions' },
        )
        .min(1, { error: 'must name at least one file extension ("*" accepts any)' })
        .default(DEFAULT_ATTACHMENT_TYPES)
        .meta({
          description:
            'The file extensions taken as scan files (`*`: any); other attachments are left out. The default is what printers and capture products send.',
        }),
      includeInline: flag()
        .default(false)
        .meta({ description: 'Also take inline images (a signature logo, pictures in the body) as files.' }),
      includeAttachedMessages: flag().default(false).meta({ description: 'Also take attached e-mails, each as a `.eml` file.' }),
      maxMessageBytes: wholeNumber(1, MAX_MESSAGE_BYTES, `must be a whole number of bytes from 1 to ${MAX_MESSAGE_BYTES}`)
        .default(DEFAULT_MAX_MESSAGE_BYTES)
        .meta({
          description:
            "The largest total of a message's files, in bytes (default 35 MiB, Exchange Online's default limit). A larger message is rejected.",
        }),
      afterStored: z
        .enum(['move', 'deletedItems', 'delete'], { error: 'must be "move", "deletedItems" or "delete"' })
        .default('move')
        .meta({
          description:
            'What happens to a message once its job is stored: `move` to `processedFolder`, move to `deletedItems`, or `delete` permanently.',
        }),
      processedFolder: folderPath('must be a folder path such as "ScanRelay/Processed"')
        .default('ScanRelay/Processed')
        .meta({ description: 'With `move`: where stored messages go (created when missing).' }),
      rejectedFolder: folderPath('must be a folder path such as "ScanRelay/Rejected"').default('ScanRelay/Rejected').meta({
        description: 'Where rejected messages go, with the reason recorded (created when missing). Rejected messages are never deleted.',
      }),
      enabled: flag().default(true).meta({ description: 'A disabled source is not read, and its subscription is removed.' }),
    },
    { error: 'must be an object with "mailbox", "workflowName" and "allowedSenders"' },
  )
  .strict()
  .superRefine((o, ctx) => {
    const refuse = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (o.access === 'delegated' && o.connectionId === undefined)
      refuse('connectionId', 'must name an authorized mailboxIngest connection');
    if (o.access === 'application' && o.connectionId !== undefined)
      refuse('connectionId', 'is for "access": "delegated"; "application" uses the app registration\'s own permissions');
    const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
    if (same(o.folder, o.rejectedFolder)) refuse('rejectedFolder', 'must differ from "folder"');
    if (o.afterStored === 'move' && same(o.folder, o.processedFolder)) refuse('processedFolder', 'must differ from "folder"');
  });

export type MailboxSourceOptions = z.output<typeof mailboxSourceSchema>;

/** A stored source: its id, options, and who changed it last. */
export interface MailboxSource extends MailboxSourceOptions {
  id: string;
  updatedAt: Date;
  updatedBy: string;
  etag: string;
}

/** True when `address` may send to this source. */
export function senderAllowed(address: string, allowed: readonly string[]): boolean {
  const a = address.trim().toLowerCase();
  const domain = a.slice(a.lastIndexOf('@') + 1);
  return allowed.some((rule) => rule === '*' || rule === a || (!rule.includes('@', 1) && rule.replace(/^@/, '') === domain));
}

/** True when a file of this name is of an accepted type. */
export function typeAllowed(name: string, types: readonly string[]): boolean {
  if (types.includes('*')) return true;
  const dot = name.lastIndexOf('.');
  return dot > 0 && types.includes(name.slice(dot + 1).toLowerCase());
}
