/**
 * `npm run bench`: ScanRelay's POST /api/scan against a direct @azure/storage-blob upload (and a
 * minimal reference relay), on loopback against Azurite started here. Scenarios: (a) one 200 MiB
 * file, (b) 20 files of 1 MiB in one request, (c) 200 requests of 100 KiB with 16 in flight.
 * Writes docs/benchmarks.md and prints the tables; the Method section there says how.
 *
 * Options (environment):
 *   BENCH_REPS=5          repetitions per scenario and side (the median is reported)
 *   BENCH_STRICT=1        exit 1 when a target is missed (a failed correctness check always does)
 *   BENCH_SCENARIOS=a,c   a subset (docs/benchmarks.md is then left alone); `delivery` names the end-to-end
 *                         delivery bench (bench/delivery.ts), `refresh` the token refresh bench, `scim` the
 *                         SCIM provisioning and userName lookup bench (bench/scim.ts), `console` the console pages
 *                         with 100,000 jobs (bench/console.ts), `mailbox` the mailbox ingest bench (bench/mailbox.ts:
 *                         messages from the Graph test server's mailbox through the local host, against a direct
 *                         Graph read), `load` the load run (bench/load.ts: simulated printers, exactly-once
 *                         checked; the figures of docs/scale.md), `paced` the paced mailbox (bench/paced.ts: a burst
 *                         of 500 jobs from one mailbox against Outlook's limits, no 429 allowed); `console`,
 *                         `mailbox`, `load` and `paced`, run alone or together, replace only their own sections of
 *                         docs/benchmarks.md
 *   BENCH_DELIVERY_JOBS=60   jobs per destination and run in the delivery bench
 *   BENCH_LOAD_PRINTERS=16,64   the load run's levels of simulated printers
 *   BENCH_LOAD_JOBS_PER_PRINTER=8   jobs each printer sends in the load run
 *   BENCH_PACED_JOBS=500   jobs in the paced mailbox's burst
 *   BENCH_REFRESH_CONNECTIONS=2000   connections in the token refresh bench
 *   BENCH_SCIM_USERS=10000   users provisioned through SCIM (and stored for the lookups) in the SCIM bench
 *   BENCH_MAILBOX_MESSAGES=1000   messages (one 1 MiB PDF each) taken in per side and run in the mailbox bench
 *                         (which, as the delivery bench, runs each side min(BENCH_REPS, 3) times)
 *   BENCH_AZURITE=shm|disk|memory   where Azurite keeps blobs (default shm where /dev/shm exists)
 *   BENCH_CPU_PROF=<dir>  V8 CPU profiles of the children, written when they exit
 * Raw measurements also go to bench/.out/results.json (git-ignored).
 */
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { startAzurite, type RunningAzurite } from '../host/local/azurite';
import { forkChild, type BenchChild } from './children';
import { deliveryMarkdown, runDeliveryBench, type DeliveryFigures } from './delivery';
import { loadMarkdown, runLoadBench } from './load';
import { pacedMarkdown, runPacedBench, type PacedFigures } from './paced';
import { refreshMarkdown, runRefreshBench } from './refresh';
import { runScimBench, scimMarkdown } from './scim';
import { consoleMarkdown, runConsoleBench } from './console';
import { mailboxMarkdown, runMailboxBench } from './mailbox';
import { sendScans, type ScanAnswer } from './client';
import { fileSha256, KiB, MiB } from './payload';
import { cpuMs, findChildPid, machineBusyMs } from './procstat';
import type { Scenario } from './protocol';
import {
  consoleTable,
  figures,
  machine,
  markdown,
  pct,
  SIDES,
  type Measurement,
  type ScenarioFigures,
  type Side,
  type Target,
  ISSUE_TARGETS,
} from './report';

const ALL_SCENARIOS: Scenario[] = [
  { key: 'a', title: '(a) One 200 MiB file', requests: 1, filesPerRequest: 1, fileBytes: 200 * MiB, inFlight: 1 },
  { key: 'b', title: '(b) 20 files of 1 MiB in one request', requests: 1, filesPerRequest: 20, fileBytes: MiB, inFlight: 1 },
  { key: 'c', title: '(c) 200 requests of 100 KiB, 16 in flight', requests: 200, filesPerRequest: 1, fileBytes: 100 * KiB, inFlight: 16 },
];
const ONLY = process.env.BENCH_SCENARIOS?.split(',')
  .map((k) => k.trim())
  .filter(Boolean);
const SCENARIOS = ONLY ? ALL_SCENARIOS.filter((s) => ONLY.includes(s.key)) : ALL_SCENARIOS;
/**
 * Run on every side before every repetition, unmeasured: creates the containers, tables and
 * queue, and warms the JIT of Azurite and the children. Small, so that it leaves little memory
 * behind that the measured repetition could reuse (that would flatter its RSS growth).
 */
const WARMUP: Scenario = { key: 'warmup', title: 'warm-up', requests: 8, filesPerRequest: 2, fileBytes: 256 * KiB, inFlight: 4 };

const REPS = Math.max(1, Number(process.env.BENCH_REPS || 5));
const STRICT = process.env.BENCH_STRICT === '1';
const RSS_GROWTH_TARGET = 64 * MiB;
const LOAD_TIMEOUT_MS = 180_000;
/** A repetition during which the rest of the machine used more CPU than this is flagged. */
const NOISY_OTHER_CPU_SHARE = 0.15;

/** Where Azurite keeps blobs; see the Method section of docs/benchmarks.md for why tmpfs. */
const AZURITE_MODE = ((): 'shm' | 'disk' | 'memory' => {
  const asked = process.env.BENCH_AZURITE;
  if (asked === 'memory' || asked === 'disk' || asked === 'shm') return asked;
  if (asked) throw new Error(`BENCH_AZURITE must be shm, disk or memory, not '${asked}'`);
  try {
    accessSync('/dev/shm', constants.W_OK);
    return 'shm';
  } catch {
    return 'disk';
  }
})();
const STORAGE = {
  shm: 'data in a temporary `--location` folder on tmpfs (/dev/shm)',
  disk: 'data in a temporary `--location` folder on disk',
  memory: 'data in memory (`--inMemoryPersistence`)',
}[AZURITE_MODE];

const REPORT_FILE = join(__dirname, '..', '..', 'docs', 'benchmarks.md');
const RAW_FILE = join(__dirname, '..', '..', 'bench', '.out', 'results.json');

const log = (line: string) => console.log(`[bench] ${line}`);

// ---- cleanup, whatever happens ------------------------------------------------------------
const cleanups: Array<() => Promise<void>> = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    for (const step of cleanups.reverse()) await step().catch((e: unknown) => console.error(`[bench] cleanup: ${String(e)}`));
  })());
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`\n[bench] ${signal}: stopping children and Azurite...`);
    void cleanup().finally(() => process.exit(130));
  });
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---- correctness --------------------------------------------------------------------------
const expectedSha = new Map<number, string>();
function sha(size: number): string {
  let v = expectedSha.get(size);
  if (!v) expectedSha.set(size, (v = fileSha256(size)));
  return v;
}

function checkScanRelayAnswer(scenario: Scenario, answer: ScanAnswer): void {
  const body = answer.json as { jobId?: unknown; files?: Array<{ size?: unknown; sha256?: unknown }> } | undefined;
  if (answer.status !== 200) {
    throw new Error(`ScanRelay answered ${answer.status} in ${scenario.title}: ${answer.text.slice(0, 500)}`);
  }
  const files = body?.files;
  if (typeof body?.jobId !== 'string' || !Array.isArray(files) || files.length !== scenario.filesPerRequest) {
    throw new Error(
      `ScanRelay's answer in ${scenario.title} does not list ${scenario.filesPerRequest} files: ${answer.text.slice(0, 500)}`,
    );
  }
  files.forEach((f, i) => {
    if (f.size !== scenario.fileBytes) {
      throw new Error(`ScanRelay reports file ${i} of ${scenario.title} as ${String(f.size)} bytes, not ${scenario.fileBytes}`);
    }
    if (f.sha256 !== sha(scenario.fileBytes)) {
      throw new Error(`ScanRelay reports a wrong SHA-256 for file ${i} of ${scenario.title}`);
    }
  });
}

function checkRelayAnswer(scenario: Scenario, answer: ScanAnswer): void {
  const files = (answer.json as { files?: unknown } | undefined)?.files;
  if (answer.status !== 200 || files !== scenario.filesPerRequest) {
    throw new Error(`The reference relay answered ${answer.status} in ${scenario.title}: ${answer.text.slice(0, 500)}`);
  }
}

/** Checks that the side's container holds exactly the scenario's blobs, then deletes them. */
async function checkAndClearBlobs(container: ContainerClient, scenario: Scenario, side: Side): Promise<void> {
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat()) {
    if (blob.properties.contentLength !== scenario.fileBytes) {
      throw new Error(
        `${side}: blob ${blob.name} of ${scenario.title} has ${blob.properties.contentLength} bytes, not ${scenario.fileBytes}`,
      );
    }
    names.push(blob.name);
  }
  const expected = scenario.requests * scenario.filesPerRequest;
  if (names.length !== expected) {
    throw new Error(`${side}: ${names.length} blobs stored for ${scenario.title}, expected ${expected}`);
  }
  let next = 0;
  const worker = async () => {
    while (next < names.length) await container.deleteBlob(names[next++]!);
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

// ---- children and Azurite -----------------------------------------------------------------
type Children = Record<Side, BenchChild>;

interface SideTarget {
  child: BenchChild;
  /** Where to send HTTP load; absent for the baseline, which generates its own. */
  url?: string;
  container: ContainerClient;
}
interface Stage {
  azuritePid?: number;
  sides: Record<Side, SideTarget>;
}

function forkChildren(): Children {
  const children = {} as Children;
  for (const side of SIDES) {
    const child = forkChild(side, process.env.BENCH_CPU_PROF || undefined);
    cleanups.push(() => child.stop());
    children[side] = child;
  }
  return children;
}

async function stopChildren(children: Children): Promise<void> {
  await Promise.all(SIDES.map((side) => children[side].stop()));
}

interface Store {
  azurite: RunningAzurite;
  pid?: number;
  stop(): Promise<void>;
}

/** An empty Azurite for one repetition; `stop` also deletes its data. */
async function startStore(): Promise<Store> {
  const location =
    AZURITE_MODE === 'memory' ? undefined : mkdtempSync(join(AZURITE_MODE === 'shm' ? '/dev/shm' : tmpdir(), 'scanrelay-bench-azurite-'));
  const removeData = () => {
    if (location) rmSync(location, { recursive: true, force: true });
  };
  let azurite: RunningAzurite;
  try {
    azurite = await startAzurite({ location });
  } catch (err) {
    removeData();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= azurite.stop().finally(removeData));
  cleanups.push(stop);
  return { azurite, pid: findChildPid('azurite'), stop };
}

/** Points every child at `store` (ScanRelay gets new services; the HTTP servers keep their ports). */
async function connect(children: Children, store: Store): Promise<Stage> {
  const cs = store.azurite.connectionString;
  const blobs = BlobServiceClient.fromConnectionString(cs);
  const sides = {} as Record<Side, SideTarget>;
  await Promise.all(
    SIDES.map(async (side) => {
      const reply = await children[side].connect(cs);
      sides[side] = {
        child: children[side],
        url: reply.port === undefined ? undefined : `http://127.0.0.1:${reply.port}/api/scan`,
        container: blobs.getContainerClient(reply.container),
      };
    }),
  );
  return { azuritePid: store.pid, sides };
}

// ---- one repetition -----------------------------------------------------------------------
async function measure(stage: Stage, side: Side, scenario: Scenario, rep: number): Promise<Measurement> {
  const { child, url, container } = stage.sides[side];
  await child.mark();
  const loadCpu = process.cpuUsage();
  const azuriteCpu = cpuMs(stage.azuritePid);
  const busy = machineBusyMs();
  const ms = url
    ? await withTimeout(
        sendScans(url, scenario, (a) => (side === 'scanrelay' ? checkScanRelayAnswer : checkRelayAnswer)(scenario, a)),
        LOAD_TIMEOUT_MS,
        `${side} ${scenario.title}`,
      )
    : (await child.run(scenario)).ms;
  const rss = await child.peak();
  const azuriteCpuAfter = cpuMs(stage.azuritePid);
  const load = process.cpuUsage(loadCpu);
  const busyAfter = machineBusyMs();
  const azuriteCpuMs = azuriteCpu !== undefined && azuriteCpuAfter !== undefined ? azuriteCpuAfter - azuriteCpu : undefined;
  const loadCpuMs = url ? (load.user + load.system) / 1000 : 0;
  await checkAndClearBlobs(container, scenario, side);
  return {
    scenario: scenario.key,
    side,
    rep,
    ms,
    rssStart: rss.start,
    rssPeak: rss.peak,
    kernelPeak: rss.kernelPeak,
    samples: rss.samples,
    cpuMs: rss.cpuMs,
    cpuSysMs: rss.cpuSysMs,
    azuriteCpuMs,
    loadCpuMs,
    // Whatever else kept the machine busy meanwhile (other processes, the kernel's own threads).
    otherCpuMs:
      busy !== undefined && busyAfter !== undefined && azuriteCpuMs !== undefined
        ? Math.max(0, busyAfter - busy - rss.cpuMs - azuriteCpuMs - (load.user + load.system) / 1000)
        : undefined,
  };
}

function describe(m: Measurement): string {
  const s = (ms: number | undefined) => (ms === undefined ? 'n/a' : (ms / 1000).toFixed(2));
  return (
    `rep ${m.rep} ${m.side.padEnd(9)}: ${m.ms.toFixed(0).padStart(6)} ms, ` +
    `RSS ${(m.rssStart / MiB).toFixed(0)} -> ${(Math.max(m.rssPeak, m.kernelPeak ?? 0) / MiB).toFixed(0)} MiB, ` +
    `CPU s: child ${s(m.cpuMs)}, Azurite ${s(m.azuriteCpuMs)}, load ${s(m.loadCpuMs)}, other ${s(m.otherCpuMs)}`
  );
}

// ---- targets -----------------------------------------------------------------------------
function checkTargets(all: ScenarioFigures[], delivery?: DeliveryFigures, paced?: PacedFigures): Target[] {
  const targets: Target[] = [];
  const mibs = (f: ScenarioFigures, side: Side) => f.sides[side].mibPerSec.toFixed(1);
  for (const fig of all) {
    const key = fig.scenario.key;
    if (key === 'a') {
      const { direct, relay } = ISSUE_TARGETS.a;
      targets.push({
        label: `(a) ScanRelay throughput >= ${pct(direct)} of the direct upload, or >= ${pct(relay)} of the reference relay`,
        met: fig.ratio >= direct || fig.relayRatio >= relay,
        detail: `${pct(fig.ratio)} of the direct upload (${mibs(fig, 'scanrelay')} vs ${mibs(fig, 'baseline')} MiB/s), ${pct(fig.relayRatio)} of the reference relay (${mibs(fig, 'relay')} MiB/s)`,
      });
      const growth = fig.sides.scanrelay.growthMax;
      targets.push({
        label: `(a) ScanRelay peak RSS growth < ${RSS_GROWTH_TARGET / MiB} MiB`,
        met: growth < RSS_GROWTH_TARGET,
        detail: `${(growth / MiB).toFixed(1)} MiB (largest of ${fig.sides.scanrelay.runs.length} repetitions)`,
      });
    } else if (key === 'b' || key === 'c') {
      const target = ISSUE_TARGETS[key];
      targets.push({
        label: `(${key}) ScanRelay throughput >= ${pct(target)} of the direct upload`,
        met: fig.ratio >= target,
        detail: `${pct(fig.ratio)} (${mibs(fig, 'scanrelay')} vs ${mibs(fig, 'baseline')} MiB/s)`,
      });
    }
  }
  for (const row of delivery?.rows ?? []) {
    const target = ISSUE_TARGETS[row.key];
    const ratio = row.scanRelayJobsPerMinute / row.directJobsPerMinute;
    targets.push({
      label: `End to end, ${row.destination}: ScanRelay >= ${pct(target)} of direct sends`,
      met: ratio >= target,
      detail: `${pct(ratio)} (${row.scanRelayJobsPerMinute.toFixed(0)} vs ${row.directJobsPerMinute.toFixed(0)} jobs/min); ingest → delivered p95 ${row.stages.total.p95.toFixed(0)} ms`,
    });
  }
  if (paced) {
    const throttled = Object.values(paced.throttled).reduce((n, v) => n + v, 0);
    targets.push({
      label: `A paced mailbox under a burst of ${paced.jobs} jobs: within its limits, no 429`,
      met: throttled === 0 && paced.maxMessagesPerWindow <= 30 && paced.maxConcurrent <= 4,
      detail: `${throttled} × 429; at most ${paced.maxMessagesPerWindow} messages in a window (30), ${paced.maxConcurrent} requests in flight (4)`,
    });
  }
  return targets;
}

/** The report with its `## <title>` section (to the next `## ` or the end) replaced by `section`, or appended. */
function replaceSection(report: string, section: string): string {
  const title = section.split('\n', 1)[0]!;
  const start = report.indexOf(`\n${title}\n`);
  if (start < 0) return `${report.trimEnd()}\n\n${section}`;
  const next = report.indexOf('\n## ', start + title.length + 2);
  return `${report.slice(0, start + 1)}${section}${next < 0 ? '' : report.slice(next)}`;
}

// ---- main ---------------------------------------------------------------------------------
async function main(): Promise<number> {
  const began = Date.now();
  const startMachine = machine();
  log(`${startMachine.cores} cores, load average ${startMachine.loadAtStart.toFixed(2)}; Azurite: ${STORAGE}, a fresh one per repetition`);
  if (startMachine.loadAtStart > 0.5) log('warning: the machine is busy; figures will be noisy');

  log('computing expected SHA-256s');
  for (const s of SCENARIOS) sha(s.fileBytes);
  sha(WARMUP.fileBytes);

  const measurements: Measurement[] = [];
  for (const scenario of SCENARIOS) {
    // Fresh children per scenario: one scenario's leftovers never count in the next one's RSS.
    const children = forkChildren();
    try {
      for (let rep = 1; rep <= REPS; rep++) {
        const store = await startStore();
        try {
          const stage = await connect(children, store);
          for (const side of SIDES) await measure(stage, side, WARMUP, 0);
          // Rotate the order, so that no side always goes first (or last).
          const order = SIDES.map((_, i) => SIDES[(i + rep - 1) % SIDES.length]!);
          for (const side of order) {
            const m = await measure(stage, side, scenario, rep);
            measurements.push(m);
            log(`${scenario.title} ${describe(m)}`);
          }
        } finally {
          await store.stop();
        }
      }
    } finally {
      await stopChildren(children);
    }
  }

  let deliverySection = '';
  let delivery: DeliveryFigures | undefined;
  if (!ONLY || ONLY.includes('delivery')) {
    log("end-to-end delivery (ingest → queue → SMTP sink / Graph test server), and the deliverer's RSS with a 200 MiB file");
    const f = (delivery = await runDeliveryBench(Math.min(REPS, 3)));
    deliverySection = deliveryMarkdown(f);
    console.log('\n' + deliverySection);
  }

  let loadSection = '';
  if (!ONLY || ONLY.includes('load')) {
    log('load run: simulated printers → one host → SMTP sink, exactly-once checked');
    loadSection = loadMarkdown(await runLoadBench(log));
    console.log('\n' + loadSection);
  }

  let pacedSection = '';
  let paced: PacedFigures | undefined;
  if (!ONLY || ONLY.includes('paced')) {
    log("paced mailbox: a burst of jobs from one mailbox → Graph test server with Outlook's limits, no 429 allowed");
    paced = await runPacedBench(log);
    pacedSection = pacedMarkdown(paced);
    console.log('\n' + pacedSection);
  }

  let refreshSection = '';
  if (!ONLY || ONLY.includes('refresh')) {
    const f = await runRefreshBench(log, Number(process.env.BENCH_REFRESH_CONNECTIONS || 2000));
    refreshSection = refreshMarkdown(f);
    console.log('\n' + refreshSection);
  }

  let scimSection = '';
  if (!ONLY || ONLY.includes('scim')) {
    const f = await runScimBench(log);
    scimSection = scimMarkdown(f);
    console.log('\n' + scimSection);
  }

  let consoleSection = '';
  if (!ONLY || ONLY.includes('console')) {
    consoleSection = consoleMarkdown(await runConsoleBench(log));
    console.log('\n' + consoleSection);
  }

  let mailboxSection = '';
  if (!ONLY || ONLY.includes('mailbox')) {
    mailboxSection = mailboxMarkdown(await runMailboxBench(log, Math.min(REPS, 3)));
    console.log('\n' + mailboxSection);
  }

  const all: ScenarioFigures[] = SCENARIOS.map((s) => figures(s, measurements));
  const targets = checkTargets(all, delivery, paced);
  const noisy = measurements
    .filter((m) => m.otherCpuMs !== undefined && m.otherCpuMs > NOISY_OTHER_CPU_SHARE * m.ms)
    .map((m) => `${m.scenario}/${m.side}/rep ${m.rep}`);
  const totalSeconds = (Date.now() - began) / 1000;
  const report =
    markdown({ date: new Date(), machine: startMachine, reps: REPS, totalSeconds, storage: STORAGE, figures: all, targets, noisy }) +
    (deliverySection ? '\n' + deliverySection : '') +
    (loadSection ? '\n' + loadSection : '') +
    (pacedSection ? '\n' + pacedSection : '') +
    (refreshSection ? '\n' + refreshSection : '') +
    (scimSection ? '\n' + scimSection : '') +
    (consoleSection ? '\n' + consoleSection : '') +
    (mailboxSection ? '\n' + mailboxSection : '');

  mkdirSync(join(RAW_FILE, '..'), { recursive: true });
  writeFileSync(RAW_FILE, JSON.stringify({ date: new Date(), machine: startMachine, storage: STORAGE, measurements }, null, 2) + '\n');
  console.log('\n' + consoleTable(all, targets) + '\n');
  if (noisy.length) log(`warning: other processes used much CPU during ${noisy.join(', ')}`);
  const ownSections: Record<string, string> = { console: consoleSection, mailbox: mailboxSection, load: loadSection, paced: pacedSection };
  if (ONLY?.length && ONLY.every((k) => Object.hasOwn(ownSections, k)) && existsSync(REPORT_FILE)) {
    // The console and mailbox benches alone: their sections of the report are replaced, the rest kept as measured before.
    writeFileSync(
      REPORT_FILE,
      ONLY.reduce((report, k) => replaceSection(report, ownSections[k]!), readFileSync(REPORT_FILE, 'utf8')),
    );
    log(`replaced the ${ONLY.join(' and ')} section${ONLY.length > 1 ? 's' : ''} of ${REPORT_FILE}`);
  } else if (ONLY) {
    log(`only some scenarios ran: ${REPORT_FILE} left alone (raw measurements: ${RAW_FILE})`);
  } else {
    mkdirSync(join(REPORT_FILE, '..'), { recursive: true });
    writeFileSync(REPORT_FILE, report);
    log(`wrote ${REPORT_FILE} (raw measurements: ${RAW_FILE}) in ${totalSeconds.toFixed(0)} s`);
  }
  return STRICT && targets.some((t) => !t.met) ? 1 : 0;
}

void main()
  .then(
    (code) => cleanup().then(() => code),
    async (err: unknown) => {
      console.error(`[bench] failed: ${(err as Error)?.stack ?? String(err)}`);
      await cleanup();
      return 1;
    },
  )
  .then((code) => process.exit(code));
