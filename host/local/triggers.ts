/**
 * The local host's non-HTTP triggers, with the Functions host's semantics:
 * - timers on NCRONTAB schedules (`sec min hour day month weekday`, local time as in Core Tools);
 * - storage queues polled, messages base64-decoded (JSON parsed when it is JSON), deleted on
 *   success, made visible again after `visibilityTimeout` on failure, and moved to
 *   `<queue>-poison` after `maxDequeueCount` attempts (values from host.json);
 * - batches as the host takes them (QueuesOptions, Microsoft.Azure.WebJobs.Extensions.Storage.Queues
 *   5.x): up to `batchSize` messages per receive, another batch whenever the messages in flight are
 *   down to `newBatchThreshold` (default batchSize / 2), so at most batchSize + newBatchThreshold
 *   run at once and a slow message does not hold back the next batch;
 * - an empty queue polled again after 100 ms, then twice as long each time up to
 *   `maxPollingInterval` (the host's randomized exponential back-off, without the randomness),
 *   and at once again after a batch.
 *
 * As the Functions host's queue listener does (Azure/azure-webjobs-sdk,
 * src/Microsoft.Azure.WebJobs.Extensions.Storage/Queues/Listeners/QueueListener.cs and
 * QueueProcessor.cs), a message is received invisible for 10 minutes and made invisible again
 * halfway through for as long as its function runs. So when the process dies mid-invocation,
 * the message comes back 5 to 10 minutes later with its dequeue count one higher, and a message
 * received with a count above maxDequeueCount goes to poison without running the function.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { formatWithOptions } from 'node:util';
import { InvocationContext, type Timer } from '@azure/functions';
import type { QueueClient } from '@azure/storage-queue';
import { parseSchedule } from '../../shared/schedule';
import type { FunctionDefinition, QueueFunction, TimerFunction } from '../definitions';

export { parseSchedule };

export interface QueueSettings {
  maxDequeueCount: number;
  /** How long a failed message stays invisible before its next attempt (host.json). */
  visibilityTimeoutSeconds: number;
  batchSize: number;
  /** Another batch is received once the messages in flight are down to this (host.json `newBatchThreshold`; default batchSize / 2). */
  newBatchThreshold?: number;
  /** The longest wait between polls of an empty queue (host.json `maxPollingInterval`; the host's default 1 minute). */
  pollIntervalMs: number;
  /**
   * How long a message being processed stays invisible, renewed halfway for as long as its
   * function runs: 10 minutes in the Functions host (not configurable there).
   */
  processingVisibilitySeconds?: number;
}

/** The Functions host's visibility for a message being processed. */
export const PROCESSING_VISIBILITY_SECONDS = 600;

/** Reads the queue settings from host.json (`extensions.queues`), with the host's defaults. */
export function queueSettings(hostJsonPath = 'host.json'): QueueSettings {
  let q: Record<string, unknown> = {};
  try {
    q = (JSON.parse(readFileSync(hostJsonPath, 'utf8')) as { extensions?: { queues?: Record<string, unknown> } }).extensions?.queues ?? {};
  } catch {
    // defaults below
  }
  const timespan = (v: unknown) => {
    const m = typeof v === 'string' ? /^(\d+):(\d+):(\d+)$/.exec(v) : null;
    return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : 0;
  };
  const batchSize = Math.min(32, Number(q.batchSize ?? 16));
  // A TimeSpan string, or (as the host also accepts) a number of milliseconds.
  const maxPolling = typeof q.maxPollingInterval === 'number' ? q.maxPollingInterval : timespan(q.maxPollingInterval) * 1000;
  return {
    maxDequeueCount: Number(q.maxDequeueCount ?? 5),
    visibilityTimeoutSeconds: timespan(q.visibilityTimeout),
    batchSize,
    newBatchThreshold: Number(q.newBatchThreshold ?? Math.floor(batchSize / 2)),
    pollIntervalMs: maxPolling > 0 ? maxPolling : 60_000,
  };
}

export interface TriggerRunner {
  stop(): Promise<void>;
}

export function startTriggers(
  registry: readonly FunctionDefinition[],
  queueClient: (name: string) => QueueClient,
  settings: QueueSettings,
  log: (line: string) => void = console.log,
): TriggerRunner {
  const stops: Array<() => Promise<void>> = [];
  for (const fn of registry) {
    if (fn.kind === 'timer') stops.push(runTimer(fn, log));
    if (fn.kind === 'queue') stops.push(runQueue(fn, queueClient(fn.queueName), queueClient(`${fn.queueName}-poison`), settings, log));
  }
  return { stop: async () => void (await Promise.all(stops.map((s) => s()))) };
}

function context(name: string, log: (line: string) => void, triggerMetadata?: Record<string, unknown>): InvocationContext {
  return new InvocationContext({
    invocationId: randomUUID(),
    functionName: name,
    triggerMetadata,
    // Through the host's log (tests and benchmarks pass a quiet one), like every other line it writes.
    logHandler: (level, ...args) => log(formatWithOptions({ breakLength: Infinity }, `[${name}] ${level}:`, ...args)),
  });
}

/** Resolves `%SETTING%` in a schedule from the environment, as the Functions host does. */
export function resolveSchedule(schedule: string, env: NodeJS.ProcessEnv = process.env): string {
  const m = /^%([A-Za-z0-9_]+)%$/.exec(schedule.trim());
  if (!m) return schedule;
  const value = env[m[1]!];
  if (!value) throw new Error(`Schedule '${schedule}': the app setting ${m[1]} is not set.`);
  return value;
}

function runTimer(fn: TimerFunction, log: (line: string) => void): () => Promise<void> {
  const matches = parseSchedule(resolveSchedule(fn.schedule));
  let running: Promise<void> | undefined;
  let last = Math.floor(Date.now() / 1000);
  const tick = setInterval(() => {
    const now = Math.floor(Date.now() / 1000);
    for (let s = last + 1; s <= now; s++) {
      if (!matches(new Date(s * 1000)) || running) continue;
      const timer: Timer = { isPastDue: s < now, scheduleStatus: { last: '', next: '', lastUpdated: '' } } as Timer;
      running = fn
        .handler(timer, context(fn.name, log))
        .catch((err: unknown) => log(`[${fn.name}] failed: ${(err as Error)?.message}`))
        .finally(() => (running = undefined));
    }
    last = now;
  }, 250);
  return async () => {
    clearInterval(tick);
    await running;
  };
}

function runQueue(
  fn: QueueFunction,
  queue: QueueClient,
  poison: QueueClient,
  settings: QueueSettings,
  log: (line: string) => void,
): () => Promise<void> {
  const processing = settings.processingVisibilitySeconds ?? PROCESSING_VISIBILITY_SECONDS;
  let stopped = false;
  let wake: (() => void) | undefined;
  const toPoison = async (m: ReceivedMessage, popReceipt: string) => {
    await poison.createIfNotExists();
    await poison.sendMessage(m.messageText);
    await queue.deleteMessage(m.messageId, popReceipt);
  };
  const processOne = async (m: ReceivedMessage) => {
    if (m.dequeueCount > settings.maxDequeueCount) {
      log(`[${fn.name}] message ${m.messageId} has reached maxDequeueCount ${settings.maxDequeueCount}: moved to ${poison.name}`);
      return toPoison(m, m.popReceipt);
    }
    let popReceipt = m.popReceipt;
    // Halfway to becoming visible, make it invisible again, for as long as the function runs.
    const renewal = setInterval(
      () => {
        queue.updateMessage(m.messageId, popReceipt, undefined, processing).then(
          (r) => void (popReceipt = r.popReceipt!),
          (err: unknown) => log(`[${fn.name}] renewing a message's invisibility failed: ${(err as Error)?.message}`),
        );
      },
      (processing * 1000) / 2,
    );
    let failure: unknown;
    try {
      await fn.handler(
        decode(m.messageText),
        context(fn.name, log, { id: m.messageId, dequeueCount: m.dequeueCount, insertionTime: m.insertedOn, popReceipt }),
      );
    } catch (err) {
      failure = err ?? new Error('failed');
    } finally {
      clearInterval(renewal);
    }
    if (failure === undefined) return void (await queue.deleteMessage(m.messageId, popReceipt));
    log(`[${fn.name}] attempt ${m.dequeueCount} failed: ${(failure as Error)?.message}`);
    if (m.dequeueCount >= settings.maxDequeueCount) await toPoison(m, popReceipt);
    else await queue.updateMessage(m.messageId, popReceipt, undefined, settings.visibilityTimeoutSeconds);
  };
  const threshold = settings.newBatchThreshold ?? Math.floor(settings.batchSize / 2);
  const inFlight = new Set<Promise<void>>();
  const loop = (async () => {
    await queue.createIfNotExists();
    let delay = Math.min(MIN_POLLING_MS, settings.pollIntervalMs);
    while (!stopped) {
      if (inFlight.size > threshold) {
        await Promise.race(inFlight);
        continue;
      }
      let received = 0;
      try {
        const batch = await queue.receiveMessages({ numberOfMessages: settings.batchSize, visibilityTimeout: processing });
        received = batch.receivedMessageItems.length;
        for (const m of batch.receivedMessageItems) {
          const run: Promise<void> = processOne(m)
            .catch((err: unknown) => log(`[${fn.name}] completing a message failed: ${(err as Error)?.message}`))
            .finally(() => inFlight.delete(run));
          inFlight.add(run);
        }
      } catch (err) {
        log(`[${fn.name}] queue poll failed: ${(err as Error)?.message}`);
      }
      if (received > 0) {
        delay = Math.min(MIN_POLLING_MS, settings.pollIntervalMs);
        continue;
      }
      if (stopped) break;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, delay);
      });
      delay = Math.min(delay * 2, settings.pollIntervalMs);
    }
    await Promise.all(inFlight);
  })();
  return async () => {
    stopped = true;
    wake?.();
    await loop;
  };
}

/** The host's shortest wait between polls (QueuePollingIntervals.Minimum). */
const MIN_POLLING_MS = 100;

type ReceivedMessage = Awaited<ReturnType<QueueClient['receiveMessages']>>['receivedMessageItems'][number];

/** base64-decoded; JSON parsed when it is JSON, as the Functions host binds it. */
function decode(messageText: string): unknown {
  const text = Buffer.from(messageText, 'base64').toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text; // a plain string message
  }
}
