import type { QueueClient } from '@azure/storage-queue';
import { once } from './clients';

export const MAILBOX_QUEUE = 'mailbox-work';

/**
 * The mailbox work queue: `message`, take in one message a notification or a delta read named;
 * `read`, read a source's folder with its delta query; `lifecycle`, act on a subscription's
 * lifecycle notification.
 */
export type MailboxWork =
  | { kind: 'message'; sourceId: string; messageId: string }
  | { kind: 'read'; sourceId: string }
  | { kind: 'lifecycle'; sourceId: string; subscriptionId: string; event: LifecycleEvent };

/** Graph's lifecycle notifications (https://learn.microsoft.com/graph/change-notifications-lifecycle-events). */
export const LIFECYCLE_EVENTS = ['reauthorizationRequired', 'subscriptionRemoved', 'missed'] as const;
export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number];

/** Base64 JSON, as the Functions queue trigger expects by default. */
export class MailboxQueue {
  readonly ready: () => Promise<void>;

  constructor(private readonly queue: QueueClient) {
    this.ready = once(() => queue.createIfNotExists());
  }

  async enqueue(work: MailboxWork): Promise<void> {
    await this.ready();
    await this.queue.sendMessage(Buffer.from(JSON.stringify(work), 'utf8').toString('base64'));
  }
}

/** A queue message as MailboxWork, or undefined when it is not one (logged and dropped by the caller). */
export function mailboxWorkOf(message: unknown): MailboxWork | undefined {
  const m = (typeof message === 'string' ? safeJson(message) : message) as Record<string, unknown> | undefined;
  const id = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 500;
  if (!m || typeof m !== 'object' || !id(m.sourceId)) return undefined;
  if (m.kind === 'message' && id(m.messageId)) return { kind: 'message', sourceId: m.sourceId as string, messageId: m.messageId as string };
  if (m.kind === 'read') return { kind: 'read', sourceId: m.sourceId as string };
  if (m.kind === 'lifecycle' && id(m.subscriptionId) && (LIFECYCLE_EVENTS as readonly unknown[]).includes(m.event))
    return {
      kind: 'lifecycle',
      sourceId: m.sourceId as string,
      subscriptionId: m.subscriptionId as string,
      event: m.event as LifecycleEvent,
    };
  return undefined;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
