/**
 * POST /api/scan over real HTTP through the local host into a real Azurite: what is stored,
 * idempotent retries, and every kind of bad input (which must leave nothing behind).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { httpRequest, postMultipart } from '../helpers/http';
import { multipart, pdfBytes, type Part } from '../helpers/multipart';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

const KiB = 1024;
const limits = {
  SCAN_MAX_REQUEST_BYTES: String(3 * 1024 * KiB),
  SCAN_MAX_FILE_BYTES: String(1024 * KiB),
  SCAN_MAX_FILES: '4',
  SCAN_MAX_FIELDS: '12',
  SCAN_MAX_FIELD_BYTES: '256',
};

let host: ScanHost;
beforeAll(async () => {
  host = await startScanHost(limits);
});
afterAll(async () => {
  await host?.stop();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function blobBytes(blobName: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await host.services.storage.scanBlobs.download(blobName)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function scanFields(extra: Record<string, string> = {}): Part[] {
  return Object.entries({
    username: 'jdoe',
    userEmail: 'john.doe@company.com',
    scanJobID: randomUUID(),
    workflowName: 'Scan to Fax',
    deviceName: 'MFP-3rd-floor',
    scanDate: '2026-11-23',
    custom_RoutingKey: 'fax',
    faxNumber: '+420123456789',
    ...extra,
  }).map(([name, value]) => ({ name, value }));
}

describe('a valid scan job', () => {
  it('stores 3 files, every field, and one queue message, and reports each file', async () => {
    const files = [pdfBytes(300 * KiB), Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(5000)]), randomBytes(70 * KiB)];
    const fields = scanFields();
    const before = await host.snapshot();
    const res = await postMultipart(
      host.scanUrl,
      multipart([
        ...fields,
        { name: 'file1', filename: 'document.pdf', data: files[0]!, contentType: 'text/plain' },
        { name: 'file2', filename: 'photo.jpg', data: files[1]!, contentType: 'image/jpeg' },
        { name: 'file3', filename: 'page.tif', data: files[2]!, contentType: 'image/tiff' },
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.json.jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json.files).toEqual([
      // the PDF was labelled text/plain by the sender: recognised from its bytes
      { name: 'document.pdf', contentType: 'application/pdf', size: files[0]!.length, sha256: sha256(files[0]!) },
      { name: 'photo.jpg', contentType: 'image/jpeg', size: files[1]!.length, sha256: sha256(files[1]!) },
      { name: 'page.tif', contentType: 'image/tiff', size: files[2]!.length, sha256: sha256(files[2]!) },
    ]);

    const job = await host.services.storage.scanJobs.get(res.json.jobId);
    expect(job?.status).toBe('stored');
    expect(job?.fields).toEqual(Object.fromEntries(fields.map((f) => [f.name, (f as { value: string }).value])));
    expect(job?.senderAddress).toBe('127.0.0.1');
    expect(job?.receivedAt.getTime()).toBeLessThanOrEqual(Date.now());
    expect(job?.files.map((f) => f.declaredContentType)).toEqual(['text/plain', 'image/jpeg', 'image/tiff']);
    for (const [i, f] of job!.files.entries()) {
      expect(f.blobName).toBe(`${res.json.jobId}/${i}`);
      const stored = await blobBytes(f.blobName);
      expect(sha256(stored)).toBe(res.json.files[i].sha256);
    }
    const after = await host.snapshot();
    expect(after.messages.length - before.messages.length).toBe(1);
    expect(after.messages).toContainEqual({ jobId: res.json.jobId });
  });

  it('keeps non-ASCII file names, in raw UTF-8 and RFC 5987 form, as metadata only', async () => {
    const res = await postMultipart(
      host.scanUrl,
      multipart([
        ...scanFields(),
        { name: 'file1', filename: 'Příloha – účet €.pdf', data: pdfBytes() },
        {
          name: 'file2',
          filename: '',
          rawDisposition: `form-data; name="file2"; filename="fallback.pdf"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.pdf`,
          data: pdfBytes(),
        },
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.json.files.map((f: { name: string }) => f.name)).toEqual(['Příloha – účet €.pdf', '日本語.pdf']);
    const job = await host.services.storage.scanJobs.get(res.json.jobId);
    expect(job?.files.map((f) => f.blobName)).toEqual([`${res.json.jobId}/0`, `${res.json.jobId}/1`]);
  });

  it('never lets a hostile file name choose where the file is stored', async () => {
    const hostile = ['../../../etc/passwd', '..\\..\\windows\\win.ini', '/abs/path.pdf', 'a%2F..%2Fb.pdf'];
    const res = await postMultipart(
      host.scanUrl,
      multipart([...scanFields(), ...hostile.map((filename, i) => ({ name: `file${i}`, filename, data: pdfBytes(100) }))]),
    );
    expect(res.status).toBe(200);
    expect(res.json.files.map((f: { name: string }) => f.name)).toEqual(hostile);
    const { blobs } = await host.snapshot();
    const mine = blobs.filter((b) => b.startsWith(res.json.jobId));
    expect(mine).toEqual([0, 1, 2, 3].map((i) => `${res.json.jobId}/${i}`));
    expect(blobs.every((b) => /^[0-9a-f-]{36}\/\d+$/.test(b))).toBe(true);
  });

  it('accepts a job without scanJobID (no idempotency key) and a chunked body without Content-Length', async () => {
    const mp = multipart([
      { name: 'username', value: 'jdoe' },
      { name: 'file1', filename: 'a.pdf', data: pdfBytes() },
    ]);
    const res = await httpRequest(host.scanUrl, {
      method: 'POST',
      headers: { 'content-type': mp.contentType },
      body: Readable.from([mp.body.subarray(0, 100), mp.body.subarray(100)]),
    });
    expect(res.status).toBe(200);
    expect((await host.services.storage.scanJobs.get(res.json.jobId))?.scanJobId).toBeUndefined();
  });
});

describe('idempotency on scanJobID', () => {
  it('answers a retry with the first job and stores nothing new', async () => {
    const fields = scanFields();
    const first = await postMultipart(host.scanUrl, multipart([...fields, { name: 'file1', filename: 'a.pdf', data: pdfBytes() }]));
    expect(first.status).toBe(200);
    const before = await host.snapshot();
    const retry = await postMultipart(host.scanUrl, multipart([...fields, { name: 'file1', filename: 'a.pdf', data: pdfBytes() }]));
    expect(retry.status).toBe(200);
    expect(retry.json).toEqual(first.json);
    const after = await host.snapshot();
    expect(after).toEqual(before);
  });

  it('stores one job when two requests with the same scanJobID arrive together', async () => {
    const fields = scanFields();
    const before = await host.snapshot();
    const [a, b] = await Promise.all(
      [1, 2].map(() =>
        postMultipart(host.scanUrl, multipart([...fields, { name: 'file1', filename: 'a.pdf', data: pdfBytes(200 * KiB) }])),
      ),
    );
    expect([a!.status, b!.status]).toEqual([200, 200]);
    expect(a!.json.jobId).toBe(b!.json.jobId);
    const after = await host.snapshot();
    expect(after.messages.length - before.messages.length).toBe(1);
    expect(after.jobs.length - before.jobs.length).toBe(1);
    expect(after.blobs.length - before.blobs.length).toBe(1);
  });
});

describe('bad input gets a clear 4xx and stores nothing', () => {
  const file = (): Part => ({ name: 'file1', filename: 'a.pdf', data: pdfBytes() });
  const cases: Array<[string, () => Promise<{ status: number; json: any }>, number, string]> = [
    ['no Content-Type', () => httpRequest(host.scanUrl, { method: 'POST', body: Buffer.from('x') }), 415, 'unsupported_media_type'],
    [
      'a JSON body',
      () => httpRequest(host.scanUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') }),
      415,
      'unsupported_media_type',
    ],
    [
      'multipart without a boundary',
      () => httpRequest(host.scanUrl, { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: Buffer.from('--x--') }),
      400,
      'missing_boundary',
    ],
    [
      'a truncated body (no closing boundary, file cut short)',
      () => {
        const mp = multipart([...scanFields(), file()], { close: false });
        return postMultipart(host.scanUrl, { contentType: mp.contentType, body: mp.body.subarray(0, mp.body.length - 50) });
      },
      400,
      'malformed_multipart',
    ],
    [
      'garbage instead of parts',
      () => postMultipart(host.scanUrl, { contentType: 'multipart/form-data; boundary=abc', body: randomBytes(4096) }),
      400,
      'malformed_multipart',
    ],
    [
      'an empty body',
      () => postMultipart(host.scanUrl, { contentType: 'multipart/form-data; boundary=abc', body: Buffer.alloc(0) }),
      400,
      'malformed_multipart',
    ],
    ['no file part', () => postMultipart(host.scanUrl, multipart(scanFields())), 400, 'no_file'],
    [
      'an empty file',
      () =>
        postMultipart(host.scanUrl, multipart([...scanFields(), file(), { name: 'file2', filename: 'empty.pdf', data: Buffer.alloc(0) }])),
      400,
      'empty_file',
    ],
    [
      'too many files',
      () => postMultipart(host.scanUrl, multipart([...scanFields(), ...[1, 2, 3, 4, 5].map((i) => ({ ...file(), name: `file${i}` }))])),
      400,
      'too_many_files',
    ],
    [
      'too many fields',
      () =>
        postMultipart(host.scanUrl, multipart([...scanFields(), ...[1, 2, 3, 4, 5].map((i) => ({ name: `x${i}`, value: 'v' })), file()])),
      400,
      'too_many_fields',
    ],
    [
      'a field over the size limit',
      () => postMultipart(host.scanUrl, multipart([...scanFields({ mailTo: 'x'.repeat(300) }), file()])),
      413,
      'field_too_large',
    ],
    [
      'a field sent twice',
      () => postMultipart(host.scanUrl, multipart([...scanFields(), { name: 'username', value: 'mallory' }, file()])),
      400,
      'duplicate_field',
    ],
    [
      'a file over the size limit (after a good one)',
      () =>
        postMultipart(
          host.scanUrl,
          multipart([...scanFields(), file(), { name: 'file2', filename: 'big.pdf', data: pdfBytes(1024 * KiB + 1) }]),
        ),
      413,
      'file_too_large',
    ],
    [
      'a Content-Length over the request limit',
      () =>
        httpRequest(host.scanUrl, {
          method: 'POST',
          headers: { 'content-type': 'multipart/form-data; boundary=abc', 'content-length': 3 * 1024 * KiB + 1 },
          body: Readable.from([Buffer.alloc(1024)]),
        }),
      413,
      'request_too_large',
    ],
    [
      'a chunked body that grows past the request limit',
      () => {
        const mp = multipart([
          ...scanFields(),
          ...[1, 2, 3, 4].map((i) => ({ name: `f${i}`, filename: `${i}.pdf`, data: pdfBytes(900 * KiB) })),
        ]);
        return httpRequest(host.scanUrl, { method: 'POST', headers: { 'content-type': mp.contentType }, body: Readable.from([mp.body]) });
      },
      413,
      'request_too_large',
    ],
  ];

  it.each(cases)('%s', async (_name, send, status, code) => {
    const before = await host.snapshot();
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.json.error).toBe(code);
    expect(typeof res.json.message).toBe('string');
    expect(res.json.message).not.toMatch(/\n\s+at /); // no stack trace
    expect(await host.snapshot()).toEqual(before);
  });

  it('answers GET with 405 and an unknown route with 404', async () => {
    expect((await httpRequest(host.scanUrl)).status).toBe(405);
    expect((await httpRequest(`${host.server.url}/api/nope`)).status).toBe(404);
  });
});

describe('health', () => {
  it('answers 200', async () => {
    const res = await httpRequest(`${host.server.url}/api/health`);
    expect(res.status).toBe(200);
    expect(res.json.status).toBe('ok');
  });
});
