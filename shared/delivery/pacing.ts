/**
 * The rate governor: deliveries to one Microsoft 365 target are paced within the service's
 * documented budgets instead of colliding with its 429s.
 *
 * - `exchangeMessages`: Exchange Online accepts at most 30 messages a minute from one mailbox,
 *   whichever client submits them (SMTP AUTH or Graph) ("Message rate limit", Exchange Online
 *   limits: https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits#sending-limits).
 * - `outlookUploadBytes`: Outlook (Graph mail) takes at most 150 MB uploaded (POST, PUT, PATCH)
 *   per 5 minutes per app and mailbox (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
 * - `sharePointUnits`: SharePoint budgets resource units per app and tenant a minute, by the
 *   tenant's licences (1,250 for up to 1,000; every upload or create costs 2:
 *   https://learn.microsoft.com/sharepoint/dev/general-development/how-to-avoid-getting-throttled-or-blocked-in-sharepoint-online).
 *
 * A connector names what one delivery spends (`Connector.pace`: budget, target key, amount).
 * Before leasing, the deliverer takes all of it at once or none: when a budget has no room, the
 * delivery is not tried and its job's message comes back when the room frees (shared/delivery/
 * index.ts, the path of a destination another worker holds), spending no attempt, while other
 * targets go on. A `Retry-After` the service answered anyway (`hold`) stops that target only,
 * until then. Per instance: each instance keeps its own windows (docs/architecture.md, Delivery).
 */

export type Budget = 'exchangeMessages' | 'outlookUploadBytes' | 'sharePointUnits';

export interface Limit {
  perWindow: number;
  windowMs: number;
}

export type Limits = Record<Budget, Limit>;

/** Microsoft's figures (see above); SharePoint's for a tenant of up to 1,000 licences. */
export const M365_LIMITS: Limits = Object.freeze({
  exchangeMessages: { perWindow: 30, windowMs: 60_000 },
  outlookUploadBytes: { perWindow: 150_000_000, windowMs: 300_000 },
  sharePointUnits: { perWindow: 1_250, windowMs: 60_000 },
});

/**
 * The limits from the settings: SharePoint's units a minute for the tenant's size, and every
 * window multiplied by `windowScale` (1 in production; benchmarks shorten the windows against a
 * test server that shortens its own the same way).
 */
export function limitsFor(settings: { sharePointUnitsPerMinute: number; windowScale: number }): Limits {
  const scaled = (l: Limit): Limit => ({ perWindow: l.perWindow, windowMs: Math.max(1, Math.round(l.windowMs * settings.windowScale)) });
  return {
    exchangeMessages: scaled(M365_LIMITS.exchangeMessages),
    outlookUploadBytes: scaled(M365_LIMITS.outlookUploadBytes),
    sharePointUnits: scaled({ ...M365_LIMITS.sharePointUnits, perWindow: settings.sharePointUnitsPerMinute }),
  };
}

/** What one delivery spends of a target's budget: `key` names the target (a mailbox, the tenant). */
export interface Charge {
  budget: Budget;
  key: string;
  amount: number;
}

interface Spent {
  at: number;
  amount: number;
  /** Stamped again when the delivery ended (`settle`): the service saw it no later than that. */
  settled?: boolean;
}

/** The longest a Retry-After holds a target here. */
const MAX_HOLD_SECONDS = 3_600;

/** Windows kept before the pacer forgets those that are over (memory stays bounded). */
const PRUNE_AT = 10_000;

export class Pacer {
  private readonly spent = new Map<string, Spent[]>();
  private readonly held = new Map<string, number>();

  constructor(
    private readonly limits: Limits = M365_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes every charge now (undefined), or none, answering when the last of them will have
   * room. A charge larger than its whole budget goes alone into an empty window. What deliveries
   * still running took counts until they end (a long upload does not leave the window while it
   * is being sent); when only their end can make room, the answer is a window from now.
   */
  take(charges: readonly Charge[]): Date | undefined {
    const t = this.now();
    let until = 0;
    for (const c of charges) {
      until = Math.max(until, this.held.get(c.key) ?? 0);
      const { perWindow, windowMs } = this.limits[c.budget];
      const recent = this.recent(c, t);
      let used = recent.reduce((sum, s) => sum + s.amount, 0);
      if (used === 0 || used + c.amount <= perWindow) continue;
      let freeAt = t + windowMs;
      for (const s of recent) {
        if (!s.settled) continue;
        used -= s.amount;
        if (used === 0 || used + c.amount <= perWindow) {
          freeAt = s.at + windowMs;
          break;
        }
      }
      until = Math.max(until, freeAt);
    }
    if (until > t) return new Date(until);
    for (const c of charges) this.recent(c, t).push({ at: t, amount: c.amount });
    if (this.spent.size > PRUNE_AT) this.prune(t);
    return undefined;
  }

  /** Gives back what `take` took for these charges (the delivery sent nothing after all). */
  giveBack(charges: readonly Charge[]): void {
    for (const c of charges) {
      const list = this.spent.get(windowKey(c)) ?? [];
      for (let i = list.length - 1; i >= 0; i--) {
        if (list[i]!.settled || list[i]!.amount !== c.amount) continue;
        list.splice(i, 1);
        break;
      }
    }
  }

  /**
   * The delivery that took these charges ended: they count from now. The service counted them
   * when its requests arrived, after `take`; from the end on, this window never closes before
   * the service's does.
   */
  settle(charges: readonly Charge[]): void {
    const t = this.now();
    for (const c of charges) {
      const list = this.spent.get(windowKey(c)) ?? [];
      const i = list.findIndex((s) => !s.settled && s.amount === c.amount);
      if (i < 0) continue;
      list.splice(i, 1);
      list.push({ at: t, amount: c.amount, settled: true });
    }
  }

  /**
   * The service answered a target's request with Retry-After: nothing more goes to it for
   * `seconds`, at most an hour (a broken answer must not silence a mailbox for the instance's life).
   */
  hold(charges: readonly Charge[], seconds: number): void {
    const until = this.now() + Math.min(Math.max(0, seconds), MAX_HOLD_SECONDS) * 1000;
    for (const c of charges) this.held.set(c.key, Math.max(this.held.get(c.key) ?? 0, until));
  }

  private recent(c: Charge, t: number): Spent[] {
    const key = windowKey(c);
    const from = t - this.limits[c.budget].windowMs;
    const list = (this.spent.get(key) ?? []).filter((s) => !s.settled || s.at > from);
    this.spent.set(key, list);
    return list;
  }

  private prune(t: number): void {
    for (const [key, list] of this.spent) {
      const budget = key.slice(0, key.indexOf('\n')) as Budget;
      if (!list.some((s) => !s.settled || s.at > t - this.limits[budget].windowMs)) this.spent.delete(key);
    }
    for (const [key, until] of this.held) if (until <= t) this.held.delete(key);
  }
}

const windowKey = (c: Charge) => `${c.budget}\n${c.key}`;
