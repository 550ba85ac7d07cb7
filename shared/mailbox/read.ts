/**
 * The backstop: reads a source's folder with its delta query and queues every message found, so
 * that a lost notification, or an app that was down, loses nothing (the queue worker skips a
 * message that is no longer in the folder, and makes no second job of one it stored).
 *
 * The delta link is stored only after its round was queued completely. A full round (no link)
 * lists every message still in the folder, i.e. everything not yet taken in (taken-in messages
 * leave it): it is run the first time, when the folder changed, once a day, and after any
 * problem since the last complete round (a message whose work failed is then found again).
 */
import { forEachLimited } from '../concurrency';
import { GraphError } from '../graph';
import { describeError } from '../log';
import { mailboxGraphOf } from './graph';
import type { MailboxDeps } from './index';
import type { MailboxSource } from './source';
import { sourceOf } from './sources';

const FULL_ROUND_EVERY_MS = 24 * 3_600_000;

export interface ReadResult {
  queued: number;
  fullRound: boolean;
}

export async function readSource(source: MailboxSource, deps: MailboxDeps): Promise<ReadResult> {
  try {
    const graph = mailboxGraphOf(source, deps);
    const folderId = await graph.folderId(source.folder);
    if (!folderId) throw new Error(`The folder '${source.folder}' does not exist in ${source.mailbox}.`);
    const [previous, status] = await Promise.all([deps.state.deltaLinks.get(source.id), deps.state.status(source.id)]);
    const stale =
      !previous ||
      previous.scope !== folderId ||
      Date.now() - previous.updatedAt.getTime() > FULL_ROUND_EVERY_MS ||
      (status.problemAt !== undefined && status.problemAt >= previous.updatedAt);
    let fullRound = stale;
    let link = stale ? undefined : previous.deltaLink;
    let queued = 0;
    let deltaLink: string | undefined;
    while (!deltaLink) {
      let page;
      try {
        page = await graph.delta(folderId, link);
      } catch (err) {
        // The folder is gone (deleted, or deleted and made again): look it up afresh next time.
        if (err instanceof GraphError && err.status === 404) graph.forgetFolder(source.folder);
        // An expired or unknown sync state (410 syncStateNotFound, or 400): start over with a full round.
        if (err instanceof GraphError && (err.status === 410 || err.status === 400) && !fullRound) {
          fullRound = true;
          link = undefined;
          continue;
        }
        throw err;
      }
      await Promise.all(page.ids.map((messageId) => deps.queue.enqueue({ kind: 'message', sourceId: source.id, messageId })));
      queued += page.ids.length;
      if (page.nextLink) link = page.nextLink;
      else if (page.deltaLink) deltaLink = page.deltaLink;
      else throw new Error('Microsoft Graph answered a delta page with neither a nextLink nor a deltaLink.');
    }
    await deps.state.deltaLinks.save(source.id, deltaLink, previous, folderId);
    await deps.state.noteStatus(source.id, { readAt: new Date() });
    if (queued) deps.log.info('mailbox: folder read', { source: source.id, queued, fullRound });
    return { queued, fullRound };
  } catch (err) {
    await noteProblem(source.id, err, deps);
    throw err;
  }
}

/** Every enabled source (four at a time); a source that fails is logged and noted, the others go on. */
export async function readAllSources(deps: MailboxDeps): Promise<{ read: number; failed: number; queued: number }> {
  const sources = (await deps.sources.list()).map(sourceOf).filter((s) => s?.enabled) as MailboxSource[];
  const result = { read: 0, failed: 0, queued: 0 };
  await forEachLimited(sources, 4, async (source) => {
    try {
      result.queued += (await readSource(source, deps)).queued;
      result.read++;
    } catch (err) {
      result.failed++;
      deps.log.warn('mailbox: reading a source failed; the next run tries again', { source: source.id, ...describeError(err) });
    }
  });
  return result;
}

/** Notes a problem on the source's status (shown in the console), never failing itself. */
export async function noteProblem(sourceId: string, err: unknown, deps: Pick<MailboxDeps, 'state' | 'log'>): Promise<void> {
  const message = err instanceof Error ? err.message : String(err);
  await deps.state.noteStatus(sourceId, { problem: message }).catch((e: unknown) => {
    deps.log.warn('mailbox: recording a problem failed', { source: sourceId, ...describeError(e) });
  });
}
