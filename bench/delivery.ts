/**
 * End-to-end delivery: scan jobs POSTed to ScanRelay's local host (`node dist/host/local/main.js`,
 * the `npm start` entry, its own process) are stored in Azurite, queued, and delivered by the
 * queue trigger to an SMTP sink or to the local Graph server (OneDrive, application mode with an
 * app-only token from the test OIDC server); the sinks run in another process (bench/sinks.ts).
 * Reported: jobs per minute from the first POST to the last arrival, against a baseline that
 * sends the same files straight to the same sink from the bench process (no ScanRelay: what the
 * sink and loopback allow), and the deliverer's peak RSS while it streams one 200 MiB file to
 * OneDrive through an upload session (bench/deliverOnce.ts, a process doing only that).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import nodemailer from 'nodemailer';
import { TableClient } from '@azure/data-tables';
import { QueueClient } from '@azure/storage-queue';
import { startAzurite, type RunningAzurite } from '../host/local/azurite';
import { newKeyRingSecret } from '../shared/oauth';
import { DELIVERIES_TABLE, DELIVERY_ATTEMPTS_TABLE, DELIVERY_QUEUE, SCAN_JOB_KEYS_TABLE, SCAN_JOBS_TABLE } from '../shared/storage';
import { ask } from './children';
import { postScan, sendScans, type ScanAnswer } from './client';
import { fileStream, MiB } from './payload';
import { cpuMs, findChildPid, machineBusyMs } from './procstat';
import { ISSUE_TARGETS, percentiles } from './report';
import { Agent } from 'node:http';

export interface DeliveryFigures {
  jobs: number;
  fileBytes: number;
  inFlight: number;
  reps: number;
  rows: Array<{
    key: 'mail' | 'drive';
    destination: string;
    scanRelayJobsPerMinute: number;
    directJobsPerMinute: number;
    stages: Stages;
    /** CPU per job (ms), median of the runs, by process: what each side costs the machine's cores. */
    cpu: { scanRelay: CpuPerJob; direct: CpuPerJob };
  }>;
  big: { bytes: number; startRss: number; peakRss: number; ms: number; outcome: string };
}

/**
 * Where the measured jobs of one destination spent their time, from what the app recorded (ms,
 * median and 95th percentile over the jobs): received → stored (the request's upload and commit;
 * stored is when the scanJobID claim was completed, the commit's last write but the index row),
 * stored → the connector starts (the queue wait, the delivery lease, routing), the connector's
 * own time, and the connector's end → the destination recorded delivered.
 */
export interface CpuPerJob {
  /** ScanRelay's host (none on the direct side). */
  host: number;
  azurite: number;
  /** The sinks' process: SMTP server, Graph and OIDC test servers. */
  sinks: number;
  /** The bench process: the printers' POSTs, or the direct sends. */
  client: number;
  /** Every process on the machine, from /proc/stat. */
  machine: number;
}

/** Measures the CPU each process spends while `work` runs, per job. */
async function cpuPerJob(
  pids: { host?: number; azurite?: number; sinks?: number },
  jobs: number,
  work: () => Promise<void>,
): Promise<CpuPerJob> {
  const read = () => ({
    client: ((usage) => (usage.user + usage.system) / 1000)(process.cpuUsage()),
    host: cpuMs(pids.host) ?? 0,
    azurite: cpuMs(pids.azurite) ?? 0,
    sinks: cpuMs(pids.sinks) ?? 0,
    machine: machineBusyMs() ?? 0,
  });
  const before = read();
  await work();
  const after = read();
  const per = (k: keyof CpuPerJob) => (after[k] - before[k]) / jobs;
  return { host: per('host'), azurite: per('azurite'), sinks: per('sinks'), client: per('client'), machine: per('machine') };
}

function medianCpu(runs: CpuPerJob[]): CpuPerJob {
  const m = (k: keyof CpuPerJob) => median(runs.map((r) => r[k]));
  return { host: m('host'), azurite: m('azurite'), sinks: m('sinks'), client: m('client'), machine: m('machine') };
}

export interface Stages {
  jobs: number;
  toStored: { p50: number; p95: number };
  toConnector: { p50: number; p95: number };
  connector: { p50: number; p95: number };
  toRecorded: { p50: number; p95: number };
  total: { p50: number; p95: number };
}

/** The stages of the jobs delivered to `destination` whose connector started at or after `since`. */
async function stagesOf(connectionString: string, destination: string, since: Date): Promise<Stages> {
  const table = (name: string) => TableClient.fromConnectionString(connectionString, name, { allowInsecureConnection: true });
  const received = new Map<string, number>();
  for await (const e of table(SCAN_JOBS_TABLE).listEntities<{ receivedAt: Date }>()) {
    if (e.receivedAt) received.set(e.partitionKey!, new Date(e.receivedAt).getTime());
  }
  const stored = new Map<string, number>();
  for await (const e of table(SCAN_JOB_KEYS_TABLE).listEntities<{ jobId: string; status: string }>()) {
    if (e.status === 'stored' && e.timestamp) stored.set(e.jobId, new Date(e.timestamp).getTime());
  }
  const recorded = new Map<string, number>();
  for await (const e of table(DELIVERIES_TABLE).listEntities<{ status: string }>()) {
    if (e.rowKey === destination && e.status === 'delivered' && e.timestamp) recorded.set(e.partitionKey!, new Date(e.timestamp).getTime());
  }
  const rows: Array<{ toStored: number; toConnector: number; connector: number; toRecorded: number; total: number }> = [];
  const filter = `kind eq 'attempt' and outcome eq 'delivered'`;
  for await (const e of table(DELIVERY_ATTEMPTS_TABLE).listEntities<{ destinationId: string; at: Date; durationMs: number }>({
    queryOptions: { filter },
  })) {
    const at = new Date(e.at).getTime();
    const start = received.get(e.partitionKey!);
    const done = recorded.get(e.partitionKey!);
    const kept = stored.get(e.partitionKey!);
    if (e.destinationId !== destination || at < since.getTime() || start === undefined || done === undefined || kept === undefined)
      continue;
    const end = at + Number(e.durationMs ?? 0);
    rows.push({
      toStored: kept - start,
      toConnector: at - kept,
      connector: end - at,
      toRecorded: Math.max(0, done - end),
      total: done - start,
    });
  }
  const pick = (k: keyof (typeof rows)[number]) => {
    const { p50, p95 } = percentiles(rows.map((r) => r[k]));
    return { p50, p95 };
  };
  return {
    jobs: rows.length,
    toStored: pick('toStored'),
    toConnector: pick('toConnector'),
    connector: pick('connector'),
    toRecorded: pick('toRecorded'),
    total: pick('total'),
  };
}

const JOBS = Number(process.env.BENCH_DELIVERY_JOBS || 60);
const FILE_BYTES = MiB;
const IN_FLIGHT = 8;
const BIG_BYTES = 200 * MiB;
const BENCH_UPN = 'bench@contoso.example';
const DONE_TIMEOUT_MS = 120_000;

export interface Sinks {
  child: ChildProcess;
  smtpPort: number;
  graphBaseUrl: string;
  /** The Graph server with Outlook's limits on the paced run's clock (bench/pacedLimits.ts). */
  pacedGraphBaseUrl: string;
  idpBaseUrl: string;
  clientId: string;
  clientSecret: string;
  tenant: string;
  count(): Promise<{ smtp: number; graph: number }>;
  /** How many mails the SMTP sink accepted per Subject. */
  subjects(): Promise<Record<string, number>>;
}

export function forkSinks(): Promise<Sinks> {
  const child = fork(join(__dirname, 'sinks.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`sinks exited with ${code}`)));
    child.once('message', (ready: Omit<Sinks, 'child' | 'count'>) => {
      const count = () => ask<{ smtp: number; graph: number }>(child, { type: 'count' });
      const subjects = async () => (await ask<{ subjects: Record<string, number> }>(child, { type: 'subjects' })).subjects;
      resolve({ ...ready, child, count, subjects });
    });
  });
}

export async function waitFor(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + DONE_TIMEOUT_MS;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}; the host said:\n${hostOutput}`);
    await sleep(20);
  }
}

export function destinations(sinks: Sinks, ids: string[]): string {
  const all: Record<string, unknown> = {
    mail: {
      id: 'mail',
      type: 'smtp',
      when: { workflowName: 'mail' },
      options: {
        auth: { kind: 'system', host: '127.0.0.1', port: sinks.smtpPort, secure: false },
        from: 'scanrelay@contoso.example',
        to: '%userEmail%',
        subject: 'Scan %scanJobID%',
        body: 'Scanned.',
      },
    },
    drive: { id: 'drive', type: 'oneDrive', when: { workflowName: 'drive' }, options: { auth: 'application', folder: 'Bench' } },
    big: { id: 'big', type: 'oneDrive', when: { workflowName: 'big' }, options: { auth: 'application', folder: 'Big' } },
  };
  return JSON.stringify({ version: 1, destinations: ids.map((id) => all[id]) });
}

/** Sends the same files straight to the sink: SMTP with nodemailer (a connection per message, as the connector), Graph with one PUT each. */
async function direct(sinks: Sinks, destination: string): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < JOBS) {
      const i = next++;
      if (destination === 'mail') {
        const transport = nodemailer.createTransport({ host: '127.0.0.1', port: sinks.smtpPort, secure: false, ignoreTLS: true });
        await transport.sendMail({
          from: 'direct@contoso.example',
          to: BENCH_UPN,
          subject: `Direct ${i}`,
          text: 'Scanned.',
          attachments: [{ filename: 'scan-1.pdf', contentType: 'application/pdf', content: fileStream(FILE_BYTES) }],
        });
        transport.close();
      } else {
        const chunks: Buffer[] = [];
        for await (const c of fileStream(FILE_BYTES)) chunks.push(c as Buffer);
        const res = await fetch(
          `${sinks.graphBaseUrl}/users/${BENCH_UPN}/drive/root:/Direct/scan-${i}.pdf:/content?@microsoft.graph.conflictBehavior=rename`,
          {
            method: 'PUT',
            headers: { authorization: 'Bearer direct', 'content-type': 'application/octet-stream' },
            body: Buffer.concat(chunks),
          },
        );
        if (!res.ok) throw new Error(`bench: direct Graph PUT answered ${res.status}`);
        await res.arrayBuffer();
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** The host's output, the last few KiB (shown when the bench fails). */
let hostOutput = '';

export function startHost(env: NodeJS.ProcessEnv, cwd: string): Promise<{ child: ChildProcess; url: string }> {
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', resolve(process.env.BENCH_CPU_PROF)] : [];
  // bench/requestCounter.ts counts the host's requests per service (BENCH_COUNT_PORTS; the load run asks over IPC).
  const counter = env.BENCH_COUNT_PORTS ? ['--require', join(__dirname, 'requestCounter.js')] : [];
  const child = spawn(process.execPath, [...counter, ...profile, join(__dirname, '..', 'host', 'local', 'main.js')], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  return new Promise((done, reject) => {
    let ready = false;
    child.once('exit', (code) => !ready && reject(new Error(`bench: the local host exited with ${code}:\n${hostOutput}`)));
    const keep = (c: Buffer) => {
      hostOutput = (hostOutput + c.toString()).slice(-4096);
      const m = /(http:\/\/localhost:\d+)\/api\/scan\b/.exec(hostOutput);
      if (!ready && m && hostOutput.includes('Press Ctrl-C')) {
        ready = true;
        done({ child, url: m[1]! });
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
  });
}

export interface BenchStack {
  dir: string;
  azurite: RunningAzurite;
  sinks: Sinks;
  /** The environment of ScanRelay's processes on this stack (Azurite, the secrets, the sinks' Graph and OIDC servers). */
  env: NodeJS.ProcessEnv;
  /** Starts the local host with `env` and `extra`; it is stopped with the stack. */
  startHost: (extra: NodeJS.ProcessEnv) => Promise<{ child: ChildProcess; url: string }>;
}

/**
 * Runs `work` on a fresh stack: Azurite, the sinks' process and a temporary folder holding the
 * secrets; then stops every host it started, the sinks and Azurite, and removes the folder.
 */
export async function withBenchStack<T>(work: (stack: BenchStack) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'scanrelay-bench-'));
  const azurite = await startAzurite({});
  const sinks = await forkSinks();
  const hosts: ChildProcess[] = [];
  try {
    writeFileSync(
      join(dir, 'secrets.json'),
      JSON.stringify({ 'oauth-client-secret': sinks.clientSecret, 'token-encryption-keys': newKeyRingSecret('k1'), 'admin-key': 'bench' }),
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // The children run in a temporary folder: the test CA (HTTPS to the OIDC server) by absolute path.
      ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: resolve(process.env.NODE_EXTRA_CA_CERTS) } : {}),
      AzureWebJobsStorage: azurite.connectionString,
      SECRETS_LOCAL_FILE: join(dir, 'secrets.json'),
      GRAPH_BASE_URL: sinks.graphBaseUrl,
      OAUTH_AUTHORITY_HOST: sinks.idpBaseUrl,
      OAUTH_TENANT: sinks.tenant,
      OAUTH_CLIENT_ID: sinks.clientId,
      PORT: '0',
      // Each process reads its own destinations file (one Azurite): pinned, as before destinations were stored.
      DESTINATIONS_PINNED: 'true',
    };
    const startHostHere = async (extra: NodeJS.ProcessEnv) => {
      const started = await startHost({ ...env, ...extra }, dir);
      hosts.push(started.child);
      return started;
    };
    return await work({ dir, azurite, sinks, env, startHost: startHostHere });
  } finally {
    for (const host of hosts) {
      host.kill('SIGINT');
      if (host.exitCode === null) await new Promise((r) => host.once('exit', r));
    }
    sinks.child.send({ type: 'stop' });
    await new Promise((r) => sinks.child.once('exit', r));
    await azurite.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function runDeliveryBench(reps: number): Promise<DeliveryFigures> {
  return withBenchStack(async ({ dir, azurite, sinks, env: stackEnv, startHost: start }) => {
    writeFileSync(join(dir, 'host-destinations.json'), destinations(sinks, ['mail', 'drive']));
    writeFileSync(join(dir, 'big-destinations.json'), destinations(sinks, ['big']));
    const env: NodeJS.ProcessEnv = { ...stackEnv, SCAN_MAX_REQUEST_BYTES: String(300 * MiB), SCAN_MAX_FILE_BYTES: String(300 * MiB) };
    const started = await start({ ...env, DESTINATIONS_FILE: join(dir, 'host-destinations.json') });
    const scanUrl = `${started.url}/api/scan`;
    const check = (a: ScanAnswer) => {
      if (a.status !== 200) throw new Error(`bench: ScanRelay answered ${a.status}: ${a.text.slice(0, 300)}`);
    };
    const arrived = async (d: string) => ((await sinks.count()) as Record<string, number>)[d === 'mail' ? 'smtp' : 'graph']!;

    // Warm-up (unmeasured): a few jobs through each destination, and the direct path.
    for (const d of ['mail', 'drive']) {
      const before = await arrived(d);
      await sendScans(scanUrl, { key: 'w', title: 'warm-up', requests: 4, filesPerRequest: 1, fileBytes: FILE_BYTES, inFlight: 4 }, check, {
        workflowName: d,
        userEmail: BENCH_UPN,
      });
      await waitFor(`${d} warm-up`, async () => (await arrived(d)) >= before + 4);
    }

    const rows: DeliveryFigures['rows'] = [];
    for (const d of ['mail', 'drive'] as const) {
      const relayMs: number[] = [];
      const directMs: number[] = [];
      const relayCpu: CpuPerJob[] = [];
      const directCpu: CpuPerJob[] = [];
      const pids = { host: started.child.pid, azurite: findChildPid('azurite'), sinks: sinks.child.pid };
      const measuredSince = new Date();
      for (let rep = 0; rep < reps; rep++) {
        const before = await arrived(d);
        relayCpu.push(
          await cpuPerJob(pids, JOBS, async () => {
            const t0 = process.hrtime.bigint();
            await sendScans(
              scanUrl,
              { key: d, title: d, requests: JOBS, filesPerRequest: 1, fileBytes: FILE_BYTES, inFlight: IN_FLIGHT },
              check,
              { workflowName: d, userEmail: BENCH_UPN },
            );
            await waitFor(`${d} deliveries`, async () => (await arrived(d)) >= before + JOBS);
            relayMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
          }),
        );
        const beforeDirect = await arrived(d);
        directCpu.push(
          await cpuPerJob({ sinks: sinks.child.pid }, JOBS, async () => {
            directMs.push(await direct(sinks, d));
          }),
        );
        if ((await arrived(d)) < beforeDirect + JOBS) throw new Error('bench: the direct sends did not all arrive');
      }
      const perMinute = (ms: number[]) => (JOBS / median(ms)) * 60_000;
      rows.push({
        key: d,
        destination: d === 'mail' ? 'E-mail (SMTP sink)' : 'OneDrive (Graph test server)',
        scanRelayJobsPerMinute: perMinute(relayMs),
        directJobsPerMinute: perMinute(directMs),
        stages: await stagesOf(azurite.connectionString, d, measuredSince),
        cpu: { scanRelay: medianCpu(relayCpu), direct: medianCpu(directCpu) },
      });
    }

    // One 200 MiB scan: ingested by the host (no destination there selects it), then delivered by a process doing only that.
    const agent = new Agent({ keepAlive: false });
    const answer = await postScan(scanUrl, [BIG_BYTES], agent, { workflowName: 'big', userEmail: BENCH_UPN });
    agent.destroy();
    check(answer);
    const jobId = (answer.json as { jobId: string }).jobId;
    const queue = new QueueClient(azurite.connectionString, DELIVERY_QUEUE);
    await waitFor('the host to take the big job off the queue', async () => (await queue.peekMessages()).peekedMessageItems.length === 0);
    const big = await new Promise<DeliveryFigures['big']>((resolve, reject) => {
      const child = fork(join(__dirname, 'deliverOnce.js'), [jobId], {
        env: { ...env, DESTINATIONS_FILE: join(dir, 'big-destinations.json') },
        execArgv: ['--expose-gc'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.once('message', (m: { type: string; message?: string } & Omit<DeliveryFigures['big'], 'bytes'>) =>
        m.type === 'done' ? resolve({ ...m, bytes: BIG_BYTES }) : reject(new Error(`bench: deliverOnce failed: ${m.message}`)),
      );
      child.once('exit', (code) => code !== 0 && reject(new Error(`bench: deliverOnce exited with ${code}`)));
    });
    if (big.outcome !== 'delivered') throw new Error(`bench: the 200 MiB job was ${big.outcome}`);
    return { jobs: JOBS, fileBytes: FILE_BYTES, inFlight: IN_FLIGHT, reps, rows, big };
  });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function deliveryMarkdown(f: DeliveryFigures): string {
  const cores = cpus().length;
  const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
  const lines = [
    '## End-to-end delivery',
    '',
    `${f.jobs} scan jobs of one ${mib(f.fileBytes)} PDF, ${f.inFlight} POSTs in flight, to ScanRelay's local host (\`node dist/host/local/main.js\`, the \`npm start\` entry) on Azurite; each job is stored, queued and delivered by the queue trigger. Jobs per minute = jobs ÷ time from the first POST to the last arrival at the sink, median of ${f.reps} runs. **Direct** is the baseline of the same run: the bench process sends the same files straight to the same sink, ${f.inFlight} at a time (nodemailer with a connection per message; one Graph PUT per file), so it shows what the sink and loopback allow. The SMTP sink (smtp-server), the local Graph server and the test OIDC server (app-only tokens, OneDrive application mode) run in their own process.`,
    '',
    '| Destination | ScanRelay, ingest → delivered (jobs/min) | Direct to the sink (jobs/min) | ScanRelay / direct |',
    '|---|---:|---:|---:|',
    ...f.rows.map(
      (r) =>
        `| ${r.destination} | ${r.scanRelayJobsPerMinute.toFixed(0)} | ${r.directJobsPerMinute.toFixed(0)} | ${((r.scanRelayJobsPerMinute / r.directJobsPerMinute) * 100).toFixed(0)} % |`,
    ),
    '',
    "Where a measured job spent its time, from what ScanRelay recorded (its received time; stored: when its scanJobID claim was completed, the commit's last write before the index row; the delivery attempt's start and duration; the time its destination's row was written `delivered`), median / 95th percentile in ms over the jobs of all runs. Received → stored is the request's upload and commit; stored → connector starts the wait in the queue (its polling, and the jobs ahead in a batch), the delivery lease and routing. The percentiles of the stages need not add up to the total's.",
    '',
    '| Destination | Jobs | Received → stored | Stored → connector starts | Connector | Connector end → recorded | Received → recorded (ingest → delivered) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...f.rows.map((r) => {
      const s = r.stages;
      const c = (x: { p50: number; p95: number }) => `${x.p50.toFixed(0)} / ${x.p95.toFixed(0)}`;
      return `| ${r.destination} | ${s.jobs} | ${c(s.toStored)} | ${c(s.toConnector)} | ${c(s.connector)} | ${c(s.toRecorded)} | ${c(s.total)} |`;
    }),
    '',
    `CPU per job (ms of CPU time, median of the runs), by process, from /proc; "machine" is every process's, so it includes what the bench does not name. Both sides share the same ${cores} cores, so a side that keeps them busy goes no faster than ${cores} cores ÷ its machine CPU per job ("limit on these cores"). ScanRelay's side receives each file, stores it in Azurite, reads it back and sends it; the direct side only sends. The last column is the machine CPU per job at which ScanRelay, if it kept the cores busy, would reach its target ratio of the direct sends measured here.`,
    '',
    '| Destination | ScanRelay: host / Azurite / sinks / printers (bench) | ScanRelay: machine | ScanRelay: limit on these cores (jobs/min) | Direct: sender (bench) / sinks | Direct: machine | Target | Machine CPU per job the target allows |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...f.rows.map((r) => {
      const { scanRelay: a, direct: b } = r.cpu;
      const n = (x: number) => x.toFixed(1);
      const target = ISSUE_TARGETS[r.key];
      const allowed = (cores * 60_000) / (target * r.directJobsPerMinute);
      return `| ${r.destination} | ${n(a.host)} / ${n(a.azurite)} / ${n(a.sinks)} / ${n(a.client)} | ${n(a.machine)} | ${((cores * 60_000) / a.machine).toFixed(0)} | ${n(b.client)} / ${n(b.sinks)} | ${n(b.machine)} | ${(target * 100).toFixed(0)} % | ${n(allowed)} |`;
    }),
    '',
    `**Deliverer memory.** One ${mib(f.big.bytes)} scan delivered to OneDrive through an upload session (3.125 MiB chunks) by a process doing only that delivery (\`bench/deliverOnce.ts\`: the queue function's \`deliverJob\` with the app's services): RSS ${mib(f.big.startRss)} before, peak ${mib(f.big.peakRss)}, growth **${mib(f.big.peakRss - f.big.startRss)}** for a ${mib(f.big.bytes)} file; ${(f.big.ms / 1000).toFixed(1)} s (${(f.big.bytes / MiB / (f.big.ms / 1000)).toFixed(0)} MiB/s).`,
    '',
  ];
  return lines.join('\n');
}
