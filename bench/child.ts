/**
 * A bench child process (forked by bench/run.ts with --expose-gc). `scanrelay` runs ScanRelay's
 * local host (the real registry, services and storage code) and waits for HTTP load from the
 * parent; `baseline` uploads the same bytes to Azurite directly with @azure/storage-blob when
 * told to; `relay` is a reference: the least any HTTP relay must do (node:http, busboy, one
 * uploadStream per file part), to tell the cost of the extra hop from ScanRelay's own. All
 * sample their own RSS every ~20 ms and report it over IPC, so the load generator never counts.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import busboy from 'busboy';
import { startLocalServer, type LocalServer } from '../host/local/server';
import { registry } from '../host/registry';
import { loadConfig } from '../shared/config';
import { createServices, setServices } from '../shared/services';
import { SCAN_CONTAINER } from '../shared/storage';
import { fileStream } from './payload';
import {
  BASELINE_CONTAINER,
  BENCH_LIMIT_BYTES,
  RELAY_CONTAINER,
  UPLOAD_BUFFER_BYTES,
  UPLOAD_CONCURRENCY,
  type ChildRole,
  type Command,
  type ConnectReply,
  type MarkReply,
  type PeakReply,
  type Reply,
  type RunReply,
  type Scenario,
} from './protocol';

const role = process.argv[2] as ChildRole;
if (role !== 'scanrelay' && role !== 'baseline' && role !== 'relay') {
  console.error(`bench child: unknown role '${process.argv[2]}'`);
  process.exit(2);
}
if (!process.send) {
  console.error('bench child: must be forked with an IPC channel');
  process.exit(2);
}

// ---- RSS sampling -------------------------------------------------------------------------
let windowStart = process.memoryUsage.rss();
let windowPeak = windowStart;
let samples = 0;
let cpuStart = process.cpuUsage();
const sample = () => {
  const rss = process.memoryUsage.rss();
  samples++;
  if (rss > windowPeak) windowPeak = rss;
};
setInterval(sample, 20);

/** Linux: writing 5 to clear_refs resets the VmHWM the kernel keeps for the process. */
function resetKernelPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
let kernelPeakValid = false;
function kernelPeak(): number | undefined {
  if (!kernelPeakValid) return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'latin1'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function mark(): Promise<MarkReply> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 2; i++) {
    gc?.();
    await sleep(50);
  }
  windowStart = process.memoryUsage.rss();
  windowPeak = windowStart;
  samples = 0;
  cpuStart = process.cpuUsage();
  kernelPeakValid = resetKernelPeak();
  return { rss: windowStart };
}

function peak(): PeakReply {
  sample();
  const cpu = process.cpuUsage(cpuStart);
  return {
    start: windowStart,
    peak: windowPeak,
    kernelPeak: kernelPeak(),
    samples,
    cpuMs: (cpu.user + cpu.system) / 1000,
    cpuSysMs: cpu.system / 1000,
  };
}

// ---- the roles ----------------------------------------------------------------------------
let server: LocalServer | undefined;
let container: ContainerClient | undefined;
let relayServer: Server | undefined;

async function connect(connectionString: string): Promise<ConnectReply> {
  if (role === 'scanrelay') {
    const config = loadConfig({
      AzureWebJobsStorage: connectionString,
      SCAN_MAX_REQUEST_BYTES: String(BENCH_LIMIT_BYTES),
      SCAN_MAX_FILE_BYTES: String(BENCH_LIMIT_BYTES),
      // No shared secret is configured, so the store is never read; point it away from the repo anyway.
      SECRETS_LOCAL_FILE: join(tmpdir(), `scanrelay-bench-${process.pid}-secrets.json`),
    });
    // The server looks the services up on every request, so replacing them switches Azurites.
    setServices(createServices(config));
    server ??= await startLocalServer({ registry, port: 0, log: () => undefined });
    return { port: server.port, container: SCAN_CONTAINER };
  }
  const name = role === 'relay' ? RELAY_CONTAINER : BASELINE_CONTAINER;
  container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(name);
  await container.createIfNotExists();
  if (role === 'relay') {
    relayServer ??= await startRelay();
    return { port: (relayServer.address() as AddressInfo).port, container: name };
  }
  return { container: name };
}

/**
 * The reference relay: multipart parsed by busboy straight from the socket, each file part
 * streamed into its own blob with the same uploadStream call, one after the other as they
 * arrive. No web-stream adapters, no hashing, no job record, no queue message, no limits.
 */
function startRelay(): Promise<Server> {
  const relay = createServer((req, res) => {
    const prefix = randomUUID();
    const uploads: Array<Promise<unknown>> = [];
    const fail = (err: unknown) => {
      if (res.headersSent) return;
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String(err) }));
      req.resume();
    };
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers });
    } catch (err) {
      return fail(err);
    }
    parser.on('file', (_field, stream, info) => {
      const i = uploads.length;
      uploads.push(
        container!.getBlockBlobClient(`${prefix}/${i}`).uploadStream(stream, UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY, {
          blobHTTPHeaders: { blobContentType: info.mimeType },
        }),
      );
    });
    parser.on('error', fail);
    parser.on('close', () => {
      Promise.all(uploads).then(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ files: uploads.length }));
      }, fail);
    });
    req.pipe(parser);
  });
  relay.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    relay.once('error', reject);
    relay.listen(0, '127.0.0.1', () => resolve(relay));
  });
}

/** One "request" of the baseline: the request's files uploaded one after the other, as ScanRelay does. */
async function baselineRequest(scenario: Scenario): Promise<void> {
  const prefix = randomUUID();
  for (let i = 0; i < scenario.filesPerRequest; i++) {
    await container!
      .getBlockBlobClient(`${prefix}/${i}`)
      .uploadStream(fileStream(scenario.fileBytes), UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY, {
        blobHTTPHeaders: {
          blobContentType: 'application/pdf',
          blobContentDisposition: `attachment; filename="scan-${i + 1}.pdf"; filename*=UTF-8''scan-${i + 1}.pdf`,
        },
        metadata: { originalname: `scan-${i + 1}.pdf` },
      });
  }
}

async function run(scenario: Scenario): Promise<RunReply> {
  if (role !== 'baseline') throw new Error('run is for the baseline child');
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < scenario.requests) {
      next++;
      await baselineRequest(scenario);
    }
  };
  await Promise.all(Array.from({ length: Math.min(scenario.inFlight, scenario.requests) }, worker));
  return { ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

async function stop(): Promise<void> {
  await server?.close();
  if (relayServer) {
    const closed = new Promise((resolve) => relayServer!.close(resolve));
    relayServer.closeAllConnections();
    await closed;
  }
  setServices(undefined);
}

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.type) {
    case 'connect':
      return connect(cmd.connectionString);
    case 'mark':
      return mark();
    case 'peak':
      return peak();
    case 'run':
      return run(cmd.scenario);
    case 'stop':
      return stop();
  }
}

process.on('message', (cmd: Command) => {
  handle(cmd).then(
    (data) => {
      const reply: Reply = { id: cmd.id, ok: true, data: data ?? null };
      process.send!(reply, () => {
        if (cmd.type === 'stop') process.exit(0);
      });
    },
    (err: unknown) => {
      const reply: Reply = { id: cmd.id, ok: false, error: (err as Error)?.stack ?? String(err) };
      process.send!(reply);
    },
  );
});
// The parent went away (even by crashing): nothing is left to serve.
process.on('disconnect', () => process.exit(0));
