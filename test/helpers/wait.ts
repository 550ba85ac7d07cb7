/** Waiting for what a host does asynchronously (queues, notifications, another process). */

/**
 * Polls `probe` every 50 ms until it gives something truthy, and returns it; fails naming `what`
 * (and `context()`, say the last log lines) after `timeoutMs`. The deadline only bounds a test that
 * would otherwise hang: nothing asserts how long anything took.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; context?: () => string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.${options.context ? `\n${options.context()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
