/**
 * A fuzz test of POST /api/scan over raw sockets through the local host: valid multipart
 * bodies, mutated at random (fixed seed, fixed count), sent with Content-Length or chunked in
 * random pieces. Every request must settle with 200 or a 4xx, and afterwards storage must hold
 * exactly the jobs answered 200: no orphan blob, no pending record, claim or lease, no stray
 * queue message.
 */
import { postHead, rawHttp, type RawExchange } from '../helpers/http';
import { startScanHost, type ScanHost } from '../helpers/scanStack';
import { forEachLimited } from '../../shared/concurrency';
import { DELIVERY_QUEUE, SCAN_JOB_KEYS_TABLE } from '../../shared/storage';
import { decodeMessage } from '../helpers/queue';

const CASES = 300;
const SEED = 20261201;

let host: ScanHost;
beforeAll(async () => {
  host = await startScanHost({
    SCAN_MAX_FILES: '4',
    SCAN_MAX_FIELDS: '12',
    SCAN_MAX_FIELD_BYTES: '512',
    SCAN_MAX_REQUEST_BYTES: String(1024 * 1024),
    SCAN_MAX_FILE_BYTES: String(512 * 1024),
  });
});
afterAll(async () => {
  await host?.stop();
});

/** mulberry32: a small seeded PRNG, so that a failure can be replayed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, bytes, pick };
}
type Random = ReturnType<typeof prng>;

const MAGIC = [
  Buffer.from('%PDF-1.7\n'),
  Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
  Buffer.from('II*\0'),
  Buffer.from('MM\0*'),
  Buffer.alloc(0),
];

function validBody(r: Random, n: number): { boundary: string; body: Buffer } {
  const boundary = r.pick(['b', '----WebKitFormBoundary7MA4YWxkTrZu0gW', `------------------------${r.int(1e9)}`, 'x-y_z.(1)']);
  const parts: Buffer[] = [];
  const field = (name: string, value: string) =>
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  field('scanJobID', `fuzz-${SEED}-${n}`);
  for (let i = 0, k = r.int(4); i < k; i++)
    field(
      r.pick(['username', 'userEmail', 'workflowName', `custom_${i}`, 'deviceName']) + (i ? `_${i}` : ''),
      r.bytes(r.int(40)).toString('base64'),
    );
  for (let i = 0, k = 1 + r.int(3); i < k; i++) {
    const data = Buffer.concat([r.pick(MAGIC), r.bytes(r.pick([1, 15, 16, 17, 100, 5000, 70_000]))]);
    const type = r.pick(['application/pdf', 'text/plain', 'application/octet-stream', 'image/tiff']);
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file${i}"; filename="scan ${i}.pdf"\r\nContent-Type: ${type}\r\n\r\n`,
      ),
      data,
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { boundary, body: Buffer.concat(parts) };
}

/** One random change of a valid body (or none: some cases stay valid). */
function mutate(r: Random, body: Buffer, boundary: string): Buffer {
  const at = r.int(body.length + 1);
  const len = 1 + r.int(64);
  const occurrences = (needle: string) => {
    const found: number[] = [];
    for (let i = body.indexOf(needle); i >= 0; i = body.indexOf(needle, i + 1)) found.push(i);
    return found;
  };
  switch (r.int(13)) {
    case 0: // flip a byte
      if (!body.length) return body;
      return Buffer.concat([
        body.subarray(0, at),
        Buffer.from([(body[Math.min(at, body.length - 1)]! ^ (1 + r.int(255))) & 0xff]),
        body.subarray(at + 1),
      ]);
    case 1: // delete a range
      return Buffer.concat([body.subarray(0, at), body.subarray(at + len)]);
    case 2: // insert random bytes
      return Buffer.concat([body.subarray(0, at), r.bytes(len), body.subarray(at)]);
    case 3: // duplicate a range
      return Buffer.concat([body.subarray(0, at + len), body.subarray(at, at + len), body.subarray(at + len)]);
    case 4: // truncate
      return body.subarray(0, at);
    case 5: {
      // a CRLF becomes a bare LF
      const o = occurrences('\r\n');
      if (!o.length) return body;
      const i = r.pick(o);
      return Buffer.concat([body.subarray(0, i), body.subarray(i + 1)]);
    }
    case 6: // the boundary and one more character, somewhere
      return Buffer.concat([
        body.subarray(0, at),
        Buffer.from(`\r\n--${boundary}${r.pick(['X', '-', ' ', '\t', '\r', '-x'])}`),
        body.subarray(at),
      ]);
    case 7: {
      // transport padding after a boundary
      const o = occurrences(`--${boundary}\r\n`);
      if (!o.length) return body;
      const i = r.pick(o) + boundary.length + 2;
      return Buffer.concat([body.subarray(0, i), Buffer.from(' '.repeat(1 + r.int(4))), body.subarray(i)]);
    }
    case 8: {
      // a header line goes
      const o = occurrences('Content-');
      if (!o.length) return body;
      const i = r.pick(o);
      const end = body.indexOf('\r\n', i);
      return end < 0 ? body : Buffer.concat([body.subarray(0, i), body.subarray(end + 2)]);
    }
    case 9: // another disposition type
      return Buffer.from(
        body.toString('latin1').replace('form-data;', r.pick(['attachment;', 'inline;', 'form-data ;', 'FORM-DATA;', ';'])),
        'latin1',
      );
    case 10: // a parameter changed
      return Buffer.from(
        body
          .toString('latin1')
          .replace(
            /name="file\d"/,
            r.pick(['name=""', 'name', 'name="f"; name="g"', `name="${'n'.repeat(300)}"`, 'name="a\\"b"', "filename*=UTF-8''%ZZ"]),
          ),
        'latin1',
      );
    case 11: // a duplicated scanJobID (a retry in the same body)
      return Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="scanJobID"\r\n\r\nsame\r\n`), body]);
    default:
      return body;
  }
}

/** Sends a body with Content-Length, or chunked in random pieces (some pauses between). */
function send(r: Random, boundary: string, body: Buffer): Promise<RawExchange> {
  const type = r.int(8) === 0 ? `multipart/form-data; boundary="${boundary}"` : `multipart/form-data; boundary=${boundary}`;
  const pieces: Array<Buffer | number> = [];
  const chunked = r.int(2) === 0;
  pieces.push(
    postHead(
      host.scanUrl,
      chunked ? { 'Content-Type': type, 'Transfer-Encoding': 'chunked' } : { 'Content-Type': type, 'Content-Length': body.length },
    ),
  );
  for (let at = 0; at < body.length;) {
    const n = 1 + r.int(r.pick([8, 300, 20_000, 200_000]));
    const piece = body.subarray(at, at + n);
    pieces.push(chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece);
    if (r.int(20) === 0) pieces.push(5);
    at += n;
  }
  if (chunked) pieces.push(Buffer.from('0\r\n\r\n'));
  return rawHttp(host.scanUrl, pieces, { timeoutMs: 30_000 });
}

/** Every message on the delivery queue (received and deleted: a peek shows at most 32). */
async function drainQueue(): Promise<string[]> {
  const queue = host.services.storage.clients.queue(DELIVERY_QUEUE);
  await queue.createIfNotExists();
  const jobIds: string[] = [];
  for (;;) {
    const batch = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 300 });
    if (!batch.receivedMessageItems.length) return jobIds;
    for (const m of batch.receivedMessageItems) {
      jobIds.push(decodeMessage(m.messageText).jobId);
      await queue.deleteMessage(m.messageId, m.popReceipt);
    }
  }
}

it(`${CASES} mutated bodies: each settles with 200 or a 4xx, and storage holds exactly the jobs answered 200`, async () => {
  const r = prng(SEED);
  const requests = Array.from({ length: CASES }, (_, n) => {
    const { boundary, body } = validBody(r, n);
    let mutated = body;
    for (let i = 0, k = r.int(3); i < k; i++) mutated = mutate(r, mutated, boundary);
    return { n, boundary, body: mutated, sender: prng(SEED + n) };
  });
  await drainQueue();
  const before = await host.snapshot();
  const finishedBefore = host.finished();
  const answers: Array<{ n: number; status: number; jobId?: string; error?: string }> = [];
  await forEachLimited(requests, 4, async ({ n, boundary, body, sender }) => {
    const res = await send(sender, boundary, body);
    answers.push({ n, status: res.status, jobId: res.json?.jobId, error: res.json?.error });
  });
  await host.requestsFinished(finishedBefore + CASES);

  const unexpected = answers.filter((a) => !(a.status === 200 || (a.status >= 400 && a.status < 500)));
  expect(unexpected).toEqual([]);
  const stored = new Set(answers.filter((a) => a.status === 200).map((a) => a.jobId!));
  // Both kinds of outcome were exercised.
  expect(stored.size).toBeGreaterThan(CASES / 10);
  expect(answers.filter((a) => a.status >= 400).length).toBeGreaterThan(CASES / 10);

  const after = await host.snapshot();
  const newBlobs = after.blobs.filter((b) => !before.blobs.includes(b));
  expect(new Set(newBlobs.map((b) => b.split('/')[0]))).toEqual(stored);
  const newJobs = after.jobs.filter((j) => !before.jobs.some((o) => o.partitionKey === j.partitionKey));
  expect(new Set(newJobs.map((j) => j.partitionKey))).toEqual(stored);
  expect(newJobs.filter((j) => j.status !== 'stored')).toEqual([]);
  for (const jobId of stored) {
    const job = await host.services.storage.scanJobs.get(jobId);
    expect(newBlobs.filter((b) => b.startsWith(`${jobId}/`)).sort()).toEqual(job!.files.map((f) => f.blobName).sort());
  }
  const messages = await drainQueue();
  expect(new Set(messages)).toEqual(stored);
  expect(messages).toHaveLength(stored.size);
  expect(after.leases).toEqual([]);
  const claims: Array<Record<string, unknown>> = [];
  for await (const e of host.services.storage.clients.table(SCAN_JOB_KEYS_TABLE).listEntities()) claims.push(e);
  expect(claims.filter((c) => c.status !== 'stored' || !stored.has(String(c.jobId)))).toEqual([]);
}, 240_000);
