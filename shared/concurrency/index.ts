/** Runs `work` on every item with at most `limit` calls in flight; the first failure rejects (others still finish). */
export async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/** A lease kept alive while some work runs (see `keepRenewed`). */
export interface Renewal<T> {
  /** The latest version of what is renewed (its ETag changes with each renewal). */
  readonly current: T;
  /** Aborted once the lease is lost: taken by someone else, or not renewed before it expired. */
  readonly signal: AbortSignal;
  /** Stops renewing; resolves once no renewal is in flight. */
  stop(): Promise<void>;
}

export interface RenewalOptions<T> {
  everyMs: number;
  /** Renews; resolves with the new version, or undefined when someone else holds it now. */
  renew(current: T): Promise<T | undefined>;
  /** When `current` expires (ms since the epoch). */
  expiresAt(current: T): number;
  /** Why the lease was lost, as the abort reason. */
  lost(why: 'taken' | 'expired'): Error;
}

/**
 * Renews a lease every `everyMs` until stopped, one renewal at a time. A renewal that fails
 * (storage unreachable) is tried again at the next tick; once the lease expires unrenewed, or
 * someone else took it, `signal` aborts and renewing stops.
 */
export function keepRenewed<T>(initial: T, options: RenewalOptions<T>): Renewal<T> {
  const abort = new AbortController();
  let current = initial;
  let inFlight: Promise<void> | undefined;
  const lose = (why: 'taken' | 'expired') => {
    clearInterval(timer);
    abort.abort(options.lost(why));
  };
  const tick = () => {
    if (inFlight || abort.signal.aborted) return;
    inFlight = options
      .renew(current)
      .then(
        (next) => (next === undefined ? lose('taken') : void (current = next)),
        () => (Date.now() >= options.expiresAt(current) ? lose('expired') : undefined),
      )
      .finally(() => (inFlight = undefined));
  };
  const timer = setInterval(tick, options.everyMs);
  timer.unref();
  return {
    get current() {
      return current;
    },
    signal: abort.signal,
    stop: async () => {
      clearInterval(timer);
      await inFlight;
    },
  };
}

/** A counting semaphore: at most `free` holders at once; `take` waits for a turn, `give` ends one. */
export class Semaphore {
  private readonly waiting: Array<() => void> = [];

  constructor(private free: number) {}

  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** A semaphore of `limit` per key (keys compared case-insensitively): at most `limit` works in flight for one key. */
export class KeyedSlots {
  private readonly slots = new Map<string, Semaphore>();

  constructor(private readonly limit: number) {}

  /** The key's semaphore. */
  of(key: string): Semaphore {
    const k = key.toLowerCase();
    let s = this.slots.get(k);
    if (!s) this.slots.set(k, (s = new Semaphore(this.limit)));
    return s;
  }

  /** Runs `work` holding one of the key's slots. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const s = this.of(key);
    await s.take();
    try {
      return await work();
    } finally {
      s.give();
    }
  }
}

/**
 * A writer that runs one call at a time: items added while a call is in flight go together into
 * the next call. `add` resolves (or rejects) with the call that wrote its item, so a caller that
 * awaits it knows its item is stored; a burst of N items costs about two calls, not N.
 */
export function batchedWriter<T>(write: (items: T[]) => Promise<void>): (item: T) => Promise<void> {
  let pending: Array<{ item: T; resolve: () => void; reject: (err: unknown) => void }> = [];
  let running = false;
  const drain = async () => {
    running = true;
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      try {
        await write(batch.map((p) => p.item));
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    running = false;
  };
  return (item) =>
    new Promise<void>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      if (!running) void drain();
    });
}
