/**
 * The ingest sweeper against real storage: what a request that died left (blobs, a pending
 * record, a scanJobID claim, a queue message) is removed once its lease has run out, a job that
 * got stored is left alone, a live request is never touched, and a request that comes back
 * after its leftovers were swept cannot store its job.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ingestScan, sweepIngests, type IngestDeps, type SweepDeps } from '../../shared/ingest';
import { setServices } from '../../shared/services';
import type { ScanJob } from '../../shared/storage';
import { startStack, type TestStack } from '../helpers/env';
import { multipart, pdfBytes } from '../helpers/multipart';

const LEASE_MS = 3000;
let stack: TestStack;
beforeAll(async () => {
  stack = await startStack({ INGEST_LEASE_SECONDS: '3' });
});
afterAll(async () => {
  setServices(undefined);
  await stack?.stop();
});

const quiet = { info() {}, warn() {}, error() {} };
const storage = () => stack.services.storage;
const sweepDeps = (): SweepDeps => stack.services.sweepDeps(quiet);
const ago = (ms: number) => new Date(Date.now() - ms);

async function blobsOf(jobId: string): Promise<string[]> {
  const names: string[] = [];
  for await (const b of storage()
    .clients.container('scans')
    .listBlobsFlat({ prefix: `${jobId}/` }))
    names.push(b.name);
  return names;
}

/** What a request that died part-way through its commit leaves. */
async function deadRequest(options: { record?: 'pending' | 'stored' | 'none'; leaseAgeMs?: number } = {}) {
  const jobId = randomUUID();
  const scanJobId = randomUUID();
  await storage().ingestLeases.create(jobId, ago(options.leaseAgeMs ?? 2 * LEASE_MS), scanJobId);
  await storage().scanBlobs.upload(`${jobId}/0`, Readable.from([pdfBytes(500)]), { contentType: 'application/pdf', originalName: 'a.pdf' });
  await storage().scanBlobs.upload(`${jobId}/1`, Readable.from([pdfBytes(500)]), { contentType: 'application/pdf', originalName: 'b.pdf' });
  await storage().scanJobs.claim(scanJobId, jobId);
  const status = options.record === 'stored' ? 'stored' : 'pending';
  const job: ScanJob = { jobId, status, scanJobId, receivedAt: new Date(), fields: { scanJobID: scanJobId }, files: [] };
  if (options.record !== 'none') await storage().scanJobs.create(job);
  return { jobId, scanJobId };
}

describe('sweepIngests', () => {
  it('removes the blobs, the pending record and the claim of a request whose lease ran out', async () => {
    const { jobId, scanJobId } = await deadRequest();
    const result = await sweepIngests(sweepDeps());
    expect(result).toMatchObject({ abandoned: 1, failed: 0 });
    expect(await blobsOf(jobId)).toEqual([]);
    expect((await storage().scanJobs.get(jobId))?.status).toBe('abandoned');
    expect(await storage().scanJobs.getClaim(scanJobId)).toBeUndefined();
    expect(await storage().ingestLeases.get(jobId)).toBeUndefined();
  });

  it('writes a tombstone for a request that died before its record, so that it can never store it', async () => {
    const { jobId } = await deadRequest({ record: 'none' });
    await sweepIngests(sweepDeps());
    expect(await blobsOf(jobId)).toEqual([]);
    expect(await storage().scanJobs.get(jobId)).toMatchObject({ status: 'abandoned', files: [], fields: {} });
    const late: ScanJob = { jobId, status: 'pending', receivedAt: new Date(), fields: {}, files: [] };
    expect(await storage().scanJobs.create(late)).toBeUndefined();
  });

  it('leaves a job that was stored before its request died, and completes its claim', async () => {
    const { jobId, scanJobId } = await deadRequest({ record: 'stored' });
    expect(await sweepIngests(sweepDeps())).toMatchObject({ completed: 1 });
    expect((await storage().scanJobs.get(jobId))?.status).toBe('stored');
    expect(await blobsOf(jobId)).toHaveLength(2);
    expect(await storage().scanJobs.getClaim(scanJobId)).toMatchObject({ jobId, status: 'stored' });
    expect(await storage().ingestLeases.get(jobId)).toBeUndefined();
  });

  it('never touches a request whose lease is current, or ran out less than a third of its length ago', async () => {
    const alive = await deadRequest({ leaseAgeMs: -LEASE_MS });
    const barely = await deadRequest({ leaseAgeMs: LEASE_MS / 6 });
    await sweepIngests(sweepDeps());
    for (const { jobId } of [alive, barely]) {
      expect(await blobsOf(jobId)).toHaveLength(2);
      expect((await storage().scanJobs.get(jobId))?.status).toBe('pending');
      const lease = await storage().ingestLeases.get(jobId);
      expect(lease).toBeDefined();
      await storage().ingestLeases.delete(lease!); // not for the next tests to sweep
    }
  });

  it('a sweep that fails half-way is finished by the next one', async () => {
    const { jobId } = await deadRequest();
    const failing: SweepDeps = {
      ...sweepDeps(),
      scanBlobs: { deleteJob: async () => Promise.reject(new Error('injected: blob service down')) },
    };
    expect(await sweepIngests(failing)).toMatchObject({ failed: 1 });
    expect(await storage().ingestLeases.get(jobId)).toBeDefined();
    // The sweep took the lease for one lease length; once that has run out, the next sweep finishes.
    const lease = (await storage().ingestLeases.get(jobId))!;
    await storage().ingestLeases.renew(lease, ago(2 * LEASE_MS));
    expect(await sweepIngests(sweepDeps())).toMatchObject({ abandoned: 1 });
    expect(await blobsOf(jobId)).toEqual([]);
  });
});

describe('a request that stalls past its lease', () => {
  function request(scanJobID = randomUUID()) {
    const mp = multipart([
      { name: 'scanJobID', value: scanJobID },
      { name: 'file1', filename: 'a.pdf', data: pdfBytes(4096) },
    ]);
    return { contentType: mp.contentType, contentLength: mp.body.length, body: Readable.from([mp.body]) };
  }

  /** Ingest whose lease renewals hang (a stalled process), pausing at `pauseAt` until swept. */
  async function stalledIngest(pauseAt: 'upload' | 'the record') {
    const s = storage();
    let reached!: () => void;
    const atPause = new Promise<void>((r) => (reached = r));
    let resume!: () => void;
    const resumed = new Promise<void>((r) => (resume = r));
    let jobId = '';
    const pause = async () => {
      reached();
      await resumed;
    };
    const deps: IngestDeps = {
      ...stack.services.ingestDeps(quiet),
      leaseMs: LEASE_MS,
      ingestLeases: {
        create: (id, until, scanJobId) => ((jobId = id), s.ingestLeases.create(id, until, scanJobId)),
        get: (id) => s.ingestLeases.get(id),
        delete: (lease) => s.ingestLeases.delete(lease),
        renew: () => new Promise(() => undefined), // a stalled process renews nothing
      },
      scanBlobs: {
        upload: async (...a: Parameters<typeof s.scanBlobs.upload>) => {
          await s.scanBlobs.upload(...a);
          if (pauseAt === 'upload') await pause();
        },
        deleteJob: (id: string) => s.scanBlobs.deleteJob(id),
      },
      scanJobs: Object.assign(Object.create(Object.getPrototypeOf(s.scanJobs)), s.scanJobs, {
        create: async (job: ScanJob) => {
          if (pauseAt === 'the record') await pause();
          return s.scanJobs.create(job);
        },
      }),
    };
    const outcome = ingestScan(request(), deps);
    outcome.catch(() => undefined);
    await atPause;
    // Its lease runs out while it is stalled, and the sweeper removes what it wrote.
    const lease = (await s.ingestLeases.get(jobId))!;
    await s.ingestLeases.renew(lease, ago(2 * LEASE_MS));
    await sweepIngests(sweepDeps());
    resume();
    return { outcome, jobId };
  }

  it.each(['upload', 'the record'] as const)('stalled at %s: it comes back to a 503 and nothing of it is stored', async (pauseAt) => {
    const { outcome, jobId } = await stalledIngest(pauseAt);
    await expect(outcome).rejects.toMatchObject({ status: 503, code: 'ingest_interrupted' });
    expect((await storage().scanJobs.get(jobId))?.status).toBe('abandoned');
    expect(await blobsOf(jobId)).toEqual([]);
  });
});

describe('the lease comes first', () => {
  it("a file's blob is committed only once the request's lease exists (the lease is written while the file streams in)", async () => {
    const s = storage();
    let jobId = '';
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const deps: IngestDeps = {
      ...stack.services.ingestDeps(quiet),
      ingestLeases: {
        create: async (id, until, scanJobId) => {
          jobId = id;
          await gate;
          return s.ingestLeases.create(id, until, scanJobId);
        },
        get: (id) => s.ingestLeases.get(id),
        renew: (l, u, k) => s.ingestLeases.renew(l, u, k),
        delete: (l) => s.ingestLeases.delete(l),
      },
    };
    const mp = multipart([{ name: 'file1', filename: 'a.pdf', data: pdfBytes(2048) }]);
    const outcome = ingestScan({ contentType: mp.contentType, body: Readable.from([mp.body]) }, deps);
    while (!jobId) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300)); // the whole body has long been read
    expect(await blobsOf(jobId)).toEqual([]);
    release();
    await expect(outcome).resolves.toMatchObject({ jobId, duplicate: false });
    expect(await blobsOf(jobId)).toEqual([`${jobId}/0`]);
    expect(await s.ingestLeases.get(jobId)).toBeUndefined();
  });
});
