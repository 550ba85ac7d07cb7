/**
 * The local host's non-HTTP triggers: NCRONTAB parsing, host.json queue settings, and (against a
 * real Azurite) queue triggers with delete-on-success and the poison queue, and a timer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InvocationContext, Timer } from '@azure/functions';
import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';
import { startAzurite, type RunningAzurite } from '../../host/local/azurite';
import type { QueueFunction, TimerFunction } from '../../host/definitions';
import { parseSchedule, queueSettings, startTriggers, type QueueSettings, type TriggerRunner } from '../../host/local/triggers';
import type * as Triggers from '../../host/local/triggers';

/** Local time, as the schedule is matched against local time (month is 1-12 here). */
const at = (y: number, mo: number, d: number, h: number, mi: number, s: number) => new Date(y, mo - 1, d, h, mi, s);

/** Rejects with a clear message when `promise` has not settled within `ms` (a safety net, not a measurement). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` until it returns true, failing after `ms`. */
async function waitFor(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A promise with its resolve function outside. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('parseSchedule', () => {
  it('matches every second for * * * * * *', () => {
    const m = parseSchedule('* * * * * *');
    expect(m(at(2024, 1, 1, 0, 0, 0))).toBe(true);
    expect(m(at(2030, 12, 31, 23, 59, 59))).toBe(true);
  });

  it('matches fixed values', () => {
    const m = parseSchedule('0 30 9 * * *');
    expect(m(at(2024, 5, 14, 9, 30, 0))).toBe(true);
    expect(m(at(2024, 5, 14, 9, 30, 1))).toBe(false);
    expect(m(at(2024, 5, 14, 9, 31, 0))).toBe(false);
    expect(m(at(2024, 5, 14, 10, 30, 0))).toBe(false);
  });

  it('reads steps over the whole range (*/n), over a range (a-b/n) and from a value (a/n)', () => {
    const every5min = parseSchedule('0 */5 * * * *');
    expect([0, 5, 10, 55].map((mi) => every5min(at(2024, 1, 1, 12, mi, 0)))).toEqual([true, true, true, true]);
    expect([1, 4, 6, 59].map((mi) => every5min(at(2024, 1, 1, 12, mi, 0)))).toEqual([false, false, false, false]);

    const rangeStep = parseSchedule('10-40/10 * * * * *');
    const secs = Array.from({ length: 60 }, (_, s) => s).filter((s) => rangeStep(at(2024, 1, 1, 0, 0, s)));
    expect(secs).toEqual([10, 20, 30, 40]);

    const fromStep = parseSchedule('5/20 * * * * *');
    expect(Array.from({ length: 60 }, (_, s) => s).filter((s) => fromStep(at(2024, 1, 1, 0, 0, s)))).toEqual([5, 25, 45]);

    const everyTwoHours = parseSchedule('0 0 */2 * * *');
    expect(Array.from({ length: 24 }, (_, h) => h).filter((h) => everyTwoHours(at(2024, 1, 1, h, 0, 0)))).toEqual([
      0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22,
    ]);
  });

  it('reads ranges', () => {
    const officeHours = parseSchedule('0 0 9-17 * * 1-5');
    // 2024-05-13 is a Monday, 2024-05-18 a Saturday, 2024-05-19 a Sunday.
    expect(officeHours(at(2024, 5, 13, 9, 0, 0))).toBe(true);
    expect(officeHours(at(2024, 5, 17, 17, 0, 0))).toBe(true);
    expect(officeHours(at(2024, 5, 13, 8, 0, 0))).toBe(false);
    expect(officeHours(at(2024, 5, 13, 18, 0, 0))).toBe(false);
    expect(officeHours(at(2024, 5, 18, 12, 0, 0))).toBe(false);
    expect(officeHours(at(2024, 5, 19, 12, 0, 0))).toBe(false);
  });

  it('reads lists, also of ranges and steps', () => {
    const m = parseSchedule('0 0 7,18 1,15 * *');
    expect(m(at(2024, 3, 1, 7, 0, 0))).toBe(true);
    expect(m(at(2024, 3, 15, 18, 0, 0))).toBe(true);
    expect(m(at(2024, 3, 2, 7, 0, 0))).toBe(false);
    expect(m(at(2024, 3, 1, 8, 0, 0))).toBe(false);

    const mixed = parseSchedule('0,10-12,50/5 * * * * *');
    expect(Array.from({ length: 60 }, (_, s) => s).filter((s) => mixed(at(2024, 1, 1, 0, 0, s)))).toEqual([0, 10, 11, 12, 50, 55]);
  });

  it('matches months 1-12 and weekdays 0-6 with Sunday as 0', () => {
    const januaryMondays = parseSchedule('0 30 9 * 1 1');
    expect(januaryMondays(at(2024, 1, 1, 9, 30, 0))).toBe(true); // Monday 1 January 2024
    expect(januaryMondays(at(2024, 1, 2, 9, 30, 0))).toBe(false); // Tuesday
    expect(januaryMondays(at(2024, 2, 5, 9, 30, 0))).toBe(false); // a Monday in February
    const sundays = parseSchedule('0 0 0 * * 0');
    expect(sundays(at(2024, 5, 19, 0, 0, 0))).toBe(true);
    expect(sundays(at(2024, 5, 18, 0, 0, 0))).toBe(false);
    const december = parseSchedule('0 0 0 * 12 *');
    expect(december(at(2024, 12, 25, 0, 0, 0))).toBe(true);
    expect(december(at(2024, 11, 25, 0, 0, 0))).toBe(false);
  });

  it('accepts month and weekday names, as NCRONTAB does ("0 30 9 * Jan Mon" in the Functions docs)', () => {
    const januaryMondays = parseSchedule('0 30 9 * Jan Mon');
    expect(januaryMondays(at(2024, 1, 1, 9, 30, 0))).toBe(true);
    expect(januaryMondays(at(2024, 1, 2, 9, 30, 0))).toBe(false);
    expect(januaryMondays(at(2024, 2, 5, 9, 30, 0))).toBe(false);
    const weekdays = parseSchedule('0 0 12 * jun-AUG MON-FRI');
    expect(weekdays(at(2024, 7, 1, 12, 0, 0))).toBe(true); // Monday 1 July 2024
    expect(weekdays(at(2024, 7, 6, 12, 0, 0))).toBe(false); // Saturday
    expect(weekdays(at(2024, 9, 2, 12, 0, 0))).toBe(false); // a Monday in September
    expect(() => parseSchedule('0 0 12 * Foo *')).toThrow();
    expect(() => parseSchedule('0 0 12 * * Mon-Fry')).toThrow();
    expect(() => parseSchedule('0 0 Mon * * *')).toThrow();
  });

  it('tolerates extra whitespace between fields', () => {
    expect(parseSchedule('  0   0  12 * *   * ')(at(2024, 1, 1, 12, 0, 0))).toBe(true);
  });

  it.each([
    ['five fields', '0 12 * * *'],
    ['seven fields', '0 0 12 * * * 2024'],
    ['empty', ''],
    ['second 60', '60 * * * * *'],
    ['minute 60', '0 60 * * * *'],
    ['hour 24', '0 0 24 * * *'],
    ['day 0', '0 0 0 0 * *'],
    ['day 32', '0 0 0 32 * *'],
    ['month 0', '0 0 0 * 0 *'],
    ['month 13', '0 0 0 * 13 *'],
    ['weekday 7', '0 0 0 * * 7'],
    ['reversed range', '0 0 17-9 * * *'],
    ['step 0', '*/0 * * * * *'],
    ['negative', '-1 * * * * *'],
    ['letters', 'a * * * * *'],
    ['empty list item', '1,,2 * * * * *'],
    ['dangling range', '1- * * * * *'],
    ['dangling step', '*/ * * * * *'],
    ['L (not NCRONTAB)', '0 0 0 L * *'],
    ['? (not NCRONTAB)', '0 0 0 ? * *'],
    ['TimeSpan', '00:05:00'],
  ])('throws for %s: %p', (_what, expression) => {
    expect(() => parseSchedule(expression)).toThrow(/Schedule/);
  });
});

describe('queueSettings', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'scanrelay-hostjson-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const hostJson = (content: unknown) => {
    const file = join(dir, `host-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  };

  it("reads the repository's host.json", () => {
    expect(queueSettings(join(__dirname, '..', '..', 'host.json'))).toEqual({
      maxDequeueCount: 5,
      visibilityTimeoutSeconds: 30,
      batchSize: 8,
      newBatchThreshold: 4,
      pollIntervalMs: 2000,
    });
  });

  it('reads hours, minutes and seconds of visibilityTimeout and caps batchSize at 32', () => {
    expect(
      queueSettings(
        hostJson({ version: '2.0', extensions: { queues: { maxDequeueCount: 2, visibilityTimeout: '01:02:03', batchSize: 64 } } }),
      ),
    ).toEqual({ maxDequeueCount: 2, visibilityTimeoutSeconds: 3723, batchSize: 32, newBatchThreshold: 16, pollIntervalMs: 60_000 });
    expect(
      queueSettings(hostJson({ version: '2.0', extensions: { queues: { batchSize: 4, newBatchThreshold: 0, maxPollingInterval: 500 } } })),
    ).toMatchObject({ batchSize: 4, newBatchThreshold: 0, pollIntervalMs: 500 });
  });

  it("uses the Functions host's defaults when host.json has no queue settings, is missing or is broken", () => {
    const defaults = { maxDequeueCount: 5, visibilityTimeoutSeconds: 0, batchSize: 16, newBatchThreshold: 8, pollIntervalMs: 60_000 };
    expect(queueSettings(hostJson({ version: '2.0' }))).toEqual(defaults);
    expect(queueSettings(join(dir, 'does-not-exist.json'))).toEqual(defaults);
    expect(queueSettings(hostJson('{ not json'))).toEqual(defaults);
  });
});

describe('startTriggers with Azurite', () => {
  let azurite: RunningAzurite;
  let queues: QueueServiceClient;
  const runners: TriggerRunner[] = [];
  const logs: string[] = [];
  const log = (line: string) => void logs.push(line);
  const settings: QueueSettings = { maxDequeueCount: 3, visibilityTimeoutSeconds: 0, batchSize: 8, pollIntervalMs: 50 };
  const queueClient = (name: string): QueueClient => queues.getQueueClient(name);

  /** What the Functions host expects in a queue: base64 of the UTF-8 text. */
  const send = (queue: QueueClient, body: unknown) =>
    queue.sendMessage(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8').toString('base64'));

  const count = async (queue: QueueClient) => {
    if (!(await queue.exists())) return 0;
    // Includes invisible messages (being processed, or waiting for their visibility timeout).
    return (await queue.getProperties()).approximateMessagesCount ?? 0;
  };

  const run = (...registry: Array<QueueFunction | TimerFunction>) => {
    const runner = startTriggers(registry, queueClient, settings, log);
    runners.push(runner);
    return runner;
  };

  beforeAll(async () => {
    azurite = await startAzurite();
    queues = QueueServiceClient.fromConnectionString(azurite.connectionString);
  });

  afterAll(async () => {
    await Promise.all(runners.map((r) => r.stop()));
    await azurite?.stop();
  });

  it('hands a message to its function once, parsed, and deletes it on success', async () => {
    const queue = queueClient('work-ok');
    await queue.createIfNotExists();
    const calls: Array<{ message: unknown; metadata: Record<string, unknown> | undefined }> = [];
    const handled = deferred();
    const runner = run({
      kind: 'queue',
      name: 'okWorker',
      queueName: 'work-ok',
      handler: async (message: unknown, context: InvocationContext) => {
        calls.push({ message, metadata: context.triggerMetadata });
        handled.resolve();
      },
    });
    await send(queue, { job: 'abc', pages: 3 });
    await within(handled.promise, 30_000, 'the queue handler');
    await waitFor(async () => (await count(queue)) === 0, 'the message to be deleted');
    await runner.stop();

    expect(calls).toHaveLength(1);
    expect(calls[0]!.message).toEqual({ job: 'abc', pages: 3 });
    expect(calls[0]!.metadata).toMatchObject({ dequeueCount: 1, id: expect.any(String) });
    expect(await count(queue)).toBe(0);
    expect(await count(queueClient('work-ok-poison'))).toBe(0);
  });

  it('passes a message that is not JSON as a string', async () => {
    const queue = queueClient('work-text');
    await queue.createIfNotExists();
    const got = deferred<unknown>();
    const runner = run({ kind: 'queue', name: 'textWorker', queueName: 'work-text', handler: async (m) => got.resolve(m) });
    await send(queue, 'plain text, ünïcode');
    await expect(within(got.promise, 30_000, 'the queue handler')).resolves.toBe('plain text, ünïcode');
    await runner.stop();
  });

  it('moves a message that always fails to <queue>-poison after maxDequeueCount attempts', async () => {
    const queue = queueClient('work-fail');
    const poison = queueClient('work-fail-poison');
    await queue.createIfNotExists();
    const attempts: number[] = [];
    const runner = run({
      kind: 'queue',
      name: 'failingWorker',
      queueName: 'work-fail',
      handler: async (_m: unknown, context: InvocationContext) => {
        attempts.push(Number(context.triggerMetadata?.dequeueCount));
        throw new Error('always fails');
      },
    });
    await send(queue, { job: 'doomed' });
    await waitFor(async () => (await count(poison)) > 0, 'the message in the poison queue');
    await runner.stop();

    expect(attempts).toEqual([1, 2, 3]);
    expect(await count(queue)).toBe(0);
    const peeked = await poison.peekMessages({ numberOfMessages: 32 });
    expect(peeked.peekedMessageItems).toHaveLength(1);
    expect(JSON.parse(Buffer.from(peeked.peekedMessageItems[0]!.messageText, 'base64').toString('utf8'))).toEqual({ job: 'doomed' });
    expect(logs.filter((l) => l.startsWith('[failingWorker] attempt'))).toHaveLength(3);
  });

  it('moves a message received with a count above maxDequeueCount to poison without running the function (a worker died on its last attempt)', async () => {
    const queue = queueClient('work-died');
    const poison = queueClient('work-died-poison');
    await queue.createIfNotExists();
    await send(queue, { job: 'died' });
    // Three receptions whose workers "died" (never completed): the count is now 3 = maxDequeueCount.
    for (let i = 0; i < 3; i++) {
      const got = await queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 1 });
      expect(got.receivedMessageItems).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 1100));
    }
    let ran = 0;
    const runner = run({ kind: 'queue', name: 'diedWorker', queueName: 'work-died', handler: async () => void ran++ });
    await waitFor(async () => (await count(poison)) > 0, 'the message in the poison queue');
    await runner.stop();
    expect(ran).toBe(0);
    expect(await count(queue)).toBe(0);
  });

  it('takes another batch once the messages in flight are down to newBatchThreshold: a slow message holds back no other, at most batchSize + newBatchThreshold at once', async () => {
    const queue = queueClient('work-batches');
    await queue.createIfNotExists();
    const release = deferred();
    let running = 0;
    let most = 0;
    const done: string[] = [];
    const runner = startTriggers(
      [
        {
          kind: 'queue',
          name: 'batchWorker',
          queueName: 'work-batches',
          handler: async (m) => {
            running++;
            most = Math.max(most, running);
            const { id } = m as { id: string };
            if (id.startsWith('slow')) await release.promise;
            else await new Promise((r) => setTimeout(r, 20));
            running--;
            done.push(id);
          },
        },
      ],
      queueClient,
      { ...settings, batchSize: 2, newBatchThreshold: 1 },
      log,
    );
    runners.push(runner);
    await send(queue, { id: 'slow-1' });
    for (let i = 0; i < 6; i++) await send(queue, { id: `quick-${i}` });
    // The quick ones all get through while the slow one runs: the loop takes a batch whenever one
    // message or none is in flight (waiting for the whole batch, they would wait for the slow one).
    await waitFor(async () => done.length === 6, 'the quick messages');
    expect(done).not.toContain('slow-1');
    release.resolve();
    await waitFor(async () => done.length === 7, 'the slow message');
    await runner.stop();
    expect(most).toBeLessThanOrEqual(3);
    expect(done.sort()).toEqual(['quick-0', 'quick-1', 'quick-2', 'quick-3', 'quick-4', 'quick-5', 'slow-1']);
  });

  it('keeps a message invisible for as long as its function runs (renewed halfway), however long that is', async () => {
    const queue = queueClient('work-long');
    await queue.createIfNotExists();
    const release = deferred();
    const started: number[] = [];
    const runner = startTriggers(
      [
        {
          kind: 'queue',
          name: 'longWorker',
          queueName: 'work-long',
          handler: async (_m, c) => (started.push(Number(c.triggerMetadata?.dequeueCount)), await release.promise),
        },
      ],
      queueClient,
      // 6 s, renewed every 3 s: a renewal may come seconds late on a loaded two-core CI run (with 2 s
      // renewed every second, one second late let the message come back, twice in about ten runs).
      { ...settings, processingVisibilitySeconds: 6 },
      log,
    );
    runners.push(runner);
    await send(queue, { job: 'long' });
    await waitFor(async () => started.length > 0, 'the first invocation');
    // More than twice the visibility: without renewal the message would have come back twice by now.
    await new Promise((r) => setTimeout(r, 13_000));
    release.resolve();
    await waitFor(async () => (await count(queue)) === 0, 'the message to be deleted');
    await runner.stop();
    expect(started).toEqual([1]);
  });

  it('retries a message that fails once and then succeeds, without poisoning it', async () => {
    const queue = queueClient('work-flaky');
    await queue.createIfNotExists();
    const attempts: number[] = [];
    const done = deferred();
    const runner = run({
      kind: 'queue',
      name: 'flakyWorker',
      queueName: 'work-flaky',
      handler: async (_m: unknown, context: InvocationContext) => {
        attempts.push(Number(context.triggerMetadata?.dequeueCount));
        if (attempts.length === 1) throw new Error('first attempt fails');
        done.resolve();
      },
    });
    await send(queue, { job: 'flaky' });
    await within(done.promise, 30_000, 'the second attempt');
    await waitFor(async () => (await count(queue)) === 0, 'the message to be deleted');
    await runner.stop();
    expect(attempts).toEqual([1, 2]);
    expect(await count(queueClient('work-flaky-poison'))).toBe(0);
  });

  it('fires a timer on schedule * * * * * *', async () => {
    const fired = deferred<{ timer: Timer; functionName: string }>();
    const runner = run({
      kind: 'timer',
      name: 'everySecond',
      schedule: '* * * * * *',
      handler: async (timer: Timer, context: InvocationContext) => fired.resolve({ timer, functionName: context.functionName }),
    });
    const { timer, functionName } = await within(fired.promise, 30_000, 'the timer to fire');
    await runner.stop();
    expect(functionName).toBe('everySecond');
    expect(typeof timer.isPastDue).toBe('boolean');
  });

  it('stop() waits for a running timer invocation to finish', async () => {
    const started = deferred();
    const release = deferred();
    const order: string[] = [];
    const runner = run({
      kind: 'timer',
      name: 'slowTimer',
      schedule: '* * * * * *',
      handler: async () => {
        started.resolve();
        await release.promise;
        order.push('handler finished');
      },
    });
    await within(started.promise, 30_000, 'the timer to fire');
    const stopped = runner.stop().then(() => order.push('stopped'));
    // Give stop() a few turns of the event loop to (wrongly) finish before the handler does.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    release.resolve();
    await within(stopped, 30_000, 'stop()');
    expect(order).toEqual(['handler finished', 'stopped']);
  });
});

describe('resolveSchedule', () => {
  const { resolveSchedule } = jest.requireActual<typeof Triggers>('../../host/local/triggers');
  it('resolves %SETTING% from the environment, and leaves a plain expression alone', () => {
    expect(resolveSchedule('%TOKEN_REFRESH_SCHEDULE%', { TOKEN_REFRESH_SCHEDULE: '0 */5 * * * *' })).toBe('0 */5 * * * *');
    expect(resolveSchedule('0 0 * * * *', {})).toBe('0 0 * * * *');
  });
  it('names the missing setting', () => {
    expect(() => resolveSchedule('%TOKEN_REFRESH_SCHEDULE%', {})).toThrow('TOKEN_REFRESH_SCHEDULE is not set');
  });
});
