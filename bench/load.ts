/**
 * Load run (docs/scale.md): simulated printers, each sending its scan jobs one after the other,
 * all at once, to one local host (`node dist/host/local/main.js`: one Function instance) on
 * Azurite, every job delivered by e-mail to the SMTP sink (bench/sinks.ts, its own process).
 * One job in eight is sent a second time once answered, as a printer whose answer was lost
 * does. Reported per level of printers: jobs/s (first POST to the last mail's arrival), the
 * POST's latency (p50/p95/p99, measured by the printer), ingest → delivered (p50/p95/p99, from
 * the app's records: received → the delivery recorded delivered). Checked afterwards, or the
 * bench fails: every job answered 200 arrived exactly once (no loss, no duplicate), every resend
 * was answered with its first job's id, and the delivery queue is empty.
 */
import { Agent } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TableClient } from '@azure/data-tables';
import { QueueClient } from '@azure/storage-queue';
import { DELIVERIES_TABLE, DELIVERY_QUEUE, SCAN_JOBS_TABLE } from '../shared/storage';
import { ask } from './children';
import { postScan } from './client';
import { destinations, waitFor, withBenchStack } from './delivery';
import { KiB } from './payload';
import { percentiles } from './report';

const LEVELS = (process.env.BENCH_LOAD_PRINTERS || '16,64').split(',').map(Number);
const JOBS_PER_PRINTER = Number(process.env.BENCH_LOAD_JOBS_PER_PRINTER || 8);
const FILE_BYTES = 200 * KiB;
const RESEND_EVERY = 8;
const BENCH_UPN = 'bench@contoso.example';

export interface LoadLevel {
  printers: number;
  jobs: number;
  resends: number;
  jobsPerSecond: number;
  post: Percentiles;
  toDelivered: Percentiles;
  losses: number;
  duplicates: number;
}

type Percentiles = ReturnType<typeof percentiles>;

export interface LoadFigures {
  fileBytes: number;
  jobsPerPrinter: number;
  levels: LoadLevel[];
  /** Storage requests per job of the last level, by service and operation (bench/requestCounter.ts). */
  requestsPerJob: Record<string, number>;
}

export function runLoadBench(log: (m: string) => void): Promise<LoadFigures> {
  return withBenchStack(async ({ dir, azurite, sinks, startHost }) => {
    writeFileSync(join(dir, 'destinations.json'), destinations(sinks, ['mail']));
    const { child: host, url } = await startHost({
      DESTINATIONS_FILE: join(dir, 'destinations.json'),
      BENCH_COUNT_PORTS: JSON.stringify({ [azurite.blobPort]: 'blob', [azurite.queuePort]: 'queue', [azurite.tablePort]: 'table' }),
    });
    const scanUrl = `${url}/api/scan`;
    const table = (name: string) => TableClient.fromConnectionString(azurite.connectionString, name, { allowInsecureConnection: true });
    const queue = new QueueClient(azurite.connectionString, DELIVERY_QUEUE);

    const requestCounts = async () => (await ask<{ counts: Record<string, number> }>(host, { type: 'requestCounts' })).counts;
    const levels: LoadLevel[] = [];
    let perJob: Record<string, number> = {};
    for (const [run, printers] of [[0, 4] as const, ...LEVELS.map((p, i) => [i + 1, p] as const)]) {
      const warmUp = run === 0;
      const agent = new Agent({ keepAlive: true, maxSockets: printers });
      const accepted = new Map<string, string>(); // scanJobID → jobId
      const postMs: number[] = [];
      let resends = 0;
      let wrongResends = 0;
      const countedBefore = await requestCounts();
      const t0 = process.hrtime.bigint();
      const printer = async (p: number) => {
        for (let i = 0; i < (warmUp ? 2 : JOBS_PER_PRINTER); i++) {
          const scanJobID = `load-${run}-${p}-${i}`;
          const fields = { scanJobID, workflowName: 'mail', userEmail: BENCH_UPN, deviceName: `printer-${p}` };
          const began = process.hrtime.bigint();
          const answer = await postScan(scanUrl, [FILE_BYTES], agent, fields);
          postMs.push(Number(process.hrtime.bigint() - began) / 1e6);
          if (answer.status !== 200) throw new Error(`bench: ScanRelay answered ${answer.status}: ${answer.text.slice(0, 300)}`);
          const jobId = (answer.json as { jobId: string }).jobId;
          accepted.set(scanJobID, jobId);
          if (i % RESEND_EVERY === 3) {
            resends++;
            const again = await postScan(scanUrl, [FILE_BYTES], agent, fields);
            if (again.status !== 200 || (again.json as { jobId: string }).jobId !== jobId) wrongResends++;
          }
        }
      };
      await Promise.all(Array.from({ length: printers }, (_, p) => printer(p)));
      const subjectOf = (id: string) => `Scan ${id}`;
      await waitFor(`the load run's ${accepted.size} mails`, async () => {
        const got = await sinks.subjects();
        return [...accepted.keys()].every((id) => (got[subjectOf(id)] ?? 0) > 0);
      });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      agent.destroy();
      // Anything still to come would be a duplicate: the queue drains, and a moment more for a late send.
      await waitFor('the delivery queue to drain', async () => (await queue.peekMessages()).peekedMessageItems.length === 0);
      await sleep(2_000);
      const got = await sinks.subjects();
      const losses = [...accepted.keys()].filter((id) => !got[subjectOf(id)]).length;
      const duplicates = [...accepted.keys()].filter((id) => (got[subjectOf(id)] ?? 0) > 1).length + wrongResends;
      if (losses || duplicates)
        throw new Error(`bench: the load run with ${printers} printers lost ${losses} and duplicated ${duplicates} jobs`);
      if (warmUp) continue;
      const countedAfter = await requestCounts();
      // Storage requests per job at the last level: resends included (they are part of the load), the sweep timers' too.
      perJob = Object.fromEntries(
        Object.entries(countedAfter)
          .map(([op, n]) => [op, (n - (countedBefore[op] ?? 0)) / accepted.size] as const)
          .filter(([, n]) => n > 0),
      );

      const jobIds = new Set(accepted.values());
      const received = new Map<string, number>();
      for await (const e of table(SCAN_JOBS_TABLE).listEntities<{ receivedAt: Date }>()) {
        if (jobIds.has(e.partitionKey!) && e.receivedAt) received.set(e.partitionKey!, new Date(e.receivedAt).getTime());
      }
      const toDelivered: number[] = [];
      for await (const e of table(DELIVERIES_TABLE).listEntities<{ status: string }>()) {
        const start = received.get(e.partitionKey!);
        if (start !== undefined && e.status === 'delivered' && e.timestamp) toDelivered.push(new Date(e.timestamp).getTime() - start);
      }
      if (toDelivered.length !== jobIds.size) throw new Error(`bench: ${toDelivered.length} of ${jobIds.size} jobs recorded delivered`);
      const level: LoadLevel = {
        printers,
        jobs: accepted.size,
        resends,
        jobsPerSecond: accepted.size / (ms / 1000),
        post: percentiles(postMs),
        toDelivered: percentiles(toDelivered),
        losses,
        duplicates,
      };
      log(
        `load: ${printers} printers, ${level.jobs} jobs (+${resends} resends) in ${(ms / 1000).toFixed(1)} s: ` +
          `${level.jobsPerSecond.toFixed(1)} jobs/s, POST p95 ${level.post.p95.toFixed(0)} ms, delivered p95 ${level.toDelivered.p95.toFixed(0)} ms`,
      );
      levels.push(level);
    }
    return { fileBytes: FILE_BYTES, jobsPerPrinter: JOBS_PER_PRINTER, levels, requestsPerJob: perJob };
  });
}

export function loadMarkdown(f: LoadFigures): string {
  const ms = (v: number) => v.toFixed(0);
  const lines = [
    '## Load run',
    '',
    `Simulated printers, all at once, each sending ${f.jobsPerPrinter} jobs of one ${(f.fileBytes / KiB).toFixed(0)} KiB PDF one after the other (the next when the last is answered), to one local host (\`node dist/host/local/main.js\`: one Function instance, one Node.js process) on Azurite, every job delivered by e-mail to the SMTP sink (its own process). One job in ${RESEND_EVERY} is sent again once answered, as by a printer whose answer was lost. Jobs/s = jobs ÷ time from the first POST to the last mail's arrival. POST latency is the printer's; ingest → delivered runs from the job's \`receivedAt\` to its delivery's record. Checked after each level (the bench fails otherwise): every job arrived exactly once, every resend was answered with its first job, and the delivery queue is empty. The model these figures feed is in [scale.md](scale.md).`,
    '',
    '| Printers | Jobs (+ resends) | Jobs/s | POST p50 / p95 / p99 (ms) | Ingest → delivered p50 / p95 / p99 (ms) | Lost | Duplicated |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...f.levels.map(
      (l) =>
        `| ${l.printers} | ${l.jobs} (+${l.resends}) | ${l.jobsPerSecond.toFixed(1)} | ${ms(l.post.p50)} / ${ms(l.post.p95)} / ${ms(l.post.p99)} | ${ms(l.toDelivered.p50)} / ${ms(l.toDelivered.p95)} / ${ms(l.toDelivered.p99)} | ${l.losses} | ${l.duplicates} |`,
    ),
    '',
    `Storage requests per job at ${f.levels.at(-1)?.printers ?? 0} printers, counted in the host (bench/requestCounter.ts; resends, queue polls and timers included, so this is what an instance costs per job):`,
    '',
    '| Service | Operation | Requests per job |',
    '|---|---|---:|',
    ...Object.entries(f.requestsPerJob)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([op, n]) => {
        const [service, ...rest] = op.split(' ');
        return `| ${service} | \`${rest.join(' ')}\` | ${n < 0.005 ? '< 0.01' : n.toFixed(2)} |`;
      }),
    `| **all** | | **${Object.values(f.requestsPerJob)
      .reduce((a, b) => a + b, 0)
      .toFixed(2)}** |`,
    '',
  ];
  return lines.join('\n');
}
