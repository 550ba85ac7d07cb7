/**
 * Notifications: administrators are told, on the channels they configure (channel.ts), when a
 * connection must be authorized again or recovers, when refreshes keep failing, when a client
 * secret is about to expire, when a delivery fails for good or a job is poisoned, and when the
 * directory keeps failing (events.ts).
 *
 * Where an event is raised, its source calls `notifier.notify(event)` once it has recorded the
 * change of state (an ETag-guarded write, so one instance raises it); the notifier queues it
 * (table `notifications` tells whether it was seen already) and never fails its caller. The
 * queue's worker (worker.ts) sends it to each channel once, retried, and records the outcome;
 * the timer (watch.ts) raises the events that come from a state read on a schedule (a secret's
 * expiry, the directory's runs and errors).
 */
import { audit, describeActor, type Actor } from '../audit';
import { CONSOLE_PATH } from '../access';
import { describeError, type Logger } from '../log';
import type { NotificationQueue, NotificationRecord, NotificationRecordRepository } from '../storage';
import { channelForTest, type ChannelsDeps } from './channels';
import { events, type NotificationEvent } from './events';
import { processNotification, QUEUE_RETRY_SECONDS, type WorkerDeps } from './worker';

export * from './channel';
export * from './channels';
export * from './events';
export * from './formats';
export { processNotification, queuedNotificationOf, QUEUE_RETRY_SECONDS, type WorkerDeps } from './worker';
export { runNotificationWatch, type WatchDeps } from './watch';

/** The console's pages an event links to, when PUBLIC_BASE_URL is known. */
export interface ConsoleLinks {
  connection(id: string): string | undefined;
  connections(): string | undefined;
  job(id: string): string | undefined;
  directory(): string | undefined;
  notifications(): string | undefined;
}

export function consoleLinks(publicBaseUrl: string | undefined): ConsoleLinks {
  const at = (...segments: string[]) =>
    publicBaseUrl ? `${publicBaseUrl}${CONSOLE_PATH}/${segments.map(encodeURIComponent).join('/')}` : undefined;
  return {
    connection: (id) => at('connections', id),
    connections: () => at('connections'),
    job: (id) => at('jobs', id),
    directory: () => at('directory'),
    notifications: () => at('notifications'),
  };
}

/** What raises events: the sources of state changes. */
export interface Notifier {
  /** `to`: only this e-mail channel, to these addresses instead of its own (the scanning user). */
  notify(event: NotificationEvent, to?: { channel: string; addresses: string[] }): Promise<void>;
  links: ConsoleLinks;
}

/** Raises nothing (tests and tools that do not notify). */
export const silentNotifier: Notifier = { notify: async () => {}, links: consoleLinks(undefined) };

/**
 * Queues each event not seen before. A failure is logged, never thrown: a notification must not
 * fail the refresh or delivery that raised it.
 */
export function queueNotifier(
  deps: { records: Pick<NotificationRecordRepository, 'get'>; queue: Pick<NotificationQueue, 'enqueue'> },
  links: ConsoleLinks,
  log: Logger,
): Notifier {
  return {
    links,
    async notify(event, to) {
      try {
        if (await deps.records.get(event.id)) return;
        await deps.queue.enqueue({ event, attempt: 1, ...(to ? { only: to.channel, to: to.addresses } : {}) });
      } catch (err) {
        log.warn('notify: an event could not be queued', { eventId: event.id, type: event.type, ...describeError(err) });
      }
    },
  };
}

export interface NotificationsDeps extends ChannelsDeps {
  records: NotificationRecordRepository;
  worker: WorkerDeps;
  links: ConsoleLinks;
}

/** A test is tried now only (the quick retries), never queued for later: the person who asked waits for it. */
const QUEUE_LAST = QUEUE_RETRY_SECONDS.length;

/** Sends the test event to one channel now (once, with the quick retries) and says what became of it. */
export async function testChannel(
  deps: NotificationsDeps,
  actor: Actor,
  id: string,
): Promise<{ channel: string; status: 'sent' | 'failed' | 'retrying'; error?: string; eventId: string }> {
  const channel = await channelForTest(deps, id);
  const event = events.test(channel.id, new Date(), describeActor(actor), deps.links.notifications());
  const record = await processNotification(deps.worker, { event, attempt: 1 + QUEUE_LAST, only: channel.id });
  const outcome = record?.channels[channel.id];
  await audit(deps, actor, 'notification.channel.test', `channel:${id}`, {
    after: { status: outcome?.status ?? 'failed', ...(outcome?.error ? { error: outcome.error } : {}) },
  });
  return {
    channel: channel.id,
    status: outcome?.status ?? 'failed',
    ...(outcome?.error ? { error: outcome.error } : {}),
    eventId: event.id,
  };
}
export interface EventView {
  id: string;
  type: string;
  severity: string;
  occurredAt: string;
  title: string;
  text: string;
  link?: NotificationEvent['link'];
  status: NotificationRecord['status'];
  channels: NotificationRecord['channels'];
}

/** The events of the last `days` days, newest first, with what became of them on each channel. */
export async function recentEvents(deps: Pick<NotificationsDeps, 'records'>, days = 14, limit = 100): Promise<EventView[]> {
  const since = new Date(Date.now() - days * 86_400_000);
  return (await deps.records.recent(since, limit)).map((r) => {
    const e = r.event as NotificationEvent;
    return {
      id: r.id,
      type: r.type,
      severity: e.severity,
      occurredAt: r.occurredAt.toISOString(),
      title: e.title,
      text: e.text,
      ...(e.link ? { link: e.link } : {}),
      status: r.status,
      channels: r.channels,
    };
  });
}
