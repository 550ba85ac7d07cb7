/**
 * Paced mailbox run: a burst of 500 scan jobs, every one to be sent from one mailbox by Graph mail
 * (application mode), through one local host, to a Graph test server that enforces Outlook's
 * limits per app and mailbox (4 concurrent requests, 150 MB uploaded per 5 minutes, 10,000
 * requests per 10 minutes) and records when each message left the mailbox (Exchange's 30 a
 * minute). Every window runs on a shortened clock, the app's (RATE_LIMIT_WINDOW_SCALE) and the
 * server's alike (bench/pacedLimits.ts): a minute lasts 3 s. Fails unless every job was sent
 * exactly once, the server answered no 429, no window of the clock held more than 30 messages
 * and no more than 4 requests were in flight at once.
 */
import { Agent } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueClient } from '@azure/storage-queue';
import { DELIVERY_QUEUE } from '../shared/storage';
import { ask } from './children';
import { postScan } from './client';
import { withBenchStack } from './delivery';
import { MiB } from './payload';
import { PACED_EXCHANGE, PACED_OUTLOOK_LIMITS, PACED_UPN, PACED_WINDOW_SCALE } from './pacedLimits';

const JOBS = Number(process.env.BENCH_PACED_JOBS || 500);
const FILE_BYTES = MiB;
const IN_FLIGHT = 16;
const DEADLINE_MS = 600_000;

export interface PacedFigures {
  jobs: number;
  fileBytes: number;
  /** The burst: from the first POST to the last answer. */
  postSeconds: number;
  /** From the first message sent to the last. */
  sendSeconds: number;
  messagesPerSecond: number;
  /** The most messages sent in any window of Exchange's (scaled) minute. */
  maxMessagesPerWindow: number;
  maxConcurrent: number;
  throttled: Record<string, number>;
  /** What the limits allow at most, messages a second (the lower of Exchange's and Outlook's bytes). */
  budgetPerSecond: { messages: number; uploadBytes: number };
}

interface PacedState {
  sentTimes: number[];
  subjects: Record<string, number>;
  throttled: Record<string, number>;
  maxConcurrent: number;
}

export function runPacedBench(log: (m: string) => void): Promise<PacedFigures> {
  return withBenchStack(async ({ dir, sinks, azurite, startHost }) => {
    writeFileSync(
      join(dir, 'paced-destinations.json'),
      JSON.stringify({
        version: 1,
        destinations: [
          {
            id: 'paced',
            type: 'graphMail',
            when: {},
            options: { auth: 'application', from: PACED_UPN, to: 'ada@contoso.example', subject: 'Scan %scanJobID%', body: 'Scanned.' },
          },
        ],
      }),
    );
    const { url } = await startHost({
      DESTINATIONS_FILE: join(dir, 'paced-destinations.json'),
      GRAPH_BASE_URL: sinks.pacedGraphBaseUrl,
      RATE_LIMIT_WINDOW_SCALE: String(PACED_WINDOW_SCALE),
    });
    const state = () => ask<PacedState>(sinks.child, { type: 'paced' });
    const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
    const ids = Array.from({ length: JOBS }, (_, i) => `paced-${i}`);
    let next = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < ids.length) {
          const scanJobID = ids[next++]!;
          const answer = await postScan(`${url}/api/scan`, [FILE_BYTES], agent, { scanJobID, workflowName: 'paced' });
          if (answer.status !== 200) throw new Error(`bench: ScanRelay answered ${answer.status}: ${answer.text.slice(0, 300)}`);
        }
      }),
    );
    const postSeconds = (Date.now() - t0) / 1000;
    agent.destroy();
    log(`paced: ${JOBS} jobs accepted in ${postSeconds.toFixed(1)} s; waiting for the mailbox to send them`);
    const subjectOf = (id: string) => `Scan ${id}`;
    for (let s = await state(); !ids.every((id) => s.subjects[subjectOf(id)]); s = await state()) {
      if (Date.now() - t0 > DEADLINE_MS) throw new Error(`bench: ${Object.keys(s.subjects).length} of ${JOBS} paced jobs sent in time`);
      await sleep(250);
    }
    const queue = new QueueClient(azurite.connectionString, DELIVERY_QUEUE);
    while ((await queue.peekMessages()).peekedMessageItems.length > 0) await sleep(250);
    await sleep(2_000);
    const s = await state();

    const lost = ids.filter((id) => !s.subjects[subjectOf(id)]).length;
    const duplicated = ids.filter((id) => (s.subjects[subjectOf(id)] ?? 0) > 1).length;
    const times = [...s.sentTimes].sort((a, b) => a - b);
    let maxMessagesPerWindow = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= PACED_EXCHANGE.windowMs) j++;
      maxMessagesPerWindow = Math.max(maxMessagesPerWindow, i - j + 1);
    }
    const throttledTotal = Object.values(s.throttled).reduce((a, b) => a + b, 0);
    const sendSeconds = (times.at(-1)! - times[0]!) / 1000;
    // What a message uploads, as the app reckons it (files in base64 and an allowance for the JSON).
    const perMessage = Math.ceil(FILE_BYTES / 3) * 4 + 64 * 1024;
    const figures: PacedFigures = {
      jobs: JOBS,
      fileBytes: FILE_BYTES,
      postSeconds,
      sendSeconds,
      messagesPerSecond: (times.length - 1) / sendSeconds,
      maxMessagesPerWindow,
      maxConcurrent: s.maxConcurrent,
      throttled: s.throttled,
      budgetPerSecond: {
        messages: PACED_EXCHANGE.messages / (PACED_EXCHANGE.windowMs / 1000),
        uploadBytes: Math.floor(PACED_OUTLOOK_LIMITS.mailboxUploadBytes / perMessage) / (PACED_OUTLOOK_LIMITS.mailboxUploadWindowMs / 1000),
      },
    };
    log(
      `paced: sent in ${sendSeconds.toFixed(1)} s (${figures.messagesPerSecond.toFixed(1)} messages/s), at most ${maxMessagesPerWindow} in a window, ` +
        `${s.maxConcurrent} in flight, 429s ${JSON.stringify(s.throttled)}`,
    );
    if (lost || duplicated) throw new Error(`bench: the paced run lost ${lost} and duplicated ${duplicated} jobs`);
    if (throttledTotal > 0) throw new Error(`bench: the paced mailbox was answered 429: ${JSON.stringify(s.throttled)}`);
    if (maxMessagesPerWindow > PACED_EXCHANGE.messages)
      throw new Error(
        `bench: ${maxMessagesPerWindow} messages left the mailbox within one window (Exchange allows ${PACED_EXCHANGE.messages})`,
      );
    if (s.maxConcurrent > PACED_OUTLOOK_LIMITS.mailboxConcurrency)
      throw new Error(`bench: ${s.maxConcurrent} requests in flight to the mailbox`);
    return figures;
  });
}

export function pacedMarkdown(f: PacedFigures): string {
  const windowS = PACED_EXCHANGE.windowMs / 1000;
  const bound = Math.min(f.budgetPerSecond.messages, f.budgetPerSecond.uploadBytes);
  return [
    '## Paced mailbox',
    '',
    `A burst of ${f.jobs} jobs of one ${(f.fileBytes / MiB).toFixed(0)} MiB PDF (${IN_FLIGHT} POSTs in flight), every one sent by Graph mail (application mode) from one mailbox, through one local host, to a Graph test server enforcing Outlook's limits per app and mailbox: 4 concurrent requests, 150 MB uploaded per 5 minutes, 10,000 requests per 10 minutes ([Microsoft](https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits)); Exchange's 30 messages a minute ([Microsoft](https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits#sending-limits)) checked from the times the messages left. Every window on a clock ${1 / PACED_WINDOW_SCALE} times faster, the app's (\`RATE_LIMIT_WINDOW_SCALE=${PACED_WINDOW_SCALE}\`) and the server's alike: a minute lasts ${windowS} s. The bench fails on any 429, loss or duplicate.`,
    '',
    '| Jobs | Burst accepted in | Sent over | Messages/s | Allowed by the limits | Most messages in a window (limit 30) | Most requests in flight (limit 4) | 429s | Lost / duplicated |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${f.jobs} | ${f.postSeconds.toFixed(1)} s | ${f.sendSeconds.toFixed(1)} s | ${f.messagesPerSecond.toFixed(1)} | ${bound.toFixed(1)} (${f.budgetPerSecond.messages.toFixed(1)} by messages, ${f.budgetPerSecond.uploadBytes.toFixed(1)} by bytes) | ${f.maxMessagesPerWindow} | ${f.maxConcurrent} | ${Object.values(f.throttled).reduce((a, b) => a + b, 0)} | 0 / 0 |`,
    '',
    `On Microsoft's clock the same burst takes ${(f.sendSeconds / PACED_WINDOW_SCALE / 60).toFixed(0)} minutes: one mailbox sends at most 30 scans a minute, and fewer when they are large (150 MB per 5 minutes: about 20 a minute of 1 MiB), whatever the fleet (docs/scale.md).`,
    '',
  ].join('\n');
}
