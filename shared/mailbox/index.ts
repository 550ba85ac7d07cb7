/**
 * Mailbox ingest: scan jobs from a mailbox. Printers that can only scan to e-mail mail a
 * ScanRelay mailbox; each message's attachments become one scan job, routed and delivered as any
 * Extension scan (docs/mailbox-ingest.md).
 *
 * - Near real time: a Graph change-notification subscription per source (new messages in its
 *   folder). The notification endpoint checks each notification's clientState and queues the
 *   message (notifications.ts); the subscription timer creates and renews subscriptions
 *   (subscriptions.ts).
 * - Backstop: a timer reads each folder with its delta query (stored delta link), and queues
 *   what it finds, so a lost notification or an app that was down loses nothing (read.ts).
 * - The queue worker takes in one message at a time (message.ts): exactly one job per message.
 */
import type { IngestDeps } from '../ingest';
import type { Logger } from '../log';
import {
  mailboxWorkOf,
  type MailboxMessageRepository,
  type MailboxQueue,
  type MailboxSourceRepository,
  type MailboxStateRepository,
  type ScanJobRepository,
} from '../storage';
import { mailboxGraphOf, type MailboxAccess } from './graph';
import { takeInMessage } from './message';
import { noteProblem, readSource } from './read';
import type { MailboxSource } from './source';
import { sourceOf } from './sources';
import { handleLifecycleEvent } from './subscriptions';

export { MAILBOX_KEY_PREFIX, mailboxKey, takeInMessage, type TakeInResult } from './message';
export { MailboxGraph, MAILBOX_CONCURRENCY, mailboxGraphOf, type MailboxAccess } from './graph';
export { mailboxSourceSchema, senderAllowed, typeAllowed, SOURCE_ID, type MailboxSource, type MailboxSourceOptions } from './source';
export { acceptNotifications, acceptLifecycleNotifications, type NotificationAnswer, type NotificationDeps } from './notifications';
export { keepSubscriptions, type SubscriptionRun } from './subscriptions';
export { readAllSources, readSource, type ReadResult } from './read';
export * from './sources';

export interface MailboxDeps extends MailboxAccess {
  sources: Pick<MailboxSourceRepository, 'get' | 'list'>;
  state: MailboxStateRepository;
  messages: Pick<MailboxMessageRepository, 'record'>;
  queue: Pick<MailboxQueue, 'enqueue'>;
  ingest: IngestDeps;
  scanJobs: Pick<ScanJobRepository, 'getClaim'>;
  /** Where Graph sends change notifications and lifecycle notifications; undefined: no public URL, the backstop only. */
  notificationUrls?: { notifications: string; lifecycle: string };
  /** The UPN of the directory's user with this address, when there is one. */
  findUserName(address: string): Promise<string | undefined>;
  log: Logger;
}

/** Sources read recently, per repository and id: a burst of messages costs one read; a change applies within seconds. */
const sourceCaches = new WeakMap<object, Map<string, { source: MailboxSource | undefined; until: number }>>();
const SOURCE_CACHE_MS = 5_000;

async function cachedSource(id: string, deps: Pick<MailboxDeps, 'sources'>): Promise<MailboxSource | undefined> {
  let cache = sourceCaches.get(deps.sources);
  if (!cache) sourceCaches.set(deps.sources, (cache = new Map<string, { source: MailboxSource | undefined; until: number }>()));
  const kept = cache.get(id);
  if (kept && kept.until > Date.now()) return kept.source;
  const stored = await deps.sources.get(id);
  const source = stored && sourceOf(stored);
  if (cache.size > 1000) cache.clear();
  cache.set(id, { source, until: Date.now() + SOURCE_CACHE_MS });
  return source;
}

/**
 * The queue worker: one unit of mailbox work. A message of a source that is gone or disabled is
 * dropped; failures are thrown, so the queue retries (and the backstop reads the folder again).
 */
export async function runMailboxWork(message: unknown, deps: MailboxDeps): Promise<void> {
  const work = mailboxWorkOf(message);
  if (!work) {
    deps.log.warn('mailbox: a queue message that is not mailbox work was dropped');
    return;
  }
  const source = await cachedSource(work.sourceId, deps);
  if (!source?.enabled) {
    deps.log.info('mailbox: work for a source that is gone or disabled was dropped', { source: work.sourceId });
    return;
  }
  if (work.kind === 'read') {
    await readSource(source, deps); // notes its own problems
    return;
  }
  try {
    if (work.kind === 'lifecycle') {
      await handleLifecycleEvent(source, work.subscriptionId, work.event, deps);
      return;
    }
    const graph = mailboxGraphOf(source, deps);
    const folderId = await graph.folderId(source.folder);
    if (!folderId) throw new Error(`The folder '${source.folder}' does not exist in ${source.mailbox}.`);
    await takeInMessage(source, graph, folderId, work.messageId, deps);
  } catch (err) {
    // The next backstop read is a full round: a message that never makes it through is found again.
    await noteProblem(source.id, err, deps);
    throw err;
  }
}
