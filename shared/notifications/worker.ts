/**
 * Sends a queued event to its channels and records what became of it (the `notifications` queue's
 * worker).
 *
 * Once per event: its row (PK `event`, RK its id) is created on first sight, and a channel it was
 * sent to is never sent it again, whatever repeats the queue delivers. A worker claims the row for
 * a while before it sends, so two copies of one message are not sent at the same moment; a copy
 * that finds the row claimed comes back later.
 *
 * No storm: an event of a group (the failed deliveries to one destination, poisoned jobs) sent
 * within the hour before is recorded `suppressed` and counted, and the group's next notification
 * says how many were.
 *
 * Retried: a failure worth retrying (network, 408, 429, 5xx) is tried again at once, up to
 * `retryDelaysMs.length` more times (honouring a short Retry-After), then from the queue after
 * 1 minute, 5, 30 and 2 hours; a channel still failing then, or refusing (another 4xx, a bad
 * connection), is recorded `failed` with the reason and logged.
 */
import { describeError, type Logger } from '../log';
import {
  CONFLICT,
  type ChannelOutcome,
  type NotificationChannelRepository,
  type NotificationQueue,
  type NotificationRecord,
  type NotificationRecordRepository,
  type NotificationStatus,
} from '../storage';
import { channelOf, type ChannelCipher } from './channels';
import { channelSchema, type Channel } from './channel';
import { EVENT_TYPES, eventId, GROUP_WINDOW_MS, type NotificationEvent } from './events';
import type { Coalesced } from './formats';
import { SendFailure, sendToChannel, type SendDeps } from './send';

export interface WorkerDeps {
  channels: Pick<NotificationChannelRepository, 'list' | 'get'>;
  records: NotificationRecordRepository;
  queue: Pick<NotificationQueue, 'enqueue'>;
  cipher: ChannelCipher;
  send: Omit<SendDeps, 'url'>;
  log: Logger;
  /** The pauses between the quick retries of one run (default 1 s and 4 s). */
  retryDelaysMs?: readonly number[];
  now?: () => Date;
}

/** The queue's later tries, after the first run: 1 minute, 5, 30, 2 hours. */
export const QUEUE_RETRY_SECONDS = [60, 300, 1800, 7200] as const;
const CLAIM_MS = 3 * 60_000;
const LONGEST_QUICK_WAIT_MS = 10_000;

export interface QueuedNotification {
  event: NotificationEvent;
  attempt: number;
  /** The group's events counted since its last notification (kept for the later tries). */
  coalesced?: { count: number; since: string };
  /** A test, or the scanning user's e-mail: only this channel. */
  only?: string;
  /** With `only`, an e-mail channel: these recipients instead of its own (the scanning user). */
  to?: string[];
}

/** A queue message as a notification, or undefined (logged and dropped). */
export function queuedNotificationOf(message: unknown): QueuedNotification | undefined {
  const m = (typeof message === 'string' ? safeJson(message) : message) as Record<string, unknown> | undefined;
  const e = m?.event as Partial<NotificationEvent> | undefined;
  if (!m || !e || typeof e.key !== 'string' || e.id !== eventId(e.key)) return undefined;
  if (!(EVENT_TYPES as readonly unknown[]).includes(e.type) || typeof e.title !== 'string' || typeof e.text !== 'string') return undefined;
  if (!Array.isArray(e.facts) || typeof e.subject !== 'object' || typeof e.occurredAt !== 'string') return undefined;
  const attempt = typeof m.attempt === 'number' && m.attempt >= 1 ? Math.floor(m.attempt) : 1;
  const c = m.coalesced as QueuedNotification['coalesced'];
  return {
    event: e as NotificationEvent,
    attempt,
    ...(c && typeof c.count === 'number' && typeof c.since === 'string' ? { coalesced: c } : {}),
    ...(typeof m.only === 'string' ? { only: m.only } : {}),
    ...(Array.isArray(m.to) && m.to.every((a) => typeof a === 'string') ? { to: m.to } : {}),
  };
}

const FINAL: readonly NotificationStatus[] = ['sent', 'partial', 'failed', 'suppressed', 'none'];

/** What the run did: the record as it now stands. */
export async function processNotification(deps: WorkerDeps, message: unknown): Promise<NotificationRecord | undefined> {
  const queued = queuedNotificationOf(message);
  if (!queued) {
    deps.log.warn('notify: dropped a message that is not a notification');
    return undefined;
  }
  const now = deps.now?.() ?? new Date();
  const { event } = queued;
  let record = await openRecord(deps, event, now);
  if (FINAL.includes(record.status)) return record;
  if (record.claimedUntil && record.claimedUntil > now) {
    // Another worker is sending it: look again once its claim has run out.
    await deps.queue.enqueue(queued, Math.ceil((record.claimedUntil.getTime() - now.getTime()) / 1000) + 5);
    return record;
  }
  const claimed = await deps.records.update(record, { claimedUntil: new Date(now.getTime() + CLAIM_MS) });
  if (claimed === CONFLICT) {
    await deps.queue.enqueue(queued, 30);
    return record;
  }
  record = claimed;

  let coalesced = queued.coalesced;
  if (event.group && queued.attempt === 1 && Object.keys(record.channels).length === 0) {
    const grouping = await joinGroup(deps, event.group, now);
    if (grouping === 'suppressed') return save(deps, record, { status: 'suppressed', claimedUntil: undefined });
    coalesced = grouping;
  }

  const channels = await channelsFor(deps, queued);
  if (channels.length === 0) return save(deps, record, { status: 'none', claimedUntil: undefined });
  const c: Coalesced | undefined = coalesced ? { count: coalesced.count, since: new Date(coalesced.since) } : undefined;
  const outcomes: Record<string, ChannelOutcome> = { ...record.channels };
  let retryAfterSeconds = 0;
  for (const channel of channels) {
    const before = outcomes[channel.id];
    if (before && before.status !== 'retrying') continue;
    const attempts = before?.attempts ?? 0;
    const result = await sendWithRetries(deps, channel, event, c);
    const at = (deps.now?.() ?? new Date()).toISOString();
    if (result.ok) {
      outcomes[channel.id] = { status: 'sent', attempts: attempts + result.tries, at };
      continue;
    }
    const last = queued.attempt > QUEUE_RETRY_SECONDS.length;
    const failed = !result.failure.transient || last;
    outcomes[channel.id] = { status: failed ? 'failed' : 'retrying', attempts: attempts + result.tries, at, error: result.failure.message };
    if (failed) {
      deps.log.warn('notify: a channel failed for good', {
        eventId: event.id,
        type: event.type,
        channel: channel.id,
        kind: channel.options.kind,
        reason: result.failure.message,
      });
    } else retryAfterSeconds = Math.max(retryAfterSeconds, result.failure.retryAfterSeconds ?? 0);
  }
  const statuses = Object.values(outcomes).map((o) => o.status);
  const pending = statuses.includes('retrying');
  const status: NotificationStatus = pending
    ? 'pending'
    : statuses.every((s) => s === 'sent')
      ? 'sent'
      : statuses.includes('sent')
        ? 'partial'
        : 'failed';
  const saved = await save(deps, record, { status, channels: outcomes, claimedUntil: undefined });
  if (pending) {
    const delay = Math.max(QUEUE_RETRY_SECONDS[queued.attempt - 1] ?? 7200, Math.min(retryAfterSeconds, 7200));
    await deps.queue.enqueue({ ...queued, attempt: queued.attempt + 1, ...(coalesced ? { coalesced } : {}) }, delay);
  }
  return saved;
}

async function openRecord(deps: WorkerDeps, event: NotificationEvent, now: Date): Promise<NotificationRecord> {
  for (;;) {
    const existing = await deps.records.get(event.id);
    if (existing) return existing;
    const created = await deps.records.create({
      id: event.id,
      type: event.type,
      occurredAt: new Date(event.occurredAt || now),
      event,
      status: 'pending',
      channels: {},
    });
    if (created !== CONFLICT) return created;
  }
}

/** Joins the event to its group: `suppressed` when the group was notified within the window, else the count to report. */
async function joinGroup(deps: WorkerDeps, group: string, now: Date): Promise<'suppressed' | { count: number; since: string } | undefined> {
  const id = eventId(`group:${group}`);
  for (let attempt = 0; attempt < 5; attempt++) {
    const g = await deps.records.group(id);
    if (g && now.getTime() - g.lastSentAt.getTime() < GROUP_WINDOW_MS) {
      if ((await deps.records.putGroup(id, { lastSentAt: g.lastSentAt, suppressed: g.suppressed + 1 }, g.etag)) !== CONFLICT)
        return 'suppressed';
      continue;
    }
    if ((await deps.records.putGroup(id, { lastSentAt: now, suppressed: 0 }, g?.etag)) !== CONFLICT)
      return g?.suppressed ? { count: g.suppressed, since: g.lastSentAt.toISOString() } : undefined;
  }
  return undefined; // contended: better sent than lost
}

async function channelsFor(deps: WorkerDeps, queued: QueuedNotification): Promise<Array<Channel & { url?: string }>> {
  const stored = queued.only ? [await deps.channels.get(queued.only)].filter((s) => s !== undefined) : await deps.channels.list();
  const out: Array<Channel & { url?: string }> = [];
  for (const s of stored) {
    const channel = await channelOf(deps, s);
    if (!channel) {
      deps.log.warn('notify: a channel is not valid with this version and was skipped', { channel: s.id });
      continue;
    }
    if (queued.to) {
      // The scanning user: an enabled e-mail channel, to their address (checked as the channel's own are).
      const retargeted = channelSchema.safeParse({ ...channel.options, to: queued.to });
      if (channel.options.kind !== 'email' || !channel.options.enabled || !retargeted.success) {
        deps.log.warn("notify: a destination's notifyUser does not name an enabled e-mail channel, or the address is not one", {
          channel: s.id,
        });
        continue;
      }
      out.push({ ...channel, options: retargeted.data });
    } else if (queued.only || (channel.options.enabled && (channel.options.events as readonly string[]).includes(queued.event.type)))
      out.push(channel);
  }
  return out;
}

async function sendWithRetries(
  deps: WorkerDeps,
  channel: Channel & { url?: string },
  event: NotificationEvent,
  coalesced: Coalesced | undefined,
): Promise<{ ok: true; tries: number } | { ok: false; tries: number; failure: SendFailure }> {
  const delays = deps.retryDelaysMs ?? [1000, 4000];
  for (let tries = 1; ; tries++) {
    try {
      await sendToChannel(channel.options, event, coalesced, { ...deps.send, url: channel.url });
      return { ok: true, tries };
    } catch (err) {
      const failure = err instanceof SendFailure ? err : new SendFailure(describeError(err).message ?? 'error', true);
      const wait = Math.max(delays[tries - 1] ?? Infinity, (failure.retryAfterSeconds ?? 0) * 1000);
      if (!failure.transient || tries > delays.length || wait > LONGEST_QUICK_WAIT_MS) return { ok: false, tries, failure };
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** Writes the changes, merging with a row changed meanwhile (the claim makes that rare). */
async function save(
  deps: WorkerDeps,
  record: NotificationRecord,
  changes: Partial<Pick<NotificationRecord, 'status' | 'channels' | 'claimedUntil'>>,
): Promise<NotificationRecord> {
  let current = record;
  for (let attempt = 0; attempt < 5; attempt++) {
    const written = await deps.records.update(current, changes);
    if (written !== CONFLICT) return written;
    const latest = await deps.records.get(record.id);
    if (!latest) return current;
    current = latest;
  }
  return current;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
