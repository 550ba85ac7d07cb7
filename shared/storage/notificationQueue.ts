import type { QueueClient } from '@azure/storage-queue';
import { once } from './clients';

export const NOTIFICATION_QUEUE = 'notifications';

/** A notification to send: the event (shared/notifications/events.ts) and how often it was tried. */
export interface NotificationMessage {
  event: unknown;
  attempt: number;
  /** Only this channel (a test, or the scanning user's e-mail). */
  only?: string;
  /** With `only`, an e-mail channel: these recipients instead of its own. */
  to?: string[];
}

/** The notification queue; base64 JSON, as the Functions queue trigger expects by default. */
export class NotificationQueue {
  readonly ready: () => Promise<void>;

  constructor(private readonly queue: QueueClient) {
    this.ready = once(() => queue.createIfNotExists());
  }

  /** Sends a message; `delaySeconds` keeps it invisible that long first. */
  async enqueue(message: NotificationMessage, delaySeconds?: number): Promise<void> {
    await this.ready();
    await this.queue.sendMessage(Buffer.from(JSON.stringify(message), 'utf8').toString('base64'), { visibilityTimeout: delaySeconds });
  }
}
