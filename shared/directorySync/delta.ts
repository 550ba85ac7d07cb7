/**
 * Delta rounds (https://learn.microsoft.com/graph/delta-query-overview): a round reads pages
 * until one carries `@odata.deltaLink`, the link the next round starts from. A link is stored only
 * after its round was applied completely, so a run that stops midway (throttling, a crash) is
 * resumed from the previous link, and applying a change twice is harmless. An expired token drops
 * the link and starts the round over in full.
 */
import type { DeltaLink } from '../storage';
import { DeltaExpiredError, DirectorySyncError } from './errors';
import type { SyncRun } from './run';

/** A complete round: the link to store, and the stored one it started from (its ETag guards the write). */
export interface DeltaRound {
  deltaLink: string;
  previous?: DeltaLink;
}

export interface RoundHandlers<T> {
  /** The round (re)starts; `full` when it reads everything rather than changes. */
  start(full: boolean): void;
  /** One page's items, in order. */
  page(items: T[]): Promise<void>;
}

/**
 * One delta round: from the stored deltaLink, or from `initial` (no link, a link for another
 * Graph host, or an expired token: then the link is dropped and the round starts over in full).
 */
export async function deltaRound<T extends { id: string }>(
  run: SyncRun,
  name: string,
  initial: string,
  handlers: RoundHandlers<T>,
): Promise<DeltaRound> {
  const { deps, reader } = run;
  let previous = await deps.deltaLinks.get(name);
  let link = initial;
  if (previous && reader.ownsLink(previous.deltaLink)) link = previous.deltaLink;
  else if (previous)
    deps.log.warn('directorySync: the stored delta link is for another Graph endpoint; reading everything', { query: name });
  for (;;) {
    const full = link === initial;
    handlers.start(full);
    try {
      for await (const page of reader.pages<T>(link)) {
        await handlers.page(page.value);
        const deltaLink = page['@odata.deltaLink'];
        if (deltaLink) return { deltaLink, previous };
      }
      throw new DirectorySyncError('graph', `Microsoft Graph ended the ${name} delta round without an @odata.deltaLink.`);
    } catch (err) {
      if (!(err instanceof DeltaExpiredError)) throw err;
      if (full) throw new DirectorySyncError('graph', err.message);
      deps.log.info('directorySync: the delta token expired; reading everything again', { query: name, code: err.code });
      if (previous) await deps.deltaLinks.remove(name, previous);
      previous = undefined;
      link = initial;
    }
  }
}

/** Stores the round's link, unless another run stored one meanwhile (then that one is kept). */
export async function saveLink(run: SyncRun, name: string, round: DeltaRound): Promise<void> {
  if (!(await run.deps.deltaLinks.save(name, round.deltaLink, round.previous))) {
    run.deps.log.warn('directorySync: another run stored a delta link meanwhile; keeping it', { query: name });
  }
}
