/**
 * Taking in one message of a mailbox source: read it, accept or reject it, store its files as a
 * scan job (shared/ingest's ingestFiles: the same blobs, record and queue message, all or
 * nothing), then move or delete it.
 *
 * Exactly once: the job's idempotency key is `mailbox:<mailbox>/<Internet message ID>`. A message
 * is moved or deleted only after its job is stored; a crash in between leaves it in the folder, and
 * the next notification or delta read finds the key stored and only moves it. A message whose key
 * is stored already is not downloaded again. A rejected message is moved to the rejected folder,
 * with its code and reason recorded, never deleted.
 */
import { AppError } from '../errors';
import { ingestFiles, MAILBOX_KEY_PREFIX, type IngestDeps, type JobFile } from '../ingest';
import { describeError, type Logger } from '../log';
import type { MailboxMessageRecord, MailboxMessageRepository, ScanJobRepository } from '../storage';
import type { AttachmentInfo, MailboxGraph, MessageInfo } from './graph';
import { senderAllowed, typeAllowed, type MailboxSource } from './source';

export { MAILBOX_KEY_PREFIX };

export function mailboxKey(mailbox: string, internetMessageId: string): string {
  return `${MAILBOX_KEY_PREFIX}${mailbox.toLowerCase()}/${internetMessageId}`;
}

export interface TakeInDeps {
  ingest: IngestDeps;
  scanJobs: Pick<ScanJobRepository, 'getClaim'>;
  messages: Pick<MailboxMessageRepository, 'record'>;
  /** The UPN of the directory's user with this address, when there is one. */
  findUserName(address: string): Promise<string | undefined>;
  log: Logger;
}

export type TakeInResult =
  | { outcome: 'stored' | 'duplicate'; jobId: string }
  | { outcome: 'rejected'; code: Rejection['code'] }
  /** Not in the source's folder (already handled, or moved away by someone). */
  | { outcome: 'skipped' };

class Rejection extends Error {
  constructor(
    readonly code: 'sender_not_allowed' | 'no_usable_attachment' | 'message_too_large',
    message: string,
  ) {
    super(message);
  }
}

export async function takeInMessage(
  source: MailboxSource,
  graph: MailboxGraph,
  folderId: string,
  messageId: string,
  deps: TakeInDeps,
): Promise<TakeInResult> {
  const message = await graph.message(messageId);
  if (!message || message.parentFolderId !== folderId) return { outcome: 'skipped' };
  const key = mailboxKey(source.mailbox, message.internetMessageId);
  const claim = await deps.scanJobs.getClaim(key);
  if (claim?.status === 'stored') return finish(source, graph, message, { outcome: 'duplicate', jobId: claim.jobId }, deps);

  try {
    const sender = message.from?.address ?? '';
    if (!sender || !senderAllowed(sender, source.allowedSenders)) {
      throw new Rejection('sender_not_allowed', `The sender '${sender.slice(0, 200) || '(none)'}' is not in allowedSenders.`);
    }
    const files = usableFiles(source, await graph.attachments(message.id), deps.ingest.limits);
    const fields = await fieldsOf(source, message, deps);
    const jobFiles: JobFile[] = files.map((a) => ({
      field: `attachment${a.kind === 'item' ? ':item' : ''}`,
      name: a.kind === 'item' ? `${fileStem(a.name) || 'message'}.eml` : a.name,
      declaredType: a.kind === 'item' ? 'message/rfc822' : a.contentType,
      open: (signal) => graph.openAttachment(message.id, a.id, signal),
    }));
    const stored = await ingestFiles({ fields, scanJobId: key, files: jobFiles }, { ...deps.ingest, log: deps.log });
    return finish(source, graph, message, { outcome: stored.duplicate ? 'duplicate' : 'stored', jobId: stored.jobId }, deps);
  } catch (err) {
    const rejection =
      err instanceof Rejection
        ? err
        : err instanceof AppError && (err.code === 'file_too_large' || err.code === 'too_many_files')
          ? new Rejection('message_too_large', err.message)
          : err instanceof AppError && err.code === 'empty_file'
            ? new Rejection('no_usable_attachment', err.message)
            : undefined;
    if (!rejection) throw err;
    await reject(source, graph, message, rejection, deps);
    return { outcome: 'rejected', code: rejection.code };
  }
}

/** The attachments taken as files, or a Rejection. */
function usableFiles(source: MailboxSource, attachments: AttachmentInfo[], limits: IngestDeps['limits']): AttachmentInfo[] {
  const files = attachments.filter((a) => {
    if (a.size <= 0) return false;
    if (a.kind === 'item') return source.includeAttachedMessages;
    if (a.kind !== 'file') return false;
    if (a.isInline && !source.includeInline) return false;
    return typeAllowed(a.name, source.attachmentTypes);
  });
  if (files.length === 0) {
    const what = attachments.length === 0 ? 'no attachment' : `${attachments.length} attachment(s), none of an accepted type`;
    throw new Rejection('no_usable_attachment', `The message has ${what} (attachmentTypes: ${source.attachmentTypes.join(', ')}).`);
  }
  if (files.length > limits.maxFiles)
    throw new Rejection(
      'message_too_large',
      `The message has ${files.length} files; at most ${limits.maxFiles} are taken (SCAN_MAX_FILES).`,
    );
  const big = files.find((f) => f.size > limits.maxFileBytes * 1.05 + 4096);
  if (big)
    throw new Rejection(
      'message_too_large',
      `The attachment '${printable(big.name)}' has ${big.size} bytes, over SCAN_MAX_FILE_BYTES (${limits.maxFileBytes}).`,
    );
  // Graph's attachment size includes a little metadata: the real bytes are checked again while they stream.
  const total = files.reduce((n, f) => n + f.size, 0);
  if (total > source.maxMessageBytes * 1.05 + 4096)
    throw new Rejection('message_too_large', `The message's files total ${total} bytes, over maxMessageBytes (${source.maxMessageBytes}).`);
  return files;
}

async function fieldsOf(source: MailboxSource, m: MessageInfo, deps: TakeInDeps): Promise<Record<string, string>> {
  const address = m.from!.address;
  const fields: Record<string, string> = {
    userEmail: address,
    mailSubject: printable(m.subject, 1000),
    mailFrom: m.from!.name ? `${printable(m.from!.name, 200)} <${address}>` : address,
    mailReceivedAt: m.receivedDateTime ?? '',
    internetMessageId: m.internetMessageId,
    mailbox: source.mailbox,
    workflowName: source.workflowName,
  };
  try {
    const userName = await deps.findUserName(address);
    if (userName) fields.username = userName;
  } catch (err) {
    deps.log.warn('mailbox: looking the sender up in the directory failed; the job has no username', {
      source: source.id,
      ...describeError(err),
    });
  }
  return fields;
}

/** Records the outcome, then moves or deletes the message as the source says. */
async function finish(
  source: MailboxSource,
  graph: MailboxGraph,
  message: MessageInfo,
  result: { outcome: 'stored' | 'duplicate'; jobId: string },
  deps: TakeInDeps,
): Promise<TakeInResult> {
  await deps.messages.record({ ...recordOf(source, message), outcome: result.outcome, jobId: result.jobId });
  if (source.afterStored === 'delete') await graph.deletePermanently(message.id);
  else await moveTo(graph, message.id, source.afterStored === 'move' ? source.processedFolder : 'deleteditems');
  deps.log.info(result.outcome === 'stored' ? 'mailbox: message stored as a job' : 'mailbox: message already stored; moved', {
    source: source.id,
    jobId: result.jobId,
  });
  return result;
}

async function reject(source: MailboxSource, graph: MailboxGraph, message: MessageInfo, r: Rejection, deps: TakeInDeps): Promise<void> {
  await deps.messages.record({ ...recordOf(source, message), outcome: 'rejected', code: r.code, reason: r.message });
  await moveTo(graph, message.id, source.rejectedFolder);
  deps.log.warn('mailbox: message rejected and moved to the rejected folder', { source: source.id, code: r.code, reason: r.message });
}

/** Moves a message to a folder path (created when missing); a folder deleted since it was looked up is looked up again. */
async function moveTo(graph: MailboxGraph, messageId: string, folderPath: string): Promise<void> {
  const target = folderPath === 'deleteditems' ? folderPath : (await graph.folderId(folderPath, true))!;
  if (await graph.move(messageId, target)) return;
  if (folderPath !== 'deleteditems' && (await graph.message(messageId))) {
    graph.forgetFolder(folderPath);
    await graph.move(messageId, (await graph.folderId(folderPath, true))!);
  }
}

function recordOf(source: MailboxSource, m: MessageInfo): Omit<MailboxMessageRecord, 'outcome'> {
  return {
    sourceId: source.id,
    internetMessageId: m.internetMessageId,
    subject: printable(m.subject, 300),
    from: m.from?.address ?? '',
    receivedAt: m.receivedDateTime ? new Date(m.receivedDateTime) : undefined,
    at: new Date(),
  };
}

/** Text without control characters, at most `max` characters. */
function printable(s: string, max = 200): string {
  return [...s.replace(/[\p{Cc}]/gu, ' ')].slice(0, max).join('');
}

function fileStem(name: string): string {
  return printable(name, 150)
    .replace(/[\\/:*?"<>|]/g, '_')
    .trim();
}
