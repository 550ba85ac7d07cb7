/**
 * OneDrive for Business and SharePoint Online connectors against the local Graph server, which
 * enforces the documented protocol (auth header, upload-session ranges and 320 KiB multiples,
 * 416 on wrong ranges, conflictBehavior, If-Match, throttling with Retry-After). The app-only
 * token of OneDrive's "application" mode comes from the test OIDC server through real MSAL.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { PDFDocument } from 'pdf-lib';
import {
  MissingVariableError,
  PermanentDeliveryError,
  TransientDeliveryError,
  type DeliveryContext,
  type DeliveryFile,
  type DeliveryJob,
} from '../../shared/delivery';
import { KIB_320 } from '../../shared/delivery/graph';
import { oneDriveConnector } from '../../shared/delivery/oneDrive';
import { sharePointConnector } from '../../shared/delivery/sharePoint';
import { silentLogger } from '../../shared/log';
import { ApplicationTokens, ReauthorizationRequiredError } from '../../shared/oauth';
import { MsalClients } from '../../shared/oauth/msalClient';
import { MIB, startGraphServer, type GraphServer } from '../helpers/graphServer';
import { startOidcServer, type OidcServer } from '../helpers/oidcServer';

const ALICE = 'alice@contoso.example';
const BOB = 'bob@contoso.example';
const SITE_HOST = 'contoso.sharepoint.com';
let graph: GraphServer;
let idp: OidcServer;

beforeAll(async () => {
  graph = await startGraphServer({ meUpn: ALICE });
  graph.addDrive('drv-alice', { ownerUpn: ALICE });
  graph.addDrive('drv-bob', { ownerUpn: BOB });
  graph.addSite(SITE_HOST, 'sites/Scans', { Documents: 'drv-docs', Invoices: 'drv-invoices' }, 'Scans');
  idp = await startOidcServer();
});
afterAll(async () => {
  await graph?.stop();
  await idp?.stop();
});
beforeEach(() => graph.acceptToken((t) => t.startsWith('good')));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A deterministic pseudo-random file of `size` bytes, streamed in 64 KiB pieces, never held whole. */
const BLOCK = Buffer.concat(Array.from({ length: 1024 }, (_, k) => createHash('sha512').update(`piece-${k}`).digest())); // 64 KiB
function block(i: number, length: number): Buffer {
  const b = Buffer.from(BLOCK.subarray(0, length));
  b.writeUInt32BE(i, 0); // every block differs, so a misplaced block changes the hash
  return b;
}
function* blocks(size: number): Generator<Buffer> {
  for (let off = 0, i = 0; off < size; off += BLOCK.length, i++) yield block(i, Math.min(BLOCK.length, size - off));
}
function bigFile(size: number, name = 'big scan.pdf'): DeliveryFile & { sha256: string } {
  const hash = createHash('sha256');
  for (const b of blocks(size)) hash.update(b);
  return { name, contentType: 'application/pdf', size, sha256: hash.digest('hex'), open: async () => Readable.from(blocks(size)) };
}

function fileOf(content: Buffer, name: string, contentType = 'application/pdf'): DeliveryFile {
  return { name, contentType, size: content.length, sha256: sha(content), open: async () => Readable.from([content]) };
}

function job(fields: Record<string, string>, files: DeliveryFile[]): DeliveryJob {
  return { jobId: randomUUID(), receivedAt: new Date(), fields: { deviceName: 'MFP-1', ...fields }, files };
}

async function pdf(pages: number, label = 'page'): Promise<Buffer> {
  const doc = await PDFDocument.create();
  for (let i = 0; i < pages; i++) doc.addPage([200, 200]).drawText(`${label} ${i + 1}`, { x: 20, y: 100, size: 12 });
  return Buffer.from(await doc.save());
}
const pageCount = async (b: Buffer) => (await PDFDocument.load(b)).getPageCount();

function context(overrides: Partial<DeliveryContext> = {}): DeliveryContext & { tokenCalls: Array<{ id: string; force: boolean }> } {
  const tokenCalls: Array<{ id: string; force: boolean }> = [];
  return {
    tokenCalls,
    getAccessToken: async (id, options) => {
      tokenCalls.push({ id, force: options?.forceRefresh ?? false });
      return 'good-delegated';
    },
    getApplicationToken: async () => {
      throw new Error('no app-only tokens here');
    },
    graphBaseUrl: graph.baseUrl,
    getSecret: async () => {
      throw new Error('no secrets here');
    },
    log: silentLogger,
    ...overrides,
  };
}

const oneDrive = (options: Record<string, unknown>) => oneDriveConnector.parseOptions({ connectionId: 'conn-od', ...options });
const sharePoint = (options: Record<string, unknown>) =>
  sharePointConnector.parseOptions({ connectionId: 'conn-sp', site: `https://${SITE_HOST}/sites/Scans`, ...options });

describe('options', () => {
  it('validates OneDrive and SharePoint options, naming the bad one', () => {
    expect(() => oneDriveConnector.parseOptions({})).toThrow(/"connectionId"/);
    expect(() => oneDrive({ auth: 'robot' })).toThrow(/"auth"/);
    expect(() => oneDrive({ auth: 'application' })).toThrow(/"connectionId" is for "auth": "delegated"/);
    expect(oneDriveConnector.parseOptions({ auth: 'application' })).toMatchObject({
      auth: 'application',
      user: '%userEmail%',
      conflictBehavior: 'keepBoth',
    });
    expect(() => oneDrive({ conflictBehavior: 'append' })).toThrow(/"conflictBehavior" must be one of: fail, replace, keepBoth/);
    expect(() => oneDrive({ folder: 'Scans/../..' })).toThrow(/"folder"/);
    expect(() => oneDrive({ fileName: 'a/b.pdf' })).toThrow(/"fileName"/);
    expect(() => sharePoint({ site: 'not a url' })).toThrow(/"site"/);
    expect(() => sharePoint({ site: 'http://contoso.sharepoint.com/sites/x' })).toThrow(/"site" must be an https/);
    expect(() => sharePoint({ library: '' })).toThrow(/"library"/);
    // append is for PDFs: refused unless the destination names one fixed PDF document.
    expect(() => sharePoint({ conflictBehavior: 'append' })).toThrow(/"append" needs a "fileName" ending in \.pdf/);
    expect(() => sharePoint({ conflictBehavior: 'append', fileName: '%username%.tif' })).toThrow(/PDF documents only/);
    expect(sharePoint({ conflictBehavior: 'append', fileName: '%username% scans.pdf' })).toMatchObject({
      library: 'Documents',
      conflictBehavior: 'append',
    });
  });
});

describe('OneDrive (delegated)', () => {
  it('uploads small files with a simple PUT into the rendered folder, names escaped, bytes identical', async () => {
    const a = await pdf(2);
    const j = job({ scanDate: '2026-11-23 10:15:00', deviceName: 'MFP<1>*' }, [
      fileOf(a, 'Invoice: March?.pdf'),
      fileOf(Buffer.from('jpegdata'), 'photo.jpg', 'image/jpeg'),
    ]);
    const ctx = context();
    const result = await oneDriveConnector.deliver(j, oneDrive({ folder: 'Scans/%deviceName%/%scanDate%' }), ctx);
    expect(graph.fileInfo('drv-alice', 'Scans/MFP_1__/2026-11-23 10_15_00/Invoice_ March_.pdf')?.sha256).toBe(sha(a));
    expect(graph.fileContent('drv-alice', 'Scans/MFP_1__/2026-11-23 10_15_00/photo.jpg')?.toString()).toBe('jpegdata');
    expect(result.remoteId).toContain('Invoice_%20March_.pdf');
    expect(ctx.tokenCalls.every((c) => c.id === 'conn-od' && !c.force)).toBe(true);
  });

  it('keeps path-traversal and separators in fields inside the folder', async () => {
    const j = job({ deviceName: '../../etc', username: 'a/b\\c' }, [fileOf(Buffer.from('x'), '../../passwd')]);
    await oneDriveConnector.deliver(j, oneDrive({ folder: 'Scans/%deviceName%/%username%' }), context());
    const paths = [...graph.files('drv-alice').keys()].filter((p) => p.includes('passwd'));
    // In fields, separators become '_', '..' collapses, leading dots go: four segments, none climbing.
    expect(paths).toEqual(['Scans/_._etc/a_b_c/passwd.pdf']); // the sender's directories dropped, the extension from its type
  });

  it('a template variable the job lacks fails the destination with that reason', async () => {
    const j = job({}, [fileOf(Buffer.from('x'), 'a.pdf')]);
    await expect(oneDriveConnector.deliver(j, oneDrive({ folder: 'Scans/%userHome%' }), context())).rejects.toThrow(MissingVariableError);
  });

  it('streams a 200 MB file through an upload session: 320 KiB-multiple chunks, no Authorization on the upload URL', async () => {
    const file = bigFile(200 * 1000 * 1000);
    const before = graph.requests.length;
    await oneDriveConnector.deliver(job({}, [file]), oneDrive({ folder: 'Big' }), context());
    expect(graph.fileInfo('drv-alice', 'Big/big scan.pdf')).toMatchObject({ size: file.size, sha256: file.sha256 });
    const puts = graph.requests.slice(before).filter((r) => r.url.startsWith('/upload/') && r.method === 'PUT');
    expect(puts.length).toBeGreaterThan(50);
    expect(puts.every((r) => r.headers.authorization === undefined)).toBe(true);
    expect(puts.slice(0, -1).every((r) => r.bodyBytes % KIB_320 === 0)).toBe(true);
    expect(graph.openSessions).toBe(0);
  });

  it('resumes an interrupted chunk from nextExpectedRanges', async () => {
    const file = bigFile(12 * MIB, 'resumed.pdf');
    const before = graph.requests.length;
    graph.interruptNextChunk();
    await oneDriveConnector.deliver(job({}, [file]), oneDrive({ folder: 'Resume' }), context());
    expect(graph.fileInfo('drv-alice', 'Resume/resumed.pdf')).toMatchObject({ size: file.size, sha256: file.sha256 });
    const log = graph.requests.slice(before).filter((r) => r.url.startsWith('/upload/'));
    expect(log.some((r) => r.method === 'GET' && r.status === 200)).toBe(true); // asked the session where to resume
  });

  it('honours 429 Retry-After on a chunk and on an API call, delivering once', async () => {
    const file = bigFile(8 * MIB, 'throttled.pdf');
    const before = graph.requests.length;
    graph.throttleNext(2, 1);
    await oneDriveConnector.deliver(job({}, [file]), oneDrive({ folder: 'Throttle', conflictBehavior: 'fail' }), context());
    const log = graph.requests.slice(before);
    expect(log.filter((r) => r.status === 429)).toHaveLength(2);
    expect(log.find((r) => r.status === 429)).toBe(log[0]);
    expect(graph.fileInfo('drv-alice', 'Throttle/throttled.pdf')?.sha256).toBe(file.sha256);
    expect([...graph.files('drv-alice').keys()].filter((p) => p.startsWith('Throttle/'))).toHaveLength(1);
  });

  it('a 503 with a Retry-After longer than the connector waits goes back to the queue as transient, with the delay', async () => {
    graph.fail503Next(5, 3600);
    const err = await oneDriveConnector.deliver(job({}, [fileOf(Buffer.from('x'), 'later.pdf')]), oneDrive({}), context()).catch((e) => e);
    graph.fail503Next(0);
    expect(err).toBeInstanceOf(TransientDeliveryError);
    expect(err.retryAfterSeconds).toBe(3600);
  });

  it.each([
    ['small', 1000],
    ['large', 5 * MIB],
  ])('conflict behaviours with a %s file: fail keeps the existing file, replace overwrites it, keepBoth renames', async (_kind, size) => {
    const folder = `Conflicts-${size}`;
    graph.putFile('drv-alice', `${folder}/report.pdf`, 'original');
    const first = bigFile(size, 'report.pdf');
    const err = await oneDriveConnector
      .deliver(job({}, [first]), oneDrive({ folder, conflictBehavior: 'fail' }), context())
      .catch((e) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect(err.message).toMatch(/already exists/);
    expect(graph.fileContent('drv-alice', `${folder}/report.pdf`)?.toString()).toBe('original');

    const idBefore = graph.fileInfo('drv-alice', `${folder}/report.pdf`)!.id;
    await oneDriveConnector.deliver(job({}, [first]), oneDrive({ folder, conflictBehavior: 'replace' }), context());
    expect(graph.fileInfo('drv-alice', `${folder}/report.pdf`)).toMatchObject({ id: idBefore, sha256: first.sha256 });

    await oneDriveConnector.deliver(job({}, [first]), oneDrive({ folder, conflictBehavior: 'keepBoth' }), context());
    await oneDriveConnector.deliver(job({}, [first]), oneDrive({ folder }), context());
    expect([...graph.files('drv-alice').keys()].filter((p) => p.startsWith(`${folder}/`)).sort()).toEqual(
      [`${folder}/report 1.pdf`, `${folder}/report 2.pdf`, `${folder}/report.pdf`].sort(),
    );
    expect(graph.fileInfo('drv-alice', `${folder}/report 2.pdf`)?.sha256).toBe(first.sha256);
  });

  it('renews a refused token once; a token refused twice is permanent', async () => {
    let n = 0;
    const ctx = context({
      getAccessToken: async (_id, o) => {
        ctx.tokenCalls.push({ id: 'conn-od', force: o?.forceRefresh ?? false });
        return n++ === 0 ? 'expired-token' : 'good-renewed';
      },
    });
    await oneDriveConnector.deliver(job({}, [fileOf(Buffer.from('x'), 'renewed.pdf')]), oneDrive({}), ctx);
    expect(ctx.tokenCalls.map((c) => c.force)).toEqual([false, true]);
    expect(graph.fileContent('drv-alice', 'renewed.pdf')?.toString()).toBe('x');

    const refused = context({ getAccessToken: async () => 'revoked-token' });
    await expect(oneDriveConnector.deliver(job({}, [fileOf(Buffer.from('x'), 'never.pdf')]), oneDrive({}), refused)).rejects.toThrow(
      /401 InvalidAuthenticationToken.*authorize the connection again/,
    );
    expect(graph.fileContent('drv-alice', 'never.pdf')).toBeUndefined();
  });

  it('a connection that must be authorized again is permanent, with the reason', async () => {
    const ctx = context({
      getAccessToken: async () => {
        throw new ReauthorizationRequiredError('conn-od', 'revoked.');
      },
    });
    await expect(oneDriveConnector.deliver(job({}, [fileOf(Buffer.from('x'), 'a.pdf')]), oneDrive({}), ctx)).rejects.toThrow(
      expect.objectContaining({ name: 'PermanentDeliveryError', message: expect.stringMatching(/must be authorized again/) }),
    );
  });
});

describe('OneDrive (application: client credentials, the drive of %userEmail%)', () => {
  const TENANT = '72f988bf-0000-4000-8000-000000000001';
  function appTokens(tenant = TENANT): ApplicationTokens {
    const client = idp.clients[0]!;
    const msal = new MsalClients(
      {
        authorityHost: idp.baseUrl,
        tenant,
        clientId: client.clientId,
        clientIdByType: {},
        refreshSchedule: '0 0 * * * *',
        refreshMaxAgeHours: 24,
      },
      { get: async () => client.clientSecret ?? '' },
    );
    return new ApplicationTokens(msal, tenant);
  }

  it("gets an app-only token with the granted roles and uploads into the named user's drive", async () => {
    const tokens = appTokens();
    const seen: Array<Record<string, unknown>> = [];
    graph.acceptToken((t) => {
      try {
        const { payload } = idp.verifyJwt(t);
        seen.push(payload);
        return (payload.roles as string[]).includes('Files.ReadWrite.All');
      } catch {
        return false;
      }
    });
    const ctx = context({ getApplicationToken: (resource, o) => tokens.get(resource, o?.forceRefresh) });
    const content = await pdf(1);
    await oneDriveConnector.deliver(
      job({ userEmail: BOB }, [fileOf(content, 'for bob.pdf')]),
      oneDriveConnector.parseOptions({ auth: 'application', folder: 'Scans' }),
      ctx,
    );
    expect(graph.fileInfo('drv-bob', 'Scans/for bob.pdf')?.sha256).toBe(sha(content));
    expect(seen[0]).toMatchObject({ idtyp: 'app', aud: graph.origin, tid: TENANT });
    expect(idp.tokenRequests.some((r) => r.grant_type === 'client_credentials' && r.status === 200)).toBe(true);
  });

  it('refuses a user value that is not a UPN, and a multi-tenant OAUTH_TENANT, permanently', async () => {
    const tokens = appTokens('organizations');
    const ctx = context({ getApplicationToken: (resource, o) => tokens.get(resource, o?.forceRefresh) });
    const options = oneDriveConnector.parseOptions({ auth: 'application' });
    await expect(
      oneDriveConnector.deliver(job({ userEmail: '../drives/x' }, [fileOf(Buffer.from('x'), 'a.pdf')]), options, ctx),
    ).rejects.toThrow(/not a user principal name/);
    await expect(oneDriveConnector.deliver(job({ userEmail: BOB }, [fileOf(Buffer.from('x'), 'a.pdf')]), options, ctx)).rejects.toThrow(
      expect.objectContaining({ name: 'PermanentDeliveryError', message: expect.stringMatching(/OAUTH_TENANT.*tenant ID/) }),
    );
  });

  it("a user without a OneDrive is a permanent failure naming Graph's answer", async () => {
    const ctx = context({ getApplicationToken: async () => 'good-app' });
    await expect(
      oneDriveConnector.deliver(
        job({ userEmail: 'nobody@contoso.example' }, [fileOf(Buffer.from('x'), 'a.pdf')]),
        oneDriveConnector.parseOptions({ auth: 'application' }),
        ctx,
      ),
    ).rejects.toThrow(expect.objectContaining({ name: 'PermanentDeliveryError', message: expect.stringMatching(/404 itemNotFound/) }));
  });
});

describe('SharePoint Online', () => {
  it('finds the site and library by name and uploads into the folder', async () => {
    const content = await pdf(1);
    await sharePointConnector.deliver(
      job({ workflowName: 'Invoices' }, [fileOf(content, 'inv.pdf')]),
      sharePoint({ library: 'invoices', folder: '%workflowName%/2026' }),
      context(),
    );
    expect(graph.fileInfo('drv-invoices', 'Invoices/2026/inv.pdf')?.sha256).toBe(sha(content));
  });

  it('a library the site does not have is permanent and lists the ones it has', async () => {
    await expect(
      sharePointConnector.deliver(job({}, [fileOf(Buffer.from('x'), 'a.pdf')]), sharePoint({ library: 'Archive' }), context()),
    ).rejects.toThrow(/no document library named 'Archive' \(it has: Documents, Invoices\)/);
  });

  it('append adds the new pages to the existing PDF (page count checked), and creates it when missing', async () => {
    const options = sharePoint({ folder: 'Append', fileName: '%username% scans.pdf', conflictBehavior: 'append' });
    await sharePointConnector.deliver(job({ username: 'alice' }, [fileOf(await pdf(2, 'first'), 'a.pdf')]), options, context());
    expect(await pageCount(graph.fileContent('drv-docs', 'Append/alice scans.pdf')!)).toBe(2);
    const id = graph.fileInfo('drv-docs', 'Append/alice scans.pdf')!.id;

    const before = graph.requests.length;
    await sharePointConnector.deliver(job({ username: 'alice' }, [fileOf(await pdf(3, 'second'), 'b.pdf')]), options, context());
    const merged = graph.fileContent('drv-docs', 'Append/alice scans.pdf')!;
    expect(await pageCount(merged)).toBe(5);
    expect(graph.fileInfo('drv-docs', 'Append/alice scans.pdf')!.id).toBe(id); // a new version of the same item
    // The upload was conditional on the version that was read.
    expect(graph.requests.slice(before).find((r) => r.method === 'PUT')?.headers['if-match']).toMatch(/^"\{.+\},\d+"$/);
  });

  it('append of a large document goes through an upload session', async () => {
    const options = sharePoint({ folder: 'AppendBig', fileName: 'book.pdf', conflictBehavior: 'append' });
    const big = await bigPdf(6 * MIB);
    graph.putFile('drv-docs', 'AppendBig/book.pdf', big);
    await sharePointConnector.deliver(job({}, [fileOf(await pdf(1), 'x.pdf')]), options, context());
    expect(await pageCount(graph.fileContent('drv-docs', 'AppendBig/book.pdf')!)).toBe(2);
  });

  it('append refuses a non-PDF scan and a damaged existing document, permanently, leaving it as it was', async () => {
    const options = sharePoint({ folder: 'AppendBad', fileName: 'doc.pdf', conflictBehavior: 'append' });
    await expect(
      sharePointConnector.deliver(job({}, [fileOf(Buffer.from('jpeg'), 'a.jpg', 'image/jpeg')]), options, context()),
    ).rejects.toThrow(/PDF documents only/);
    graph.putFile('drv-docs', 'AppendBad/doc.pdf', 'not a pdf at all');
    await expect(sharePointConnector.deliver(job({}, [fileOf(await pdf(1), 'a.pdf')]), options, context())).rejects.toThrow(
      expect.objectContaining({ name: 'PermanentDeliveryError', message: expect.stringMatching(/not a PDF that can be appended to/) }),
    );
    expect(graph.fileContent('drv-docs', 'AppendBad/doc.pdf')?.toString()).toBe('not a pdf at all');
  });

  it('replace and keepBoth in a library', async () => {
    graph.putFile('drv-docs', 'Lib/a.pdf', 'old');
    await sharePointConnector.deliver(
      job({}, [fileOf(Buffer.from('new'), 'a.pdf')]),
      sharePoint({ folder: 'Lib', conflictBehavior: 'replace' }),
      context(),
    );
    expect(graph.fileContent('drv-docs', 'Lib/a.pdf')?.toString()).toBe('new');
    await sharePointConnector.deliver(job({}, [fileOf(Buffer.from('both'), 'a.pdf')]), sharePoint({ folder: 'Lib' }), context());
    expect(graph.fileContent('drv-docs', 'Lib/a 1.pdf')?.toString()).toBe('both');
  });
});

/** A valid one-page PDF padded to about `size` bytes with an unused stream object. */
async function bigPdf(size: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  doc.addPage([200, 200]);
  doc.context.register(doc.context.flateStream(Buffer.alloc(0)));
  const padding = doc.context.stream(Buffer.alloc(size, 0x20));
  doc.context.register(padding);
  return Buffer.from(await doc.save());
}
