/**
 * Outlook's limit of 4 concurrent requests per app and mailbox
 * (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits: "4 concurrent
 * requests"; a fifth is answered 429 "Application is over its MailboxConcurrency limit."). Every
 * caller that works in a mailbox holds one of its slots per request in flight: mailbox ingest
 * (shared/mailbox/graph.ts) and Graph mail delivery (shared/delivery/graphMail), sharing the same
 * slots, so a burst of scans to one person neither collides with itself nor with the reading of
 * that mailbox. Per process: instances do not share them (docs/architecture.md).
 */
import { KeyedSlots, type Semaphore } from '../concurrency';

export const MAILBOX_CONCURRENCY = 4;

const slots = new KeyedSlots(MAILBOX_CONCURRENCY);

/** The slots of a mailbox, by its address (any case) or another stable key of it. */
export function mailboxSlots(mailbox: string): Semaphore {
  return slots.of(mailbox);
}

/** Runs `work` holding one of the mailbox's slots. */
export function withMailboxSlot<T>(mailbox: string, work: () => Promise<T>): Promise<T> {
  return slots.run(mailbox, work);
}
