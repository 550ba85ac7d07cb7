/**
 * Pacing of deliveries to a sending mailbox: Exchange Online accepts at most 30 messages a
 * minute from one mailbox, whichever client submits them (SMTP AUTH or Graph), and answers the
 * next with a temporary refusal ("Message rate limits", Exchange Online limits:
 * https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits#sending-limits).
 * A connector names the mailbox a delivery sends from (`paceKey`); before sending, the
 * deliverer takes a place in that mailbox's last minute. When there is none, the delivery is
 * not tried: its job's message comes back once a place frees (shared/delivery/index.ts, the
 * same path as a destination another worker holds), spending no attempt, and the other
 * destinations and mailboxes go on. Per instance: each instance keeps its own minute (see
 * docs/architecture.md, Delivery).
 */

/** Exchange Online's message rate limit per sending mailbox. */
export const EXCHANGE_MESSAGES_PER_MINUTE = 30;

/** Keys kept before the pacer forgets the mailboxes whose minute is over (memory stays bounded). */
const PRUNE_AT_KEYS = 10_000;

export class SendPacer {
  private readonly sent = new Map<string, number[]>();

  constructor(
    private readonly perWindow = EXCHANGE_MESSAGES_PER_MINUTE,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes a place for one message from `key` now (undefined), or answers when the next place
   * frees, taking none.
   */
  take(key: string): Date | undefined {
    const t = this.now();
    const recent = (this.sent.get(key) ?? []).filter((at) => at > t - this.windowMs);
    if (recent.length >= this.perWindow) {
      this.sent.set(key, recent);
      return new Date(recent[0]! + this.windowMs);
    }
    recent.push(t);
    this.sent.set(key, recent);
    if (this.sent.size > PRUNE_AT_KEYS) this.prune(t);
    return undefined;
  }

  /** Gives back the place taken last for `key` (the delivery sent nothing after all). */
  giveBack(key: string): void {
    this.sent.get(key)?.pop();
  }

  private prune(t: number): void {
    for (const [key, times] of this.sent) if (!times.some((at) => at > t - this.windowMs)) this.sent.delete(key);
  }
}

/** The instance's pacer: every deliverer of this process shares the mailboxes' minutes. */
export const sendPacer = new SendPacer();
