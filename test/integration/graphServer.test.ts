/**
 * The local Microsoft Graph server (test/helpers/graphServer.ts) driven with plain fetch: the
 * protocol rules it enforces, so that connector tests built on it can rely on them.
 */
import { randomBytes } from 'node:crypto';
import { KIB_320, MIB, startGraphServer, type GraphServer } from '../helpers/graphServer';

let server: GraphServer;
const AUTH = { authorization: 'Bearer good-token' };

beforeAll(async () => {
  server = await startGraphServer({ meUpn: 'alice@contoso.example' });
  server.addDrive('drv-alice', { ownerUpn: 'alice@contoso.example' });
  server.addDrive('drv-bob', { ownerUpn: 'bob@contoso.example' });
});
afterAll(async () => {
  await server.stop();
});

const g = (path: string, init: RequestInit = {}) =>
  fetch(`${server.baseUrl}${path}`, { ...init, headers: { ...AUTH, ...(init.headers as Record<string, string>) } });

async function createSession(path: string, item: Record<string, unknown> = {}) {
  const res = await g(`/drives/drv-alice/root:/${path}:/createUploadSession`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ item }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as any as { uploadUrl: string; expirationDateTime: string; nextExpectedRanges: string[] };
}

const putRange = (uploadUrl: string, data: Buffer, start: number, total: number, headers: Record<string, string> = {}) =>
  fetch(uploadUrl, {
    method: 'PUT',
    headers: { 'content-range': `bytes ${start}-${start + data.length - 1}/${total}`, ...headers },
    body: data,
  });

describe('auth', () => {
  test('a missing bearer token → 401 with WWW-Authenticate and a Graph error', async () => {
    const res = await fetch(`${server.baseUrl}/me/drive`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const body = (await res.json()) as any;
    expect(body.error.code).toBe('InvalidAuthenticationToken');
    expect(typeof body.error.message).toBe('string');
  });

  test('acceptToken decides; a rejected token → 401', async () => {
    server.acceptToken((t) => t === 'good-token');
    try {
      expect((await fetch(`${server.baseUrl}/me/drive`, { headers: { authorization: 'Bearer other' } })).status).toBe(401);
      const ok = await g('/me/drive');
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as any).id).toBe('drv-alice');
      const bob = await g('/users/bob@contoso.example/drive');
      expect(((await bob.json()) as any).id).toBe('drv-bob');
    } finally {
      server.acceptToken((t) => t.length > 0);
    }
  });
});

describe('simple upload and conflict behaviour', () => {
  const put = (path: string, body: string | Buffer, cb?: string) =>
    g(`/drives/drv-alice/root:/${path}:/content${cb ? `?@microsoft.graph.conflictBehavior=${cb}` : ''}`, { method: 'PUT', body });

  test('creates parent folders; metadata, download; fail / replace / rename', async () => {
    const created = await put('Scans/2024/report.pdf', 'v1');
    expect(created.status).toBe(201);
    const item = (await created.json()) as any;
    expect(item).toMatchObject({ name: 'report.pdf', size: 2, file: { mimeType: 'application/pdf' } });
    expect(item.parentReference.path).toBe('/drive/root:/Scans/2024');
    expect(server.folders('drv-alice')).toEqual(expect.arrayContaining(['Scans', 'Scans/2024']));

    const meta = await g('/drives/drv-alice/root:/scans/2024/REPORT.pdf'); // case-insensitive
    expect(meta.status).toBe(200);
    expect(((await meta.json()) as any).id).toBe(item.id);
    expect((await g('/drives/drv-alice/root:/Scans/nope.pdf')).status).toBe(404);
    const missing = (await (await g('/drives/drv-alice/root:/Scans/nope.pdf')).json()) as any;
    expect(missing.error.code).toBe('itemNotFound');

    const dl = await g(`/drives/drv-alice/items/${item.id}/content`);
    expect(dl.status).toBe(200); // after following the 302
    expect(await dl.text()).toBe('v1');

    const fail = await put('Scans/2024/report.pdf', 'v2', 'fail');
    expect(fail.status).toBe(409);
    expect(((await fail.json()) as any).error.code).toBe('nameAlreadyExists');

    const replaced = await put('Scans/2024/report.pdf', 'v2', 'replace');
    expect(replaced.status).toBe(200);
    expect(((await replaced.json()) as any).id).toBe(item.id);

    const r1 = await put('Scans/2024/report.pdf', 'v3', 'rename');
    expect(r1.status).toBe(201);
    expect(((await r1.json()) as any).name).toBe('report 1.pdf');
    const r2 = await put('Scans/2024/report.pdf', 'v4', 'rename');
    expect(((await r2.json()) as any).name).toBe('report 2.pdf');

    const files = server.files('drv-alice');
    expect(files.get('Scans/2024/report.pdf')!.toString()).toBe('v2');
    expect(files.get('Scans/2024/report 1.pdf')!.toString()).toBe('v3');
    expect(files.get('Scans/2024/report 2.pdf')!.toString()).toBe('v4');
  });

  test('/me/drive path upload; over maxSimpleUploadBytes → 413', async () => {
    const ok = await g('/me/drive/root:/me.txt:/content', { method: 'PUT', body: 'hi' });
    expect(ok.status).toBe(201);
    const big = await g('/me/drive/root:/big.bin:/content', { method: 'PUT', body: Buffer.alloc(4 * MIB + 1) });
    expect(big.status).toBe(413);
  });

  test('SharePoint: site by path, libraries by name, upload into a library', async () => {
    const siteId = server.addSite('contoso.sharepoint.com', 'sites/Finance', { Documents: 'lib-docs', Invoices: 'lib-inv' });
    const site = (await (await g('/sites/contoso.sharepoint.com:/sites/Finance')).json()) as any;
    expect(site.id).toBe(siteId);
    const drives = (await (await g(`/sites/${encodeURIComponent(siteId)}/drives`)).json()) as any;
    const inv = drives.value.find((d: { name: string }) => d.name === 'Invoices');
    expect(inv).toMatchObject({ id: 'lib-inv', driveType: 'documentLibrary' });
    const up = await g(`/drives/${inv.id}/root:/2024/a.pdf:/content`, { method: 'PUT', body: 'pdf' });
    expect(up.status).toBe(201);
    expect(server.fileContent('lib-inv', '2024/a.pdf')!.toString()).toBe('pdf');
    expect((await g('/sites/contoso.sharepoint.com:/sites/Nope')).status).toBe(404);
  });
});

describe('upload session', () => {
  test('5 MiB in 320 KiB-multiple fragments: 202 then 201 with the driveItem', async () => {
    const data = randomBytes(5 * MIB);
    const s = await createSession('Big/five.bin', { '@microsoft.graph.conflictBehavior': 'fail', name: 'five.bin' });
    expect(s.nextExpectedRanges).toEqual(['0-']);
    expect(new URL(s.uploadUrl).origin).toBe(server.origin);
    const fragment = 4 * KIB_320; // 1.25 MiB
    let last: Response | undefined;
    for (let off = 0; off < data.length; off += fragment) {
      last = await putRange(s.uploadUrl, data.subarray(off, off + fragment), off, data.length);
      if (off + fragment < data.length) {
        expect(last.status).toBe(202);
        expect(((await last.json()) as any).nextExpectedRanges).toEqual([`${off + fragment}-${data.length - 1}`]);
      }
    }
    expect(last!.status).toBe(201);
    expect((await last!.json()) as any).toMatchObject({ name: 'five.bin', size: data.length });
    expect(server.fileContent('drv-alice', 'Big/five.bin')!.equals(data)).toBe(true);
    expect((await fetch(s.uploadUrl)).status).toBe(404); // the session is gone once completed
  });

  test('Authorization header on the upload URL → 401', async () => {
    const s = await createSession('Big/auth.bin');
    const res = await putRange(s.uploadUrl, Buffer.alloc(10), 0, 10, AUTH);
    expect(res.status).toBe(401);
    expect((await fetch(s.uploadUrl, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(s.uploadUrl)).status).toBe(404);
  });

  test('a non-final fragment that is not a multiple of 320 KiB → 400; over 60 MiB → 413', async () => {
    const s = await createSession('Big/odd.bin');
    const res = await putRange(s.uploadUrl, Buffer.alloc(KIB_320 + 1), 0, 3 * KIB_320);
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe('invalidRange');
    const huge = await putRange(s.uploadUrl, Buffer.alloc(60 * MIB + KIB_320), 0, 200 * MIB);
    expect(huge.status).toBe(413);
    // nothing was accepted
    expect(((await (await fetch(s.uploadUrl)).json()) as any).nextExpectedRanges).toEqual(['0-']);
  });

  test('a fragment that does not start at the next expected byte → 416 with nextExpectedRanges', async () => {
    const s = await createSession('Big/range.bin');
    const total = 3 * KIB_320;
    expect((await putRange(s.uploadUrl, Buffer.alloc(KIB_320), 0, total)).status).toBe(202);
    const again = await putRange(s.uploadUrl, Buffer.alloc(KIB_320), 0, total); // already received
    expect(again.status).toBe(416);
    expect(((await again.json()) as any).nextExpectedRanges).toEqual([`${KIB_320}-${total - 1}`]);
    const gap = await putRange(s.uploadUrl, Buffer.alloc(KIB_320), 2 * KIB_320, total); // skips a fragment
    expect(gap.status).toBe(416);
    const otherTotal = await putRange(s.uploadUrl, Buffer.alloc(KIB_320), KIB_320, total + 1);
    expect(otherTotal.status).toBe(400);
  });

  test('an interrupted fragment keeps nothing; resume from GET uploadUrl', async () => {
    const data = randomBytes(6 * KIB_320 + 1234);
    const s = await createSession('Big/resume.bin');
    const frag = 2 * KIB_320;
    expect((await putRange(s.uploadUrl, data.subarray(0, frag), 0, data.length)).status).toBe(202);
    server.interruptNextChunk();
    await expect(putRange(s.uploadUrl, data.subarray(frag, 2 * frag), frag, data.length)).rejects.toThrow();
    const status = await fetch(s.uploadUrl);
    expect(status.status).toBe(200);
    const { nextExpectedRanges } = (await status.json()) as any;
    expect(nextExpectedRanges).toEqual([`${frag}-${data.length - 1}`]);
    let off = Number(nextExpectedRanges[0].split('-')[0]);
    let res: Response | undefined;
    while (off < data.length) {
      res = await putRange(s.uploadUrl, data.subarray(off, off + frag), off, data.length);
      off += frag;
    }
    expect(res!.status).toBe(201);
    expect(server.fileInfo('drv-alice', 'Big/resume.bin')!.size).toBe(data.length);
    expect(server.fileContent('drv-alice', 'Big/resume.bin')!.equals(data)).toBe(true);
  });

  test('conflict at completion: fail → 409, rename → "name 1", replace → 200', async () => {
    server.putFile('drv-alice', 'Big/taken.pdf', 'old');
    const failing = await createSession('Big/taken.pdf', { '@microsoft.graph.conflictBehavior': 'fail' });
    const r = await putRange(failing.uploadUrl, Buffer.from('new'), 0, 3);
    expect(r.status).toBe(409);
    expect(((await r.json()) as any).error.code).toBe('nameAlreadyExists');

    const renaming = await createSession('Big/taken.pdf', { '@microsoft.graph.conflictBehavior': 'rename' });
    const r2 = await putRange(renaming.uploadUrl, Buffer.from('new'), 0, 3);
    expect(r2.status).toBe(201);
    expect(((await r2.json()) as any).name).toBe('taken 1.pdf');

    const replacing = await createSession('Big/taken.pdf', { '@microsoft.graph.conflictBehavior': 'replace' });
    const r3 = await putRange(replacing.uploadUrl, Buffer.from('newer'), 0, 5);
    expect(r3.status).toBe(200);
    expect(server.fileContent('drv-alice', 'Big/taken.pdf')!.toString()).toBe('newer');
  });
});

describe('throttling', () => {
  test('throttleNext → 429 with Retry-After, then normal service; fail503Next → 503', async () => {
    server.throttleNext(2, 7);
    for (let i = 0; i < 2; i++) {
      const res = await g('/me/drive');
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('7');
      expect(((await res.json()) as any).error.code).toBe('TooManyRequests');
    }
    expect((await g('/me/drive')).status).toBe(200);
    server.fail503Next(1, 2);
    const unavailable = await g('/me/drive');
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get('retry-after')).toBe('2');
    expect((await g('/me/drive')).status).toBe(200);
    expect(server.requests.filter((r) => r.status === 429)).toHaveLength(2);
  });
});

describe('mail', () => {
  const recipient = { emailAddress: { address: 'bob@contoso.example' } };

  test('sendMail → 202, recorded with decoded attachments; over 4 MiB → 413; no recipient → 400', async () => {
    const pdf = randomBytes(1000);
    const res = await g('/me/sendMail', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        message: {
          subject: 'Scan',
          body: { contentType: 'Text', content: 'see attached' },
          toRecipients: [recipient],
          attachments: [
            {
              '@odata.type': '#microsoft.graph.fileAttachment',
              name: 'scan.pdf',
              contentType: 'application/pdf',
              contentBytes: pdf.toString('base64'),
            },
          ],
        },
        saveToSentItems: false,
      }),
    });
    expect(res.status).toBe(202);
    const sent = server.sentMail.at(-1)!;
    expect(sent).toMatchObject({ from: 'alice@contoso.example', via: 'sendMail', saveToSentItems: false });
    expect(sent.message.subject).toBe('Scan');
    expect(sent.attachments[0]!.content.equals(pdf)).toBe(true);

    const big = await g('/me/sendMail', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        message: {
          subject: 'x',
          toRecipients: [recipient],
          attachments: [
            { '@odata.type': '#microsoft.graph.fileAttachment', name: 'a', contentBytes: randomBytes(3.1 * MIB).toString('base64') },
          ],
        },
      }),
    });
    expect(big.status).toBe(413);
    const noRcpt = await g('/me/sendMail', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: { subject: 'x' } }),
    });
    expect(noRcpt.status).toBe(400);
  });

  test('draft + attachment upload session (≤ 4 MiB fragments) + send', async () => {
    const draftRes = await g('/me/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'Large scan', toRecipients: [recipient] }),
    });
    expect(draftRes.status).toBe(201);
    const { id } = (await draftRes.json()) as any;
    const data = randomBytes(9 * MIB + 17);
    const sessRes = await g(`/me/messages/${encodeURIComponent(id)}/attachments/createUploadSession`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ AttachmentItem: { attachmentType: 'file', name: 'large.pdf', size: data.length } }),
    });
    expect(sessRes.status).toBe(201);
    const { uploadUrl, nextExpectedRanges } = (await sessRes.json()) as any;
    expect(nextExpectedRanges).toEqual(['0-']);

    // Over 4 MiB in one request → 413.
    expect((await putRange(uploadUrl, data.subarray(0, 4 * MIB + 1), 0, data.length)).status).toBe(413);

    const frag = 4 * MIB;
    let res: Response | undefined;
    for (let off = 0; off < data.length; off += frag) {
      res = await putRange(uploadUrl, data.subarray(off, off + frag), off, data.length, { 'content-type': 'application/octet-stream' });
      if (off + frag < data.length) {
        expect(res.status).toBe(200);
        expect(((await res.json()) as any).nextExpectedRanges).toEqual([String(off + frag)]);
      }
    }
    expect(res!.status).toBe(201);
    expect(res!.headers.get('location')).toMatch(/\/attachments\/[^/]+$/);

    const tooBig = await g(`/me/messages/${encodeURIComponent(id)}/attachments/createUploadSession`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ AttachmentItem: { attachmentType: 'file', name: 'huge.pdf', size: 150 * MIB + 1 } }),
    });
    expect(tooBig.status).toBe(413);

    const send = await g(`/me/messages/${encodeURIComponent(id)}/send`, { method: 'POST' });
    expect(send.status).toBe(202);
    const sent = server.sentMail.at(-1)!;
    expect(sent.via).toBe('draft');
    expect(sent.message.subject).toBe('Large scan');
    expect(sent.attachments).toHaveLength(1);
    expect(sent.attachments[0]!.name).toBe('large.pdf');
    expect(sent.attachments[0]!.content.equals(data)).toBe(true);
    expect((await g(`/me/messages/${encodeURIComponent(id)}/send`, { method: 'POST' })).status).toBe(404);
  });
});
