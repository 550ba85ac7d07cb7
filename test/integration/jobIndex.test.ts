/**
 * The job index against real storage, through failures and crashes: a stored job gets its row
 * once it is stored (never before), a failure or a crash before the row leaves the lease and the
 * sweeper writes it, a request that died gets an `abandoned` row, a later delivery state is never
 * undone by a late insert, and delivery keeps the row and the timeline of attempts in step.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { z } from 'zod';
import {
  DELIVERY_MAX_ATTEMPTS,
  DELIVERY_MAX_RECOVERIES,
  deliverJob,
  handlePoisoned,
  parseDestinations,
  PermanentDeliveryError,
  redeliver,
  TransientDeliveryError,
  type Connector,
  type DelivererDeps,
} from '../../shared/delivery';
import { ingestScan, sweepIngests, type IngestDeps } from '../../shared/ingest';
import { parseJobQuery, searchJobs } from '../../shared/jobs';
import { silentLogger } from '../../shared/log';
import { setServices } from '../../shared/services';
import { indexEntryOf, JOB_INDEX_TABLE, type ScanJob } from '../../shared/storage';
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

const storage = () => stack.services.storage;
const ago = (ms: number) => new Date(Date.now() - ms);

/** Every index row of a job (there is at most one). */
async function indexRows(jobId: string): Promise<Array<Record<string, unknown>>> {
  const table = storage().clients.table(JOB_INDEX_TABLE);
  await table.createTable();
  const rows: Array<Record<string, unknown>> = [];
  for await (const e of table.listEntities({ queryOptions: { filter: `jobId eq '${jobId}'` } })) rows.push(e);
  return rows;
}

function request(fields: Record<string, string> = {}, scanJobID = randomUUID()) {
  const mp = multipart([
    { name: 'scanJobID', value: scanJobID },
    { name: 'username', value: 'JDoe' },
    { name: 'workflowName', value: 'Scan to Archive' },
    { name: 'deviceName', value: 'MFP-3F' },
    ...Object.entries(fields).map(([name, value]) => ({ name, value })),
    { name: 'file1', filename: 'a.pdf', data: pdfBytes(3000) },
  ]);
  return { contentType: mp.contentType, contentLength: mp.body.length, body: Readable.from([mp.body]) };
}

function ingestDeps(overrides: Partial<IngestDeps> = {}): IngestDeps {
  return { ...stack.services.ingestDeps(silentLogger), ...overrides };
}

/** Makes a lease look as if its request died a while ago. */
async function expire(jobId: string) {
  const lease = (await storage().ingestLeases.get(jobId))!;
  await storage().ingestLeases.renew(lease, ago(2 * LEASE_MS));
}

const search = (params: Record<string, string>) =>
  searchJobs(
    stack.services.jobsDeps(),
    parseJobQuery((n) => params[n]),
  );

describe('the ingest commit', () => {
  it('writes the row once the job is stored: stored, queued, with the searchable fields', async () => {
    const res = await ingestScan(request(), ingestDeps());
    const [row] = await indexRows(res.jobId);
    expect(row).toMatchObject({
      status: 'stored',
      deliveryState: 'queued',
      username: 'JDoe',
      usernameKey: 'jdoe',
      workflowName: 'Scan to Archive',
      deviceName: 'MFP-3F',
      fileCount: 1,
      totalBytes: 3000,
    });
    expect(await storage().ingestLeases.get(res.jobId)).toBeUndefined();
  });

  it.each(['the queue', 'writing the record'] as const)('a failure at %s: rolled back, no row, and the job is not found', async (what) => {
    let jobId = '';
    const real = storage().scanJobs;
    const overrides: Partial<IngestDeps> =
      what === 'the queue'
        ? { deliveryQueue: { enqueue: () => Promise.reject(new Error('injected: queue down')), remove: async () => undefined } }
        : {
            scanJobs: Object.assign(Object.create(Object.getPrototypeOf(real)), real, {
              create: () => Promise.reject(new Error('injected: table down')),
            }),
          };
    const scanJobID = randomUUID();
    const leases = storage().ingestLeases;
    const watching: IngestDeps['ingestLeases'] = {
      create: (id, until, key) => ((jobId = id), leases.create(id, until, key)),
      get: (id) => leases.get(id),
      renew: (l, u, k) => leases.renew(l, u, k),
      delete: (l) => leases.delete(l),
    };
    await expect(ingestScan(request({}, scanJobID), ingestDeps({ ...overrides, ingestLeases: watching }))).rejects.toThrow('injected');
    expect(jobId).not.toBe('');
    expect(await indexRows(jobId)).toEqual([]);
    expect((await search({ scanJobID })).jobs).toEqual([]);
  });

  it('a failure writing the row: stored all the same, the lease stays, and the sweeper writes the row', async () => {
    const failing = { insert: () => Promise.reject(new Error('injected: index down')) };
    const res = await ingestScan(request(), ingestDeps({ jobIndex: failing }));
    expect(res.duplicate).toBe(false);
    expect((await storage().scanJobs.get(res.jobId))?.status).toBe('stored');
    expect(await indexRows(res.jobId)).toEqual([]);
    expect(await storage().ingestLeases.get(res.jobId)).toBeDefined();
    await expire(res.jobId);
    expect(await sweepIngests(stack.services.sweepDeps(silentLogger))).toMatchObject({ completed: 1, failed: 0 });
    expect(await indexRows(res.jobId)).toEqual([expect.objectContaining({ status: 'stored', deliveryState: 'queued' })]);
    expect(await storage().ingestLeases.get(res.jobId)).toBeUndefined();
  });

  it('the process dies after marking the job stored (before the row): the sweeper writes it, and completes the claim', async () => {
    // What such a crash leaves: a stored record, a pending claim, the lease (run out), no index row.
    const jobId = randomUUID();
    const scanJobId = randomUUID();
    await storage().ingestLeases.create(jobId, ago(2 * LEASE_MS), scanJobId);
    await storage().scanJobs.claim(scanJobId, jobId);
    const job: ScanJob = { jobId, status: 'stored', scanJobId, receivedAt: new Date(), fields: { username: 'late' }, files: [] };
    await storage().scanJobs.create(job);
    expect(await indexRows(jobId)).toEqual([]);
    // Meanwhile the job is found by its scanJobID (the claim and the record), as stored.
    expect((await search({ scanJobID: scanJobId })).jobs).toMatchObject([{ jobId, status: 'stored', username: 'late' }]);
    expect(await sweepIngests(stack.services.sweepDeps(silentLogger))).toMatchObject({ completed: 1 });
    expect(await indexRows(jobId)).toEqual([expect.objectContaining({ status: 'stored', deliveryState: 'queued', username: 'late' })]);
    expect(await storage().scanJobs.getClaim(scanJobId)).toMatchObject({ status: 'stored' });
    expect(await storage().ingestLeases.get(jobId)).toBeUndefined();
  });
});

describe('requests that died', () => {
  async function dead(record: 'pending' | 'none') {
    const jobId = randomUUID();
    const scanJobId = randomUUID();
    await storage().ingestLeases.create(jobId, ago(2 * LEASE_MS), scanJobId);
    await storage().scanJobs.claim(scanJobId, jobId);
    if (record === 'pending') {
      await storage().scanJobs.create({
        jobId,
        status: 'pending',
        scanJobId,
        receivedAt: new Date(),
        fields: { username: 'ghost' },
        files: [],
      });
    }
    return jobId;
  }

  it.each(['pending', 'none'] as const)('record %s: the sweeper writes an abandoned row, which no stored search shows', async (record) => {
    const jobId = await dead(record);
    expect((await search({ status: 'pending' })).jobs).toContainEqual(expect.objectContaining({ jobId, status: 'pending', alive: false }));
    await sweepIngests(stack.services.sweepDeps(silentLogger));
    expect(await indexRows(jobId)).toEqual([expect.objectContaining({ status: 'abandoned' })]);
    const listed = (await search({ limit: '200' })).jobs.find((j) => j.jobId === jobId);
    expect(listed).toMatchObject({ status: 'abandoned' });
    expect(listed?.deliveryState).toBeUndefined();
    expect((await search({ status: 'stored', limit: '200' })).jobs.map((j) => j.jobId)).not.toContain(jobId);
    expect((await search({ status: 'queued', limit: '200' })).jobs.map((j) => j.jobId)).not.toContain(jobId);
    expect((await search({ status: 'abandoned', limit: '200' })).jobs.map((j) => j.jobId)).toContain(jobId);
    expect((await search({ status: 'pending' })).jobs.map((j) => j.jobId)).not.toContain(jobId);
  });

  it('a request with its claim and no record yet (the record is its last write) is found by its scanJobID, pending', async () => {
    const jobId = await dead('none');
    const scanJobID = (await storage().ingestLeases.get(jobId))!.scanJobId!;
    expect((await search({ scanJobID })).jobs).toMatchObject([{ jobId, status: 'pending', scanJobId: scanJobID }]);
    await sweepIngests(stack.services.sweepDeps(silentLogger));
    expect((await search({ scanJobID })).jobs).toEqual([]); // the claim is released with the leftovers
  });

  it('a live request is listed as pending and alive, and is not in the index', async () => {
    const jobId = randomUUID();
    await storage().ingestLeases.create(jobId, new Date(Date.now() + 60_000));
    try {
      expect((await search({ status: 'pending' })).jobs).toContainEqual(expect.objectContaining({ jobId, status: 'pending', alive: true }));
      expect(await indexRows(jobId)).toEqual([]);
    } finally {
      await storage().ingestLeases.delete((await storage().ingestLeases.get(jobId))!);
    }
  });
});

describe('a later state is never undone', () => {
  it("an insert after the deliverer's write (ingest or sweeper, late) keeps the delivered row", async () => {
    const job: ScanJob = { jobId: randomUUID(), status: 'stored', receivedAt: new Date(), fields: { username: 'x' }, files: [] };
    await storage().jobIndex.upsert({ ...indexEntryOf(job), deliveryState: 'delivered', deliveredAt: new Date() });
    expect(await storage().jobIndex.insert(indexEntryOf(job))).toBe(false);
    expect(await indexRows(job.jobId)).toEqual([expect.objectContaining({ deliveryState: 'delivered' })]);
  });
});

describe('delivery keeps the row and the timeline', () => {
  function connector(behaviour: () => Promise<{ remoteId?: string }>): Connector {
    return { type: 'scripted', optionsSchema: z.object({}), parseOptions: () => ({}), deliver: behaviour };
  }
  function deps(ids: string[], behaviour: () => Promise<{ remoteId?: string }>, overrides: Partial<DelivererDeps> = {}): DelivererDeps {
    const connectors = { scripted: connector(behaviour) };
    const destinations = ids.map((id) => ({ id, type: 'scripted', when: {}, options: {} }));
    return {
      ...stack.services.delivererDeps(silentLogger),
      destinations: () => ({ destinations: parseDestinations({ version: 1, destinations }, connectors), file: 'test' }),
      leaseMs: 600,
      ...overrides,
    };
  }
  const stored = async () => (await ingestScan(request(), ingestDeps())).jobId;

  it('a transient failure then a delivery: two attempts in the timeline, the row delivered with when', async () => {
    const jobId = await stored();
    let runs = 0;
    const d = deps(['archive'], async () => {
      if (++runs === 1) throw new TransientDeliveryError('destination_unavailable', 'HTTP 503 from the archive');
      return { remoteId: 'https://contoso.sharepoint.com/sites/scans/a.pdf' };
    });
    await expect(deliverJob({ jobId }, 1, d)).rejects.toThrow();
    expect(await indexRows(jobId)).toEqual([expect.objectContaining({ deliveryState: 'retrying' })]);
    await expect(deliverJob({ jobId }, 2, d)).resolves.toBe('delivered');
    const [row] = await indexRows(jobId);
    const delivery = (await storage().deliveries.get(jobId, 'archive'))!;
    expect(row).toMatchObject({ deliveryState: 'delivered', deliveryReason: '' });
    expect(new Date(row!.deliveredAt as string).getTime()).toBe(delivery.updatedAt.getTime());
    expect((await storage().scanJobs.get(jobId))?.deliveredAt?.getTime()).toBe(delivery.updatedAt.getTime());
    const timeline = await storage().deliveryAttempts.list(jobId);
    expect(timeline).toMatchObject([
      {
        destinationId: 'archive',
        kind: 'attempt',
        attempt: 1,
        outcome: 'retrying',
        code: 'destination_unavailable',
        message: 'HTTP 503 from the archive',
      },
      {
        destinationId: 'archive',
        kind: 'attempt',
        attempt: 2,
        outcome: 'delivered',
        remoteId: 'https://contoso.sharepoint.com/sites/scans/a.pdf',
      },
    ]);
    for (const t of timeline) expect(t.durationMs).toBe(t.endedAt!.getTime() - t.at.getTime());

    // The same message again: nothing sent, and the job stays delivered when it was.
    await expect(deliverJob({ jobId }, 3, d)).resolves.toBe('delivered');
    expect(runs).toBe(2);
    expect((await indexRows(jobId))[0]!.deliveredAt).toEqual(row!.deliveredAt);
  });

  it('a permanent failure: failed, naming the destination; redelivery adds to the timeline', async () => {
    const jobId = await stored();
    const d = deps(['fax', 'mail'], async () => Promise.reject(new PermanentDeliveryError('destination_refused', 'refused')));
    await expect(deliverJob({ jobId }, 1, d)).resolves.toBe('failed');
    const [row] = await indexRows(jobId);
    expect(row).toMatchObject({ deliveryState: 'failed' });
    expect(JSON.parse(row!.failedDestinations as string)).toEqual(['fax', 'mail']);
    expect((await search({ status: 'failed', limit: '200' })).jobs.map((j) => j.jobId)).toContain(jobId);

    await redeliver(jobId, 'fax', { ...stack.services.redeliverDeps(silentLogger), destinations: d.destinations }, { kind: 'key' });
    expect(await indexRows(jobId)).toEqual([expect.objectContaining({ deliveryState: 'redelivering' })]);
    expect((await storage().deliveryAttempts.list(jobId)).filter((t) => t.destinationId === 'fax').map((t) => [t.kind, t.outcome])).toEqual(
      [
        ['attempt', 'failed'],
        ['redelivery', 'retrying'],
      ],
    );
  });

  it('giving up after the last attempt marks the job poisoned', async () => {
    const jobId = await stored();
    const d = deps(['flaky'], async () => Promise.reject(new TransientDeliveryError('destination_unavailable', 'down')));
    await expect(deliverJob({ jobId }, DELIVERY_MAX_ATTEMPTS, d)).rejects.toThrow();
    expect(await indexRows(jobId)).toEqual([expect.objectContaining({ deliveryState: 'failed', poisoned: true })]);
    expect(JSON.parse((await indexRows(jobId))[0]!.failedDestinations as string)).toEqual(['flaky']);
  });

  it('a lease taken over, and a worker that keeps dying: interrupted entries, then failed and poisoned', async () => {
    const jobId = await stored();
    await storage().deliveries.create(jobId, 'crashy', { status: 'delivering', attempts: 1, leaseUntil: ago(1000) });
    const ok = deps(['crashy'], async () => ({ remoteId: 'r-2' }));
    await expect(deliverJob({ jobId }, 2, ok)).resolves.toBe('delivered');
    expect((await storage().deliveryAttempts.list(jobId)).map((t) => [t.kind, t.attempt, t.outcome])).toEqual([
      ['interrupted', 1, 'retrying'],
      ['attempt', 2, 'delivered'],
    ]);

    const other = await stored();
    await storage().deliveries.create(other, 'crashy', { status: 'delivering', attempts: 7, leaseUntil: ago(1000) });
    await expect(handlePoisoned({ jobId: other }, ok)).resolves.toBe('recovered');
    expect(await indexRows(other)).toEqual([expect.objectContaining({ deliveryState: 'retrying', poisoned: true })]);
    await expect(handlePoisoned({ jobId: other, recoveries: DELIVERY_MAX_RECOVERIES }, ok)).resolves.toBe('failed');
    expect(await indexRows(other)).toEqual([expect.objectContaining({ deliveryState: 'failed', poisoned: true })]);
    expect(await storage().deliveryAttempts.list(other)).toMatchObject([
      { kind: 'interrupted', attempt: 7, outcome: 'failed', code: 'delivery_interrupted' },
    ]);
  });

  it('a poisoned message whose job has every verdict writes the row again from the record, marked poisoned', async () => {
    const jobId = await stored();
    const d = deps(['refusing'], async () => Promise.reject(new PermanentDeliveryError('destination_refused', 'refused')));
    // The last attempt's index write fails: the record says failed, the row still queued.
    const lossy = { ...d, jobIndex: { upsert: () => Promise.reject(new Error('injected: index down')) } };
    await expect(deliverJob({ jobId }, DELIVERY_MAX_ATTEMPTS, lossy)).rejects.toThrow('injected');
    expect((await storage().scanJobs.get(jobId))?.deliveryState).toBe('failed');
    expect(await indexRows(jobId)).toEqual([expect.objectContaining({ deliveryState: 'queued' })]);
    await expect(handlePoisoned({ jobId }, d)).resolves.toBe('done');
    const [row] = await indexRows(jobId);
    expect(row).toMatchObject({ deliveryState: 'failed', poisoned: true });
    expect(JSON.parse(row!.failedDestinations as string)).toEqual(['refusing']);
  });

  it('a job the index lacks (its request died before writing the row) gets it with its first delivery state', async () => {
    const res = await ingestScan(request(), ingestDeps({ jobIndex: { insert: () => Promise.reject(new Error('injected')) } }));
    expect(await indexRows(res.jobId)).toEqual([]);
    await expect(
      deliverJob(
        { jobId: res.jobId },
        1,
        deps(['archive'], async () => ({})),
      ),
    ).resolves.toBe('delivered');
    expect(await indexRows(res.jobId)).toEqual([
      expect.objectContaining({ status: 'stored', deliveryState: 'delivered', username: 'JDoe' }),
    ]);
    // Its lease is the sweeper's to delete; not for the next tests.
    await storage().ingestLeases.delete((await storage().ingestLeases.get(res.jobId))!);
  });
});
