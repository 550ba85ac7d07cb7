/**
 * Crashes: the local host (npm start's host/local/main.ts) in a child process is SIGKILLed
 * mid-upload, mid-commit (before and after the queue message, held at the storage proxy) and
 * mid-delivery (a 10 MiB mail half sent to a real SMTP server), then started again. A retry of
 * the same scanJobID succeeds, what the dead request left is swept, and every stored job is
 * delivered exactly once, with nobody repairing anything.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { azuriteConnectionString, startAzurite, type RunningAzurite } from '../../host/local/azurite';
import { loadConfig } from '../../shared/config';
import { createStorage, SCAN_CONTAINER, type Storage } from '../../shared/storage';
import { runChildHostToExit, startChildHost, type ChildHost } from '../helpers/childHost';
import { postHead, rawHttp } from '../helpers/http';
import { multipart, pdfBytes } from '../helpers/multipart';
import { startStorageProxy, type StorageProxy } from '../helpers/storageProxy';

jest.setTimeout(120_000);

let azurite: RunningAzurite;
let tableProxy: StorageProxy;
let queueProxy: StorageProxy;
let storage: Storage;
let env: Record<string, string>;
const hosts: ChildHost[] = [];

/** A real SMTP server that records accepted mails by subject, and can hold one mid-DATA. */
const mails: string[] = [];
/** Set by a test: the next mail is held once 2 MiB of it arrived, and this is called. */
let holdNextMail: (() => void) | undefined;
let smtp: SMTPServer;

beforeAll(async () => {
  azurite = await startAzurite();
  tableProxy = await startStorageProxy(azurite.tablePort);
  queueProxy = await startStorageProxy(azurite.queuePort);
  smtp = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    size: 64 * 1024 * 1024,
    onData(stream, _session, callback) {
      let bytes = 0;
      let head = '';
      const hold = holdNextMail;
      holdNextMail = undefined;
      let held = false;
      stream.on('data', (c: Buffer) => {
        if (head.length < 4000) head += c.toString('latin1');
        bytes += c.length;
        if (hold && !held && bytes > 2 * 1024 * 1024) {
          held = true;
          hold(); // the sender is killed now: this mail never ends
        }
      });
      stream.on('end', () => {
        if (held) return;
        mails.push(/^Subject: (.*)$/m.exec(head)?.[1]?.trim() ?? '');
        callback();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  const smtpPort = (smtp.server.address() as AddressInfo).port;

  const dir = mkdtempSync(join(tmpdir(), 'scanrelay-crash-'));
  const destinations = join(dir, 'destinations.json');
  writeFileSync(
    destinations,
    JSON.stringify({
      version: 1,
      destinations: [
        {
          id: 'mail',
          type: 'smtp',
          when: {},
          options: {
            auth: { kind: 'system', host: '127.0.0.1', port: smtpPort, secure: false },
            from: 'scans@example.com',
            to: 'archive@example.com',
            subject: 'scan %scanJobID%',
            body: '',
          },
        },
      ],
    }),
  );
  const proxied = azuriteConnectionString({ blobPort: azurite.blobPort, queuePort: queueProxy.port, tablePort: tableProxy.port });
  env = {
    AzureWebJobsStorage: proxied,
    SECRETS_LOCAL_FILE: join(dir, 'secrets.json'),
    DESTINATIONS_FILE: destinations,
    INGEST_LEASE_SECONDS: '3',
    INGEST_SWEEP_SCHEDULE: '* * * * * *',
    DELIVERY_LEASE_SECONDS: '3',
    LOCAL_QUEUE_VISIBILITY_SECONDS: '4',
    TOKEN_REFRESH_SCHEDULE: '0 0 0 1 1 *',
    DIRECTORY_SYNC_SCHEDULE: '0 0 0 1 1 *',
  };
  storage = createStorage(loadConfig({ AzureWebJobsStorage: azurite.connectionString }).storage);
  await storage.scanBlobs.ready();
});

afterAll(async () => {
  for (const h of hosts) await h.kill();
  await new Promise<void>((r) => smtp?.close(() => r()));
  await tableProxy?.stop();
  await queueProxy?.stop();
  await azurite?.stop();
});

async function start(): Promise<ChildHost> {
  const h = await startChildHost(env);
  hosts.push(h);
  return h;
}

/** Polls until `check` is true (bounded by the test's timeout). */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 100));
}

async function blobJobIds(): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const b of storage.clients.container(SCAN_CONTAINER).listBlobsFlat()) ids.add(b.name.split('/')[0]!);
  return ids;
}

async function leaseCount(): Promise<number> {
  return (await storage.ingestLeases.list()).length;
}

function scanBody(scanJobID: string, files: Buffer[]) {
  return multipart([
    { name: 'scanJobID', value: scanJobID },
    ...files.map((data, i) => ({ name: `file${i + 1}`, filename: `p${i}.pdf`, data })),
  ]);
}

/** What must hold once the dust settles: one stored job, delivered, one mail, nothing left over. */
async function settled(scanJobID: string, jobId: string, deadJobId?: string) {
  await until(async () => (await storage.scanJobs.get(jobId))?.deliveryState === 'delivered');
  await until(async () => (await leaseCount()) === 0);
  const blobs = await blobJobIds();
  expect(blobs.has(jobId)).toBe(true);
  if (deadJobId) {
    expect(blobs.has(deadJobId)).toBe(false);
    expect((await storage.scanJobs.get(deadJobId))?.status ?? 'absent').toMatch(/abandoned|absent/);
  }
  expect(await storage.scanJobs.getClaim(scanJobID)).toMatchObject({ jobId, status: 'stored' });
  expect(mails.filter((s) => s === `scan ${scanJobID}`)).toHaveLength(1);
}

it("a kill mid-upload: the retry stores the job, the dead request's blobs are swept, one mail", async () => {
  const scanJobID = randomUUID();
  const mp = scanBody(scanJobID, [pdfBytes(300_000), pdfBytes(300_000), pdfBytes(3_000_000)]);
  const before = await blobJobIds();
  const first = await start();
  const sending = rawHttp(first.scanUrl, [
    postHead(first.scanUrl, { 'Content-Type': mp.contentType, 'Content-Length': mp.body.length }),
    mp.body.subarray(0, 1_500_000),
  ]);
  sending.catch(() => undefined);
  // Two files are in Blob Storage and the third is arriving when the host dies.
  let dead = '';
  await until(async () => {
    const fresh = [...(await blobJobIds())].filter((id) => !before.has(id));
    dead = fresh[0] ?? '';
    if (!dead) return false;
    let n = 0;
    for await (const _ of storage.clients.container(SCAN_CONTAINER).listBlobsFlat({ prefix: `${dead}/` })) n++;
    return n >= 2;
  });
  await first.kill();

  const second = await start();
  const retry = await rawHttp(
    second.scanUrl,
    [postHead(second.scanUrl, { 'Content-Type': mp.contentType, 'Content-Length': mp.body.length }), mp.body],
    { timeoutMs: 60_000 },
  );
  expect(retry.status).toBe(200);
  await settled(scanJobID, retry.json.jobId, dead);
  await second.stop();
});

it.each([
  ['before the queue message (held: the enqueue)', { method: /^POST$/, path: /\/scan-delivery\/messages/ }, queueProxyOf],
  [
    "after the queue message (held: the job's record, written stored)",
    { method: /^POST$/, path: /\/scanjobs(\?|$)/, body: /"status":"stored"/ },
    tableProxyOf,
  ],
] as const)(
  'a kill mid-commit, %s: the retry takes the claim over within a lease, the dead job is swept, one mail',
  async (_n, rule, proxyOf) => {
    const scanJobID = randomUUID();
    const mp = scanBody(scanJobID, [pdfBytes(100_000), pdfBytes(100_000)]);
    const first = await start();
    const held = proxyOf().holdNext(rule);
    const sending = rawHttp(first.scanUrl, [
      postHead(first.scanUrl, { 'Content-Type': mp.contentType, 'Content-Length': mp.body.length }),
      mp.body,
    ]);
    sending.catch(() => undefined);
    await held;
    await first.kill();
    proxyOf().releaseHeld();
    const dead = (await storage.scanJobs.getClaim(scanJobID))!.jobId;

    const second = await start();
    const retry = await rawHttp(
      second.scanUrl,
      [postHead(second.scanUrl, { 'Content-Type': mp.contentType, 'Content-Length': mp.body.length }), mp.body],
      { timeoutMs: 60_000 },
    );
    expect(retry.status).toBe(200);
    expect(retry.json.jobId).not.toBe(dead);
    await settled(scanJobID, retry.json.jobId, dead);
    await second.stop();
  },
);

function queueProxyOf() {
  return queueProxy;
}
function tableProxyOf() {
  return tableProxy;
}

it('a kill mid-delivery (a 10 MiB mail half sent): after the restart the job is delivered exactly once', async () => {
  const scanJobID = randomUUID();
  const mp = scanBody(scanJobID, [Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(10 * 1024 * 1024)])]);
  const first = await start();
  const sending = new Promise<void>((resolve) => (holdNextMail = resolve));
  const stored = await rawHttp(
    first.scanUrl,
    [postHead(first.scanUrl, { 'Content-Type': mp.contentType, 'Content-Length': mp.body.length }), mp.body],
    { timeoutMs: 60_000 },
  );
  expect(stored.status).toBe(200);
  await sending;
  await first.kill();
  expect(mails.filter((s) => s === `scan ${scanJobID}`)).toHaveLength(0);

  const second = await start();
  await settled(scanJobID, stored.json.jobId);
  expect(await storage.deliveries.get(stored.json.jobId, 'mail')).toMatchObject({ status: 'delivered', attempts: 2 });
  await second.stop();
});

it('a destinations file that is not valid JSON: npm start refuses to start, naming DESTINATIONS_FILE', async () => {
  const bad = join(mkdtempSync(join(tmpdir(), 'scanrelay-bad-')), 'destinations.json');
  writeFileSync(bad, '{ "version": 1, ');
  const { code, output } = await runChildHostToExit({ ...env, DESTINATIONS_FILE: bad });
  expect(code).toBe(1);
  expect(output).toContain('ScanRelay cannot start: Configuration setting DESTINATIONS_FILE:');
  expect(output).toContain('is not valid JSON');
});
