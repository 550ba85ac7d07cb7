/**
 * The deliverer against Azurite and a real HTTP endpoint on loopback: routing, exactly-once per
 * (job, destination), retries, giving up, SSRF, templates — and end to end through the local
 * host's queue trigger.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  CONNECTORS,
  DELIVERY_MAX_ATTEMPTS,
  RetryLaterError,
  deliverJob,
  parseDestinations,
  type Connector,
  type DelivererDeps,
} from '../../shared/delivery';
import { isPrivateAddress } from '../../shared/delivery/httpForward/ssrf';
import { M365_LIMITS, Pacer } from '../../shared/delivery/pacing';
import { ingestScan } from '../../shared/ingest';
import { silentLogger } from '../../shared/log';
import { SCAN_JOBS_TABLE } from '../../shared/storage';
import { startStack, type TestStack } from '../helpers/env';
import { postMultipart } from '../helpers/http';
import { multipart, pdfBytes } from '../helpers/multipart';
import { startReceiver, type Receiver } from '../helpers/receiver';
import { startScanHost } from '../helpers/scanStack';

let stack: TestStack;
let receiver: Receiver;
let other: Receiver;
beforeAll(async () => {
  stack = await startStack();
  receiver = await startReceiver();
  other = await startReceiver();
});
afterAll(async () => {
  await receiver?.stop();
  await other?.stop();
  await stack?.stop();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const forward = (url: string, extra: Record<string, unknown> = {}) => ({ url, allowHttp: true, allowPrivateNetworks: true, ...extra });

function deps(destinations: unknown[], connectors: Record<string, Connector> = CONNECTORS): DelivererDeps {
  return {
    ...stack.services.delivererDeps(silentLogger),
    destinations: () => ({ destinations: parseDestinations({ version: 1, destinations }, connectors), file: 'destinations.json' }),
  };
}

async function storeJob(fields: Record<string, string>, files = [pdfBytes(300 * 1024), pdfBytes(1000)]) {
  const mp = multipart([
    ...Object.entries({ scanJobID: randomUUID(), ...fields }).map(([name, value]) => ({ name, value })),
    ...files.map((data, i) => ({ name: `file${i + 1}`, filename: `scan ${i + 1} – č.pdf`, data })),
  ]);
  const res = await ingestScan({ contentType: mp.contentType, body: Readable.from([mp.body]) }, stack.services.ingestDeps(silentLogger));
  return { jobId: res.jobId, files };
}

describe('a message that comes before its record', () => {
  // A request sends its job's message just before it writes the record (shared/ingest, commit).
  async function jobWithoutRecord() {
    const stored = await storeJob({ workflowName: 'Early' });
    const record = (await stack.services.storage.scanJobs.get(stored.jobId))!;
    await stack.services.storage.clients.table(SCAN_JOBS_TABLE).deleteEntity(stored.jobId, 'job');
    return record;
  }
  const early = (ingestAlive: DelivererDeps['ingestAlive']): DelivererDeps => ({
    ...deps([{ id: 'early', type: 'httpForward', when: {}, options: forward(receiver.url) }]),
    ingestAlive,
  });

  it("waits while the job's request lives, and delivers once the record is there", async () => {
    const record = await jobWithoutRecord();
    const before = receiver.requests;
    let asked = 0;
    const d = early(async () => {
      // The record is written while the deliverer first asks: it must look again, not drop it.
      if (++asked === 1) await stack.services.storage.scanJobs.create(record);
      return true;
    });
    await expect(deliverJob({ jobId: record.jobId }, 1, d)).resolves.toBe('delivered');
    expect(asked).toBe(1);
    expect(receiver.requests - before).toBe(1);
  });

  it('drops it at once when no request is storing the job (rolled back or removed)', async () => {
    const record = await jobWithoutRecord();
    const before = receiver.requests;
    let asked = 0;
    const d = early(async () => (++asked, false));
    await expect(deliverJob({ jobId: record.jobId }, 1, d)).resolves.toBe('skipped');
    expect(asked).toBe(1);
    expect(receiver.requests - before).toBe(0);
  });
});

describe('routing and delivery', () => {
  it('forwards a job to the destination its rule selects, with every field and byte-identical files', async () => {
    const before = receiver.received.length;
    const { jobId, files } = await storeJob({ workflowName: 'Scan to Fax', faxNumber: '+420123' });
    const d = deps([
      {
        id: 'fax',
        type: 'httpForward',
        when: { workflowName: 'scan to fax' },
        options: forward(receiver.url, { extraFields: { to: '%faxNumber%@fax.example.net' } }),
      },
      { id: 'other', type: 'httpForward', when: { workflowName: 'Archive' }, options: forward(other.url) },
    ]);
    expect(await deliverJob({ jobId }, 1, d)).toBe('delivered');
    const got = receiver.received[before]!;
    expect(got.fields).toMatchObject({ workflowName: 'Scan to Fax', faxNumber: '+420123', to: '+420123@fax.example.net' });
    expect(got.files.map((f) => f.sha256)).toEqual(files.map(sha));
    expect(got.files.map((f) => f.name)).toEqual(['scan 1 – č.pdf', 'scan 2 – č.pdf']);
    expect(got.headers['idempotency-key']).toBe(jobId);
    expect(other.received.filter((r) => r.fields.scanJobID === got.fields.scanJobID)).toHaveLength(0);
    expect(await stack.services.storage.deliveries.get(jobId, 'fax')).toMatchObject({ status: 'delivered', attempts: 1 });
    expect((await stack.services.storage.scanJobs.get(jobId))?.deliveryState).toBe('delivered');
  });

  it('marks a job no rule selects undeliverable, with the reason', async () => {
    const { jobId } = await storeJob({ workflowName: 'Unknown' });
    expect(
      await deliverJob(
        { jobId },
        1,
        deps([{ id: 'fax', type: 'httpForward', when: { workflowName: 'Fax' }, options: forward(receiver.url) }]),
      ),
    ).toBe('undeliverable');
    const job = await stack.services.storage.scanJobs.get(jobId);
    expect(job).toMatchObject({ deliveryState: 'undeliverable', deliveryReason: expect.stringMatching(/No destination rule/) });
  });

  it('delivers once when the same message is processed twice (also at the same time)', async () => {
    const { jobId } = await storeJob({ workflowName: 'Once' });
    const d = deps([{ id: 'once', type: 'httpForward', when: {}, options: forward(receiver.url) }]);
    const before = receiver.requests;
    // The one that finds the other's lease leaves the destination to it (no retry of its own).
    const results = await Promise.all([deliverJob({ jobId }, 1, d), deliverJob({ jobId }, 1, d)]);
    expect(results).toContain('delivered');
    for (const r of results) expect(['delivered', 'in_progress']).toContain(r);
    // A copy of the message taken later, as a first attempt too (its insert finds the row: 409).
    await expect(deliverJob({ jobId }, 1, d)).resolves.toBe('delivered');
    await expect(deliverJob({ jobId }, 2, d)).resolves.toBe('delivered');
    expect(receiver.requests - before).toBe(1);
    expect((await stack.services.storage.scanJobs.get(jobId))?.deliveryState).toBe('delivered');
  });

  it('retries a transient failure and then delivers once', async () => {
    const { jobId } = await storeJob({ workflowName: 'Flaky' });
    const d = deps([{ id: 'flaky', type: 'httpForward', when: {}, options: forward(receiver.url) }]);
    receiver.failNext(503);
    const accepted = receiver.received.length;
    await expect(deliverJob({ jobId }, 1, d)).rejects.toBeInstanceOf(RetryLaterError);
    expect(await stack.services.storage.deliveries.get(jobId, 'flaky')).toMatchObject({
      status: 'retrying',
      lastError: expect.stringMatching(/503/),
    });
    await expect(deliverJob({ jobId }, 2, d)).resolves.toBe('delivered');
    expect(receiver.received.length - accepted).toBe(1);
    expect(await stack.services.storage.deliveries.get(jobId, 'flaky')).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('gives up on a destination that keeps failing (the message goes to poison) while the other one is delivered', async () => {
    const { jobId } = await storeJob({ workflowName: 'Both' });
    const d = deps([
      { id: 'good', type: 'httpForward', when: {}, options: forward(other.url) },
      { id: 'down', type: 'httpForward', when: {}, options: forward('http://127.0.0.1:1/api/scan') },
    ]);
    for (let attempt = 1; attempt < DELIVERY_MAX_ATTEMPTS; attempt++) {
      await expect(deliverJob({ jobId }, attempt, d)).rejects.toThrow('will be retried');
    }
    await expect(deliverJob({ jobId }, DELIVERY_MAX_ATTEMPTS, d)).rejects.toThrow('poison');
    expect(await stack.services.storage.deliveries.get(jobId, 'good')).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(await stack.services.storage.deliveries.get(jobId, 'down')).toMatchObject({
      status: 'failed',
      lastError: expect.stringMatching(/Gave up after 5 attempts/),
    });
    expect(await stack.services.storage.scanJobs.get(jobId)).toMatchObject({ deliveryState: 'partially_failed' });
  });

  it('fails a destination at once on a permanent error (400, missing variable, SSRF target)', async () => {
    const { jobId } = await storeJob({ workflowName: 'Perm' });
    receiver.failNext(400);
    const d = deps([
      { id: 'refused', type: 'httpForward', when: {}, options: forward(receiver.url) },
      { id: 'novar', type: 'httpForward', when: {}, options: forward(receiver.url, { extraFields: { to: '%faxNumber%@fax' } }) },
      { id: 'ssrf', type: 'httpForward', when: {}, options: { url: receiver.url, allowHttp: true } },
    ]);
    expect(await deliverJob({ jobId }, 1, d)).toBe('failed');
    const rows = Object.fromEntries((await stack.services.storage.deliveries.list(jobId)).map((r) => [r.destinationId, r]));
    expect(rows.refused).toMatchObject({ status: 'failed', lastError: expect.stringMatching(/answered 400/) });
    expect(rows.novar).toMatchObject({ status: 'failed', lastError: expect.stringMatching(/%faxNumber%/) });
    expect(rows.ssrf).toMatchObject({ status: 'failed', lastError: expect.stringMatching(/127\.0\.0\.1.*refused/) });
  });
});

/** The deliverer's deps with `pacer`, recording the messages it sends again (and their delays). */
function withPacer(base: DelivererDeps, pacer: Pacer) {
  const enqueued: Array<{ jobId: string; delaySeconds?: number }> = [];
  const d: DelivererDeps = {
    ...base,
    pacer,
    deliveryQueue: {
      enqueue: (m, o) => {
        enqueued.push({ jobId: m.jobId, delaySeconds: o?.delaySeconds });
        return base.deliveryQueue.enqueue(m, o);
      },
    },
  };
  return { d, enqueued };
}

describe("a sending mailbox's messages a minute (Exchange Online: 30)", () => {
  it('waits for a place without trying or spending an attempt, while the other destination is delivered', async () => {
    let now = 0;
    const pacer = new Pacer({ ...M365_LIMITS, exchangeMessages: { perWindow: 2, windowMs: 60_000 } }, () => now);
    // HTTP forward standing in for a connector that sends from one Exchange mailbox.
    const paced = {
      ...CONNECTORS.httpForward!,
      type: 'pacedForward',
      pace: () => [{ budget: 'exchangeMessages', key: 'mailbox:scans@contoso.example', amount: 1 }],
    } as Connector;
    const base = deps(
      [
        { id: 'paced', type: 'pacedForward', when: {}, options: forward(receiver.url) },
        { id: 'plain', type: 'httpForward', when: {}, options: forward(other.url) },
      ],
      { ...CONNECTORS, pacedForward: paced },
    );
    const { d, enqueued } = withPacer(base, pacer);
    const jobs = [];
    for (let i = 0; i < 3; i++) jobs.push((await storeJob({ workflowName: `Paced ${i}` })).jobId);
    const paced0 = receiver.requests;
    const plain0 = other.requests;

    now = Date.now();
    await expect(deliverJob({ jobId: jobs[0] }, 1, d)).resolves.toBe('delivered');
    await expect(deliverJob({ jobId: jobs[1] }, 1, d)).resolves.toBe('delivered');
    // The mailbox sent its two of the minute: the third job's paced delivery waits, the other goes.
    await expect(deliverJob({ jobId: jobs[2] }, 1, d)).resolves.toBe('in_progress');
    expect(receiver.requests - paced0).toBe(2);
    expect(other.requests - plain0).toBe(3);
    expect(await stack.services.storage.deliveries.get(jobs[2]!, 'paced')).toBeUndefined();
    // The job says why it waits (once: looking again while it waits writes nothing more).
    const waiting = await stack.services.storage.scanJobs.get(jobs[2]!);
    expect(waiting).toMatchObject({ deliveryState: 'paced', deliveryReason: expect.stringMatching(/Microsoft 365 limits of paced\b/) });
    await sleep(5);
    await expect(deliverJob({ jobId: jobs[2] }, 1, d)).resolves.toBe('in_progress');
    expect((await stack.services.storage.scanJobs.get(jobs[2]!))?.deliveryReason).toBe(waiting?.deliveryReason);
    enqueued.shift();
    // Looked at again when the first place frees (a minute after the first send), not at once.
    expect(enqueued).toEqual([{ jobId: jobs[2], delaySeconds: expect.any(Number) }]);
    expect(enqueued[0]!.delaySeconds).toBeGreaterThan(30);
    expect(enqueued[0]!.delaySeconds).toBeLessThanOrEqual(61);

    // A minute after the first two: the message comes back and the delivery is its first attempt.
    now += 60_001;
    await expect(deliverJob({ jobId: jobs[2] }, 2, d)).resolves.toBe('delivered');
    expect(receiver.requests - paced0).toBe(3);
    expect(other.requests - plain0).toBe(3);
    expect(await stack.services.storage.deliveries.get(jobs[2]!, 'paced')).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(await stack.services.storage.scanJobs.get(jobs[2]!)).toMatchObject({ deliveryState: 'delivered' });
  });
});

describe('a target that answers Retry-After', () => {
  it('waits that long, trying nothing, while the other targets go on', async () => {
    let now = Date.now();
    const pacer = new Pacer(M365_LIMITS, () => now);
    const paced = (key: string) =>
      ({ ...CONNECTORS.httpForward!, type: key, pace: () => [{ budget: 'exchangeMessages', key, amount: 1 }] }) as Connector;
    const base = deps(
      [
        { id: 'throttled', type: 'mailboxA', when: {}, options: forward(receiver.url) },
        { id: 'other', type: 'mailboxB', when: {}, options: forward(other.url) },
      ],
      { ...CONNECTORS, mailboxA: paced('mailbox:a'), mailboxB: paced('mailbox:b') },
    );
    const { d, enqueued } = withPacer(base, pacer);
    const first = (await storeJob({ workflowName: 'Throttled' })).jobId;
    const second = (await storeJob({ workflowName: 'Held' })).jobId;
    const a0 = receiver.requests;
    const b0 = other.requests;

    receiver.failNext(429);
    await expect(deliverJob({ jobId: first }, 1, d)).rejects.toThrow(/throttled will be retried/);
    expect(receiver.requests - a0).toBe(1);
    // The next job: mailbox a is not asked again before its 120 s are over, mailbox b is.
    await expect(deliverJob({ jobId: second }, 1, d)).resolves.toBe('in_progress');
    expect(receiver.requests - a0).toBe(1);
    expect(other.requests - b0).toBe(2);
    expect(await stack.services.storage.deliveries.get(second, 'throttled')).toBeUndefined();
    expect(enqueued).toEqual([{ jobId: second, delaySeconds: expect.any(Number) }]);
    expect(enqueued[0]!.delaySeconds).toBeGreaterThan(100);
    expect(enqueued[0]!.delaySeconds).toBeLessThanOrEqual(122);

    now += 120_000;
    await expect(deliverJob({ jobId: second }, 1, d)).resolves.toBe('delivered');
    await expect(deliverJob({ jobId: first }, 2, d)).resolves.toBe('delivered');
    expect(receiver.requests - a0).toBe(3);
    expect(other.requests - b0).toBe(2);
  });
});

describe('destinations file', () => {
  const http = { id: 'a', type: 'httpForward', when: {}, options: { url: 'https://fax.example.net/api' } };
  it.each([
    [{ version: 2, destinations: [] }, /version/],
    [{ version: 1, destinations: [{ ...http, type: 'carrierPigeon' }] }, /destinations\[0\]\.type/],
    [{ version: 1, destinations: [http, http] }, /used twice/],
    [
      { version: 1, destinations: [{ ...http, options: { url: 'http://fax.example.net' } }] },
      /destinations\[0\]\.options\.url must be https/,
    ],
    [{ version: 1, destinations: [{ ...http, when: { workflowName: { matches: '(' } } }] }, /regular expression/],
    [{ version: 1, destinations: [{ ...http, when: 'all' }] }, /when/],
  ])('refuses %j naming where', (raw, message) => {
    expect(() => parseDestinations(raw, CONNECTORS)).toThrow(message);
  });

  const root = join(__dirname, '..', '..');
  it('destinations.example.json is valid, with one destination of every connector type', () => {
    const parsed = parseDestinations(JSON.parse(readFileSync(join(root, 'destinations.example.json'), 'utf8')), CONNECTORS);
    expect(new Set(parsed.map((d) => d.type))).toEqual(new Set(Object.keys(CONNECTORS)));
  });

  it('every destination example in docs/destinations.md is valid', () => {
    const blocks = [...readFileSync(join(root, 'docs', 'destinations.md'), 'utf8').matchAll(/```json\n(\{\n {2}"id"[\s\S]*?)```/g)].map(
      (m) => JSON.parse(m[1]!),
    );
    expect(blocks.length).toBeGreaterThanOrEqual(7);
    const parsed = parseDestinations({ version: 1, destinations: blocks }, CONNECTORS);
    expect(new Set(parsed.map((d) => d.type))).toEqual(new Set(Object.keys(CONNECTORS)));
  });
});

describe('SSRF guard', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    'fe80::1',
    'fd00::1',
    '::ffff:10.0.0.1',
    'not-an-ip',
  ])('refuses %s', (a) => expect(isPrivateAddress(a)).toBe(true));
  it.each(['8.8.8.8', '20.50.2.1', '2606:4700::1111'])('allows %s', (a) => expect(isPrivateAddress(a)).toBe(false));
});

describe('host.json', () => {
  it('retries delivery as many times as the deliverer expects', () => {
    const host = JSON.parse(readFileSync(join(__dirname, '..', '..', 'host.json'), 'utf8')) as {
      extensions: { queues: { maxDequeueCount: number } };
    };
    expect(host.extensions.queues.maxDequeueCount).toBe(DELIVERY_MAX_ATTEMPTS);
  });
});

describe('end to end through the local host', () => {
  it('POST /api/scan → queue trigger → forwarded to the destination', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scanrelay-dest-'));
    const file = join(dir, 'destinations.json');
    writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        destinations: [{ id: 'e2e', type: 'httpForward', when: { custom_RoutingKey: 'e2e' }, options: forward(receiver.url) }],
      }),
    );
    const host = await startScanHost({ DESTINATIONS_FILE: file });
    const triggers = host.startDelivering();
    try {
      const data = pdfBytes(2 * 1024 * 1024);
      const count = receiver.received.length;
      const res = await postMultipart(
        host.scanUrl,
        multipart([
          { name: 'custom_RoutingKey', value: 'e2e' },
          { name: 'file1', filename: 'e2e.pdf', data },
        ]),
      );
      expect(res.status).toBe(200);
      await receiver.waitFor(count + 1);
      const got = receiver.received.find((r) => r.fields.custom_RoutingKey === 'e2e')!;
      expect(got.files[0]!.sha256).toBe(sha(data));
    } finally {
      await triggers.stop();
      await host.stop();
    }
  });
});
