/**
 * The paced-mailbox run's shortened clock (bench/paced.ts): every Microsoft 365 limit window
 * multiplied by this, in the app (RATE_LIMIT_WINDOW_SCALE) and in its Graph test server alike, so
 * that a burst of 500 jobs meets Outlook's and Exchange's limits in about a minute instead of 17.
 */
export const PACED_WINDOW_SCALE = 0.05;

/** Outlook's limits per app and mailbox (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits), windows scaled. */
export const PACED_OUTLOOK_LIMITS = {
  mailboxConcurrency: 4,
  mailboxUploadBytes: 150_000_000,
  mailboxUploadWindowMs: 300_000 * PACED_WINDOW_SCALE,
  mailboxRequests: 10_000,
  mailboxRequestWindowMs: 600_000 * PACED_WINDOW_SCALE,
};

/** Exchange Online's messages a minute from one mailbox, the window scaled. */
export const PACED_EXCHANGE = { messages: 30, windowMs: 60_000 * PACED_WINDOW_SCALE };

export const PACED_UPN = 'scans@contoso.example';
