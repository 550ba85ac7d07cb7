/**
 * Outlook's limit of 4 concurrent requests per app and mailbox
 * (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits: "4 concurrent
 * requests"; a fifth is answered 429 "Application is over its MailboxConcurrency limit."). Every
 * caller that works in a mailbox holds one of its slots per request in flight: mailbox ingest
 * (shared/mailbox/graph.ts) and Graph mail delivery (shared/delivery/graphMail), sharing the same
 * slots, so a burst of scans to one person neither collides with itself nor with the reading of
 * that mailbox. Per process: instances do not share them (docs/architecture.md).
 */
import { Semaphore } from '../concurrency';

export const MAILBOX_CONCURRENCY = 4;

const slots = new Map<string, Semaphore>();

/** The slots of a mailbox, by its address (any case) or another stable key of it. */
export function mailboxSlots(mailbox: string): Semaphore {
  const key = mailbox.toLowerCase();
  let s = slots.get(key);
  if (!s) slots.set(key, (s = new Semaphore(MAILBOX_CONCURRENCY)));
  return s;
}

/** Runs `work` holding one of the mailbox's slots. */
export async function withMailboxSlot<T>(mailbox: string, work: () => Promise<T>): Promise<T> {
  const s = mailboxSlots(mailbox);
  await s.take();
  try {
    return await work();
  } finally {
    s.give();
  }
}
