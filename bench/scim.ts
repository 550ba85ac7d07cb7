/**
 * SCIM provisioning at Entra ID's pace, against Azurite: (1) N users provisioned the way Entra's
 * provisioning service does it, a `userName eq` lookup then a `POST /Users` per user, 8 users in
 * flight; (2) `userName eq` lookup latency with the N users stored, one request at a time, for a
 * stored user (the userName in random letter case) and for an unknown one.
 *
 * ScanRelay is the local host (host/local/server.ts serving the registry's handlers) in a child
 * process, so that its CPU is measured apart from the load generator's (this process, fetch with
 * keep-alive). The baseline, in the same run, is @azure/data-tables used directly on a fresh
 * Azurite: per user one `getEntity` miss and one `createEntity` of a row the size of ScanRelay's
 * user row, 8 in flight; for lookups one `getEntity` point read. It is the floor any SCIM layer
 * on this store sits on. Each side gets its own fresh Azurite (in memory).
 *
 * Run as a script (`node dist/bench/scim.js`, forked by runScimBench) this file is the host child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TableClient } from '@azure/data-tables';
import { startAzurite, type RunningAzurite } from '../host/local/azurite';
import { forEachLimited } from '../shared/concurrency';
import { packText, unlessStatus } from '../shared/storage';
import { cpuMs, findChildPid } from './procstat';
import { machine } from './report';

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const SCIM_JSON = 'application/scim+json';
const DEPARTMENTS = ['Finance', 'Engineering', 'Sales', 'Operations', 'Legal', 'Human Resources', 'Facilities', 'Marketing'];
const GIVEN = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Niklaus', 'Margaret', 'Tony'];
const FAMILY = [
  'Lovelace',
  'Hopper',
  'Turing',
  'Dijkstra',
  'Liskov',
  'Knuth',
  'Allen',
  'Thompson',
  'Perlman',
  'Wirth',
  'Hamilton',
  'Hoare',
];

/** Lookups timed per figure, one at a time; the warm-up before them is not timed. */
const LOOKUPS = 1000;
const LOOKUP_WARMUP = 100;
/** Spot checks of stored users after provisioning. */
const SPOT_CHECKS = 25;

export interface LatencyFigures {
  count: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface ProvisionFigures {
  wallMs: number;
  perSecond: number;
  /** Per user: the lookup and the create, as the client sees them. */
  meanMs: number;
  p95Ms: number;
  /** CPU of the process talking to Azurite (ScanRelay's host; for the baseline, the data-tables client), per user. */
  cpuMsPerUser: number;
  /** Azurite's CPU per user; undefined without /proc. */
  azuriteCpuMsPerUser?: number;
  /** The load generator's CPU per user (fetch); ScanRelay side only. */
  clientCpuMsPerUser?: number;
}

export interface ScimFigures {
  users: number;
  inFlight: number;
  warmupUsers: number;
  provision: { scanrelay: ProvisionFigures; baseline: ProvisionFigures };
  lookupHit: { scanrelay: LatencyFigures; baseline: LatencyFigures; twoReads: LatencyFigures };
  lookupMiss: { scanrelay: LatencyFigures; baseline: LatencyFigures };
  /** What the checks after provisioning found. */
  checks: { storedScanRelay: number; storedBaseline: number; spotChecks: number; duplicateStatus: number };
  cores: number;
  cpu: string;
  node: string;
  azurite: string;
  totalSeconds: number;
}

interface BenchUser {
  userName: string;
  externalId: string;
  body: Record<string, unknown>;
}

function makeUsers(count: number, prefix: string): BenchUser[] {
  const run = randomBytes(3).toString('hex');
  return Array.from({ length: count }, (_, i) => {
    const givenName = GIVEN[i % GIVEN.length]!;
    const familyName = FAMILY[Math.floor(i / GIVEN.length) % FAMILY.length]!;
    const userName = `${prefix}${i}.${givenName}.${familyName}.${run}@contoso-bench.example`.toLowerCase();
    const externalId = randomUUID();
    return {
      userName,
      externalId,
      body: {
        schemas: [USER_SCHEMA, ENTERPRISE],
        externalId,
        userName,
        active: true,
        displayName: `${givenName} ${familyName} ${i}`,
        name: { givenName, familyName },
        emails: [{ primary: true, type: 'work', value: userName }],
        [ENTERPRISE]: { department: DEPARTMENTS[i % DEPARTMENTS.length] },
      },
    };
  });
}

/** The userName with each letter's case chosen at random: lookups are case-insensitive. */
function randomCase(s: string): string {
  let out = '';
  for (const ch of s) out += randomInt(2) ? ch.toUpperCase() : ch;
  return out;
}

function latency(samples: number[]): LatencyFigures {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
  return {
    count: sorted.length,
    meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    p50Ms: at(0.5),
    p95Ms: at(0.95),
    p99Ms: at(0.99),
  };
}

/**
 * Provisions `users` with `inFlight` at a time and times it: per-user latency, wall time, and the
 * CPU that `processCpuMs` and Azurite spent meanwhile (the same measurement on both sides).
 */
async function measureProvisioning(
  users: BenchUser[],
  inFlight: number,
  azuritePid: number | undefined,
  processCpuMs: () => number | Promise<number>,
  provisionOne: (u: BenchUser) => Promise<unknown>,
): Promise<ProvisionFigures> {
  const durations: number[] = [];
  const processCpu = await processCpuMs();
  const azCpu = cpuMs(azuritePid);
  const began = performance.now();
  await forEachLimited(users, inFlight, async (u) => {
    const t0 = performance.now();
    await provisionOne(u);
    durations.push(performance.now() - t0);
  });
  const wallMs = performance.now() - began;
  const processCpuUsed = (await processCpuMs()) - processCpu;
  const azCpuAfter = cpuMs(azuritePid);
  const per = latency(durations);
  return {
    wallMs,
    perSecond: (users.length / wallMs) * 1000,
    meanMs: per.meanMs,
    p95Ms: per.p95Ms,
    cpuMsPerUser: processCpuUsed / users.length,
    azuriteCpuMsPerUser: azCpu !== undefined && azCpuAfter !== undefined ? (azCpuAfter - azCpu) / users.length : undefined,
  };
}

async function timedSequential(count: number, work: (i: number) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await work(i);
    out.push(performance.now() - t0);
  }
  return out;
}

const cpuNowMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// ---- the ScanRelay host, in a child process ------------------------------------------------

interface HostChild {
  url: string;
  /** The child's own CPU time (process.cpuUsage), in ms. */
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

type HostMessage = { type: 'ready'; port: number } | { type: 'cpu'; ms: number } | { type: 'error'; message: string };

async function forkHost(connectionString: string, token: string): Promise<HostChild> {
  const profileDir = process.env.BENCH_CPU_PROF || undefined;
  const child: ChildProcess = fork(__filename, [], {
    execArgv: profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
    env: { ...process.env, SCIM_BENCH_STORAGE: connectionString, SCIM_BENCH_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-8000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const next = (type: HostMessage['type']) =>
    new Promise<HostMessage>((resolve, reject) => {
      const onMessage = (m: HostMessage) => {
        if (m.type !== type && m.type !== 'error') return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (m.type === 'error') reject(new Error(`SCIM host: ${m.message}`));
        else resolve(m);
      };
      const onExit = (code: number | null) => {
        child.off('message', onMessage);
        reject(new Error(`SCIM host exited (code ${code}):\n${output}`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.send({ type: 'stop' });
    await exited;
    clearTimeout(timer);
  };
  try {
    const ready = (await next('ready')) as { port: number };
    return {
      url: `http://127.0.0.1:${ready.port}/api/scim/v2`,
      cpu: async () => {
        const reply = next('cpu');
        child.send({ type: 'cpu' });
        return ((await reply) as { ms: number }).ms;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The child: ScanRelay's services on the given Azurite, the SCIM token in its local secret store, the local host. */
async function hostMain(): Promise<void> {
  const { loadConfig } = await import('../shared/config');
  const { createServices, setServices } = await import('../shared/services');
  const { startLocalServer } = await import('../host/local/server');
  const { registry } = await import('../host/registry');
  const dir = mkdtempSync(join(tmpdir(), 'scanrelay-scim-bench-'));
  try {
    const services = createServices(
      loadConfig({ AzureWebJobsStorage: process.env.SCIM_BENCH_STORAGE!, SECRETS_LOCAL_FILE: join(dir, 'secrets.json') }),
    );
    setServices(services);
    await services.secrets.set('scim-bearer-token', process.env.SCIM_BENCH_TOKEN!);
    const server = await startLocalServer({
      registry,
      port: 0,
      log: () => undefined,
      adminKey: () => services.secrets.tryGet('admin-key'),
    });
    const quit = async () => {
      await server.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    };
    process.on('message', (m: { type: string }) => {
      if (m.type === 'cpu') process.send!({ type: 'cpu', ms: cpuNowMs() });
      if (m.type === 'stop') void quit();
    });
    process.on('disconnect', () => void quit());
    process.send!({ type: 'ready', port: server.port });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    process.send!({ type: 'error', message: (err as Error)?.stack ?? String(err) });
    process.exit(1);
  }
}

// ---- the ScanRelay side --------------------------------------------------------------------

interface ScimSide {
  provision: ProvisionFigures;
  hit: LatencyFigures;
  miss: LatencyFigures;
  stored: number;
  spotChecks: number;
  duplicateStatus: number;
}

async function runScanRelaySide(
  log: (line: string) => void,
  azurite: RunningAzurite,
  users: BenchUser[],
  warmup: BenchUser[],
  inFlight: number,
): Promise<ScimSide> {
  const token = randomBytes(32).toString('base64url');
  const host = await forkHost(azurite.connectionString, token);
  try {
    const azuritePid = findChildPid('azurite');
    const auth = { authorization: `Bearer ${token}` };
    const call = async (
      method: string,
      path: string,
      body?: unknown,
    ): Promise<{ status: number; json: Record<string, unknown> | undefined }> => {
      const res = await fetch(`${host.url}${path}`, {
        method,
        headers: body === undefined ? auth : { ...auth, 'content-type': SCIM_JSON },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
    };
    const byUserName = (userName: string) => `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`;
    const provisionOne = async (u: BenchUser): Promise<string> => {
      const found = await call('GET', byUserName(u.userName));
      if (found.status !== 200 || found.json?.totalResults !== 0) {
        throw new Error(`SCIM lookup of new user ${u.userName}: ${found.status} ${JSON.stringify(found.json).slice(0, 300)}`);
      }
      const created = await call('POST', '/Users', u.body);
      if (created.status !== 201 || typeof created.json?.id !== 'string') {
        throw new Error(`SCIM create of ${u.userName}: ${created.status} ${JSON.stringify(created.json).slice(0, 300)}`);
      }
      return created.json.id;
    };
    const lookup = async (userName: string, expected: number) => {
      const r = await call('GET', byUserName(userName));
      if (r.status !== 200 || r.json?.totalResults !== expected) {
        throw new Error(`SCIM lookup of ${userName}: ${r.status} ${JSON.stringify(r.json).slice(0, 300)} (expected ${expected} result(s))`);
      }
      return r.json;
    };

    // Warm-up (JIT, tables created, connections open), then its users are deleted again.
    const warmIds: string[] = [];
    await forEachLimited(warmup, inFlight, async (u) => void warmIds.push(await provisionOne(u)));
    await forEachLimited(warmIds, inFlight, async (id) => {
      const r = await call('DELETE', `/Users/${id}`);
      if (r.status !== 204) throw new Error(`SCIM delete of warm-up user ${id}: ${r.status}`);
    });

    log(`scim bench: ScanRelay provisioning ${users.length} users, ${inFlight} in flight`);
    const clientCpu = cpuNowMs();
    const measured = await measureProvisioning(users, inFlight, azuritePid, () => host.cpu(), provisionOne);
    const provision: ProvisionFigures = { ...measured, clientCpuMsPerUser: (cpuNowMs() - clientCpu) / users.length };
    log(`scim bench: ScanRelay ${provision.perSecond.toFixed(1)} users/s (${(provision.wallMs / 1000).toFixed(1)} s)`);

    // Correctness: every user stored once, found by userName in any case, with what was sent.
    const all = await call('GET', '/Users?count=0');
    const stored = Number(all.json?.totalResults);
    if (all.status !== 200 || stored !== users.length) {
      throw new Error(`SCIM: ${stored} users stored after provisioning ${users.length} (status ${all.status})`);
    }
    for (let i = 0; i < SPOT_CHECKS; i++) {
      const u = users[randomInt(users.length)]!;
      const r = await lookup(randomCase(u.userName), 1);
      const got = (r.Resources as Array<Record<string, unknown>>)[0]!;
      const dept = (got[ENTERPRISE] as { department?: unknown } | undefined)?.department;
      if (
        got.userName !== u.userName ||
        got.externalId !== u.externalId ||
        got.active !== true ||
        dept !== (u.body[ENTERPRISE] as { department: string }).department
      ) {
        throw new Error(`SCIM: ${u.userName} is stored as ${JSON.stringify(got).slice(0, 500)}`);
      }
    }
    const dup = await call('POST', '/Users', { ...users[0]!.body, userName: randomCase(users[0]!.userName), externalId: randomUUID() });
    if (dup.status !== 409) throw new Error(`SCIM: a duplicate userName was answered ${dup.status}, not 409`);

    log(`scim bench: ScanRelay userName eq lookups, ${LOOKUPS} hits and ${LOOKUPS} misses, one at a time`);
    const pick = () => randomCase(users[randomInt(users.length)]!.userName);
    const unknown = () => `nobody.${randomBytes(6).toString('hex')}@contoso-bench.example`;
    await timedSequential(LOOKUP_WARMUP, () =>
      lookup(pick(), 1)
        .then(() => lookup(unknown(), 0))
        .then(() => undefined),
    );
    const hit = latency(await timedSequential(LOOKUPS, () => lookup(pick(), 1).then(() => undefined)));
    const miss = latency(await timedSequential(LOOKUPS, () => lookup(unknown(), 0).then(() => undefined)));
    return { provision, hit, miss, stored, spotChecks: SPOT_CHECKS, duplicateStatus: dup.status };
  } finally {
    await host.stop();
  }
}

// ---- the baseline: @azure/data-tables straight on Azurite ----------------------------------

interface BaselineSide {
  provision: ProvisionFigures;
  hit: LatencyFigures;
  twoReads: LatencyFigures;
  miss: LatencyFigures;
  stored: number;
}

/** A row like ScanRelay's user row: the indexed facts and the resource JSON. */
function userRow(id: string, u: BenchUser): Record<string, unknown> & { partitionKey: string; rowKey: string } {
  const now = new Date();
  return {
    partitionKey: id,
    rowKey: 'user',
    userName: u.userName,
    externalId: u.externalId,
    active: true,
    source: 'scim',
    created: now,
    lastModified: now,
    ...packText('resource', JSON.stringify(u.body)),
  };
}

async function runBaselineSide(
  log: (line: string) => void,
  azurite: RunningAzurite,
  users: BenchUser[],
  warmup: BenchUser[],
  inFlight: number,
): Promise<BaselineSide> {
  const azuritePid = findChildPid('azurite');
  const table = TableClient.fromConnectionString(azurite.connectionString, 'benchusers', { allowInsecureConnection: true });
  const warmTable = TableClient.fromConnectionString(azurite.connectionString, 'benchwarmup', { allowInsecureConnection: true });
  await table.createTable();
  await warmTable.createTable();
  const provisionOne = async (t: TableClient, u: BenchUser): Promise<string> => {
    // The miss a lookup costs before a create; the key is a fresh id, like an index key nobody has.
    const miss = await unlessStatus(t.getEntity(`lookup-${u.externalId}`, 'unique'), 404);
    if (miss) throw new Error(`baseline: unexpected row for ${u.userName}`);
    const id = randomUUID();
    await t.createEntity(userRow(id, u));
    return id;
  };
  await forEachLimited(warmup, inFlight, async (u) => void (await provisionOne(warmTable, u)));

  log(`scim bench: baseline (data-tables on Azurite) writing ${users.length} user rows, ${inFlight} in flight`);
  const ids: string[] = [];
  const provision = await measureProvisioning(users, inFlight, azuritePid, cpuNowMs, async (u) => ids.push(await provisionOne(table, u)));
  log(`scim bench: baseline ${provision.perSecond.toFixed(1)} users/s (${(provision.wallMs / 1000).toFixed(1)} s)`);

  let stored = 0;
  for await (const _ of table.listEntities({ queryOptions: { select: ['PartitionKey'] } })) stored++;
  if (stored !== users.length) throw new Error(`baseline: ${stored} rows stored after writing ${users.length}`);

  log(`scim bench: baseline point reads, ${LOOKUPS} hits, ${LOOKUPS} pairs and ${LOOKUPS} misses, one at a time`);
  const read = async () => {
    const e = await table.getEntity<{ userName?: string }>(ids[randomInt(ids.length)]!, 'user');
    if (typeof e.userName !== 'string') throw new Error('baseline: a stored row has no userName');
  };
  const readMissing = async () => {
    if (await unlessStatus(table.getEntity(randomUUID(), 'user'), 404)) throw new Error('baseline: a random key was found');
  };
  await timedSequential(LOOKUP_WARMUP, () => read().then(readMissing));
  const hit = latency(await timedSequential(LOOKUPS, read));
  const twoReads = latency(await timedSequential(LOOKUPS, () => read().then(read)));
  const miss = latency(await timedSequential(LOOKUPS, readMissing));
  return { provision, hit, twoReads, miss, stored };
}

// ---- the bench -----------------------------------------------------------------------------

export async function runScimBench(
  log: (line: string) => void,
  users = Number(process.env.BENCH_SCIM_USERS || 10000),
  inFlight = 8,
): Promise<ScimFigures> {
  const began = Date.now();
  const m = machine();
  const warmupCount = Math.min(200, Math.max(20, Math.floor(users / 10)));
  // The same users on both sides (the baseline writes rows shaped from the same resources).
  const people = makeUsers(users, 'bench');
  const warmup = makeUsers(warmupCount, 'warmup');

  // Baseline first, each side on its own fresh Azurite: neither sees the other's rows or leftovers.
  let baseline: BaselineSide;
  let azurite = await startAzurite();
  try {
    baseline = await runBaselineSide(log, azurite, people, warmup, inFlight);
  } finally {
    await azurite.stop();
  }
  let scanrelay: ScimSide;
  azurite = await startAzurite();
  try {
    scanrelay = await runScanRelaySide(log, azurite, people, makeUsers(warmupCount, 'warmup'), inFlight);
  } finally {
    await azurite.stop();
  }
  return {
    users,
    inFlight,
    warmupUsers: warmupCount,
    provision: { scanrelay: scanrelay.provision, baseline: baseline.provision },
    lookupHit: { scanrelay: scanrelay.hit, baseline: baseline.hit, twoReads: baseline.twoReads },
    lookupMiss: { scanrelay: scanrelay.miss, baseline: baseline.miss },
    checks: {
      storedScanRelay: scanrelay.stored,
      storedBaseline: baseline.stored,
      spotChecks: scanrelay.spotChecks,
      duplicateStatus: scanrelay.duplicateStatus,
    },
    cores: m.cores,
    cpu: m.cpu,
    node: m.node,
    azurite: m.azurite,
    totalSeconds: (Date.now() - began) / 1000,
  };
}

export function scimMarkdown(f: ScimFigures): string {
  const ms = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(2));
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}×`;
  const row = (label: string, a: number | undefined, b: number | undefined, fmt = ms) =>
    `| ${label} | ${fmt(a)} | ${fmt(b)} | ${ratio(a, b)} |`;
  const { scanrelay: sp, baseline: bp } = f.provision;
  const n = f.users.toLocaleString('en-US');
  const latencyRows = (s: LatencyFigures, b: LatencyFigures) => [
    row('Mean (ms)', s.meanMs, b.meanMs),
    row('50th percentile (ms)', s.p50Ms, b.p50Ms),
    row('95th percentile (ms)', s.p95Ms, b.p95Ms),
    row('99th percentile (ms)', s.p99Ms, b.p99Ms),
  ];
  return [
    '## SCIM provisioning and `userName` lookups',
    '',
    `${n} users provisioned through \`/api/scim/v2/Users\` the way Microsoft Entra ID's provisioning service`,
    `does it: per user a \`GET /Users?filter=userName eq "…"\` (answered 200 with no result) then a \`POST /Users\``,
    `(core and enterprise schema, answered 201), ${f.inFlight} users in flight; then \`userName eq\` lookups with the ${n}`,
    `users stored, ${LOOKUPS.toLocaleString('en-US')} one at a time for stored users (userName in random letter case) and`,
    `${LOOKUPS.toLocaleString('en-US')} for unknown ones, after ${LOOKUP_WARMUP} untimed ones.`,
    '',
    `**Method.** ScanRelay is the local host (the registry's HTTP handlers over node:http, as \`npm start\` serves`,
    'them) in a child process with the local secret store; the load generator is the bench process (fetch, keep-alive,',
    `loopback). **Baseline**, in the same run: @azure/data-tables straight on Azurite, per user one \`getEntity\``,
    `miss then one \`createEntity\` of a row shaped like ScanRelay's user row (same columns, same resource JSON),`,
    `${f.inFlight} in flight; for lookups one \`getEntity\` point read. That is the floor any SCIM layer on this`,
    'store sits on. Each side has its own fresh Azurite (in memory) and an untimed warm-up of',
    `${f.warmupUsers} users first (deleted again on the ScanRelay side). Machine: ${f.cores} cores (${f.cpu}), Node ${f.node},`,
    `Azurite ${f.azurite}; load generator, host and Azurite share the cores. Ratio = ScanRelay ÷ baseline.`,
    `This section took ${f.totalSeconds.toFixed(0)} s.`,
    '',
    `### Provisioning ${n} users (lookup + create, ${f.inFlight} in flight)`,
    '',
    '| Figure | ScanRelay | baseline | ratio |',
    '|---|---:|---:|---:|',
    row('Users per second', sp.perSecond, bp.perSecond, (v) => (v === undefined ? 'n/a' : v.toFixed(0))),
    row('Wall time (s)', sp.wallMs / 1000, bp.wallMs / 1000, (v) => (v === undefined ? 'n/a' : v.toFixed(1))),
    row('Mean per user (ms)', sp.meanMs, bp.meanMs),
    row('95th percentile per user (ms)', sp.p95Ms, bp.p95Ms),
    row('CPU per user, process talking to Azurite (ms)', sp.cpuMsPerUser, bp.cpuMsPerUser),
    row('Azurite CPU per user (ms)', sp.azuriteCpuMsPerUser, bp.azuriteCpuMsPerUser),
    '',
    `ScanRelay's load generator (fetch) used ${ms(sp.clientCpuMsPerUser)} ms CPU per user besides. ` +
      `Checked afterwards: \`GET /Users?count=0\` reports ${f.checks.storedScanRelay.toLocaleString('en-US')} users ` +
      `(baseline table: ${f.checks.storedBaseline.toLocaleString('en-US')} rows), ${f.checks.spotChecks} random users found by ` +
      `userName in random case with the values sent, a duplicate userName in another case answered ${f.checks.duplicateStatus}.`,
    '',
    `### \`userName eq\` lookup of a stored user, ${n} stored (one at a time)`,
    '',
    '| Figure | ScanRelay | baseline (`getEntity`) | ratio |',
    '|---|---:|---:|---:|',
    ...latencyRows(f.lookupHit.scanrelay, f.lookupHit.baseline),
    '',
    `ScanRelay's lookup is two point reads (the index row, then the user row); two sequential \`getEntity\` reads take`,
    `${ms(f.lookupHit.twoReads.meanMs)} ms on average (95th percentile ${ms(f.lookupHit.twoReads.p95Ms)} ms).`,
    '',
    `### \`userName eq\` lookup of an unknown user, ${n} stored (one at a time)`,
    '',
    '| Figure | ScanRelay | baseline (`getEntity` miss) | ratio |',
    '|---|---:|---:|---:|',
    ...latencyRows(f.lookupMiss.scanrelay, f.lookupMiss.baseline),
    '',
  ].join('\n');
}

if (require.main === module && process.send && process.env.SCIM_BENCH_STORAGE) void hostMain();
