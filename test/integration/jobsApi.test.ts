/**
 * The jobs' JSON admin API over HTTP through the local host, with the admin key, on Azurite:
 * GET /api/jobs (search, filters, paging, and every kind of bad input), GET /api/jobs/{jobId}
 * (fields, files, each destination's timeline), GET /api/jobs/{jobId}/files/{index} (streamed,
 * with a safe Content-Disposition for hostile names), POST /api/scan/{jobId}/redeliver (audited;
 * a Reader may not) and GET /api/overview; a job whose index row is missing is not hidden.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { READER_ROLE, ADMIN_ROLE, csrfToken, SESSION_COOKIE } from '../../shared/access';
import { deliverJob } from '../../shared/delivery';
import { sweepIngests } from '../../shared/ingest';
import { silentLogger } from '../../shared/log';
import { newKeyRingSecret } from '../../shared/oauth';
import { setServices } from '../../shared/services';
import { indexKeys, JOB_INDEX_TABLE } from '../../shared/storage';
import { httpRequest, postMultipart } from '../helpers/http';
import { multipart, pdfBytes, type Part } from '../helpers/multipart';
import { startReceiver, type Receiver } from '../helpers/receiver';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

const ADMIN_KEY = 'admin-key-for-jobs-api-tests-0123456789';

let host: ScanHost;
let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
  const destinations = join(mkdtempSync(join(tmpdir(), 'scanrelay-jobs-')), 'destinations.json');
  writeFileSync(
    destinations,
    JSON.stringify({
      version: 1,
      destinations: [
        {
          id: 'archive',
          type: 'httpForward',
          when: { custom_RoutingKey: 'jobs' },
          options: { url: receiver.url, allowHttp: true, allowPrivateNetworks: true },
        },
      ],
    }),
  );
  host = await startScanHost({ DESTINATIONS_FILE: destinations, DELIVERY_LEASE_SECONDS: '3', INGEST_LEASE_SECONDS: '3' });
  writeFileSync(host.secretsFile, JSON.stringify({ 'admin-key': ADMIN_KEY, 'token-encryption-keys': newKeyRingSecret('k1') }));
});
afterAll(async () => {
  await receiver?.stop();
  await host?.stop();
});

const storage = () => host.services.storage;
const get = (path: string, key: string | null = ADMIN_KEY) =>
  httpRequest(`${host.server.url}${path}`, { headers: key === null ? {} : { 'x-functions-key': key } });
const post = (path: string, headers: Record<string, string>, body: unknown = {}) =>
  httpRequest(`${host.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: Buffer.from(JSON.stringify(body)),
  });

/** A console session's cookie (and its CSRF token) for a user holding `roles`. */
async function session(roles: Array<typeof READER_ROLE | typeof ADMIN_ROLE>) {
  const user = { oid: randomUUID(), upn: `${roles.length ? roles[0]!.split('.')[1]!.toLowerCase() : 'nobody'}@contoso.com` };
  const started = await host.services.accessDeps().sessions.start(user, roles, 'entra');
  return { cookie: `${SESSION_COOKIE}=${started.cookie.value}`, csrf: csrfToken(started.session), upn: user.upn };
}
const qs = (params: Record<string, string>) => `?${new URLSearchParams(params).toString()}`;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Stores a job through POST /api/scan; answers its jobId. */
async function scan(fields: Record<string, string>, files: Part[] = [{ name: 'file1', filename: 'scan.pdf', data: pdfBytes(4000) }]) {
  const res = await postMultipart(
    host.scanUrl,
    multipart([...Object.entries({ scanJobID: randomUUID(), ...fields }).map(([name, value]) => ({ name, value })), ...files]),
  );
  expect(res.status).toBe(200);
  return res.json.jobId as string;
}

describe('GET /api/jobs', () => {
  const tag = `WF-${randomUUID().slice(0, 8)}`;
  const people = [
    { username: 'Alice', deviceName: 'MFP-1' },
    { username: 'bob', deviceName: 'MFP-1' },
    { username: 'alice', deviceName: 'MFP-2' },
    { username: 'Carol', deviceName: 'MFP-2' },
    { username: 'alfred', deviceName: 'MFP-3' },
  ];
  const ids: string[] = [];
  const scanJobIds: string[] = [];
  beforeAll(async () => {
    for (const p of people) {
      const scanJobID = randomUUID();
      scanJobIds.push(scanJobID);
      ids.push(await scan({ ...p, workflowName: tag, scanJobID }));
    }
  });
  const newestFirst = () => [...ids].reverse();
  const list = async (params: Record<string, string>) => {
    const res = await get(`/api/jobs${qs(params)}`);
    expect(res.status).toBe(200);
    return res.json as { jobs: Array<Record<string, unknown>>; continuation?: string };
  };

  it('lists stored jobs newest first, with their searchable fields and delivery state', async () => {
    const { jobs, continuation } = await list({ workflowName: tag });
    expect(jobs.map((j) => j.jobId)).toEqual(newestFirst());
    expect(continuation).toBeUndefined();
    expect(jobs[4]).toMatchObject({
      status: 'stored',
      deliveryState: 'queued',
      workflowName: tag,
      username: 'Alice',
      deviceName: 'MFP-1',
      scanJobId: scanJobIds[0],
      fileCount: 1,
      totalBytes: 4000,
    });
    const times = jobs.map((j) => Date.parse(j.receivedAt as string));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it.each([
    ['username, in any case', { username: 'ALICE' }, [0, 2]],
    ['username by its start', { username: 'al*' }, [0, 2, 4]],
    ['deviceName', { deviceName: 'mfp-2' }, [2, 3]],
    ['workflowName by its start', { workflowName: `${tag.slice(0, 6).toLowerCase()}*`, username: 'bob' }, [1]],
    ['two fields', { username: 'alice', deviceName: 'MFP-1' }, [0]],
    ['status (any of them)', { status: 'delivered,queued' }, [0, 1, 2, 3, 4]],
    ['a status no job has', { status: 'undeliverable' }, []],
  ])('filters by %s', async (_name, filter, expected) => {
    const { jobs } = await list({ workflowName: tag, ...filter });
    expect(jobs.map((j) => j.jobId)).toEqual(expected.map((i) => ids[i]!).reverse());
  });

  it('a scanJobID is found by its claim (and no other job); an unknown one finds nothing', async () => {
    expect((await list({ scanJobID: scanJobIds[3]! })).jobs.map((j) => j.jobId)).toEqual([ids[3]]);
    expect((await list({ scanJobID: scanJobIds[3]!, username: 'alice' })).jobs).toEqual([]);
    expect((await list({ scanJobID: randomUUID() })).jobs).toEqual([]);
  });

  it('a time range includes both ends; a date alone is its whole UTC day', async () => {
    const all = (await list({ workflowName: tag })).jobs;
    const at = (i: number) => all.find((j) => j.jobId === ids[i])!.receivedAt as string;
    expect((await list({ workflowName: tag, from: at(1), to: at(3) })).jobs.map((j) => j.jobId)).toEqual([ids[3], ids[2], ids[1]]);
    const day = at(0).slice(0, 10);
    const onTheDay = (await list({ workflowName: tag, from: day, to: day })).jobs.length;
    const spansMidnight = at(0).slice(0, 10) !== at(4).slice(0, 10);
    if (!spansMidnight) expect(onTheDay).toBe(5);
    expect((await list({ workflowName: tag, to: '2001-01-01' })).jobs).toEqual([]);
  });

  it('pages with a continuation token until the last page, each job once, in order', async () => {
    const seen: string[] = [];
    let continuation: string | undefined;
    let pages = 0;
    do {
      const page = await list({ workflowName: tag, limit: '2', ...(continuation ? { continuation } : {}) });
      expect(page.jobs.length).toBeLessThanOrEqual(2);
      seen.push(...page.jobs.map((j) => j.jobId as string));
      continuation = page.continuation;
      pages++;
    } while (continuation && pages < 10);
    expect(seen).toEqual(newestFirst());
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it('shows a delivered job as delivered, with when and the latency', async () => {
    const jobId = await scan({ workflowName: `${tag}-d`, custom_RoutingKey: 'jobs' });
    await expect(deliverJob({ jobId }, 1, host.services.delivererDeps(silentLogger))).resolves.toBe('delivered');
    const [job] = (await list({ workflowName: `${tag}-d`, status: 'delivered' })).jobs;
    expect(job).toMatchObject({ jobId, deliveryState: 'delivered' });
    expect(Date.parse(job!.deliveredAt as string)).toBeGreaterThanOrEqual(Date.parse(job!.receivedAt as string));
    expect(job!.latencyMs).toBe(Date.parse(job!.deliveredAt as string) - Date.parse(job!.receivedAt as string));
  });

  const token = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
  it.each([
    ['from is not a date', { from: 'yesterday' }, 'invalid_time_range'],
    ['from has no time zone', { from: '2026-12-01T08:00:00' }, 'invalid_time_range'],
    ['to is 30 February', { to: '2026-02-30' }, 'invalid_time_range'],
    ['from has hour 25', { from: '2026-12-01T25:00:00Z' }, 'invalid_time_range'],
    ['from is after to', { from: '2026-12-02', to: '2026-12-01' }, 'invalid_time_range'],
    ['a year before 2000', { from: '1999-12-31' }, 'invalid_time_range'],
    ['an unknown status', { status: 'lost' }, 'invalid_status'],
    ['pending with another status', { status: 'pending,stored' }, 'invalid_status'],
    ['limit 0', { limit: '0' }, 'invalid_limit'],
    ['limit 201', { limit: '201' }, 'invalid_limit'],
    ['limit not a number', { limit: 'ten' }, 'invalid_limit'],
    ['a negative limit', { limit: '-5' }, 'invalid_limit'],
    ['a continuation that is not base64url', { continuation: 'not a token!' }, 'invalid_continuation'],
    ['a continuation that is not JSON', { continuation: token('{{') }, 'invalid_continuation'],
    ['a continuation of the wrong shape', { continuation: token({ p: '1', r: 2 }) }, 'invalid_continuation'],
    ['a continuation with a foreign row key', { continuation: token({ p: '79738798', r: "x' or true" }) }, 'invalid_continuation'],
    ['a field that is only *', { username: '*' }, 'invalid_filter'],
    ['a field of 257 characters', { deviceName: 'd'.repeat(257) }, 'invalid_filter'],
    ['a scanJobID of 1025 characters', { scanJobID: 's'.repeat(1025) }, 'invalid_filter'],
  ])('400 for %s', async (_name, params, code) => {
    const res = await get(`/api/jobs${qs(params)}`);
    expect({ status: res.status, error: res.json?.error }).toEqual({ status: 400, error: code });
    expect(res.json.message).toEqual(expect.any(String));
  });

  it('a quote in a field is a value, not OData', async () => {
    expect((await list({ workflowName: tag, username: "x' or username eq 'alice" })).jobs).toEqual([]);
  });
});

describe('the admin key', () => {
  it.each(['/api/jobs', `/api/jobs/${randomUUID()}`, `/api/jobs/${randomUUID()}/files/0`, '/api/overview'])(
    '%s: 401 without it or with a wrong one',
    async (path) => {
      for (const key of [null, 'wrong-key']) {
        const res = await get(path, key);
        expect({ status: res.status, error: res.json?.error }).toEqual({ status: 401, error: 'unauthorized' });
      }
    },
  );
});

describe('with a console session', () => {
  it('a Reader reads jobs, a job and the overview, and may not redeliver (403); an Admin may, from the console', async () => {
    const jobId = await scan({ custom_RoutingKey: 'jobs' });
    receiver.failNext(400);
    await expect(deliverJob({ jobId }, 1, host.services.delivererDeps(silentLogger))).resolves.toBe('failed');
    const reader = await session([READER_ROLE]);
    for (const path of ['/api/jobs', `/api/jobs/${jobId}`, `/api/jobs/${jobId}/files/0`, '/api/overview']) {
      expect({ path, status: (await httpRequest(`${host.server.url}${path}`, { headers: { cookie: reader.cookie } })).status }).toEqual({
        path,
        status: 200,
      });
    }
    const origin = host.server.url;
    const refused = await post(`/api/scan/${jobId}/redeliver`, { cookie: reader.cookie, 'x-csrf-token': reader.csrf, origin });
    expect({ status: refused.status, error: refused.json?.error }).toEqual({ status: 403, error: 'forbidden' });
    expect(refused.json.message).toContain('ScanRelay.Admin');

    const admin = await session([ADMIN_ROLE]);
    const noToken = await post(`/api/scan/${jobId}/redeliver`, { cookie: admin.cookie, origin });
    expect({ status: noToken.status, error: noToken.json?.error }).toEqual({ status: 403, error: 'csrf_refused' });
    const done = await post(`/api/scan/${jobId}/redeliver`, { cookie: admin.cookie, 'x-csrf-token': admin.csrf, origin });
    expect(done.status).toBe(202);
    const [entry] = await storage().auditLog.list(new Date(Date.now() - 60_000), new Date(Date.now() + 60_000), 50);
    expect(entry).toMatchObject({
      actor: { kind: 'user', upn: admin.upn },
      action: 'job.redeliver',
      target: `job:${jobId}`,
      before: { deliveryState: 'failed', destinations: { archive: 'failed' } },
      after: { deliveryState: 'redelivering', destinations: { archive: 'retrying' } },
    });
  });

  it('without a session or the admin key, a redelivery is 401 and changes nothing', async () => {
    const jobId = await scan({ custom_RoutingKey: 'jobs' });
    receiver.failNext(400);
    await deliverJob({ jobId }, 1, host.services.delivererDeps(silentLogger));
    for (const headers of [{}, { 'x-functions-key': 'wrong-key' }] as Array<Record<string, string>>) {
      const res = await post(`/api/scan/${jobId}/redeliver`, headers);
      expect({ status: res.status, error: res.json?.error }).toEqual({ status: 401, error: 'unauthorized' });
    }
    expect((await get(`/api/jobs/${jobId}`)).json.delivery.state).toBe('failed');
  });
});

describe('POST /api/scan/{jobId}/redeliver with the admin key', () => {
  it('delivers a failed destination again, once, audited as the admin key; the list shows it delivered', async () => {
    const tag = `RD-${randomUUID().slice(0, 8)}`;
    const jobId = await scan({ custom_RoutingKey: 'jobs', workflowName: tag });
    receiver.failNext(400);
    await expect(deliverJob({ jobId }, 1, host.services.delivererDeps(silentLogger))).resolves.toBe('failed');
    expect((await get(`/api/jobs${qs({ workflowName: tag, status: 'failed' })}`)).json.jobs.map((j: { jobId: string }) => j.jobId)).toEqual(
      [jobId],
    );
    const res = await post(`/api/scan/${jobId}/redeliver`, { 'x-functions-key': ADMIN_KEY }, { destination: 'archive' });
    expect(res.status).toBe(202);
    expect(res.json.destinations).toEqual([{ destination: 'archive', action: 'queued', previousStatus: 'failed' }]);
    const audited = await storage().auditLog.list(new Date(Date.now() - 60_000), new Date(Date.now() + 60_000), 50);
    expect(audited.find((e) => e.target === `job:${jobId}`)).toMatchObject({ actor: { kind: 'key' }, action: 'job.redeliver' });
    const before = receiver.requests;
    await expect(deliverJob({ jobId }, 1, host.services.delivererDeps(silentLogger))).resolves.toBe('delivered');
    await expect(deliverJob({ jobId }, 2, host.services.delivererDeps(silentLogger))).resolves.toBe('delivered');
    expect(receiver.requests - before).toBe(1);
    const [listed] = (await get(`/api/jobs${qs({ workflowName: tag })}`)).json.jobs;
    expect(listed).toMatchObject({ jobId, deliveryState: 'delivered' });
    const detail = (await get(`/api/jobs/${jobId}`)).json;
    expect(detail.delivery.destinations[0].timeline.map((t: { kind: string; outcome: string }) => `${t.kind}:${t.outcome}`)).toEqual([
      'attempt:failed',
      'redelivery:retrying',
      'attempt:delivered',
    ]);
    const again = await post(`/api/scan/${jobId}/redeliver`, { 'x-functions-key': ADMIN_KEY });
    expect({ status: again.status, error: again.json?.error }).toEqual({ status: 409, error: 'nothing_to_redeliver' });
  });
});

describe('a job whose index row is missing (the process died between the record and the row)', () => {
  it('is still found by its scanJobID and shown in full, and its delivery writes the row back', async () => {
    const tag = `LOST-${randomUUID().slice(0, 8)}`;
    const scanJobID = randomUUID();
    const jobId = await scan({ custom_RoutingKey: 'jobs', workflowName: tag, scanJobID });
    const job = (await storage().scanJobs.get(jobId))!;
    const { partitionKey, rowKey } = indexKeys(job.receivedAt, jobId);
    await storage().clients.table(JOB_INDEX_TABLE).deleteEntity(partitionKey, rowKey);
    expect((await get(`/api/jobs${qs({ workflowName: tag })}`)).json.jobs).toEqual([]);

    expect((await get(`/api/jobs${qs({ scanJobID })}`)).json.jobs).toEqual([
      expect.objectContaining({ jobId, status: 'stored', workflowName: tag }),
    ]);
    expect((await get(`/api/jobs/${jobId}`)).json).toMatchObject({ jobId, status: 'stored', fields: { workflowName: tag } });

    await expect(deliverJob({ jobId }, 1, host.services.delivererDeps(silentLogger))).resolves.toBe('delivered');
    expect((await get(`/api/jobs${qs({ workflowName: tag })}`)).json.jobs).toEqual([
      expect.objectContaining({ jobId, deliveryState: 'delivered', fileCount: 1 }),
    ]);
  });
});

describe('GET /api/jobs/{jobId}', () => {
  it('shows fields, files and the timeline of every attempt per destination', async () => {
    const jobId = await scan({ workflowName: 'Detail', custom_RoutingKey: 'jobs', username: 'dana' }, [
      { name: 'file1', filename: 'one.pdf', data: pdfBytes(3000) },
      { name: 'file2', filename: 'two.pdf', data: pdfBytes(5000) },
    ]);
    receiver.failNext(503);
    const d = host.services.delivererDeps(silentLogger);
    await expect(deliverJob({ jobId }, 1, d)).rejects.toThrow();
    await expect(deliverJob({ jobId }, 2, d)).resolves.toBe('delivered');
    const res = await get(`/api/jobs/${jobId}`);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      jobId,
      status: 'stored',
      fields: { workflowName: 'Detail', username: 'dana', custom_RoutingKey: 'jobs' },
      files: [
        { index: 0, name: 'one.pdf', contentType: 'application/pdf', size: 3000, download: `/api/jobs/${jobId}/files/0` },
        { index: 1, name: 'two.pdf', size: 5000, download: `/api/jobs/${jobId}/files/1` },
      ],
      delivery: {
        state: 'delivered',
        poisoned: false,
        destinations: [
          {
            destination: 'archive',
            status: 'delivered',
            attempts: 2,
            remoteId: '200',
            timeline: [
              { kind: 'attempt', attempt: 1, outcome: 'retrying', code: 'destination_unavailable' },
              { kind: 'attempt', attempt: 2, outcome: 'delivered', remoteId: '200' },
            ],
          },
        ],
      },
    });
    for (const t of res.json.delivery.destinations[0].timeline) {
      expect(t.durationMs).toBe(Date.parse(t.endedAt) - Date.parse(t.at));
    }
    expect(res.json.delivery.latencyMs).toBe(Date.parse(res.json.delivery.deliveredAt) - Date.parse(res.json.receivedAt));
    expect(res.json.delivery.destinations[0].timeline[0].message).toMatch(/503/);
  });

  it.each([
    ['an unknown job', () => randomUUID()],
    ['an id that cannot be one', () => 'not-a-job'],
    ['a path in the id', () => '..%2F..%2Fscans'],
  ])('404 job_not_found for %s', async (_name, id) => {
    const res = await get(`/api/jobs/${id()}`);
    expect({ status: res.status, error: res.json?.error }).toEqual({ status: 404, error: 'job_not_found' });
  });
});

describe('GET /api/jobs/{jobId}/files/{index}', () => {
  it('streams the file byte for byte, as an attachment of its type', async () => {
    const data = pdfBytes(3 * 1024 * 1024 + 17);
    const jobId = await scan({}, [
      { name: 'file1', filename: 'small.pdf', data: pdfBytes(100) },
      { name: 'file2', filename: 'big.pdf', data },
    ]);
    const res = await new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      httpGet(`${host.server.url}/api/jobs/${jobId}/files/1`, { headers: { 'x-functions-key': ADMIN_KEY } }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode!, headers: r.headers, body: Buffer.concat(chunks) }));
      })
        .on('error', reject)
        .end();
    });
    expect(res.status).toBe(200);
    expect(sha(res.body)).toBe(sha(data));
    expect(res.headers).toMatchObject({
      'content-type': 'application/pdf',
      'content-length': String(data.length),
      'content-disposition': `attachment; filename="big.pdf"; filename*=UTF-8''big.pdf`,
      'x-content-type-options': 'nosniff',
      'cache-control': 'private, no-store',
      'content-security-policy': "default-src 'none'; sandbox",
    });
  });

  it('an unrecognised type is served as bytes, never as what the sender declared', async () => {
    const jobId = await scan({}, [{ name: 'file1', filename: 'page.html', data: '<script>alert(1)</script>', contentType: 'text/html' }]);
    const res = await get(`/api/jobs/${jobId}/files/0`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.text).toBe('<script>alert(1)</script>');
  });

  const encode5987 = (s: string) => encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
  it.each([
    ['quotes and a second parameter', 'evil"; filename="x.exe', 'evil_; filename=_x.exe'],
    ['backslashes and dots', '..\\..\\windows\\win.ini', '.._.._windows_win.ini'],
    ['slashes', '../../etc/passwd', '.._.._etc_passwd'],
    ['CR LF and a header', 'a\r\nSet-Cookie: x=1.pdf', 'a__Set-Cookie: x=1.pdf'],
    ['a NUL and a DEL', 'a\u0000b\u007fc.pdf', 'a_b_c.pdf'],
    ['non-ASCII', 'résumé €.pdf', 'r_sum_ _.pdf'],
    ['characters encodeURIComponent leaves', "it's (1)*.pdf", "it's (1)*.pdf"],
    ['percent escapes', '%41%0d%0a.pdf', '_41_0d_0a.pdf'],
    ['a line separator', 'a\u2028b.pdf', 'a_b.pdf'],
    ['a name of 300 characters', 'n'.repeat(300), 'n'.repeat(200)],
  ])('Content-Disposition is safe for %s', async (_name, filename, fallback) => {
    const jobId = await scan({}, [
      { name: 'file1', filename, data: pdfBytes(200), rawDisposition: `form-data; name="file1"; filename*=UTF-8''${encode5987(filename)}` },
    ]);
    expect((await storage().scanJobs.get(jobId))?.files[0]?.name).toBe(filename); // kept verbatim
    const res = await get(`/api/jobs/${jobId}/files/0`);
    expect(res.status).toBe(200);
    const header = res.headers['content-disposition'] as string;
    const m = /^attachment; filename="([\x20-\x7e]*)"; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]+)$/.exec(header);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(fallback);
    expect(m![1]).not.toMatch(/["\\%]/);
    const exact = Array.from(filename.replace(/[\p{Cc}\p{Zl}/\\]/gu, '_'))
      .slice(0, 200)
      .join('');
    expect(decodeURIComponent(m![2]!)).toBe(exact);
  });

  it('is streamed: the first bytes are out before the blob has been read to its end', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const body = new PassThrough();
    const first = Buffer.alloc(64 * 1024, 1);
    const rest = Buffer.alloc(256 * 1024, 2);
    const jobId = await scan({});
    setServices({
      ...host.services,
      jobsDeps: () => ({
        ...host.services.jobsDeps(),
        scanBlobs: {
          open: async () => {
            body.write(first);
            void released.then(() => body.end(rest));
            return { stream: body, contentLength: first.length + rest.length };
          },
        },
      }),
    });
    try {
      const received = await new Promise<Buffer>((resolve, reject) => {
        httpGet(`${host.server.url}/api/jobs/${jobId}/files/0`, { headers: { 'x-functions-key': ADMIN_KEY } }, (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => {
            chunks.push(c);
            release(); // only now does the rest exist: a buffered answer would never start
          });
          r.on('end', () => resolve(Buffer.concat(chunks)));
        })
          .on('error', reject)
          .end();
      });
      expect(received).toEqual(Buffer.concat([first, rest]));
    } finally {
      setServices(host.services);
    }
  });

  it.each([
    ['an index past the last file', '1', 404, 'file_not_found'],
    ['a large index', '999999', 404, 'file_not_found'],
    ['an index that is not a number', 'x', 400, 'invalid_file_index'],
    ['a negative index', '-1', 400, 'invalid_file_index'],
    ['a fractional index', '0.5', 400, 'invalid_file_index'],
  ])('%s (%s): %i %s', async (_name, index, status, code) => {
    const jobId = await scan({});
    const res = await get(`/api/jobs/${jobId}/files/${index}`);
    expect({ status: res.status, error: res.json?.error }).toEqual({ status, error: code });
  });

  it('an unknown or abandoned job is 404, a pending one 409, a file the retention rule deleted 410', async () => {
    expect((await get(`/api/jobs/${randomUUID()}/files/0`)).json?.error).toBe('job_not_found');

    const pending = randomUUID();
    await storage().scanJobs.create({ jobId: pending, status: 'pending', receivedAt: new Date(), fields: {}, files: [] });
    const early = await get(`/api/jobs/${pending}/files/0`);
    expect({ status: early.status, error: early.json?.error, retry: early.headers['retry-after'] }).toEqual({
      status: 409,
      error: 'job_not_stored',
      retry: '5',
    });
    // Its request died: swept, abandoned.
    await storage().ingestLeases.create(pending, new Date(Date.now() - 60_000));
    await sweepIngests(host.services.sweepDeps(silentLogger));
    expect((await get(`/api/jobs/${pending}/files/0`)).json?.error).toBe('job_not_found');
    expect((await get(`/api/jobs/${pending}`)).json).toMatchObject({ jobId: pending, status: 'abandoned', files: [] });

    const jobId = await scan({});
    await storage().scanBlobs.deleteJob(jobId);
    const gone = await get(`/api/jobs/${jobId}/files/0`);
    expect({ status: gone.status, error: gone.json?.error }).toEqual({ status: 410, error: 'file_gone' });
  });
});

describe('GET /api/overview', () => {
  it("counts today's jobs, their latency, and what needs attention in the last 24 hours", async () => {
    const delivered = await scan({ custom_RoutingKey: 'jobs' });
    await deliverJob({ jobId: delivered }, 1, host.services.delivererDeps(silentLogger));
    const failed = await scan({ custom_RoutingKey: 'jobs' });
    receiver.failNext(400);
    await expect(deliverJob({ jobId: failed }, 1, host.services.delivererDeps(silentLogger))).resolves.toBe('failed');
    const res = await get('/api/overview');
    expect(res.status).toBe(200);
    const failedItem = res.json.attention.find((a: { kind: string; title: string }) => a.kind === 'job' && /failed/.test(a.title));
    expect(failedItem).toMatchObject({ severity: 'bad', fix: { href: expect.stringMatching(/^\/api\/console\/jobs\?status=failed/) } });
    expect(failedItem.links).toContainEqual({ href: `/api/console/jobs/${failed}`, label: expect.stringContaining('archive') });
    const o = res.json.jobs;
    expect(o.day).toBe(new Date().toISOString().slice(0, 10));
    expect(o.today.received).toBeGreaterThanOrEqual(2);
    expect(o.today.delivered).toBeGreaterThanOrEqual(1);
    expect(o.today.failed).toBeGreaterThanOrEqual(1);
    expect(o.today.byState).toMatchObject({ delivered: expect.any(Number), failed: expect.any(Number) });
    expect(o.today.latencyMs).toMatchObject({ count: expect.any(Number), p50: expect.any(Number), p95: expect.any(Number) });
    expect(o.today.latencyMs.p95).toBeGreaterThanOrEqual(o.today.latencyMs.p50);
    expect(o.last24h.failedJobs.jobs.map((j: { jobId: string }) => j.jobId)).toContain(failed);
    expect(o.last24h.failedJobs.jobs.find((j: { jobId: string }) => j.jobId === failed)).toMatchObject({
      deliveryState: 'failed',
      failedDestinations: ['archive'],
    });
    expect(o.last24h.failedDeliveries).toBeGreaterThanOrEqual(1);
    expect(o.last24h).toMatchObject({ poisonedJobs: { count: expect.any(Number) }, abandonedJobs: { count: expect.any(Number) } });
  });
});
