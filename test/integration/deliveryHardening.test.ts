/**
 * Delivery against the defects an outside test found (issue 11, items 8 and 9), on Azurite:
 * the lease is renewed while a connector runs and taken over once it ran out, a message the host
 * poisoned because its worker died is delivered again, a failed job can be redelivered (over
 * HTTP through the local host), and a bad destinations file is reported instead of failing
 * each job.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import {
  CONNECTORS,
  DELIVERY_MAX_ATTEMPTS,
  DELIVERY_MAX_RECOVERIES,
  deliverJob,
  handlePoisoned,
  loadDestinations,
  parseDestinations,
  PermanentDeliveryError,
  type Connector,
  type DelivererDeps,
} from '../../shared/delivery';
import { ConfigError } from '../../shared/errors';
import { ingestScan } from '../../shared/ingest';
import { silentLogger } from '../../shared/log';
import { DELIVERY_QUEUE } from '../../shared/storage';
import { decodeMessage } from '../helpers/queue';
import { httpRequest, postMultipart } from '../helpers/http';
import { multipart, pdfBytes } from '../helpers/multipart';
import { startReceiver, type Receiver } from '../helpers/receiver';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

const ADMIN_KEY = 'admin-key-for-delivery-tests-0123456789';
const LEASE_MS = 600;

let host: ScanHost;
let receiver: Receiver;
const destinationsFile = join(mkdtempSync(join(tmpdir(), 'scanrelay-redeliver-')), 'destinations.json');
beforeAll(async () => {
  receiver = await startReceiver();
  writeFileSync(
    destinationsFile,
    JSON.stringify({
      version: 1,
      destinations: [
        {
          id: 'archive',
          type: 'httpForward',
          when: { custom_RoutingKey: 'redeliver' },
          options: { url: receiver.url, allowHttp: true, allowPrivateNetworks: true },
        },
        {
          id: 'fax',
          type: 'httpForward',
          when: { custom_RoutingKey: 'redeliver' },
          options: { url: receiver.url, allowHttp: true, allowPrivateNetworks: true },
        },
      ],
    }),
  );
  host = await startScanHost({ DESTINATIONS_FILE: destinationsFile, DELIVERY_LEASE_SECONDS: '3' });
  writeFileSync(host.secretsFile, JSON.stringify({ 'admin-key': ADMIN_KEY }));
});
afterAll(async () => {
  await receiver?.stop();
  await host?.stop();
});

const storage = () => host.services.storage;

async function storeJob(fields: Record<string, string> = {}) {
  const mp = multipart([
    ...Object.entries({ scanJobID: randomUUID(), ...fields }).map(([name, value]) => ({ name, value })),
    { name: 'file1', filename: 'a.pdf', data: pdfBytes(2000) },
  ]);
  const res = await ingestScan({ contentType: mp.contentType, body: Readable.from([mp.body]) }, host.services.ingestDeps(silentLogger));
  return res.jobId;
}

/** A connector whose deliveries wait until released, counting how often it ran. */
function gate() {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const g = { runs: 0, release, fail: undefined as Error | undefined };
  const connector: Connector = {
    type: 'gate',
    optionsSchema: z.object({}),
    parseOptions: () => ({}),
    deliver: async () => {
      g.runs++;
      await released;
      if (g.fail) throw g.fail;
      return { remoteId: `run-${g.runs}` };
    },
  };
  return { g, connector };
}

function deps(destinations: unknown[], connectors: Record<string, Connector>, overrides: Partial<DelivererDeps> = {}): DelivererDeps {
  return {
    ...host.services.delivererDeps(silentLogger),
    destinations: () => ({ destinations: parseDestinations({ version: 1, destinations }, connectors), file: 'test' }),
    leaseMs: LEASE_MS,
    ...overrides,
  };
}

describe('8. the delivery lease', () => {
  it('is renewed while a connector runs longer than the lease, and a second attempt leaves the destination to it', async () => {
    const jobId = await storeJob();
    const { g, connector } = gate();
    const d = deps([{ id: 'slow', type: 'gate', when: {}, options: {} }], { gate: connector });
    const first = deliverJob({ jobId }, 1, d);
    while (g.runs === 0) await new Promise((r) => setTimeout(r, 20));
    const leased = (await storage().deliveries.get(jobId, 'slow'))!;
    await new Promise((r) => setTimeout(r, 3 * LEASE_MS)); // three lease lengths
    const renewed = (await storage().deliveries.get(jobId, 'slow'))!;
    expect(renewed.status).toBe('delivering');
    expect(renewed.leaseUntil!.getTime()).toBeGreaterThan(leased.leaseUntil!.getTime());
    expect(renewed.leaseUntil!.getTime()).toBeGreaterThan(Date.now());
    const queue = storage().clients.queue(DELIVERY_QUEUE);
    const queued = (await queue.getProperties()).approximateMessagesCount ?? 0;
    await expect(deliverJob({ jobId }, 2, d)).resolves.toBe('in_progress');
    // It looks again later (a delayed copy of its message), whether that worker lives or not.
    expect((await queue.getProperties()).approximateMessagesCount).toBe(queued + 1);
    g.release();
    await expect(first).resolves.toBe('delivered');
    expect(g.runs).toBe(1);
    expect(await storage().deliveries.get(jobId, 'slow')).toMatchObject({ status: 'delivered', remoteId: 'run-1', attempts: 1 });
  });

  it('left by a worker that died runs out, and the next attempt takes it over and delivers once', async () => {
    const jobId = await storeJob();
    await storage().deliveries.create(jobId, 'taken', { status: 'delivering', attempts: 1, leaseUntil: new Date(Date.now() - 1000) });
    const { g, connector } = gate();
    g.release();
    const d = deps([{ id: 'taken', type: 'gate', when: {}, options: {} }], { gate: connector });
    await expect(deliverJob({ jobId }, 2, d)).resolves.toBe('delivered');
    expect(g.runs).toBe(1);
    expect(await storage().deliveries.get(jobId, 'taken')).toMatchObject({ status: 'delivered', attempts: 2 });
  });
});

describe('8. a message the host poisoned because its worker died', () => {
  const poisonDeps = (id: string) => {
    const { g, connector } = gate();
    g.release();
    return { g, d: deps([{ id, type: 'gate', when: {}, options: {} }], { gate: connector }) };
  };
  const queued = async (jobId: string) => {
    const peeked = await storage().clients.queue(DELIVERY_QUEUE).peekMessages({ numberOfMessages: 32 });
    // The job's first message (from ingest) is there too: only messages sent again count.
    return peeked.peekedMessageItems
      .map((m) => decodeMessage(m.messageText))
      .filter((m) => m.jobId === jobId && m.recoveries !== undefined);
  };

  it('is sent again when a destination has no verdict (its lease ran out)', async () => {
    const jobId = await storeJob();
    await storage().deliveries.create(jobId, 'crashed', {
      status: 'delivering',
      attempts: DELIVERY_MAX_ATTEMPTS,
      leaseUntil: new Date(Date.now() - 1000),
    });
    const { d } = poisonDeps('crashed');
    await expect(handlePoisoned({ jobId }, d)).resolves.toBe('recovered');
    expect(await queued(jobId)).toEqual([{ jobId, recoveries: 1 }]);
    expect((await storage().scanJobs.get(jobId))?.deliveryState).toBe('retrying');
  });

  it(`fails its unfinished destinations after ${DELIVERY_MAX_RECOVERIES} recoveries, saying how to redeliver`, async () => {
    const jobId = await storeJob();
    await storage().deliveries.create(jobId, 'crashing', { status: 'delivering', attempts: 9, leaseUntil: new Date(Date.now() - 1000) });
    const { d } = poisonDeps('crashing');
    await expect(handlePoisoned({ jobId, recoveries: DELIVERY_MAX_RECOVERIES }, d)).resolves.toBe('failed');
    expect(await storage().deliveries.get(jobId, 'crashing')).toMatchObject({
      status: 'failed',
      lastError: expect.stringMatching(/redeliver/),
    });
    expect(await storage().scanJobs.get(jobId)).toMatchObject({
      deliveryState: 'failed',
      deliveryReason: expect.stringMatching(/redeliver/),
    });
    expect(await queued(jobId)).toEqual([]);
  });

  it('is left alone when every destination has its verdict (our own last attempt gave up)', async () => {
    const jobId = await storeJob();
    await storage().deliveries.create(jobId, 'verdict', { status: 'failed', attempts: 5, lastError: 'Gave up after 5 attempts: 503' });
    const { d } = poisonDeps('verdict');
    await expect(handlePoisoned({ jobId }, d)).resolves.toBe('done');
    expect(await queued(jobId)).toEqual([]);
  });
});

describe('9. destinations that are missing or invalid', () => {
  it('an invalid file holds the job with the reason on its record, and its message comes back later', async () => {
    const jobId = await storeJob();
    const d: DelivererDeps = {
      ...host.services.delivererDeps(silentLogger),
      destinations: () => {
        throw new ConfigError('DESTINATIONS_FILE', 'destinations[0].options: "url" must be https://.');
      },
    };
    await expect(deliverJob({ jobId }, 1, d)).resolves.toBe('blocked');
    expect(await storage().scanJobs.get(jobId)).toMatchObject({
      deliveryState: 'blocked',
      deliveryReason: expect.stringContaining('destinations[0].options'),
    });
    // Parked: invisible for now (not in a peek), but in the queue.
    const props = await storage().clients.queue(DELIVERY_QUEUE).getProperties();
    expect(props.approximateMessagesCount).toBeGreaterThan(0);
  });

  it('none configured: the job is undeliverable, and the reason says how to configure them', async () => {
    const jobId = await storeJob();
    const d: DelivererDeps = { ...host.services.delivererDeps(silentLogger), destinations: () => ({ destinations: [] }) };
    await expect(deliverJob({ jobId }, 1, d)).resolves.toBe('undeliverable');
    expect((await storage().scanJobs.get(jobId))?.deliveryReason).toMatch(/No destinations are configured: create destinations\.json/);
  });

  it('GET /api/health answers 503 naming DESTINATIONS_FILE, while scans are still stored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scanrelay-baddest-'));
    writeFileSync(join(dir, 'destinations.json'), '{ "version": 1, "destinations": [ ');
    const bad = await startScanHost({ DESTINATIONS_FILE: join(dir, 'destinations.json') });
    try {
      const health = await httpRequest(`${bad.server.url}/api/health`);
      expect(health.status).toBe(503);
      expect(health.json).toMatchObject({
        status: 'unhealthy',
        problems: [{ setting: 'DESTINATIONS_FILE', message: expect.stringContaining('is not valid JSON') }],
      });
      const scan = await postMultipart(bad.scanUrl, multipart([{ name: 'file1', filename: 'a.pdf', data: pdfBytes() }]));
      expect(scan.status).toBe(200);
    } finally {
      await bad.stop();
    }
  });

  it('a DESTINATIONS_FILE that does not exist is an error, not "no destinations"', () => {
    expect(() => loadDestinations(join(tmpdir(), `missing-${randomUUID()}.json`), CONNECTORS)).toThrow(
      /DESTINATIONS_FILE: .* does not exist/,
    );
  });
});

describe('8. POST /api/scan/{jobId}/redeliver through the local host', () => {
  const redeliverUrl = (jobId: string, query = '') => `${host.server.url}/api/scan/${jobId}/redeliver${query}`;
  const post = (url: string, body?: unknown, key = ADMIN_KEY) =>
    httpRequest(url, {
      method: 'POST',
      headers: { 'x-functions-key': key, 'content-type': 'application/json' },
      body: Buffer.from(body === undefined ? '' : JSON.stringify(body)),
    });

  async function failedJob() {
    const jobId = await storeJob({ custom_RoutingKey: 'redeliver' });
    receiver.failNext(400, 400);
    await expect(deliverJob({ jobId }, 1, host.services.delivererDeps(silentLogger))).resolves.toBe('failed');
    return jobId;
  }

  it('delivers the failed destinations again, exactly once, and never a delivered one', async () => {
    const jobId = await failedJob();
    const triggers = host.startDelivering();
    try {
      const before = receiver.received.length;
      const only = await post(redeliverUrl(jobId), { destination: 'fax' });
      expect(only.status).toBe(202);
      expect(only.json).toEqual({ jobId, destinations: [{ destination: 'fax', action: 'queued', previousStatus: 'failed' }] });
      await receiver.waitFor(before + 1);
      while ((await storage().deliveries.get(jobId, 'fax'))?.status !== 'delivered') await new Promise((r) => setTimeout(r, 50));

      const rest = await post(redeliverUrl(jobId));
      expect(rest.status).toBe(202);
      expect(rest.json.destinations).toEqual([
        { destination: 'archive', action: 'queued', previousStatus: 'failed' },
        { destination: 'fax', action: 'already_delivered', previousStatus: 'delivered' },
      ]);
      await receiver.waitFor(before + 2);
      while ((await storage().scanJobs.get(jobId))?.deliveryState !== 'delivered') await new Promise((r) => setTimeout(r, 50));

      const again = await post(redeliverUrl(jobId));
      expect(again.status).toBe(409);
      expect(again.json).toMatchObject({ error: 'nothing_to_redeliver' });
      expect(receiver.received.length - before).toBe(2);
      const status = await httpRequest(`${host.server.url}/api/scan/${jobId}`, { headers: { 'x-functions-key': ADMIN_KEY } });
      expect(status.json.delivery).toMatchObject({ state: 'delivered' });
    } finally {
      await triggers.stop();
    }
  });

  it.each([
    ['without the admin key', (id: string) => post(redeliverUrl(id), undefined, 'wrong-key'), 401, 'unauthorized'],
    ['an unknown job', () => post(redeliverUrl(randomUUID())), 404, 'job_not_found'],
    ['a malformed job id', () => post(redeliverUrl('..%2F..%2Fx')), 404, 'job_not_found'],
    ['an unknown destination', (id: string) => post(redeliverUrl(id, '?destination=nope')), 404, 'destination_not_found'],
    ['a destination that is not a string', (id: string) => post(redeliverUrl(id), { destination: 7 }), 400, 'invalid_destination'],
  ])('%s', async (_n, send, status, code) => {
    const jobId = await failedJob();
    const res = await send(jobId);
    expect({ status: res.status, error: res.json?.error }).toEqual({ status, error: code });
    expect((await storage().deliveries.get(jobId, 'fax'))?.status).toBe('failed');
  });

  it('a destination whose rule does not select the job: 409, nothing queued', async () => {
    const jobId = await storeJob({ custom_RoutingKey: 'elsewhere' });
    const res = await post(redeliverUrl(jobId, '?destination=fax'));
    expect({ status: res.status, error: res.json?.error }).toEqual({ status: 409, error: 'destination_not_selected' });
  });

  it('a permanent failure stays failed until redelivered', async () => {
    const jobId = await storeJob();
    const connector: Connector = {
      type: 'refusing',
      optionsSchema: z.object({}),
      parseOptions: () => ({}),
      deliver: async () => Promise.reject(new PermanentDeliveryError('destination_refused', 'refused')),
    };
    const d = deps([{ id: 'refusing', type: 'refusing', when: {}, options: {} }], { refusing: connector });
    await expect(deliverJob({ jobId }, 1, d)).resolves.toBe('failed');
    await expect(deliverJob({ jobId }, 2, d)).resolves.toBe('failed');
    expect((await storage().deliveries.get(jobId, 'refusing'))?.attempts).toBe(1);
  });
});
