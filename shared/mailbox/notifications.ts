/**
 * Graph's change notifications and lifecycle notifications for mailbox sources, as the HTTP
 * functions hand them over (https://learn.microsoft.com/graph/change-notifications-delivery-webhooks):
 *
 * - validation: a POST with `validationToken` in the query is answered 200, text/plain, with the
 *   token, at once (Graph gives 10 seconds);
 * - a notification is accepted with 202 as soon as its work is queued (Graph wants an answer
 *   within 3 seconds, and retries a 5xx): each item's clientState must hash to the one stored for
 *   its subscription (compared in constant time); an item that does not is ignored and logged,
 *   never acted on, and the answer is the same 202 (no oracle for a forger).
 */
import { timingSafeEqual } from 'node:crypto';
import {
  LIFECYCLE_EVENTS,
  type LifecycleEvent,
  type MailboxQueue,
  type MailboxStateRepository,
  type MailboxSubscription,
  type MailboxWork,
} from '../storage';
import type { Logger } from '../log';
import { clientStateHash } from './subscriptions';

export type NotificationAnswer = { status: 200; text: string } | { status: 202 } | { status: 400; text: string };

export interface NotificationDeps {
  state: Pick<MailboxStateRepository, 'subscriptions'>;
  queue: Pick<MailboxQueue, 'enqueue'>;
  log: Logger;
}

/** One item of a notification's `value` as it arrives: nothing in it is trusted before its clientState is checked. */
interface NotificationItem {
  subscriptionId?: unknown;
  clientState?: unknown;
  lifecycleEvent?: unknown;
  resourceData?: { id?: unknown };
}

/** The largest validation token echoed (Graph's are far shorter). */
const MAX_TOKEN_CHARS = 2048;
/**
 * The subscriptions, all of them (a few per source): read at most every 30 seconds, and once more
 * in a request that names an id not among them (a subscription created since, maybe by another
 * instance). So a forger's made-up ids cost one read per request, not one per id.
 */
interface Known {
  byId: Map<string, MailboxSubscription>;
  readAt: number;
}
const known = new WeakMap<object, Known>();
const FRESH_MS = 30_000;

async function subscriptionOf(id: string, deps: NotificationDeps, request: { reread: boolean }): Promise<MailboxSubscription | undefined> {
  let k = known.get(deps.state);
  if (!k || Date.now() - k.readAt > FRESH_MS || (!k.byId.has(id) && !request.reread)) {
    request.reread = true;
    k = { byId: new Map((await deps.state.subscriptions()).map((s) => [s.subscriptionId, s])), readAt: Date.now() };
    known.set(deps.state, k);
  }
  return k.byId.get(id);
}

function validation(token: string | null): NotificationAnswer | undefined {
  if (token === null) return undefined;
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS) return { status: 400, text: 'Bad validation token.' };
  return { status: 200, text: token };
}

/** The items of a notification body, each with its subscription when its clientState is right. */
async function verified(
  body: unknown,
  deps: NotificationDeps,
  kind: string,
): Promise<Array<{ item: NotificationItem; sub: MailboxSubscription }>> {
  const items = (body as { value?: unknown } | undefined)?.value;
  if (!Array.isArray(items)) {
    deps.log.warn(`mailbox: a ${kind} without a value list was ignored`);
    return [];
  }
  const out: Array<{ item: NotificationItem; sub: MailboxSubscription }> = [];
  const request = { reread: false };
  for (const item of items.slice(0, 1000) as Array<NotificationItem | null>) {
    if (!item || typeof item !== 'object') continue;
    const id = typeof item.subscriptionId === 'string' ? item.subscriptionId.slice(0, 100) : '';
    const sub = id ? await subscriptionOf(id, deps, request) : undefined;
    const given = typeof item.clientState === 'string' ? Buffer.from(clientStateHash(item.clientState), 'hex') : undefined;
    const expected = sub ? Buffer.from(sub.clientStateHash, 'hex') : undefined;
    if (!sub || !given || !expected || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      deps.log.warn(`mailbox: a ${kind} with a wrong clientState or an unknown subscription was ignored`, {
        subscriptionId: id.slice(0, 40),
      });
      continue;
    }
    out.push({ item, sub });
  }
  return out;
}

/** Answers the handshake, or queues the work of each verified item (`workOf` undefined: the item is ignored, and logged). */
async function accept(
  kind: string,
  workOf: (item: NotificationItem, sub: MailboxSubscription) => MailboxWork | string,
  validationToken: string | null,
  readBody: () => Promise<unknown>,
  deps: NotificationDeps,
): Promise<NotificationAnswer> {
  const handshake = validation(validationToken);
  if (handshake) return handshake;
  const work = [];
  for (const { item, sub } of await verified(await readBody(), deps, kind)) {
    const w = workOf(item, sub);
    if (typeof w === 'string') deps.log.warn(`mailbox: a ${kind} ${w} was ignored`, { source: sub.sourceId });
    else work.push(deps.queue.enqueue(w));
  }
  await Promise.all(work);
  return { status: 202 };
}

/** POST /api/mailbox/notifications: each verified notification's message is queued. */
export const acceptNotifications = (validationToken: string | null, readBody: () => Promise<unknown>, deps: NotificationDeps) =>
  accept(
    'notification',
    (item, sub) => {
      const messageId = item.resourceData?.id;
      if (typeof messageId !== 'string' || messageId === '' || messageId.length > 500) return 'without a message id';
      return { kind: 'message', sourceId: sub.sourceId, messageId };
    },
    validationToken,
    readBody,
    deps,
  );

/** POST /api/mailbox/lifecycle: each verified lifecycle event is queued for its subscription. */
export const acceptLifecycleNotifications = (validationToken: string | null, readBody: () => Promise<unknown>, deps: NotificationDeps) =>
  accept(
    'lifecycle notification',
    (item, sub) => {
      const event = item.lifecycleEvent as LifecycleEvent;
      if (!(LIFECYCLE_EVENTS as readonly unknown[]).includes(event)) return 'of an unknown event';
      return { kind: 'lifecycle', sourceId: sub.sourceId, subscriptionId: sub.subscriptionId, event };
    },
    validationToken,
    readBody,
    deps,
  );
