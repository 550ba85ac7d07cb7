import type { QueueClient } from '@azure/storage-queue';
import { once } from './clients';

export const DELIVERY_QUEUE = 'scan-delivery';

export interface DeliveryMessage {
  jobId: string;
  /** How often the job was sent again after the host poisoned it because its worker died. */
  recoveries?: number;
}

export interface EnqueueReceipt {
  messageId: string;
  popReceipt: string;
}

/**
 * The delivery queue: one message per stored job. Messages are base64-encoded JSON, the
 * encoding the Functions queue trigger expects by default.
 */
export class DeliveryQueue {
  readonly ready: () => Promise<void>;

  constructor(private readonly queue: QueueClient) {
    this.ready = once(() => queue.createIfNotExists());
  }

  /** Sends a message; `delaySeconds` keeps it invisible that long first. */
  async enqueue(message: DeliveryMessage, options: { delaySeconds?: number } = {}): Promise<EnqueueReceipt> {
    await this.ready();
    const res = await this.queue.sendMessage(encodeMessage(message), { visibilityTimeout: options.delaySeconds });
    return { messageId: res.messageId, popReceipt: res.popReceipt };
  }

  /** Removes a message sent by `enqueue` (rollback of a job that could not be completed). */
  async remove(receipt: EnqueueReceipt): Promise<void> {
    await this.queue.deleteMessage(receipt.messageId, receipt.popReceipt);
  }
}

export function encodeMessage(message: DeliveryMessage): string {
  return Buffer.from(JSON.stringify(message), 'utf8').toString('base64');
}
