/**
 * E-mail through Microsoft Graph (successor of the Exchange Web Services connector): sends a job's
 * files as attachments of one message, so that it lands in the sender's Sent Items. Who sends:
 * - `auth: "delegated"` (default): the user who authorized the connection (`/me/...`, delegated
 *   Mail.Send of an `exchangeMicrosoft` connection);
 * - `auth: "application"`: the app registration's own token (client credentials, application
 *   Mail.Send, and Mail.ReadWrite for the draft of a large message), sending as the user `from`
 *   names (a template, default `%userEmail%`: the scanning user), `/users/{address}/...` with the
 *   address URL-encoded. The rendered sender must be exactly one plain address (addresses.ts'
 *   rules, and nothing that could change the path: no `/ \ ? # %`, no `..`); a job without one
 *   fails permanently, naming what to fix.
 *
 * Options: see options.ts.
 *
 * Sending (https://learn.microsoft.com/graph/api/user-sendmail, message-send,
 * attachment-createuploadsession, https://learn.microsoft.com/graph/outlook-large-attachments),
 * `<mailbox>` being `/me` or `/users/{address}`:
 * - small (the base64 JSON request below SENDMAIL_REQUEST_BYTES, under Graph's 4 MB request limit):
 *   one `POST <mailbox>/sendMail` with the attachments as base64 `contentBytes` (files read into
 *   memory, they are small) → 202. Graph returns no id: the result's remoteId is `sendMail:<jobId>`.
 * - large: `POST <mailbox>/messages` (a draft) → id; each file below 3 MB is attached with
 *   `POST <mailbox>/messages/{id}/attachments` (base64), each larger one through
 *   `POST .../attachments/createUploadSession` and a streamed chunked upload (uploadToSession:
 *   320 KiB-multiple chunks below 4 MB, resumed after an interruption, no Authorization header to
 *   the pre-authenticated upload URL); then `POST <mailbox>/messages/{id}/send` → 202. The draft is
 *   created with `Prefer: IdType="ImmutableId"`, so its id (the result's remoteId) stays valid once
 *   the message has moved to Sent Items. If anything fails after the draft was created, the draft
 *   is deleted (best effort), so a retry does not leave drafts behind.
 *
 * Everything is rendered and checked before the first request (and before a token is asked for):
 * the sender, the recipients, the templates, and the size limit (maxMessageBytes).
 *
 * HTTP, throttling (429/503 + Retry-After), one token renewal on 401 and the mapping of Graph errors
 * to permanent (4xx) or transient (5xx, network) delivery errors are the Graph client's (../graph).
 * A connection that must be authorized again (or is gone) is a PermanentDeliveryError; so is a 403
 * in application mode, with what to grant for that mailbox.
 *
 * Idempotency: the deliverer delivers once per (job, destination); only a crash (or a lost
 * response) between Graph accepting the send and the delivery being recorded can send the message
 * twice on the retry. Mail cannot be recalled, so that window is accepted.
 *
 * Attachment names are the sender's (untrusted): control and bidirectional-override characters are
 * removed, other Unicode is kept.
 */
import type { Readable } from 'node:stream';
import { renderAddresses, type MailAddress } from '../addresses';
import { DEFAULT_CHUNK_BYTES, graphFor, uploadToSession, type DeliveryGraph } from '../graph';
import { parseOptions } from '../options';
import { previewAddresses, previewTemplate } from '../preview';
import { MissingVariableError, renderTemplate } from '../template';
import {
  PermanentDeliveryError,
  TransientDeliveryError,
  type Connector,
  type DeliveryContext,
  type DeliveryFile,
  type DeliveryJob,
} from '../types';
import { graphMailOptionsSchema, type GraphMailOptions } from './options';
import { withMailboxSlot } from '../../graph/mailboxSlots';

export { DEFAULT_FROM, DEFAULT_MAX_MESSAGE_BYTES, graphMailOptionsSchema, MAX_MESSAGE_BYTES, type GraphMailOptions } from './options';

/** The largest sendMail request sent; Graph refuses requests over 4 MB (413). */
export const SENDMAIL_REQUEST_BYTES = 3.5 * 1024 * 1024;
/** Attachments from this size go through an upload session ("If the file size is under 3 MB, do a single POST"). */
export const SESSION_ATTACHMENT_BYTES = 3_000_000;
/** What a message's JSON (subject, body, recipients, attachment metadata) adds to its files when paced: generously. */
const UPLOAD_ALLOWANCE_BYTES = 64 * 1024;

/** The body: a text template, or an HTML template whose rendered values are HTML-escaped one by one. */
export function renderBody(template: string, fields: Readonly<Record<string, string>>, bodyType: 'text' | 'html'): string {
  return renderTemplate(template, fields, bodyType);
}

/** The sender's file name, safe to show: no control or bidi-override characters (an `exe` cannot pose as a `pdf`), Unicode kept. */
export function attachmentName(name: string): string {
  const cleaned = name.replace(/[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, '').trim();
  return [...(cleaned || 'attachment')].slice(0, 255).join('');
}

/** What a sender address must not contain beyond addresses.ts' rules: nothing that acts in a URL path. */
const PATH_CHARACTERS = /[/\\?#%]|\.\.|^\.|\.@/;

/**
 * The mailbox an application destination sends from: `from` rendered as one plain address (the
 * mail header escaping and the strict parser of addresses.ts, then no character that could change
 * the `/users/{address}` path). A job without the variable, or with a value that is not one
 * address, is a PermanentDeliveryError that says what to fix.
 */
export function renderSender(template: string, fields: Readonly<Record<string, string>>): string {
  let list: MailAddress[];
  try {
    list = renderAddresses(template, fields, 'from');
  } catch (err) {
    if (err instanceof MissingVariableError) {
      throw new PermanentDeliveryError(
        'missing_variable',
        `"from" ('${template}') needs %${err.variable}%, which this scan job does not have (or has empty), so there is no mailbox to send from. ` +
          (err.variable === 'userEmail'
            ? 'Have the scanner send the user\'s e-mail address, or provision the user (SCIM or directory sync) so that delivery finds it from the job\'s username; or set "from" to a fixed mailbox.'
            : 'Have the scanner send it, or change "from".'),
      );
    }
    throw err;
  }
  const shown = (a: MailAddress) => (a.name ? `${a.name} <${a.address}>` : a.address).slice(0, 200);
  if (list.length !== 1)
    throw new PermanentDeliveryError(
      'invalid_address',
      `"from" rendered to ${list.length} addresses; it must name exactly one mailbox to send from.`,
    );
  const [sender] = list as [MailAddress];
  if (sender.name !== '')
    throw new PermanentDeliveryError(
      'invalid_address',
      `"from": '${shown(sender)}' has a display name; it must be the sending mailbox's address alone (its own name is shown).`,
    );
  if (PATH_CHARACTERS.test(sender.address))
    throw new PermanentDeliveryError('invalid_address', `"from": '${shown(sender)}' is not a mailbox address that can be sent from.`);
  return sender.address;
}

interface GraphRecipient {
  emailAddress: { address: string; name?: string };
}

const recipients = (list: MailAddress[] | undefined): GraphRecipient[] =>
  (list ?? []).map((a) => ({ emailAddress: a.name ? { address: a.address, name: a.name } : { address: a.address } }));

interface FileAttachment {
  '@odata.type': '#microsoft.graph.fileAttachment';
  name: string;
  contentType: string;
  contentBytes: string;
}

function contentTypeOf(file: DeliveryFile): string {
  return file.contentType && file.contentType.trim() !== '' ? file.contentType : 'application/octet-stream';
}

async function readSmallFile(file: DeliveryFile): Promise<Buffer> {
  const stream: Readable = await file.open();
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const piece of stream) {
      const b = piece as Buffer;
      n += b.length;
      if (n > file.size) break;
      parts.push(b);
    }
  } finally {
    stream.destroy();
  }
  if (n !== file.size)
    throw new TransientDeliveryError(
      'upload_interrupted',
      `The stored file '${attachmentName(file.name)}' has ${n > file.size ? 'more' : 'fewer'} bytes than its recorded size ${file.size}.`,
    );
  return Buffer.concat(parts, n);
}

async function fileAttachment(file: DeliveryFile): Promise<FileAttachment> {
  return {
    '@odata.type': '#microsoft.graph.fileAttachment',
    name: attachmentName(file.name),
    contentType: contentTypeOf(file),
    contentBytes: (await readSmallFile(file)).toString('base64'),
  };
}

/** The sendMail request's size: the JSON without the files plus, per file, its metadata and base64 length. */
function sendMailRequestBytes(message: Record<string, unknown>, files: readonly DeliveryFile[]): number {
  let n = Buffer.byteLength(JSON.stringify({ message: { ...message, attachments: [] }, saveToSentItems: true }));
  for (const f of files) {
    const meta: FileAttachment = {
      '@odata.type': '#microsoft.graph.fileAttachment',
      name: attachmentName(f.name),
      contentType: contentTypeOf(f),
      contentBytes: '',
    };
    n += Buffer.byteLength(JSON.stringify(meta)) + 1 + Math.ceil(f.size / 3) * 4;
  }
  return n;
}

/**
 * Errors from neither the Graph client nor its token source (reading the stored files): worth
 * retrying. A 403 when sending as `sender` (application mode) says what the app needs for it.
 */
function classify(err: unknown, sender: string | undefined): Error {
  if (err instanceof PermanentDeliveryError && err.code === 'permission_denied' && sender !== undefined) {
    return new PermanentDeliveryError(
      'permission_denied',
      `${err.message} The app registration may not send as '${sender}': grant it "Application Mail.Send" (and "Application Mail.ReadWrite" for large messages) for this mailbox with RBAC for Applications in Exchange Online, see docs/permissions.md.`,
      { cause: err.cause },
    );
  }
  if (err instanceof PermanentDeliveryError || err instanceof TransientDeliveryError) return err;
  return new TransientDeliveryError('destination_unavailable', `Microsoft Graph mail: ${(err as Error)?.message ?? String(err)}`);
}

export const graphMailConnector: Connector<GraphMailOptions> = {
  type: 'graphMail',
  optionsSchema: graphMailOptionsSchema,
  parseOptions: (raw) => parseOptions(graphMailOptionsSchema, raw),

  preview: (job, o) => [
    ...(o.auth === 'application' ? previewTemplate('from', o.from, () => renderSender(o.from, job.fields)) : []),
    ...previewAddresses('to', o.to, job.fields),
    ...previewAddresses('cc', o.cc, job.fields),
    ...previewAddresses('bcc', o.bcc, job.fields),
    ...previewTemplate('subject', o.subject, () => renderTemplate(o.subject, job.fields, 'header')),
    ...previewTemplate('body', o.body, () => renderBody(o.body, job.fields, o.bodyType)),
  ],

  // Sent from the connection's account (delegated) or from the mailbox `from` names (application):
  // one of its messages a minute, and what the requests upload to it (files in base64, at most).
  pace(job, o) {
    let key: string;
    if (o.auth === 'delegated') key = `connection:${o.connectionId}`;
    else {
      try {
        key = `mailbox:${renderSender(o.from, job.fields).toLowerCase()}`;
      } catch {
        return [];
      }
    }
    const bytes = job.files.reduce((n, f) => n + Math.ceil(f.size / 3) * 4, UPLOAD_ALLOWANCE_BYTES);
    return [
      { budget: 'exchangeMessages', key, amount: 1 },
      { budget: 'outlookUploadBytes', key, amount: bytes },
    ];
  },

  async deliver(job, options, context) {
    // Everything is rendered and checked before the first request.
    const sender = options.auth === 'application' ? renderSender(options.from, job.fields) : undefined;
    const message = {
      subject: renderTemplate(options.subject, job.fields, 'header'),
      body: { contentType: options.bodyType, content: renderBody(options.body, job.fields, options.bodyType) },
      toRecipients: recipients(renderAddresses(options.to, job.fields, 'to')),
      ccRecipients: recipients(options.cc ? renderAddresses(options.cc, job.fields, 'cc') : undefined),
      bccRecipients: recipients(options.bcc ? renderAddresses(options.bcc, job.fields, 'bcc') : undefined),
    };
    const total = job.files.reduce((sum, f) => sum + f.size, Buffer.byteLength(message.body.content));
    if (total > options.maxMessageBytes) {
      throw new PermanentDeliveryError(
        'too_large',
        `The message (attachments and body) totals ${total} bytes, over this destination's limit of ${options.maxMessageBytes} bytes (maxMessageBytes); it was not sent.`,
      );
    }
    const graph =
      options.auth === 'application'
        ? graphFor(context, { kind: 'application' })
        : graphFor(context, { kind: 'delegated', connectionId: options.connectionId });
    const mailbox = sender === undefined ? '/me' : `/users/${encodeURIComponent(sender)}`;
    const send = async (): Promise<{ remoteId: string }> => {
      if (sendMailRequestBytes(message, job.files) <= SENDMAIL_REQUEST_BYTES) {
        const attachments: FileAttachment[] = [];
        for (const f of job.files) attachments.push(await fileAttachment(f));
        await graph.request(`${mailbox}/sendMail`, {
          method: 'POST',
          json: { message: { ...message, attachments }, saveToSentItems: options.saveToSentItems },
        });
        context.log.info('Graph mail sent with sendMail.', { jobId: job.jobId, files: job.files.length, bytes: total, auth: options.auth });
        return { remoteId: `sendMail:${job.jobId}` };
      }
      return sendLarge(graph, mailbox, job, message, context);
    };
    // One of the mailbox's 4 slots for the whole send (its requests go one after the other): a
    // burst of scans from one person waits its turn instead of drawing 429s (shared/graph/mailboxSlots.ts).
    const slot = options.auth === 'application' ? (sender ?? '') : `connection:${options.connectionId}`;
    try {
      return await withMailboxSlot(slot, send);
    } catch (err) {
      throw classify(err, sender);
    }
  },
};

/** Draft, attachments (small ones posted, large ones by upload session), send; the draft is deleted when that fails. */
async function sendLarge(
  graph: DeliveryGraph,
  mailbox: string,
  job: DeliveryJob,
  message: Record<string, unknown>,
  context: DeliveryContext,
): Promise<{ remoteId: string }> {
  const draft = await graph.json<{ id?: string }>(`${mailbox}/messages`, {
    method: 'POST',
    json: message,
    headers: { prefer: 'IdType="ImmutableId"' },
  });
  if (typeof draft.id !== 'string' || draft.id === '')
    throw new TransientDeliveryError('destination_unavailable', 'Microsoft Graph created the draft without an id.');
  const draftPath = `${mailbox}/messages/${encodeURIComponent(draft.id)}`;
  try {
    for (const file of job.files) {
      if (file.size < SESSION_ATTACHMENT_BYTES) {
        await graph.request(`${draftPath}/attachments`, { method: 'POST', json: await fileAttachment(file) });
        continue;
      }
      const session = await graph.json<{ uploadUrl?: string }>(`${draftPath}/attachments/createUploadSession`, {
        method: 'POST',
        json: {
          AttachmentItem: { attachmentType: 'file', name: attachmentName(file.name), size: file.size, contentType: contentTypeOf(file) },
        },
      });
      if (typeof session.uploadUrl !== 'string' || !/^https?:\/\//.test(session.uploadUrl)) {
        throw new TransientDeliveryError(
          'destination_unavailable',
          'Microsoft Graph created the attachment upload session without an upload URL.',
        );
      }
      await uploadToSession(graph, session.uploadUrl, await file.open(), file.size, DEFAULT_CHUNK_BYTES);
    }
    await graph.request(`${draftPath}/send`, { method: 'POST' });
  } catch (err) {
    try {
      await graph.request(draftPath, { method: 'DELETE', accept: [404] });
    } catch (deleteErr) {
      context.log.warn('The draft of a failed Graph mail delivery could not be deleted.', {
        jobId: job.jobId,
        reason: (deleteErr as Error).message?.slice(0, 300),
      });
    }
    throw err;
  }
  context.log.info('Graph mail sent from a draft.', { jobId: job.jobId, files: job.files.length });
  return { remoteId: draft.id };
}
