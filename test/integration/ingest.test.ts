/**
 * The ingest core called directly (and the scan function's handler called directly, as the
 * Functions worker would), with failures injected into real storage.
 */
import { createHash, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { HttpRequest, InvocationContext } from '@azure/functions';
import { scan } from '../../functions/scan';
import { ingestScan, type IngestDeps } from '../../shared/ingest';
import { createServices, setServices } from '../../shared/services';
import { loadConfig } from '../../shared/config';
import { startStack, type TestStack } from '../helpers/env';
import { multipart, pdfBytes } from '../helpers/multipart';
import { SCAN_CONTAINER, SCAN_JOBS_TABLE, DELIVERY_QUEUE, type ScanJob } from '../../shared/storage';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  setServices(undefined);
  await stack?.stop();
});

async function counts() {
  const { clients } = stack.services.storage;
  const container = clients.container(SCAN_CONTAINER);
  await container.createIfNotExists();
  let blobs = 0;
  for await (const _ of container.listBlobsFlat()) blobs++;
  const table = clients.table(SCAN_JOBS_TABLE);
  await table.createTable();
  let jobs = 0;
  for await (const _ of table.listEntities()) jobs++;
  const queue = clients.queue(DELIVERY_QUEUE);
  await queue.createIfNotExists();
  const messages = (await queue.getProperties()).approximateMessagesCount ?? 0;
  return { blobs, jobs, messages };
}

function request(scanJobID = randomUUID(), files = 3) {
  const mp = multipart([
    { name: 'username', value: 'jdoe' },
    { name: 'scanJobID', value: scanJobID },
    ...Array.from({ length: files }, (_, i) => ({ name: `file${i + 1}`, filename: `p${i}.pdf`, data: pdfBytes(64 * 1024) })),
  ]);
  return { contentType: mp.contentType, contentLength: mp.body.length, body: Readable.from([mp.body]) };
}

function deps(overrides: Partial<IngestDeps> = {}): IngestDeps {
  return { ...stack.services.ingestDeps({ info() {}, warn() {}, error() {} }), ...overrides };
}

describe('a failure part-way leaves nothing complete behind', () => {
  it('a storage failure after the first file: error, no blob, no record, no message', async () => {
    const real = stack.services.storage.scanBlobs;
    let uploads = 0;
    const failing = {
      upload: async (...args: Parameters<typeof real.upload>) => {
        if (++uploads === 2) throw new Error('injected: blob storage unavailable');
        return real.upload(...args);
      },
      deleteJob: (jobId: string) => real.deleteJob(jobId),
    };
    const before = await counts();
    await expect(ingestScan(request(), deps({ scanBlobs: failing }))).rejects.toThrow('injected');
    expect(uploads).toBeGreaterThanOrEqual(2);
    expect(await counts()).toEqual(before);
  });

  it('a queue failure: rolled back, and a retry then succeeds', async () => {
    const scanJobID = randomUUID();
    const before = await counts();
    const queue = { enqueue: async () => Promise.reject(new Error('injected: queue unavailable')), remove: async () => undefined };
    await expect(ingestScan(request(scanJobID), deps({ deliveryQueue: queue }))).rejects.toThrow('injected');
    expect(await counts()).toEqual(before);

    const retry = await ingestScan(request(scanJobID), deps());
    expect(retry.duplicate).toBe(false);
    expect(retry.files).toHaveLength(3);
    const after = await counts();
    expect(after).toEqual({ blobs: before.blobs + 3, jobs: before.jobs + 1, messages: before.messages + 1 });
  });

  it('a failure writing the record removes the queue message it had sent', async () => {
    const before = await counts();
    const jobs = stack.services.storage.scanJobs;
    const failingJobs = Object.assign(Object.create(Object.getPrototypeOf(jobs)), jobs, {
      create: async () => Promise.reject(new Error('injected: table unavailable')),
    });
    await expect(ingestScan(request(), deps({ scanJobs: failingJobs }))).rejects.toThrow('injected');
    expect(await counts()).toEqual(before);
  });

  it('a record write that landed although it reported a failure: the job is stored, its message kept', async () => {
    const before = await counts();
    const jobs = stack.services.storage.scanJobs;
    const lostAnswer = Object.assign(Object.create(Object.getPrototypeOf(jobs)), jobs, {
      create: async (job: ScanJob) => {
        await jobs.create(job);
        throw new Error('injected: the answer was lost');
      },
    });
    const res = await ingestScan(request(), deps({ scanJobs: lostAnswer }));
    expect(res.duplicate).toBe(false);
    expect((await jobs.get(res.jobId))?.status).toBe('stored');
    expect(await counts()).toEqual({ blobs: before.blobs + 3, jobs: before.jobs + 1, messages: before.messages + 1 });
    expect(await stack.services.storage.ingestLeases.get(res.jobId)).toBeUndefined();
  });

  it('a record write that may have landed, and no way to read it: everything stays for the sweeper', async () => {
    const before = await counts();
    const jobs = stack.services.storage.scanJobs;
    let jobId = '';
    const unreadable = Object.assign(Object.create(Object.getPrototypeOf(jobs)), jobs, {
      create: async (job: ScanJob) => {
        jobId = job.jobId;
        await jobs.create(job);
        throw new Error('injected: the answer was lost');
      },
      get: async () => Promise.reject(new Error('injected: table unreachable')),
    });
    await expect(ingestScan(request(), deps({ scanJobs: unreadable }))).rejects.toThrow('the answer was lost');
    // Stored after all: nothing of it may go (the sweeper finds the record stored and keeps it).
    expect((await jobs.get(jobId))?.status).toBe('stored');
    expect(await counts()).toEqual({ blobs: before.blobs + 3, jobs: before.jobs + 1, messages: before.messages + 1 });
    expect(await stack.services.storage.ingestLeases.get(jobId)).toBeDefined();
  });
});

describe('the shared secret', () => {
  const field = 'custom_SharedSecret';
  let secured: IngestDeps;
  beforeAll(() => {
    writeFileSync(stack.secretsFile, JSON.stringify({ 'extension-shared-secret': 's3cret-value' }));
    secured = deps({ sharedSecretField: field });
  });

  const withSecret = (value?: string, secretFirst = true) => {
    const secret = value === undefined ? [] : [{ name: field, value }];
    const file = [{ name: 'file1', filename: 'a.pdf', data: pdfBytes() }];
    const mp = multipart([{ name: 'username', value: 'jdoe' }, ...(secretFirst ? [...secret, ...file] : [...file, ...secret])]);
    return { contentType: mp.contentType, body: Readable.from([mp.body]) };
  };

  it.each([
    ['missing', undefined, true],
    ['wrong', 's3cret-valuf', true],
    ['empty', '', true],
    ['wrong, sent after the file', 'nope', false],
  ])('%s: 401 and nothing stored', async (_n, value, first) => {
    const before = await counts();
    await expect(ingestScan(withSecret(value, first), secured)).rejects.toMatchObject({ status: 401 });
    expect(await counts()).toEqual(before);
  });

  it('right: stored, and the secret is not kept in the job record', async () => {
    const res = await ingestScan(withSecret('s3cret-value'), secured);
    const job = await stack.services.storage.scanJobs.get(res.jobId);
    expect(job?.fields).toEqual({ username: 'jdoe' });
    expect(JSON.stringify(job)).not.toContain('s3cret-value');
  });

  it('right, sent after the file: stored', async () => {
    await expect(ingestScan(withSecret('s3cret-value', false), secured)).resolves.toMatchObject({ duplicate: false });
  });
});

describe('the scan function called as the Functions worker calls it', () => {
  it('answers 200 with the job, and a typed 4xx for bad input', async () => {
    setServices(createServices(loadConfig({ AzureWebJobsStorage: stack.azurite.connectionString, SECRETS_LOCAL_FILE: stack.secretsFile })));
    const mp = multipart([
      { name: 'scanJobID', value: randomUUID() },
      { name: 'file1', filename: 'a.pdf', data: pdfBytes() },
    ]);
    const ok = await scan.handler(
      new HttpRequest({
        method: 'POST',
        url: 'https://scanrelay.example/api/scan',
        headers: { 'content-type': mp.contentType, 'x-forwarded-for': '203.0.113.9:51234' },
        body: { bytes: mp.body },
      }),
      new InvocationContext({ functionName: 'scan', logHandler: () => undefined }),
    );
    expect(ok).toMatchObject({ status: 200, jsonBody: { files: [{ name: 'a.pdf', contentType: 'application/pdf' }] } });
    const job = await stack.services.storage.scanJobs.get((ok as { jsonBody: { jobId: string } }).jsonBody.jobId);
    expect(job?.senderAddress).toBe('203.0.113.9');

    const bad = await scan.handler(
      new HttpRequest({
        method: 'POST',
        url: 'https://scanrelay.example/api/scan',
        headers: { 'content-type': 'text/plain' },
        body: { string: 'hi' },
      }),
      new InvocationContext({ functionName: 'scan', logHandler: () => undefined }),
    );
    expect(bad).toMatchObject({ status: 415, jsonBody: { error: 'unsupported_media_type' } });
  });

  it('answers an internal fault with a 500 that names the invocation, not the fault', async () => {
    const services = createServices(stack.config);
    const logged: string[] = [];
    const leaky = new Error('connect ECONNREFUSED 127.0.0.1:10000 AccountKey=c2VjcmV0');
    setServices({
      ...services,
      ingestDeps: (log) => ({
        ...services.ingestDeps(log),
        scanBlobs: { upload: () => Promise.reject(leaky), deleteJob: async () => undefined },
      }),
    });
    const mp = multipart([{ name: 'file1', filename: 'a.pdf', data: pdfBytes() }]);
    const res = await scan.handler(
      new HttpRequest({
        method: 'POST',
        url: 'https://scanrelay.example/api/scan',
        headers: { 'content-type': mp.contentType },
        body: { bytes: mp.body },
      }),
      new InvocationContext({
        functionName: 'scan',
        invocationId: 'inv-123',
        logHandler: (_level, ...args) => logged.push(JSON.stringify(args)),
      }),
    );
    expect(logged.join('\n')).toContain('ECONNREFUSED');
    expect(logged.join('\n')).not.toContain('c2VjcmV0');
    expect(res).toMatchObject({ status: 500, jsonBody: { error: 'internal_error' } });
    expect(JSON.stringify(res)).toContain('inv-123');
    expect(JSON.stringify(res)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|AccountKey/);
  });
});

describe('a scanJobID claimed by another request', () => {
  let scanJobs: TestStack['services']['storage']['scanJobs'];
  let ingestLeases: TestStack['services']['storage']['ingestLeases'];
  beforeAll(() => ({ scanJobs, ingestLeases } = stack.services.storage));
  const inSeconds = (s: number) => new Date(Date.now() + s * 1000);

  it('whose owner is alive (its lease is current): waits, then answers 409 with Retry-After and stores nothing', async () => {
    const scanJobID = randomUUID();
    const other = randomUUID();
    await ingestLeases.create(other, inSeconds(60));
    await scanJobs.claim(scanJobID, other);
    const before = await counts();
    await expect(ingestScan(request(scanJobID, 1), deps({ duplicateWaitMs: 300 }))).rejects.toMatchObject({
      status: 409,
      code: 'duplicate_in_progress',
      retryAfterSeconds: 5,
    });
    expect(await counts()).toEqual(before);
  });

  it('released while we wait (the other request failed): we store our own copy', async () => {
    const scanJobID = randomUUID();
    const other = randomUUID();
    await ingestLeases.create(other, inSeconds(60));
    const held = await scanJobs.claim(scanJobID, other);
    let looked = 0;
    const watching = Object.assign(Object.create(Object.getPrototypeOf(scanJobs)), scanJobs, {
      claim: (...a: Parameters<typeof scanJobs.claim>) => (looked++, scanJobs.claim(...a)),
    });
    const pending = ingestScan(request(scanJobID, 1), deps({ duplicateWaitMs: 20_000, scanJobs: watching }));
    // Release once the waiting request has found the claim held.
    while (looked === 0) await new Promise((r) => setTimeout(r, 20));
    await scanJobs.releaseClaim(scanJobID, (held as { etag: string }).etag);
    const res = await pending;
    expect(res.duplicate).toBe(false);
    expect((await scanJobs.get(res.jobId))?.status).toBe('stored');
  });

  it.each([
    ['its lease ran out', -30],
    ['it has no lease', undefined],
  ])('whose owner is gone (%s): taken over at once, however young the claim', async (_name, leaseSeconds) => {
    const scanJobID = randomUUID();
    const dead = randomUUID();
    if (leaseSeconds !== undefined) await ingestLeases.create(dead, inSeconds(leaseSeconds));
    await scanJobs.claim(scanJobID, dead);
    const res = await ingestScan(request(scanJobID, 1), deps({ duplicateWaitMs: 0 }));
    expect(res.duplicate).toBe(false);
    expect(await scanJobs.getClaim(scanJobID)).toMatchObject({ jobId: res.jobId, status: 'stored' });
  });

  it('whose owner died after storing its job: the retry completes the claim and answers with that job', async () => {
    const scanJobID = randomUUID();
    const first = await ingestScan(request(scanJobID, 1), deps());
    // As if the first request died between marking its job stored and completing its claim.
    const claim = (await scanJobs.getClaim(scanJobID))!;
    await stack.services.storage.clients
      .table('scanjobkeys')
      .updateEntity({ partitionKey: createHash('sha256').update(scanJobID).digest('hex'), rowKey: '', status: 'pending' }, 'Merge', {
        etag: claim.etag,
      });
    const before = await counts();
    const retry = await ingestScan(request(scanJobID, 1), deps({ duplicateWaitMs: 0 }));
    expect(retry).toMatchObject({ jobId: first.jobId, duplicate: true });
    expect(await scanJobs.getClaim(scanJobID)).toMatchObject({ jobId: first.jobId, status: 'stored' });
    expect(await counts()).toEqual(before);
  });
});

describe('memory per request', () => {
  it('uploads at most two files of a request at once, and still stores them all in order', async () => {
    const real = stack.services.storage.scanBlobs;
    let active = 0;
    let most = 0;
    const counting = {
      upload: async (...args: Parameters<typeof real.upload>) => {
        most = Math.max(most, ++active);
        try {
          return await real.upload(...args);
        } finally {
          active--;
        }
      },
      deleteJob: (jobId: string) => real.deleteJob(jobId),
    };
    const res = await ingestScan(request(randomUUID(), 12), deps({ scanBlobs: counting }));
    expect(res.files.map((f) => f.name)).toEqual(Array.from({ length: 12 }, (_, i) => `p${i}.pdf`));
    expect(most).toBe(2);
  });
});
