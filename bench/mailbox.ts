/**
 * Mailbox ingest (issue 15): N messages (BENCH_MAILBOX_MESSAGES, default 1,000), each with one
 * 1 MiB PDF of its own, taken in from the Graph test server's mailbox by ScanRelay's local host
 * (`node dist/host/local/main.js`, the `npm start` entry, its own process, a mailbox source with
 * application access) and stored as scan jobs in Azurite; side by side, in the same run, a direct
 * Graph read of the same kind of attachments by a minimal hand-written relay (bench/mailDirect.ts,
 * its own process: list the folder, stream each `$value` into Blob Storage with uploadStream, move
 * the message; 4 in flight). The Graph server with the mailboxes and the test OIDC server run in a
 * third process (bench/mailServer.ts), so that neither side is charged for them.
 *
 * Every run of a side gets a fresh Azurite (data on tmpfs where /dev/shm exists, as bench/run.ts),
 * a fresh process and a mailbox of its own, warms up with a few messages (unmeasured), then gets
 * its N messages delivered without notifications. ScanRelay's clock starts when the bench puts one
 * `{ kind: 'read', sourceId }` message on the `mailbox-work` queue (the backstop read: the delta
 * query queues every message, the queue trigger takes each in); the baseline's when the bench
 * sends its child `run`. Both stop when the Graph server has all N in ScanRelay/Processed. RSS of
 * the side's process is sampled from /proc every 20 ms (and the kernel's VmHWM, reset when the
 * clock starts); CPU of the side, Azurite and the Graph server from /proc; HTTP requests by
 * service counted in the side's process (bench/requestCounter.ts, preloaded).
 *
 * Checked after every run, failing the bench when wrong: N distinct stored jobs, one per message,
 * each with one file of the message's size and SHA-256 and a blob of that size; no message left in
 * the inbox, N in ScanRelay/Processed; at most 4 requests in flight to a mailbox; for the baseline N
 * blobs of the right names and sizes; on both sides 16 blobs read back and hashed.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { accessSync, constants, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TableClient } from '@azure/data-tables';
import { ContainerClient } from '@azure/storage-blob';
import { QueueClient } from '@azure/storage-queue';
import { startAzurite, type RunningAzurite } from '../host/local/azurite';
import { queueSettings } from '../host/local/triggers';
import { MAILBOX_KEY_PREFIX } from '../shared/ingest';
import { newKeyRingSecret } from '../shared/oauth';
import { MAILBOX_QUEUE, SCAN_CONTAINER, SCAN_JOBS_TABLE, unpackText, type StoredFile } from '../shared/storage';
import { ask } from './children';
import type { DirectSetup } from './mailDirect';
import { MiB } from './payload';
import { cpuMs, findChildPid, sampleRss, type RssWindow } from './procstat';
import { machine, median } from './report';

const MESSAGES = Math.max(1, Number(process.env.BENCH_MAILBOX_MESSAGES || 1000));
const FILE_BYTES = MiB;
const WARMUP_MESSAGES = 8;
/** Outlook's limit per mailbox, which both sides keep. */
const IN_FLIGHT = 4;
const SOURCE_ID = 'bench';
const SENDER = 'mfp-bench@contoso.example';
const PROCESSED = 'ScanRelay/Processed';
const BASELINE_CONTAINER = 'bench-mail-direct';
const ADMIN_KEY = 'bench-admin-key';
/** Schedules that do not come round during a bench (1 January, midnight). */
const NEVER = '0 0 0 1 1 *';
const RUN_TIMEOUT_MS = 15 * 60_000;
const POLL_MS = 50;
/** Blobs read back and hashed per run. */
const SPOT_CHECKS = 16;
const HOST_JSON = join(__dirname, '..', '..', 'host.json');
const COUNTER = join(__dirname, 'requestCounter.js');

export type MailboxSide = 'scanrelay' | 'direct';

export interface MailboxRun {
  side: MailboxSide;
  run: number;
  ms: number;
  rss: RssWindow;
  /** CPU time during the measured run, ms: the side's process, Azurite, the Graph server's process. */
  cpuMs?: number;
  azuriteCpuMs?: number;
  graphCpuMs?: number;
  /** ScanRelay: from the clock's start until the backstop read had queued every message (its log line). */
  readMs?: number;
  /** The side's HTTP requests during the measured run, by `<service> <METHOD> <operation>`. */
  requests: Record<string, number>;
  /** 429s the Graph server answered the side's mailbox during the measured run. */
  throttled: number;
  /** Most requests the Graph server had in flight for the side's mailbox (warm-up included). */
  maxConcurrent: number;
}

export interface MailboxFigures {
  messages: number;
  fileBytes: number;
  warmup: number;
  reps: number;
  storage: string;
  runs: MailboxRun[];
  /** The local host's queue batch size (host.json), as it ran. */
  batchSize: number;
  /** host.json's newBatchThreshold: another batch once this many or fewer are in flight. */
  newBatchThreshold: number;
  cores: number;
  cpu: string;
  node: string;
  loadAtStart: number;
  totalSeconds: number;
}

interface Delivered {
  internetMessageId: string;
  sha256: string;
  size: number;
}

// ---- the Graph server's process --------------------------------------------------------------

interface MailServer {
  child: ChildProcess;
  graphBaseUrl: string;
  idpBaseUrl: string;
  clientId: string;
  clientSecret: string;
  tenant: string;
  deliver(upn: string, count: number, tag: string): Promise<Delivered[]>;
  count(upn: string, folder: string): Promise<number>;
  moved(upn: string): Promise<number>;
  stats(upn: string): Promise<{ maxConcurrent: number; throttled: number; requests: number }>;
  stop(): Promise<void>;
}

async function forkMailServer(): Promise<MailServer> {
  const child = fork(join(__dirname, 'mailServer.js'), [], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // One request at a time: replies of the same type cannot be told apart.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(m: { type: string } & Record<string, unknown>): Promise<T> => {
    const next = chain.then(() => ask<T>(child, m));
    chain = next.catch(() => undefined);
    return next;
  };
  const ready = await new Promise<Omit<MailServer, 'child' | 'deliver' | 'count' | 'moved' | 'stats' | 'stop'>>((res, rej) => {
    child.once('error', rej);
    child.once('exit', (code) => rej(new Error(`bench: the mail server exited with ${code}`)));
    child.once('message', res);
  });
  return {
    ...ready,
    child,
    deliver: async (upn, count, tag) =>
      (await serial<{ messages: Delivered[] }>({ type: 'deliver', upn, from: SENDER, count, bytes: FILE_BYTES, tag })).messages,
    count: async (upn, folder) => (await serial<{ count: number }>({ type: 'count', upn, folder })).count,
    moved: async (upn) => (await serial<{ count: number }>({ type: 'moved', upn })).count,
    stats: (upn) => serial({ type: 'stats', upn }),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.send({ type: 'stop' });
      await exited;
    },
  };
}

// ---- helpers ----------------------------------------------------------------------------------

const AZURITE_MODE = ((): 'shm' | 'memory' => {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return 'shm';
  } catch {
    return 'memory';
  }
})();

interface Store {
  azurite: RunningAzurite;
  pid?: number;
  stop(): Promise<void>;
}

async function freshAzurite(): Promise<Store> {
  const location = AZURITE_MODE === 'shm' ? mkdtempSync(join('/dev/shm', 'scanrelay-bench-mail-azurite-')) : undefined;
  const removeData = () => location && rmSync(location, { recursive: true, force: true });
  let azurite: RunningAzurite;
  try {
    azurite = await startAzurite({ location });
  } catch (err) {
    removeData();
    throw err;
  }
  return { azurite, pid: findChildPid('azurite'), stop: () => azurite.stop().finally(removeData) };
}

/** Who is who for bench/requestCounter.ts, by port. */
function countPorts(store: Store, mail: MailServer): string {
  const { blobPort, queuePort, tablePort } = store.azurite;
  return JSON.stringify({
    [blobPort]: 'blob',
    [queuePort]: 'queue',
    [tablePort]: 'table',
    [new URL(mail.graphBaseUrl).port]: 'graph',
    [new URL(mail.idpBaseUrl).port]: 'identity',
  });
}

async function waitFor(what: string, done: () => Promise<boolean>, timeoutMs = RUN_TIMEOUT_MS, context = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}${context()}`);
    await sleep(POLL_MS);
  }
}

/** Until `target` messages are in the processed folder: the cheap count of moves first, then the folder itself. */
async function waitProcessed(mail: MailServer, upn: string, target: number, what: string, context?: () => string): Promise<void> {
  await waitFor(what, async () => (await mail.moved(upn)) >= target, RUN_TIMEOUT_MS, context);
  await waitFor(what, async () => (await mail.count(upn, PROCESSED)) >= target, RUN_TIMEOUT_MS, context);
}

type Measured = Pick<MailboxRun, 'ms' | 'rss' | 'cpuMs' | 'azuriteCpuMs' | 'graphCpuMs' | 'requests'>;

/** Runs `work` between two readings of the side's process, Azurite and the Graph server: wall time, RSS window, CPU, requests. */
async function measured(pids: { side: ChildProcess; azurite?: number; graph?: number }, work: () => Promise<void>): Promise<Measured> {
  const side = pids.side.pid!;
  const counts = () => ask<{ counts: Record<string, number> }>(pids.side, { type: 'requestCounts' }).then((r) => r.counts);
  const countsBefore = await counts();
  const before = { side: cpuMs(side), azurite: cpuMs(pids.azurite), graph: cpuMs(pids.graph) };
  const sampler = sampleRss(side);
  const t0 = process.hrtime.bigint();
  await work();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const rss = sampler?.stop() ?? { start: 0, peak: 0, samples: 0 };
  const diff = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? b - a : undefined);
  const after = { side: cpuMs(side), azurite: cpuMs(pids.azurite), graph: cpuMs(pids.graph) };
  const requests = Object.fromEntries(
    Object.entries(await counts())
      .map(([k, n]) => [k, n - (countsBefore[k] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  );
  return {
    ms,
    rss,
    cpuMs: diff(before.side, after.side),
    azuriteCpuMs: diff(before.azurite, after.azurite),
    graphCpuMs: diff(before.graph, after.graph),
    requests,
  };
}

/** Reads some blobs back and compares their SHA-256 with the message's. */
async function spotCheck(container: ContainerClient, blobs: Array<{ name: string; expected: Delivered }>, side: string): Promise<void> {
  const step = Math.max(1, Math.floor(blobs.length / SPOT_CHECKS));
  for (let i = 0; i < blobs.length; i += step) {
    const { name, expected } = blobs[i]!;
    const hash = createHash('sha256');
    const body = (await container.getBlobClient(name).download()).readableStreamBody!;
    for await (const chunk of body) hash.update(chunk as Buffer);
    if (hash.digest('hex') !== expected.sha256) {
      throw new Error(`bench: ${side}: blob ${name} does not hold ${expected.internetMessageId}'s attachment`);
    }
  }
}

async function checkBlobSizes(
  container: ContainerClient,
  blobs: Array<{ name: string; expected: Delivered }>,
  side: string,
): Promise<void> {
  const sizes = new Map<string, number>();
  for await (const b of container.listBlobsFlat()) sizes.set(b.name, b.properties.contentLength ?? -1);
  for (const { name, expected } of blobs) {
    const size = sizes.get(name);
    if (size !== expected.size) throw new Error(`bench: ${side}: blob ${name} has ${size ?? 'no'} bytes, expected ${expected.size}`);
  }
}

async function checkMailbox(mail: MailServer, upn: string, side: string): Promise<void> {
  const [inbox, processed] = [await mail.count(upn, 'inbox'), await mail.count(upn, PROCESSED)];
  if (inbox !== 0) throw new Error(`bench: ${side}: ${inbox} messages left in the inbox`);
  const expected = WARMUP_MESSAGES + MESSAGES;
  if (processed !== expected) throw new Error(`bench: ${side}: ${processed} messages in ${PROCESSED}, expected ${expected}`);
}

/** Every stored job of a mailbox message, checked against what was delivered; → the jobs' blobs. */
async function checkJobs(
  connectionString: string,
  expected: Map<string, Delivered>,
): Promise<Array<{ name: string; expected: Delivered }>> {
  const table = TableClient.fromConnectionString(connectionString, SCAN_JOBS_TABLE, { allowInsecureConnection: true });
  const jobsOf = new Map<string, string[]>();
  const blobs: Array<{ name: string; expected: Delivered }> = [];
  for await (const e of table.listEntities<Record<string, unknown>>()) {
    if (e.rowKey !== 'job' || typeof e.scanJobId !== 'string' || !e.scanJobId.startsWith(MAILBOX_KEY_PREFIX)) continue;
    const fields = JSON.parse(unpackText('fields', e)) as Record<string, string>;
    const want = expected.get(fields.internetMessageId ?? '');
    if (!want) continue; // a warm-up message
    const id = e.partitionKey!;
    if (e.status !== 'stored') throw new Error(`bench: ScanRelay: job ${id} is ${String(e.status)}, not stored`);
    jobsOf.set(want.internetMessageId, [...(jobsOf.get(want.internetMessageId) ?? []), id]);
    const files = JSON.parse(unpackText('files', e)) as StoredFile[];
    if (files.length !== 1) throw new Error(`bench: ScanRelay: job ${id} has ${files.length} files, not 1`);
    const [f] = files as [StoredFile];
    if (f.size !== want.size) throw new Error(`bench: ScanRelay: job ${id}'s file has ${f.size} bytes, not ${want.size}`);
    if (f.sha256 !== want.sha256) throw new Error(`bench: ScanRelay: job ${id}'s file has a wrong SHA-256`);
    blobs.push({ name: f.blobName, expected: want });
  }
  const duplicates = [...jobsOf.values()].filter((ids) => ids.length > 1).length;
  if (duplicates) throw new Error(`bench: ScanRelay: ${duplicates} messages have more than one job`);
  if (jobsOf.size !== expected.size) throw new Error(`bench: ScanRelay: ${jobsOf.size} messages have a job, expected ${expected.size}`);
  return blobs;
}

// ---- ScanRelay: the local host ----------------------------------------------------------------

interface Host {
  child: ChildProcess;
  url: string;
  /** The end of the host's output. */
  output(): string;
  /** When the host last logged a completed folder read (process.hrtime.bigint()), if it did. */
  lastRead(): bigint | undefined;
}

function startHost(env: NodeJS.ProcessEnv, cwd: string): Promise<Host> {
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', resolve(process.env.BENCH_CPU_PROF)] : [];
  const child = spawn(process.execPath, ['--require', COUNTER, ...profile, join(__dirname, '..', 'host', 'local', 'main.js')], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  let partial = '';
  let lastRead: bigint | undefined;
  return new Promise((done, reject) => {
    let ready = false;
    child.once('exit', (code) => !ready && reject(new Error(`bench: the local host exited with ${code}:\n${output}`)));
    const keep = (c: Buffer) => {
      const text = c.toString();
      const lines = (partial + text).split('\n');
      partial = lines.pop()!.slice(-1000);
      // shared/mailbox/read.ts logs this once a read has queued every message it found.
      if (lines.some((l) => l.includes('mailbox: folder read'))) lastRead = process.hrtime.bigint();
      output = (output + text).slice(-8192);
      const m = /(http:\/\/localhost:\d+)\/api\/scan\b/.exec(output);
      if (!ready && m && output.includes('Press Ctrl-C')) {
        ready = true;
        done({ child, url: m[1]!, output: () => output, lastRead: () => lastRead });
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
  });
}

async function stopProcess(child: ChildProcess, stop: () => void): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  stop();
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function runScanRelay(mail: MailServer, run: number, log: (line: string) => void): Promise<MailboxRun> {
  const upn = `scans-scanrelay-${run}@contoso.example`;
  const store = await freshAzurite();
  const dir = mkdtempSync(join(tmpdir(), 'scanrelay-bench-mailbox-'));
  let host: Host | undefined;
  try {
    const cs = store.azurite.connectionString;
    writeFileSync(
      join(dir, 'secrets.json'),
      JSON.stringify({ 'oauth-client-secret': mail.clientSecret, 'token-encryption-keys': newKeyRingSecret('k1'), 'admin-key': ADMIN_KEY }),
    );
    // No destination: every job becomes undeliverable once stored. Ingest is what is measured.
    writeFileSync(join(dir, 'destinations.json'), JSON.stringify({ version: 1, destinations: [] }));
    // The app's queue settings (batch size, visibility), which the local host reads from its working folder.
    copyFileSync(HOST_JSON, join(dir, 'host.json'));
    host = await startHost(
      {
        ...process.env,
        ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: resolve(process.env.NODE_EXTRA_CA_CERTS) } : {}),
        BENCH_COUNT_PORTS: countPorts(store, mail),
        AzureWebJobsStorage: cs,
        SECRETS_LOCAL_FILE: join(dir, 'secrets.json'),
        DESTINATIONS_FILE: join(dir, 'destinations.json'),
        GRAPH_BASE_URL: mail.graphBaseUrl,
        OAUTH_AUTHORITY_HOST: mail.idpBaseUrl,
        OAUTH_TENANT: mail.tenant,
        OAUTH_CLIENT_ID: mail.clientId,
        PORT: '0',
        // The bench starts the backstop read itself; no timer comes round meanwhile.
        MAILBOX_READ_SCHEDULE: NEVER,
        MAILBOX_SUBSCRIPTION_SCHEDULE: NEVER,
        DIRECTORY_SYNC_SCHEDULE: NEVER,
        INGEST_SWEEP_SCHEDULE: NEVER,
        TOKEN_REFRESH_SCHEDULE: NEVER,
      },
      dir,
    );
    const context = () => `; the host said:\n${host?.output() ?? ''}`;
    const res = await fetch(`${host.url}/api/mailboxes`, {
      method: 'POST',
      headers: { 'x-functions-key': ADMIN_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        id: SOURCE_ID,
        mailbox: upn,
        access: 'application',
        workflowName: 'Mail scans',
        allowedSenders: ['contoso.example'],
      }),
    });
    if (res.status !== 201) throw new Error(`bench: creating the mailbox source answered ${res.status}: ${await res.text()}`);
    const queue = new QueueClient(cs, MAILBOX_QUEUE);
    await queue.createIfNotExists();
    // Base64 JSON, as shared/storage/mailboxQueue.ts writes it.
    const read = () => queue.sendMessage(Buffer.from(JSON.stringify({ kind: 'read', sourceId: SOURCE_ID })).toString('base64'));

    // Warm-up (unmeasured): the token, the folders, the JIT, the tables and queues.
    await mail.deliver(upn, WARMUP_MESSAGES, `sr${run}-warm`);
    await read();
    await waitFor('the warm-up messages', async () => (await mail.count(upn, PROCESSED)) >= WARMUP_MESSAGES, 60_000, context);

    const delivered = await mail.deliver(upn, MESSAGES, `sr${run}`);
    await sleep(1000); // the deliveries of the warm-up done, the host's queue pollers idle
    const throttledBefore = (await mail.stats(upn)).throttled;
    let readMs: number | undefined;
    const figures = await measured({ side: host.child, azurite: store.pid, graph: mail.child.pid }, async () => {
      const t0 = process.hrtime.bigint();
      await read();
      await waitProcessed(mail, upn, WARMUP_MESSAGES + MESSAGES, `ScanRelay to take in ${MESSAGES} messages`, context);
      const readAt = host!.lastRead();
      readMs = readAt !== undefined && readAt > t0 ? Number(readAt - t0) / 1e6 : undefined;
    });
    log(`mailbox: run ${run}, ScanRelay: ${MESSAGES} messages in ${(figures.ms / 1000).toFixed(1)} s; checking the jobs`);

    await checkMailbox(mail, upn, 'ScanRelay');
    const blobs = await checkJobs(cs, new Map(delivered.map((d) => [d.internetMessageId, d])));
    const container = new ContainerClient(cs, SCAN_CONTAINER);
    await checkBlobSizes(container, blobs, 'ScanRelay');
    await spotCheck(container, blobs, 'ScanRelay');
    const stats = await mail.stats(upn);
    return { side: 'scanrelay', run, ...figures, readMs, throttled: stats.throttled - throttledBefore, maxConcurrent: stats.maxConcurrent };
  } finally {
    if (host) await stopProcess(host.child, () => host!.child.kill('SIGINT'));
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the baseline: a minimal relay ------------------------------------------------------------

async function runDirect(mail: MailServer, run: number, log: (line: string) => void): Promise<MailboxRun> {
  const upn = `scans-direct-${run}@contoso.example`;
  const store = await freshAzurite();
  const child = fork(join(__dirname, 'mailDirect.js'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, BENCH_COUNT_PORTS: countPorts(store, mail) },
    execArgv: [
      '--require',
      COUNTER,
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', resolve(process.env.BENCH_CPU_PROF)] : []),
    ],
  });
  try {
    const setup: DirectSetup = {
      graphBaseUrl: mail.graphBaseUrl,
      tokenUrl: `${mail.idpBaseUrl}/${mail.tenant}/oauth2/v2.0/token`,
      clientId: mail.clientId,
      clientSecret: mail.clientSecret,
      upn,
      connectionString: store.azurite.connectionString,
      container: BASELINE_CONTAINER,
      processedFolder: PROCESSED,
    };
    const take = () => ask<{ moved: number }>(child, { type: 'run', setup });

    await mail.deliver(upn, WARMUP_MESSAGES, `direct${run}-warm`);
    await take();
    const delivered = await mail.deliver(upn, MESSAGES, `direct${run}`);
    const throttledBefore = (await mail.stats(upn)).throttled;
    const figures = await measured({ side: child, azurite: store.pid, graph: mail.child.pid }, async () => {
      const done = take();
      await waitProcessed(mail, upn, WARMUP_MESSAGES + MESSAGES, `the direct read to move ${MESSAGES} messages`);
      if ((await done).moved !== MESSAGES) throw new Error('bench: the direct read did not list every message');
    });
    log(`mailbox: run ${run}, direct: ${MESSAGES} messages in ${(figures.ms / 1000).toFixed(1)} s; checking the blobs`);

    await checkMailbox(mail, upn, 'direct');
    const container = new ContainerClient(store.azurite.connectionString, BASELINE_CONTAINER);
    // bench/mailServer.ts names the attachment of message i of a batch scan-<tag>-<i + 1>.pdf; mailDirect stores it by that name.
    const blobs = delivered.map((d, i) => ({ name: `scan-direct${run}-${i + 1}.pdf`, expected: d }));
    await checkBlobSizes(container, blobs, 'direct');
    await spotCheck(container, blobs, 'direct');
    const stats = await mail.stats(upn);
    return { side: 'direct', run, ...figures, throttled: stats.throttled - throttledBefore, maxConcurrent: stats.maxConcurrent };
  } finally {
    await stopProcess(child, () => child.send({ type: 'stop' }));
    await store.stop();
  }
}

// ---- the bench ------------------------------------------------------------------------------

export async function runMailboxBench(log: (line: string) => void, reps: number): Promise<MailboxFigures> {
  const began = Date.now();
  const m = machine();
  log(
    `mailbox ingest: ${MESSAGES} messages of one ${FILE_BYTES / MiB} MiB PDF, ScanRelay's local host and a direct Graph read, ${reps} run(s) each`,
  );
  const mail = await forkMailServer();
  const runs: MailboxRun[] = [];
  try {
    for (let run = 1; run <= reps; run++) {
      // Alternate which side goes first.
      const order: MailboxSide[] = run % 2 ? ['scanrelay', 'direct'] : ['direct', 'scanrelay'];
      for (const side of order) {
        const r = side === 'scanrelay' ? await runScanRelay(mail, run, log) : await runDirect(mail, run, log);
        if (r.maxConcurrent > IN_FLIGHT) throw new Error(`bench: ${side} had ${r.maxConcurrent} requests in flight to its mailbox`);
        runs.push(r);
      }
    }
  } finally {
    await mail.stop();
  }
  return {
    messages: MESSAGES,
    fileBytes: FILE_BYTES,
    warmup: WARMUP_MESSAGES,
    reps,
    storage: AZURITE_MODE === 'shm' ? 'data on tmpfs, /dev/shm' : 'data in memory',
    runs,
    batchSize: queueSettings(HOST_JSON).batchSize,
    newBatchThreshold: queueSettings(HOST_JSON).newBatchThreshold ?? Math.floor(queueSettings(HOST_JSON).batchSize / 2),
    cores: m.cores,
    cpu: m.cpu,
    node: m.node,
    loadAtStart: m.loadAtStart,
    totalSeconds: (Date.now() - began) / 1000,
  };
}

// ---- the report -----------------------------------------------------------------------------

interface SideSummary {
  ms: number;
  perMinute: number;
  peakMedian: number;
  peakMax: number;
  startMedian: number;
  /** Per message, ms of CPU. */
  cpu?: number;
  azurite?: number;
  graph?: number;
  readMs?: number;
  /** Per message, by service; and by operation. */
  byService: Record<string, number>;
  byOperation: Array<[string, number]>;
  throttled: number;
  maxConcurrent: number;
}

function summary(f: MailboxFigures, side: MailboxSide): SideSummary {
  const runs = f.runs.filter((r) => r.side === side);
  const ms = median(runs.map((r) => r.ms));
  const peak = (r: MailboxRun) => Math.max(r.rss.peak, r.rss.kernelPeak ?? 0);
  const perMessage = (values: Array<number | undefined>) =>
    values.every((v) => v !== undefined) ? median(values) / f.messages : undefined;
  const operations = new Map<string, number[]>();
  for (const r of runs) for (const [k, n] of Object.entries(r.requests)) operations.set(k, [...(operations.get(k) ?? []), n]);
  const byOperation = [...operations]
    .map(([k, ns]) => [k, median([...ns, ...Array<number>(runs.length - ns.length).fill(0)]) / f.messages] as [string, number])
    .sort((a, b) => b[1] - a[1]);
  const byService: Record<string, number> = {};
  for (const [k, n] of byOperation) byService[k.split(' ', 1)[0]!] = (byService[k.split(' ', 1)[0]!] ?? 0) + n;
  const reads = runs.map((r) => r.readMs);
  return {
    ms,
    perMinute: (f.messages / ms) * 60_000,
    peakMedian: median(runs.map(peak)),
    peakMax: Math.max(...runs.map(peak)),
    startMedian: median(runs.map((r) => r.rss.start)),
    cpu: perMessage(runs.map((r) => r.cpuMs)),
    azurite: perMessage(runs.map((r) => r.azuriteCpuMs)),
    graph: perMessage(runs.map((r) => r.graphCpuMs)),
    readMs: reads.every((v) => v !== undefined) ? median(reads) : undefined,
    byService,
    byOperation,
    throttled: Math.max(...runs.map((r) => r.throttled)),
    maxConcurrent: Math.max(...runs.map((r) => r.maxConcurrent)),
  };
}

export function mailboxMarkdown(f: MailboxFigures): string {
  const sr = summary(f, 'scanrelay');
  const dr = summary(f, 'direct');
  const n = (v: number) => v.toLocaleString('en-US');
  const mib = (b: number) => (b / MiB).toFixed(0);
  const ms = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(1));
  const req = (v: number | undefined) => (v === undefined || v === 0 ? '–' : v.toFixed(v < 0.1 ? 2 : 1));
  const pct = (r: number) => `${(r * 100).toFixed(0)} %`;
  const ratio = sr.perMinute / dr.perMinute;
  const services = ['graph', 'blob', 'table', 'queue', 'identity', 'other'].filter((s) => sr.byService[s] || dr.byService[s]);
  const totalCpu = (s: SideSummary) => (s.cpu ?? 0) + (s.azurite ?? 0) + (s.graph ?? 0);
  const busy = (s: SideSummary) => (totalCpu(s) * f.messages) / s.ms;
  const storage = (s: SideSummary) => (s.byService.blob ?? 0) + (s.byService.table ?? 0) + (s.byService.queue ?? 0);
  const runRows = f.runs.map(
    (r) =>
      `| ${r.run} | ${r.side === 'scanrelay' ? 'ScanRelay' : 'direct'} | ${(r.ms / 1000).toFixed(1)} | ${n(Math.round((f.messages / r.ms) * 60_000))} | ` +
      `${mib(r.rss.start)} → ${mib(Math.max(r.rss.peak, r.rss.kernelPeak ?? 0))} | ${r.cpuMs === undefined ? 'n/a' : (r.cpuMs / 1000).toFixed(1)} / ` +
      `${r.azuriteCpuMs === undefined ? 'n/a' : (r.azuriteCpuMs / 1000).toFixed(1)} / ${r.graphCpuMs === undefined ? 'n/a' : (r.graphCpuMs / 1000).toFixed(1)} |`,
  );
  return [
    '## Mailbox ingest',
    '',
    `${n(f.messages)} messages, each with one ${mib(f.fileBytes)} MiB PDF of its own, taken in from a mailbox of the Graph test server`,
    `by ScanRelay's local host (\`node dist/host/local/main.js\`, the \`npm start\` entry: a mailbox source with application`,
    "access, the backstop's delta read, the `mailbox-work` queue trigger, each message stored as a scan job by shared/ingest's",
    '`ingestFiles`, then moved to ScanRelay/Processed), against a **direct Graph read** of the same kind of messages in the same',
    'run: what a minimal hand-written relay does (bench/mailDirect.ts: list the folder, then per message list its attachments,',
    'stream the `$value` into Blob Storage with `uploadStream` and move the message; no job record, queue or claim). Both keep',
    `at most ${IN_FLIGHT} requests in flight to the mailbox (Outlook's limit). Median of ${f.reps} run${f.reps > 1 ? 's' : ''} per side.`,
    '',
    `| | ScanRelay | Direct Graph read | ScanRelay / direct |`,
    '|---|---:|---:|---:|',
    `| Messages per minute | ${n(Math.round(sr.perMinute))} | ${n(Math.round(dr.perMinute))} | **${pct(ratio)}** |`,
    `| Wall time for ${n(f.messages)} messages (s) | ${(sr.ms / 1000).toFixed(1)} | ${(dr.ms / 1000).toFixed(1)} | |`,
    `| Peak RSS of the process (MiB), median (max) | ${mib(sr.peakMedian)} (${mib(sr.peakMax)}) | ${mib(dr.peakMedian)} (${mib(dr.peakMax)}) | |`,
    `| RSS when the clock started (MiB) | ${mib(sr.startMedian)} | ${mib(dr.startMedian)} | |`,
    `| CPU per message (ms): the process | ${ms(sr.cpu)} | ${ms(dr.cpu)} | |`,
    `| CPU per message (ms): Azurite | ${ms(sr.azurite)} | ${ms(dr.azurite)} | |`,
    `| CPU per message (ms): the Graph server's process | ${ms(sr.graph)} | ${ms(dr.graph)} | |`,
    ...services.map(
      (s) =>
        `| ${s === 'identity' ? 'Token' : s[0]!.toUpperCase() + s.slice(1)} requests per message | ${req(sr.byService[s])} | ${req(dr.byService[s])} | |`,
    ),
    `| Most requests in flight to the mailbox; 429s | ${sr.maxConcurrent}; ${sr.throttled} | ${dr.maxConcurrent}; ${dr.throttled} | |`,
    '',
    '**Method.** `BENCH_SCENARIOS=mailbox npm run bench` (`BENCH_MAILBOX_MESSAGES` changes the number of messages,',
    '`BENCH_REPS` the runs, at most 3). The Graph test server with the mailboxes (test/helpers/graphServer.ts and',
    'graphMailboxes.ts: `$value` streamed, the per-mailbox limit answered with 429) and the test OIDC server (app-only tokens,',
    'which the Graph server verifies) run in their own process (bench/mailServer.ts); its connections are kept alive, as',
    "Graph's are. Every run of a side gets a fresh Azurite (" + f.storage + '), a fresh process and a mailbox of its own,',
    `warms up with ${f.warmup} messages (unmeasured), then gets its ${n(f.messages)} messages delivered without notifications. ScanRelay's`,
    "clock starts when the bench puts one `{ kind: 'read', sourceId }` message on the `mailbox-work` queue (the backstop read,",
    "as the `mailboxRead` timer would start it; the timers themselves are set never to fire), the direct side's when the bench",
    `tells its process to go; both stop when the Graph server has all ${n(f.messages)} in ScanRelay/Processed (polled every ${POLL_MS} ms).`,
    `The local host runs with the project's host.json (queue batch size ${f.batchSize}) and no destination, so each job becomes`,
    '`undeliverable` once stored: the delivery trigger still takes each job off its queue, which is part of the figures.',
    'RSS is sampled from /proc every 20 ms (and VmHWM, reset when the clock starts); CPU of each process from /proc; the',
    'requests are counted in the measured process itself (bench/requestCounter.ts, preloaded). Checked after every run (a',
    `failed check fails the bench): ${n(f.messages)} distinct stored jobs, one per message, each with one file of the message's size`,
    'and SHA-256 and a blob of that size; the inbox empty; for the direct side every blob of the right name and size; on both',
    `sides ${SPOT_CHECKS} blobs read back and hashed. Machine: ${f.cores} cores (${f.cpu}), Node ${f.node}, load average ${f.loadAtStart.toFixed(2)} at the`,
    `start. This section took ${f.totalSeconds.toFixed(0)} s.`,
    '',
    '**What the figures mean.** On this machine mailbox ingest is limited mostly by CPU, not by the mailbox: the Graph server',
    `never had more than ${Math.max(sr.maxConcurrent, dr.maxConcurrent)} of the ${IN_FLIGHT} allowed requests in flight at once, and ScanRelay, Azurite and the Graph server together`,
    `kept ${busy(sr).toFixed(2)} of the ${f.cores} cores busy during ScanRelay's runs (${busy(dr).toFixed(2)} during the direct ones). So messages per minute here are`,
    `about the cores divided by the CPU one message costs all processes: ${totalCpu(sr).toFixed(0)} ms for ScanRelay, ${totalCpu(dr).toFixed(0)} ms for the direct read,`,
    `a ratio of ${pct(totalCpu(dr) / totalCpu(sr))} against the measured ${pct(ratio)}. Azurite's share runs on the same two cores here and on none of the app's`,
    `in Azure: ScanRelay's process alone needs ${ms(sr.cpu)} ms per message, about ${n(Math.round(60_000 / (sr.cpu ?? NaN) / 10) * 10)} messages per minute per core. Against`,
    'Exchange Online and Azure Storage, round trips rather than CPU would set the pace: the Graph requests of a message through',
    "the mailbox's 4 slots, and ScanRelay's storage requests, most of them one after the other within a message, each a",
    'network round trip there.',
    '',
    "**Where ScanRelay's time goes.** It makes " +
      `${storage(sr).toFixed(1)} storage requests per message against the direct read's ${storage(dr).toFixed(1)} (a block and the block list),`,
    `and Azurite spends ${ms(sr.azurite)} ms of CPU per message on them against ${ms(dr.azurite)}; ScanRelay's process spends ${ms(sr.cpu)} ms against the direct`,
    `process's ${ms(dr.cpu)}. A V8 profile of the host (\`BENCH_CPU_PROF=<dir>\`), taken when ScanRelay still asked MSAL's token cache`,
    "for every Graph request and read the sender's directory entry and the source for every message (32.4 ms per message then),",
    "put about a third of its busy time in the Azure SDK's calls (pipeline, signing, headers, parsing), a sixth in fetch for the",
    '4 Graph requests (the 1 MiB `$value` as a web stream), a sixth in socket reads and streams, a tenth in garbage collection,',
    "and about 5 % each in MSAL's token cache (since kept per resource until shortly before it expires), ScanRelay's own code,",
    'and SHA-256 of the files. The backstop',
    `read queued all ${n(f.messages)} messages ${sr.readMs === undefined ? '(n/a)' : `${(sr.readMs / 1000).toFixed(1)} s`} after the clock started (part of it the queue trigger's`,
    "poll of an idle queue, up to host.json's `maxPollingInterval`); meanwhile the queue trigger takes further batches, as the",
    'Functions host does, whenever `newBatchThreshold` or fewer messages are in flight. Part of the RSS is the files in flight: a',
    'file of up to one upload buffer (4 MiB) is held whole until its single Put Blob, and ScanRelay has up to',
    `${f.batchSize + f.newBatchThreshold} messages (\`batchSize\` ${f.batchSize} + \`newBatchThreshold\` ${f.newBatchThreshold}) in flight, the direct read ${IN_FLIGHT}. ScanRelay's requests per message:`,
    '',
    '| ScanRelay request (per message) | Count |',
    '|---|---:|',
    ...sr.byOperation.filter(([, v]) => v >= 0.05).map(([k, v]) => `| \`${k}\` | ${v.toFixed(2)} |`),
    '',
    '| Run | Side | Wall (s) | Messages/min | RSS start → peak (MiB) | CPU s: process / Azurite / Graph server |',
    '|---:|---|---:|---:|---:|---|',
    ...runRows,
    '',
  ].join('\n');
}
