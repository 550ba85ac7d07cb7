/** Turns the bench's measurements into figures, a Markdown report and a console table. */
import { readFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release, totalmem, type as osType } from 'node:os';
import { MiB } from './payload';
import { UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY, type ChildRole, type Scenario } from './protocol';

export type Side = ChildRole;
export const SIDES: readonly Side[] = ['scanrelay', 'relay', 'baseline'];
const SIDE_NAMES: Record<Side, string> = {
  scanrelay: 'ScanRelay',
  relay: 'Reference relay',
  baseline: 'Baseline (direct upload)',
};

/** One measured repetition of one scenario on one side. */
export interface Measurement {
  scenario: string;
  side: Side;
  rep: number;
  ms: number;
  rssStart: number;
  rssPeak: number;
  kernelPeak?: number;
  samples: number;
  /** CPU time of the measured child during the repetition. */
  cpuMs: number;
  /** Of which in the kernel (system time). */
  cpuSysMs: number;
  /** CPU time of Azurite during the repetition (Linux only). */
  azuriteCpuMs?: number;
  /** CPU time of the load generator (the parent) during the repetition. */
  loadCpuMs: number;
  /** CPU time the rest of the machine used meanwhile (Linux only): a noise indicator. */
  otherCpuMs?: number;
}

export interface SideFigures {
  mibPerSec: number;
  reqPerSec: number;
  ms: number;
  peakMedian: number;
  peakMax: number;
  growthMedian: number;
  /** Largest growth over the repetitions, sampled or by the kernel's VmHWM, whichever is larger. */
  growthMax: number;
  cpuMs: number;
  cpuMsPerMiB: number;
  azuriteCpuMs?: number;
  loadCpuMs: number;
  runs: Measurement[];
}

export interface ScenarioFigures {
  scenario: Scenario;
  sides: Record<Side, SideFigures>;
  /** ScanRelay's MiB/s over the baseline's (the same as the req/s ratio: same bytes, same requests). */
  ratio: number;
  /** ScanRelay's MiB/s over the reference relay's. */
  relayRatio: number;
}

/** The targets of issue 17 (throughput and latency): each a ratio against a baseline measured in the same run. */
export const ISSUE_TARGETS = {
  /** (a) of the direct upload, or of the reference relay where the machine's cores make the direct one unreachable. */
  a: { direct: 0.85, relay: 0.95 },
  b: 0.95,
  c: 0.8,
  /** End to end, POST → delivered, against direct sends to the same sink. */
  mail: 0.75,
  drive: 0.6,
} as const;

export interface Target {
  label: string;
  met: boolean;
  detail: string;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function scenarioBytes(s: Scenario): number {
  return s.requests * s.filesPerRequest * s.fileBytes;
}

function optionalMedian(values: Array<number | undefined>): number | undefined {
  return values.every((v) => v !== undefined) ? median(values) : undefined;
}

function sideFigures(scenario: Scenario, runs: Measurement[]): SideFigures {
  const ms = median(runs.map((r) => r.ms));
  const growth = runs.map((r) => r.rssPeak - r.rssStart);
  const kernelGrowth = runs.map((r) => (r.kernelPeak ?? 0) - r.rssStart);
  const cpuMs = median(runs.map((r) => r.cpuMs));
  return {
    ms,
    mibPerSec: scenarioBytes(scenario) / MiB / (ms / 1000),
    reqPerSec: scenario.requests / (ms / 1000),
    peakMedian: median(runs.map((r) => r.rssPeak)),
    peakMax: Math.max(...runs.map((r) => Math.max(r.rssPeak, r.kernelPeak ?? 0))),
    growthMedian: median(growth),
    growthMax: Math.max(...growth, ...kernelGrowth),
    cpuMs,
    cpuMsPerMiB: cpuMs / (scenarioBytes(scenario) / MiB),
    azuriteCpuMs: optionalMedian(runs.map((r) => r.azuriteCpuMs)),
    loadCpuMs: median(runs.map((r) => r.loadCpuMs)),
    runs,
  };
}

export function figures(scenario: Scenario, measurements: Measurement[]): ScenarioFigures {
  const mine = measurements.filter((m) => m.scenario === scenario.key);
  const sides = Object.fromEntries(
    SIDES.map((side) => [
      side,
      sideFigures(
        scenario,
        mine.filter((m) => m.side === side),
      ),
    ]),
  ) as Record<Side, SideFigures>;
  return {
    scenario,
    sides,
    ratio: sides.scanrelay.mibPerSec / sides.baseline.mibPerSec,
    relayRatio: sides.scanrelay.mibPerSec / sides.relay.mibPerSec,
  };
}

export interface Machine {
  os: string;
  cpu: string;
  cores: number;
  memory: string;
  node: string;
  azurite: string;
  /** 1-minute load average when the bench started: above ~0.5, something else was running. */
  loadAtStart: number;
}

export function machine(): Machine {
  let azurite = 'unknown';
  try {
    azurite = (JSON.parse(readFileSync(require.resolve('azurite/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // keep 'unknown'
  }
  const list = cpus();
  return {
    os: `${osType()} ${release()} (${platform()}/${arch()})`,
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    azurite,
    loadAtStart: loadavg()[0]!,
  };
}

const f1 = (n: number) => n.toFixed(1);
const mib = (bytes: number) => f1(bytes / MiB);
export const pct = (r: number) => `${(r * 100).toFixed(0)} %`;
const secs = (ms: number | undefined) => (ms === undefined ? 'n/a' : (ms / 1000).toFixed(2));

/** The table of one scenario, as Markdown rows. */
export function scenarioTable(fig: ScenarioFigures): string[] {
  const s = fig.sides;
  const row = (label: string, cell: (f: SideFigures, side: Side) => string, ratio = '', relayRatio = '') =>
    `| ${label} | ${SIDES.map((side) => cell(s[side], side)).join(' | ')} | ${ratio} | ${relayRatio} |`;
  return [
    `| | ${SIDES.map((side) => SIDE_NAMES[side]).join(' | ')} | ScanRelay / baseline | ScanRelay / reference relay |`,
    '|---|---:|---:|---:|---:|---:|',
    row('Throughput (MiB/s of file data)', (f) => f1(f.mibPerSec), `**${pct(fig.ratio)}**`, pct(fig.relayRatio)),
    row('Requests/s', (f) => f.reqPerSec.toFixed(2), pct(fig.ratio), pct(fig.relayRatio)),
    row('Wall time, median (ms)', (f) => f.ms.toFixed(0)),
    row('Peak RSS (MiB), median (max)', (f) => `${mib(f.peakMedian)} (${mib(f.peakMax)})`),
    row("RSS growth over the repetition's start (MiB), median (max)", (f) => `${mib(f.growthMedian)} (${mib(f.growthMax)})`),
    row('CPU of the measured process, median (s)', (f) => secs(f.cpuMs)),
    row('CPU of the measured process per MiB (ms)', (f) => f.cpuMsPerMiB.toFixed(2)),
    row('CPU of Azurite, median (s)', (f) => secs(f.azuriteCpuMs)),
    row('CPU of the load generator, median (s)', (f, side) => (side === 'baseline' ? '–' : secs(f.loadCpuMs))),
  ];
}

/** Every repetition, for the curious and for spotting noise. */
function runsTable(all: ScenarioFigures[]): string[] {
  const rows = [
    '| Scenario | Side | Rep | Wall (ms) | MiB/s | RSS start (MiB) | RSS peak, sampled (MiB) | Peak by kernel VmHWM (MiB) | CPU s: process (of which kernel) / Azurite / load generator / rest of machine |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const fig of all) {
    for (const side of SIDES) {
      for (const r of fig.sides[side].runs) {
        rows.push(
          `| ${fig.scenario.key} | ${side} | ${r.rep} | ${r.ms.toFixed(0)} | ${f1(scenarioBytes(fig.scenario) / MiB / (r.ms / 1000))} | ` +
            `${mib(r.rssStart)} | ${mib(r.rssPeak)} | ${r.kernelPeak === undefined ? 'n/a' : mib(r.kernelPeak)} | ` +
            `${secs(r.cpuMs)} (${secs(r.cpuSysMs)}) / ${secs(r.azuriteCpuMs)} / ${secs(r.loadCpuMs)} / ${secs(r.otherCpuMs)} |`,
        );
      }
    }
  }
  return rows;
}

export interface ReportInput {
  date: Date;
  machine: Machine;
  reps: number;
  totalSeconds: number;
  storage: string;
  figures: ScenarioFigures[];
  targets: Target[];
  /** Repetitions where the rest of the machine used much CPU. */
  noisy: string[];
}

export function markdown(r: ReportInput): string {
  const m = r.machine;
  const lines: string[] = [
    '# ScanRelay benchmarks',
    '',
    '<!-- Written by `npm run bench` (bench/run.ts); rerun it to refresh. Hand edits are overwritten. -->',
    '',
    `Date: ${r.date.toISOString()} · whole run: ${r.totalSeconds.toFixed(0)} s`,
    '',
    '## Machine',
    '',
    `- OS: ${m.os}`,
    `- CPU: ${m.cpu}, ${m.cores} logical cores`,
    `- Memory: ${m.memory}`,
    `- Node.js: ${m.node}; Azurite ${m.azurite}`,
    `- Load average when the run started: ${m.loadAtStart.toFixed(2)}` +
      (r.noisy.length ? `; other processes used much CPU during: ${r.noisy.join(', ')}` : ''),
    '',
    '## Targets',
    '',
    '| Target | Result | Measured |',
    '|---|---|---|',
    ...r.targets.map((t) => `| ${t.label} | ${t.met ? 'met' : '**missed**'} | ${t.detail} |`),
    '',
    '## Results',
    '',
    `Median of ${r.reps} repetitions per scenario and side. MiB = 2^20 bytes (the issue's "MB"); throughput`,
    'counts file bytes only (not the multipart framing), so every side is credited with the same bytes.',
    '',
  ];
  for (const fig of r.figures) lines.push(`### ${fig.scenario.title}`, '', ...scenarioTable(fig), '');
  const analysis = r.figures.flatMap(analyse);
  if (analysis.length) lines.push('## Where the time goes', '', ...analysis);
  lines.push(
    '## Method',
    '',
    '`npm run bench` builds the project and runs `dist/bench/run.js` (with `--expose-gc`). On loopback only, it:',
    '',
    '1. forks, for every scenario, three fresh children of the same kind (bench/child.ts, `--expose-gc`):',
    '   - **ScanRelay**: `createServices(loadConfig({ AzureWebJobsStorage: <Azurite>, SCAN_MAX_REQUEST_BYTES and',
    '     SCAN_MAX_FILE_BYTES = 300 MiB }))`, `setServices`, then `startLocalServer` with the real registry: the',
    '     code path of `POST /api/scan` (web-stream request body, the multipart reader, SHA-256 and size metering,',
    '     owner lease, `uploadStream` into the `scans` container, claim of the scanJobID, job record, delivery message);',
    `   - **Baseline**: uploads the same file bytes straight to Azurite with \`BlockBlobClient.uploadStream\``,
    `     (${UPLOAD_BUFFER_BYTES / MiB} MiB buffers, concurrency ${UPLOAD_CONCURRENCY}: what ScanRelay passes) in the same pattern: a request's`,
    '     files one after the other, requests with the same number in flight;',
    '   - **Reference relay**: the least an HTTP relay can do: `node:http` → busboy → the same `uploadStream`',
    '     per file part. No web-stream adapters, hashing, limits, job record or queue message. It is not',
    "     part of the issue's comparison; it shows how much of the gap to the baseline is the extra hop",
    "     (receiving the body, on the same cores) and how much is ScanRelay's own work;",
    `2. gives every repetition a fresh, empty Azurite (\`startAzurite()\`, free ports, ${r.storage}), warms it`,
    '   and every side up with a few small unmeasured requests, runs the sides one after the other (their',
    '   order rotating from one repetition to the next), then stops Azurite and deletes its data;',
    '3. is itself the load generator for ScanRelay and the reference relay: each body is a stream (multipart',
    '   framing around a 1 MiB pseudo-random block repeated in 64 KiB slices; no body is ever held in memory)',
    '   sent with `node:http` (Content-Length set; keep-alive agent, as many sockets as requests in flight).',
    '   The baseline child makes the same file bytes with the same generator;',
    '4. has each child sample its own `process.memoryUsage.rss()` every 20 ms. Before a repetition the child',
    '   runs `gc()` twice and takes its RSS as the start; after it, it reports the peak. On Linux it also',
    "   resets the kernel's high-water mark (`/proc/self/clear_refs` = 5) and reads `VmHWM`, which catches",
    '   peaks between samples; growth figures take the larger of the two;',
    '5. checks correctness: every ScanRelay answer must be `200` and list one file per part with the right',
    "   `size` and `sha256`; after every repetition each side's container must hold exactly the expected",
    '   blobs, each of the expected `contentLength`;',
    '6. writes this file and prints the tables; stops the children and Azurite also on failure or Ctrl-C.',
    '',
    'Why a fresh Azurite per repetition, on tmpfs: Azurite frees deleted blobs only after 10 minutes, so a',
    'long-lived one accumulates every byte of the run. Whether it kept them in memory (`--inMemoryPersistence`),',
    'on disk or on tmpfs, once ~1.2 GB had gone in, Azurite needed 2-3x the CPU per MiB (first-touch page',
    'faults on this VM; with disk, also write-back) and runs drifted by 2x within a run. In memory its',
    "RSS reached 1.7 GB. A fresh Azurite per repetition holds at most one repetition's data; tmpfs is the",
    "cheapest place for it (no write-back, no growth of Azurite's own heap), so the sink is as fast and",
    "steady as it gets and the comparison measures the senders. Azurite's memory is never part of the",
    "RSS figures, which are the measured children's own.",
    '',
    'Reading the figures: on a 2-core machine the load generator, the relay and Azurite share the cores,',
    'and the baseline needs no receiving process at all, so the relay hop itself is expensive here; the',
    '"CPU per MiB" row shows where the time goes. Scenario (c) is dominated by per-request round trips to',
    'storage (ScanRelay makes 8 per job of one file: lease, Put Blob, claim, message, record, claim completed,',
    'index row, lease deleted; the baseline and the reference relay 2: stage block and commit).',
    '',
    '## Every repetition',
    '',
    ...runsTable(r.figures),
    '',
  );
  return lines.join('\n');
}

/**
 * Plain statements read off the figures of (a) and (b): which process limits the throughput, and
 * how the gap to the baseline splits between the extra hop and ScanRelay's own work.
 */
function analyse(fig: ScenarioFigures): string[] {
  if (fig.scenario.key === 'c') return analyseSmallJobs(fig);
  if (fig.scenario.key !== 'a' && fig.scenario.key !== 'b') return [];
  const { scanrelay: sr, relay, baseline: bl } = fig.sides;
  const mibs = scenarioBytes(fig.scenario) / MiB;
  const busy = (f: SideFigures) => f.cpuMs / f.ms;
  const perMiB = (ms: number | undefined) => (ms === undefined ? 'n/a' : (ms / mibs).toFixed(2));
  const limit = (f: SideFigures) =>
    busy(f) >= 0.85
      ? 'so its single JavaScript thread is what limits it'
      : f.azuriteCpuMs !== undefined && f.azuriteCpuMs / f.ms >= 0.85
        ? "so Azurite's thread is what limits it"
        : 'so neither it nor Azurite alone is the limit (the two cores are shared)';
  return [
    `- ${fig.scenario.title}: ScanRelay's process used ${perMiB(sr.cpuMs)} ms of CPU per MiB and was busy ` +
      `${pct(busy(sr))} of the wall time, ${limit(sr)}. The baseline process used ${perMiB(bl.cpuMs)} ms per MiB ` +
      `(busy ${pct(busy(bl))}) and Azurite ${perMiB(bl.azuriteCpuMs)} ms per MiB (busy ` +
      `${bl.azuriteCpuMs === undefined ? 'n/a' : pct(bl.azuriteCpuMs / bl.ms)}), ${limit(bl).replace('its single JavaScript thread', "the baseline's thread")}. ` +
      `The reference relay, which only receives and forwards, used ${perMiB(relay.cpuMs)} ms per MiB and reached ` +
      `${pct(relay.mibPerSec / bl.mibPerSec)} of the baseline; ScanRelay reached ${pct(fig.relayRatio)} of the reference relay.`,
    '',
  ];
}

/**
 * (c) keeps both cores busy on every side, so a side's throughput is the cores over its CPU per
 * request (its process, Azurite and the load generator together): the target's ratio is reachable
 * only at the CPU per request it allows.
 */
function analyseSmallJobs(fig: ScenarioFigures): string[] {
  const { scanrelay: sr, baseline: bl } = fig.sides;
  const n = fig.scenario.requests;
  const perJob = (f: SideFigures) => (f.cpuMs + (f.azuriteCpuMs ?? 0) + f.loadCpuMs) / n;
  const busy = (f: SideFigures) => (f.cpuMs + (f.azuriteCpuMs ?? 0) + f.loadCpuMs) / f.ms;
  const allowed = perJob(bl) / ISSUE_TARGETS.c;
  const ms = (x: number) => x.toFixed(1);
  return [
    `- ${fig.scenario.title}: every side keeps the cores busy (CPU of the process, Azurite and the load generator over the wall ` +
      `time: ScanRelay ${busy(sr).toFixed(2)} cores, baseline ${busy(bl).toFixed(2)}), so a side's throughput is the cores over its CPU per request. ` +
      `ScanRelay used ${ms(perJob(sr))} ms per request (its process ${ms(sr.cpuMs / n)}, Azurite ${ms((sr.azuriteCpuMs ?? 0) / n)}, ` +
      `the load generator ${ms(sr.loadCpuMs / n)}), the baseline ${ms(perJob(bl))} (its process ${ms(bl.cpuMs / n)}, Azurite ` +
      `${ms((bl.azuriteCpuMs ?? 0) / n)}). The ${pct(ISSUE_TARGETS.c)} target allows ${ms(allowed)} ms per request; Azurite's share of ` +
      `ScanRelay's 8 storage requests alone is ${ms((sr.azuriteCpuMs ?? 0) / n)} ms, which leaves ${ms(allowed - (sr.azuriteCpuMs ?? 0) / n - sr.loadCpuMs / n)} ms ` +
      `for ScanRelay's process to receive the request and make those requests, where the baseline's process spends ${ms(bl.cpuMs / n)} ms on one upload.`,
    '',
  ];
}

/** A compact console version of the results. */
export function consoleTable(all: ScenarioFigures[], targets: Target[]): string {
  const pad = (s: string, n: number) => s.padStart(n);
  const out = [
    `${'scenario'.padEnd(30)}${pad('SR MiB/s', 9)}${pad('req/s', 8)}${pad('ref MiB/s', 10)}${pad('BL MiB/s', 9)}${pad('req/s', 8)}` +
      `${pad('SR/BL', 7)}${pad('SR/ref', 7)}${pad('SR peak', 9)}${pad('SR grow', 9)}${pad('BL grow', 9)}`,
  ];
  for (const f of all) {
    const { scanrelay: sr, relay, baseline: bl } = f.sides;
    out.push(
      `${f.scenario.title.slice(0, 29).padEnd(30)}${pad(f1(sr.mibPerSec), 9)}${pad(sr.reqPerSec.toFixed(1), 8)}` +
        `${pad(f1(relay.mibPerSec), 10)}${pad(f1(bl.mibPerSec), 9)}${pad(bl.reqPerSec.toFixed(1), 8)}` +
        `${pad(pct(f.ratio), 7)}${pad(pct(f.relayRatio), 7)}${pad(mib(sr.peakMedian), 9)}${pad(mib(sr.growthMax), 9)}${pad(mib(bl.growthMax), 9)}`,
    );
  }
  out.push(
    '(SR = ScanRelay, ref = reference relay, BL = direct-upload baseline; RSS in MiB: peak = median of the',
    " peaks, grow = largest growth over a repetition's start)",
    '',
  );
  for (const t of targets) out.push(`${t.met ? 'MET   ' : 'MISSED'} ${t.label}: ${t.detail}`);
  return out.join('\n');
}

/** The 50th, 95th and 99th percentiles of `values` (nearest rank; 0 for none). */
export function percentiles(values: readonly number[]): { p50: number; p95: number; p99: number } {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}
