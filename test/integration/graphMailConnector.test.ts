/**
 * The Microsoft Graph mail connector against the local Graph server (test/helpers/graphServer.ts,
 * which enforces the documented sendMail / draft / attachment upload-session rules): small
 * messages by sendMail, large ones by draft + upload sessions (bytes compared by SHA-256, no
 * Authorization header to upload URLs), the size limit before any request, recipient injection,
 * HTML escaping, throttling, an interrupted chunk, token renewal, and the draft deleted after a
 * failure; and with "auth": "application", the same as the scanning user (`/users/{address}`, the
 * app's own token), a sender that is not one usable address refused before any request. No mocks:
 * the DeliveryContext hands out tokens the test controls.
 */
import { memoryFile } from '../helpers/deliveryFiles';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CONNECTORS } from '../../shared/delivery/connectors';
import { graphMailConnector, type GraphMailOptions } from '../../shared/delivery/graphMail';
import { MissingVariableError } from '../../shared/delivery/template';
import {
  PermanentDeliveryError,
  TransientDeliveryError,
  type DeliveryContext,
  type DeliveryFile,
  type DeliveryJob,
} from '../../shared/delivery/types';
import { AppError } from '../../shared/errors';
import { silentLogger } from '../../shared/log';
import { MIB, startGraphServer, type GraphServer, type GraphServerOptions } from '../helpers/graphServer';

const ME = 'alice@contoso.example';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let server: GraphServer | undefined;
async function start(options: GraphServerOptions = {}): Promise<GraphServer> {
  server = await startGraphServer({ meUpn: ME, ...options });
  return server;
}
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const file = (content: Buffer, name = 'scan.pdf', contentType = 'application/pdf') => memoryFile(content, name, contentType, MIB);

/** A file that must not be read (the size check comes first). */
function unreadable(size: number, name = 'big.pdf'): DeliveryFile {
  return { name, contentType: 'application/pdf', size, sha256: '', open: () => Promise.reject(new Error('must not be opened')) };
}

function job(files: DeliveryFile[], fields: Record<string, string> = {}): DeliveryJob {
  return {
    jobId: `job-${randomBytes(4).toString('hex')}`,
    receivedAt: new Date(),
    fields: { email: 'bob@fabrikam.example', name: 'Bob Jones', deviceName: 'MFP-3F', ...fields },
    files,
  };
}

interface TestContext extends DeliveryContext {
  calls: { connectionId: string; forceRefresh: boolean }[];
  /** The app-only tokens asked for: the resource (Graph's origin). */
  appCalls: { resource: string; forceRefresh: boolean }[];
  readonly forceRefreshes: number;
}

/**
 * getAccessToken hands out `first` until forceRefresh, then `renewed`; or throws `fail`.
 * getApplicationToken hands out `app-token` (the app registration's own, client credentials).
 */
function context(srv: { baseUrl: string }, o: { first?: string; renewed?: string; fail?: Error } = {}): TestContext {
  let current = o.first ?? 'token-1';
  const calls: TestContext['calls'] = [];
  const appCalls: TestContext['appCalls'] = [];
  return {
    calls,
    appCalls,
    get forceRefreshes() {
      return calls.filter((c) => c.forceRefresh).length;
    },
    async getAccessToken(connectionId, options) {
      calls.push({ connectionId, forceRefresh: options?.forceRefresh === true });
      if (o.fail) throw o.fail;
      if (options?.forceRefresh) current = o.renewed ?? 'token-2';
      return current;
    },
    async getApplicationToken(resource, options) {
      appCalls.push({ resource, forceRefresh: options?.forceRefresh === true });
      return 'app-token';
    },
    getSecret: () => Promise.reject(new Error('not used')),
    graphBaseUrl: srv.baseUrl,
    log: silentLogger,
  };
}

const options = (o: Record<string, unknown> = {}): GraphMailOptions =>
  graphMailConnector.parseOptions({
    connectionId: 'conn-exchange',
    to: '%name% <%email%>, archive@contoso.example',
    subject: 'Scan from %deviceName%',
    body: 'Hello %name%,\nyour scan is attached.',
    ...o,
  });

const uploadRequests = (srv: GraphServer) => srv.requests.filter((r) => r.url.startsWith('/upload/'));

describe('small messages: sendMail', () => {
  test('recipients, subject, body rendered; attachments byte for byte; sent as /me into Sent Items', async () => {
    const srv = await start();
    const a = file(randomBytes(200_000), 'Größe – 報告.pdf');
    const b = file(Buffer.from('plain text file\n'), 'notes\u0007\u202Etxt.exe\r\n.txt', 'text/plain');
    const ctx = context(srv);
    const j = job([a, b]);
    const result = await graphMailConnector.deliver(j, options({ cc: 'cc@contoso.example', bcc: '"Audit" <audit@contoso.example>' }), ctx);

    expect(result.remoteId).toBe(`sendMail:${j.jobId}`);
    expect(srv.sentMail).toHaveLength(1);
    const sent = srv.sentMail[0]!;
    expect(sent.via).toBe('sendMail');
    expect(sent.from).toBe(ME);
    expect(sent.saveToSentItems).toBe(true);
    expect(sent.message.subject).toBe('Scan from MFP-3F');
    expect(sent.message.body).toEqual({ contentType: 'text', content: 'Hello Bob Jones,\nyour scan is attached.' });
    expect(sent.message.toRecipients).toEqual([
      { emailAddress: { address: 'bob@fabrikam.example', name: 'Bob Jones' } },
      { emailAddress: { address: 'archive@contoso.example' } },
    ]);
    expect(sent.message.ccRecipients).toEqual([{ emailAddress: { address: 'cc@contoso.example' } }]);
    expect(sent.message.bccRecipients).toEqual([{ emailAddress: { address: 'audit@contoso.example', name: 'Audit' } }]);
    expect(sent.attachments.map((x) => x.name)).toEqual(['Größe – 報告.pdf', 'notestxt.exe.txt']);
    expect(sent.attachments.map((x) => x.contentType)).toEqual(['application/pdf', 'text/plain']);
    expect(sha256(sent.attachments[0]!.content)).toBe(a.sha256);
    expect(sha256(sent.attachments[1]!.content)).toBe(b.sha256);

    // One request, with the connection's token; no draft.
    expect(srv.requests.map((r) => `${r.method} ${r.url} ${r.status}`)).toEqual(['POST /v1.0/me/sendMail 202']);
    expect(srv.requests[0]!.headers.authorization).toBe('Bearer token-1');
    expect(ctx.calls).toEqual([{ connectionId: 'conn-exchange', forceRefresh: false }]);
    expect(ctx.appCalls).toEqual([]);
  });

  test('saveToSentItems false is passed on; a message without files', async () => {
    const srv = await start();
    await graphMailConnector.deliver(job([]), options({ saveToSentItems: false }), context(srv));
    expect(srv.sentMail).toHaveLength(1);
    expect(srv.sentMail[0]!.saveToSentItems).toBe(false);
    expect(srv.sentMail[0]!.attachments).toEqual([]);
  });

  test('html bodyType: the values are HTML-escaped, the template markup is kept', async () => {
    const srv = await start();
    await graphMailConnector.deliver(
      job([file(Buffer.from('x'))], { deviceName: '<script>alert("x")</script> & co' }),
      options({ bodyType: 'html', body: '<p>Scan from <b>%deviceName%</b></p>' }),
      context(srv),
    );
    expect(srv.sentMail[0]!.message.body).toEqual({
      contentType: 'html',
      content: '<p>Scan from <b>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co</b></p>',
    });
  });

  test('a missing variable in the html body is permanent and names the template; nothing is sent', async () => {
    const srv = await start();
    const err = await graphMailConnector
      .deliver(job([]), options({ bodyType: 'html', body: '<p>%department%</p>' }), context(srv))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingVariableError);
    expect((err as Error).message).toContain('<p>%department%</p>');
    expect(srv.requests).toHaveLength(0);
  });

  test('429 with Retry-After 1 is honoured: delivered once', async () => {
    const srv = await start();
    srv.throttleNext(1, 1);
    const t0 = Date.now();
    await graphMailConnector.deliver(job([file(randomBytes(1000))]), options(), context(srv));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(srv.requests.map((r) => r.status)).toEqual([429, 202]);
    expect(srv.sentMail).toHaveLength(1);
  });

  test('a 401 on the first token: one forced renewal, then delivered', async () => {
    const srv = await start();
    srv.acceptToken((t) => t === 'fresh');
    const ctx = context(srv, { first: 'stale', renewed: 'fresh' });
    await graphMailConnector.deliver(job([file(randomBytes(1000))]), options(), ctx);
    expect(ctx.forceRefreshes).toBe(1);
    expect(srv.requests.map((r) => r.status)).toEqual([401, 202]);
    expect(srv.requests[1]!.headers.authorization).toBe('Bearer fresh');
    expect(srv.sentMail).toHaveLength(1);
  });

  test('the token refused twice → PermanentDeliveryError, nothing sent', async () => {
    const srv = await start();
    srv.acceptToken(() => false);
    const ctx = context(srv);
    const err = await graphMailConnector.deliver(job([file(randomBytes(1000))]), options(), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as Error).message).toMatch(/refused twice/);
    expect(ctx.forceRefreshes).toBe(1);
    expect(srv.requests.map((r) => r.status)).toEqual([401, 401]);
    expect(srv.sentMail).toHaveLength(0);
  });

  test('a connection that must be authorized again (or is gone) is permanent; other token failures transient', async () => {
    const srv = await start();
    for (const code of ['reauthorization_required', 'connection_not_found'] as const) {
      const fail = new AppError(code, `Connection 'conn-exchange' must be authorized again: ${code}`);
      const err = await graphMailConnector.deliver(job([]), options(), context(srv, { fail })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentDeliveryError);
      expect((err as Error).message).toContain(`must be authorized again: ${code}`);
    }
    const err = await graphMailConnector
      .deliver(job([]), options(), context(srv, { fail: new Error('token endpoint unreachable') }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientDeliveryError);
    expect(srv.requests).toHaveLength(0);
  });
});

describe('refused before any request', () => {
  test('over maxMessageBytes: permanent, no token asked, no request, no file opened', async () => {
    const srv = await start();
    const ctx = context(srv);
    const err = await graphMailConnector
      .deliver(job([unreadable(3 * MIB), unreadable(3 * MIB)]), options({ maxMessageBytes: 5 * MIB }), ctx)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as Error).message).toMatch(/maxMessageBytes/);
    expect(ctx.calls).toHaveLength(0);
    expect(srv.requests).toHaveLength(0);
  });

  test.each([
    ['CRLF header injection', '%email%', { email: 'bob@fabrikam.example\r\nBcc: evil@evil.example' }],
    ['a comma adding a recipient', '%email%', { email: 'bob@fabrikam.example, evil@evil.example' }],
    ['a semicolon list', '%email%', { email: 'bob@fabrikam.example;evil@evil.example' }],
    ['a display name bringing its own address', '%name% <%email%>', { name: 'Bob <evil@evil.example>' }],
    ['a display name with a comma', '%name% <%email%>, archive@contoso.example', { name: 'Jones, evil@evil.example' }],
  ])('%s in a recipient field is refused, nothing sent', async (_label, to, fields) => {
    const srv = await start();
    const ctx = context(srv);
    const err = await graphMailConnector.deliver(job([file(Buffer.from('x'))], fields), options({ to }), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as Error).message).toMatch(/^"to": .* is not one e-mail address\.$/s);
    expect(ctx.calls).toHaveLength(0);
    expect(srv.requests).toHaveLength(0);
  });

  test('CR/LF in a subject value cannot add anything: it is flattened', async () => {
    const srv = await start();
    await graphMailConnector.deliver(job([], { deviceName: 'MFP\r\nBcc: evil@evil.example' }), options(), context(srv));
    expect(srv.sentMail[0]!.message.subject).toBe('Scan from MFP Bcc: evil@evil.example');
    expect(srv.sentMail[0]!.message.toRecipients).toHaveLength(2);
    expect(srv.sentMail[0]!.message.bccRecipients).toEqual([]);
  });
});

describe('large messages: draft + attachment upload sessions', () => {
  test('a 40 MB file and a small one: streamed in chunks, bytes equal, no Authorization to upload URLs', async () => {
    const srv = await start({ maxMessageBytes: 150 * MIB, minAttachmentSessionBytes: 3_000_000 });
    const big = file(randomBytes(40 * MIB), 'scan-40MB.pdf');
    const small = file(randomBytes(50_000), 'cover.png', 'image/png');
    const ctx = context(srv);
    const result = await graphMailConnector.deliver(job([small, big]), options({ maxMessageBytes: 60 * MIB }), ctx);

    expect(srv.sentMail).toHaveLength(1);
    const sent = srv.sentMail[0]!;
    expect(sent.via).toBe('draft');
    expect(sent.from).toBe(ME);
    expect(sent.message.subject).toBe('Scan from MFP-3F');
    expect(sent.message.toRecipients).toHaveLength(2);
    expect(sent.attachments.map((a) => a.name)).toEqual(['cover.png', 'scan-40MB.pdf']);
    expect(sha256(sent.attachments[0]!.content)).toBe(small.sha256);
    expect(sha256(sent.attachments[1]!.content)).toBe(big.sha256);
    expect(sent.attachments[1]!.contentType).toBe('application/pdf');

    const draftPost = srv.requests.find((r) => r.method === 'POST' && r.url === '/v1.0/me/messages')!;
    expect(draftPost.status).toBe(201);
    expect(draftPost.headers.prefer).toBe('IdType="ImmutableId"');
    expect(typeof result.remoteId).toBe('string');
    expect(srv.requests.some((r) => r.url === `/v1.0/me/messages/${encodeURIComponent(result.remoteId!)}/send` && r.status === 202)).toBe(
      true,
    );

    const uploads = uploadRequests(srv);
    expect(uploads.length).toBe(Math.ceil((40 * MIB) / (3.125 * MIB)));
    for (const u of uploads) {
      expect(u.headers.authorization).toBeUndefined();
      expect(u.bodyBytes).toBeLessThan(4 * MIB);
    }
    for (const r of srv.requests.filter((x) => x.url.startsWith('/v1.0/'))) expect(r.headers.authorization).toBe('Bearer token-1');
    expect(srv.openSessions).toBe(0);
    expect(big.opened).toBe(1);
    // No draft cleanup after a success.
    expect(srv.requests.some((r) => r.method === 'DELETE')).toBe(false);
  });

  test('an interrupted attachment chunk is resumed from nextExpectedRanges', async () => {
    const srv = await start();
    const big = file(randomBytes(8 * MIB));
    srv.interruptNextChunk();
    await graphMailConnector.deliver(job([big]), options(), context(srv));
    expect(srv.sentMail).toHaveLength(1);
    expect(sha256(srv.sentMail[0]!.attachments[0]!.content)).toBe(big.sha256);
    const uploads = uploadRequests(srv);
    expect(uploads[0]!.status).toBe(-1); // cut off
    expect(uploads[1]!.method).toBe('GET'); // asked where to resume
    expect(uploads.every((u) => u.headers.authorization === undefined)).toBe(true);
  });

  test('a 429 on an upload URL is honoured too (Retry-After, the chunk sent again)', async () => {
    const srv = await start();
    const big = file(randomBytes(5 * MIB));
    // The file is opened right after the upload session was created: the next request is the first PUT.
    const open = big.open;
    big.open = async () => {
      srv.throttleNext(1, 1);
      return open();
    };
    await graphMailConnector.deliver(job([big]), options(), context(srv));
    expect(srv.sentMail).toHaveLength(1);
    expect(sha256(srv.sentMail[0]!.attachments[0]!.content)).toBe(big.sha256);
    expect(uploadRequests(srv).map((u) => `${u.method} ${u.status}`)).toEqual(['PUT 429', 'PUT 200', 'PUT 201']);
  });

  test('a permanent failure at send (413 message too large) deletes the draft', async () => {
    const srv = await start({ maxMessageBytes: 5 * MIB });
    const big = file(randomBytes(8 * MIB));
    const err = await graphMailConnector.deliver(job([big]), options(), context(srv)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as Error).message).toMatch(/413 ErrorMessageSizeExceeded/);
    expect(srv.sentMail).toHaveLength(0);
    const draftId = srv.requests.find((r) => r.method === 'POST' && r.url === '/v1.0/me/messages')!;
    expect(draftId.status).toBe(201);
    const send = srv.requests.find((r) => r.url.endsWith('/send'))!;
    expect(send.status).toBe(413);
    const messagePath = send.url.slice(0, -'/send'.length);
    const del = srv.requests.filter((r) => r.method === 'DELETE');
    expect(del.map((r) => r.url)).toEqual([messagePath]);
    expect(del[0]!.headers.authorization).toBe('Bearer token-1');
    expect(del[0]!.status).toBe(204);
    expect(srv.openDrafts).toBe(0);
  });

  test('a failure while attaching (attachment over the server limit) deletes the draft and sends nothing', async () => {
    const srv = await start({ maxAttachmentBytes: 4 * MIB });
    const err = await graphMailConnector.deliver(job([file(randomBytes(6 * MIB))]), options(), context(srv)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as Error).message).toMatch(/413 ErrorAttachmentSizeExceeded/);
    expect(srv.requests.filter((r) => r.method === 'DELETE' && r.status === 204)).toHaveLength(1);
    expect(srv.openDrafts).toBe(0);
    expect(srv.requests.some((r) => r.url.endsWith('/send'))).toBe(false);
    expect(srv.sentMail).toHaveLength(0);
  });
});

describe('auth "application": as the scanning user, with the app registration\'s own token', () => {
  const ADA = 'ada.lovelace+scans@contoso.example';
  const ADA_PATH = `/v1.0/users/${encodeURIComponent(ADA)}`;
  const appOptions = (o: Record<string, unknown> = {}): GraphMailOptions =>
    graphMailConnector.parseOptions({
      auth: 'application',
      to: '%name% <%email%>',
      subject: 'Scan from %deviceName%',
      body: 'Hello %name%,\nyour scan is attached.',
      ...o,
    });
  /** The app token only, as an application token: /me is refused, and every mailbox is reachable. */
  const appOnly = (srv: GraphServer) => srv.acceptToken((t) => (t === 'app-token' ? { app: true } : false));
  /** The messages in that user's Sent Items on the test server. */
  const sentItems = (srv: GraphServer, upn: string) => srv.mail.messages(upn, 'sentitems');

  test("a burst of 16 scans from one person: at most 4 requests in that mailbox at once (Outlook's limit), no 429, all sent", async () => {
    // The test server answers a fifth concurrent request to a mailbox with 429 ApplicationThrottled;
    // each answer takes 50 ms, so that 16 sends really overlap.
    const srv = await start({ mailAnswerDelayMs: 50 });
    appOnly(srv);
    const ctx = context(srv);
    const files = Array.from({ length: 16 }, (_, i) => file(randomBytes(150_000 + i)));
    await Promise.all(files.map((f) => graphMailConnector.deliver(job([f], { userEmail: ADA }), appOptions(), ctx)));
    expect(srv.requests.filter((r) => r.status === 429)).toEqual([]);
    expect(srv.mail.maxConcurrent(ADA)).toBeLessThanOrEqual(4);
    expect(srv.mail.maxConcurrent(ADA)).toBeGreaterThan(1);
    expect(srv.sentMail.map((m) => sha256(m.attachments[0]!.content)).sort()).toEqual(files.map((f) => f.sha256).sort());
  });

  test("a small message: one sendMail to /users/{the user's address, encoded}, in that user's Sent Items, never /me", async () => {
    const srv = await start();
    appOnly(srv);
    const ctx = context(srv);
    const a = file(randomBytes(100_000));
    const j = job([a], { userEmail: ADA });
    const result = await graphMailConnector.deliver(j, appOptions(), ctx);

    expect(result.remoteId).toBe(`sendMail:${j.jobId}`);
    expect(srv.sentMail).toHaveLength(1);
    const sent = srv.sentMail[0]!;
    expect(sent.via).toBe('sendMail');
    expect(sent.from).toBe(ADA);
    expect(sent.saveToSentItems).toBe(true);
    expect(sent.message.subject).toBe('Scan from MFP-3F');
    expect(sent.message.toRecipients).toEqual([{ emailAddress: { address: 'bob@fabrikam.example', name: 'Bob Jones' } }]);
    expect(sha256(sent.attachments[0]!.content)).toBe(a.sha256);
    // It sits in the scanning user's Sent Items, with the file.
    const [inSent] = sentItems(srv, ADA);
    expect(inSent).toMatchObject({ subject: 'Scan from MFP-3F', folder: 'Sent Items' });
    expect(inSent!.attachments.map((x) => x.sha256)).toEqual([a.sha256]);
    expect(sentItems(srv, ME)).toEqual([]);

    expect(srv.requests.map((r) => `${r.method} ${r.url} ${r.status}`)).toEqual([
      'POST /v1.0/users/ada.lovelace%2Bscans%40contoso.example/sendMail 202',
    ]);
    expect(srv.requests[0]!.headers.authorization).toBe('Bearer app-token');
    expect(srv.requests.some((r) => r.url.includes('/me/'))).toBe(false);
    // The app's own token for Graph's origin; no connection's.
    expect(ctx.appCalls).toEqual([{ resource: new URL(srv.baseUrl).origin, forceRefresh: false }]);
    expect(ctx.calls).toEqual([]);
  });

  test('"from" may name another mailbox; saveToSentItems false is passed on', async () => {
    const srv = await start();
    appOnly(srv);
    await graphMailConnector.deliver(
      job([], { userEmail: ADA }),
      appOptions({ from: 'scans-%deviceName%@contoso.example', saveToSentItems: false }),
      context(srv),
    );
    expect(srv.sentMail.map((m) => [m.from, m.saveToSentItems])).toEqual([['scans-MFP-3F@contoso.example', false]]);
    expect(srv.requests[0]!.url).toBe('/v1.0/users/scans-MFP-3F%40contoso.example/sendMail');
  });

  test("a large message (over 3.5 MB of request): a draft in the user's mailbox, an upload session, /send", async () => {
    const srv = await start();
    appOnly(srv);
    const big = file(randomBytes(5 * MIB), 'scan-5MB.pdf');
    const small = file(randomBytes(20_000), 'cover.png', 'image/png');
    const ctx = context(srv);
    const result = await graphMailConnector.deliver(job([small, big], { userEmail: ADA }), appOptions(), ctx);

    expect(srv.sentMail).toHaveLength(1);
    const sent = srv.sentMail[0]!;
    expect(sent.via).toBe('draft');
    expect(sent.from).toBe(ADA);
    expect(sent.attachments.map((x) => x.name)).toEqual(['cover.png', 'scan-5MB.pdf']);
    expect(sha256(sent.attachments[0]!.content)).toBe(small.sha256);
    expect(sha256(sent.attachments[1]!.content)).toBe(big.sha256);
    const [inSent] = sentItems(srv, ADA);
    expect(inSent!.attachments.map((x) => [x.name, x.sha256])).toEqual([
      ['cover.png', small.sha256],
      ['scan-5MB.pdf', big.sha256],
    ]);

    const graphCalls = srv.requests.filter((r) => r.url.startsWith('/v1.0/'));
    const id = encodeURIComponent(result.remoteId!);
    expect(graphCalls.map((r) => `${r.method} ${r.url} ${r.status}`)).toEqual([
      `POST ${ADA_PATH}/messages 201`,
      `POST ${ADA_PATH}/messages/${id}/attachments 201`,
      `POST ${ADA_PATH}/messages/${id}/attachments/createUploadSession 201`,
      `POST ${ADA_PATH}/messages/${id}/send 202`,
    ]);
    expect(graphCalls[0]!.headers.prefer).toBe('IdType="ImmutableId"');
    for (const r of graphCalls) expect(r.headers.authorization).toBe('Bearer app-token');
    const uploads = uploadRequests(srv);
    expect(uploads.length).toBeGreaterThan(1);
    for (const u of uploads) expect(u.headers.authorization).toBeUndefined();
    expect(srv.requests.some((r) => r.url.includes('/me/'))).toBe(false);
    expect(ctx.calls).toEqual([]);
    expect(srv.openDrafts).toBe(0);
  });

  test("a failure after the draft deletes it from the user's mailbox", async () => {
    const srv = await start({ maxMessageBytes: 5 * MIB });
    appOnly(srv);
    const err = await graphMailConnector
      .deliver(job([file(randomBytes(6 * MIB))], { userEmail: ADA }), appOptions(), context(srv))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as Error).message).toMatch(/413 ErrorMessageSizeExceeded/);
    const del = srv.requests.filter((r) => r.method === 'DELETE');
    expect(del).toHaveLength(1);
    expect(del[0]!.url.startsWith(`${ADA_PATH}/messages/`)).toBe(true);
    expect(del[0]!.status).toBe(204);
    expect(srv.openDrafts).toBe(0);
  });

  test('over maxMessageBytes: permanent too_large, no token asked, no request, no file opened', async () => {
    const srv = await start();
    const ctx = context(srv);
    const err = await graphMailConnector
      .deliver(job([unreadable(20 * MIB), unreadable(20 * MIB)], { userEmail: ADA }), appOptions(), ctx)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as PermanentDeliveryError).code).toBe('too_large');
    expect((err as Error).message).toMatch(/over this destination's limit of 36700160 bytes \(maxMessageBytes\)/);
    expect(ctx.appCalls).toHaveLength(0);
    expect(ctx.calls).toHaveLength(0);
    expect(srv.requests).toHaveLength(0);
  });

  test.each([
    ['CRLF adding a header', 'ada@contoso.example\r\nBcc: evil@evil.example', 'invalid_address', /is not one e-mail address/],
    ['two addresses', 'ada@contoso.example, ceo@contoso.example', 'invalid_address', /is not one e-mail address/],
    ['a semicolon list', 'ada@contoso.example;ceo@contoso.example', 'invalid_address', /is not one e-mail address/],
    ['a path climbing out of /users/{address}', '../../users/ceo@contoso.example', 'invalid_address', /not a mailbox address/],
    ['a path below it', 'ada@contoso.example/../ceo@contoso.example', 'invalid_address', /is not one e-mail address/],
    ['a query', 'ada@contoso.example?$select=id', 'invalid_address', /not a mailbox address/],
    ['percent-encoding', '..%2f..%2fceo@contoso.example', 'invalid_address', /not a mailbox address/],
    ['a backslash', 'ada\\ceo@contoso.example', 'invalid_address', /is not one e-mail address/],
    ['a display name with its own address', 'Ada <ceo@contoso.example>', 'invalid_address', /has a display name/],
    ['empty', '', 'missing_variable', /needs %userEmail%.*no mailbox to send from.*SCIM or directory sync/s],
    ['blank', '  \t ', 'missing_variable', /needs %userEmail%/],
  ])('a userEmail with %s is a permanent error before any request', async (_label, userEmail, code, message) => {
    const srv = await start();
    const ctx = context(srv);
    const err = await graphMailConnector.deliver(job([file(Buffer.from('x'))], { userEmail }), appOptions(), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as PermanentDeliveryError).code).toBe(code);
    expect((err as Error).message).toMatch(/^"from"/);
    expect((err as Error).message).toMatch(message);
    expect(ctx.appCalls).toHaveLength(0);
    expect(srv.requests).toHaveLength(0);
  });

  test('a job without userEmail at all names what to do; a "from" of two addresses is refused', async () => {
    const srv = await start();
    const ctx = context(srv);
    const missing = await graphMailConnector.deliver(job([]), appOptions(), ctx).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(PermanentDeliveryError);
    expect((missing as Error).message).toBe(
      `"from" ('%userEmail%') needs %userEmail%, which this scan job does not have (or has empty), so there is no mailbox to send from. ` +
        'Have the scanner send the user\'s e-mail address, or provision the user (SCIM or directory sync) so that delivery finds it from the job\'s username; or set "from" to a fixed mailbox.',
    );
    const two = await graphMailConnector
      .deliver(job([], { userEmail: ADA }), appOptions({ from: '%userEmail%, archive@contoso.example' }), ctx)
      .catch((e: unknown) => e);
    expect((two as Error).message).toBe('"from" rendered to 2 addresses; it must name exactly one mailbox to send from.');
    expect(ctx.appCalls).toHaveLength(0);
    expect(srv.requests).toHaveLength(0);
  });

  test('a 403 (the app may not send as this mailbox) is permanent and says what to grant', async () => {
    // Graph's answer when RBAC for Applications does not cover the mailbox (and no tenant-wide Mail.Send).
    const denied = createServer((req, res) => {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'ErrorAccessDenied', message: 'Access is denied. Check credentials and try again.' } }));
    });
    await new Promise<void>((r) => denied.listen(0, '127.0.0.1', r));
    try {
      const baseUrl = `http://127.0.0.1:${(denied.address() as AddressInfo).port}/v1.0`;
      const err = await graphMailConnector
        .deliver(job([], { userEmail: ADA }), appOptions(), context({ baseUrl }))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentDeliveryError);
      expect((err as PermanentDeliveryError).code).toBe('permission_denied');
      expect((err as Error).message).toContain('403 ErrorAccessDenied');
      expect((err as Error).message).toContain(`The app registration may not send as '${ADA}'`);
      expect((err as Error).message).toContain('"Application Mail.Send"');
    } finally {
      await new Promise((r) => denied.close(r));
    }
  });
});

describe('options', () => {
  test('defaults', () => {
    expect(graphMailConnector.parseOptions({ connectionId: 'c', to: 'a@b.example', subject: 's' })).toEqual({
      auth: 'delegated',
      connectionId: 'c',
      to: 'a@b.example',
      cc: undefined,
      bcc: undefined,
      subject: 's',
      body: '',
      bodyType: 'text',
      saveToSentItems: true,
      maxMessageBytes: 35 * MIB,
    });
    expect(graphMailConnector.parseOptions({ auth: 'application', to: 'a@b.example', subject: 's' })).toMatchObject({
      auth: 'application',
      from: '%userEmail%',
      maxMessageBytes: 35 * MIB,
    });
  });

  test.each([
    [undefined, /options must be an object/],
    [{ to: 'a@b.example', subject: 's' }, /"connectionId"/],
    [{ connectionId: 'c', subject: 's' }, /"to"/],
    [{ connectionId: 'c', to: 'a@b.example' }, /"subject"/],
    [{ connectionId: 'c', to: 'a@b.example', subject: 's', cc: '' }, /"cc"/],
    [{ connectionId: 'c', to: 'a@b.example', subject: 's', bcc: 5 }, /"bcc"/],
    [{ connectionId: 'c', to: 'a@b.example', subject: 's', body: 1 }, /"body"/],
    [{ connectionId: 'c', to: 'a@b.example', subject: 's', bodyType: 'markdown' }, /"bodyType"/],
    [{ connectionId: 'c', to: 'a@b.example', subject: 's', saveToSentItems: 'yes' }, /"saveToSentItems"/],
    [{ connectionId: 'c', to: 'a@b.example', subject: 's', maxMessageBytes: 0 }, /"maxMessageBytes"/],
    [{ connectionId: 'c', to: 'a@b.example', subject: 's', maxMessageBytes: 151 * MIB }, /"maxMessageBytes"/],
    [{ connectionId: 'c', to: 'a@b.example', subject: 's', maxMessageBytes: 1.5 }, /"maxMessageBytes"/],
    [{ auth: 'robot', to: 'a@b.example', subject: 's' }, /"auth" must be "delegated" or "application"/],
    [{ auth: 'application', connectionId: 'c', to: 'a@b.example', subject: 's' }, /"connectionId" is for "auth": "delegated"/],
    [{ connectionId: 'c', from: '%userEmail%', to: 'a@b.example', subject: 's' }, /"from" is for "auth": "application"/],
    [{ auth: 'application', from: ' ', to: 'a@b.example', subject: 's' }, /"from" must be a template naming the sender/],
  ])('%j is refused naming the option', (raw, message) => {
    expect(() => graphMailConnector.parseOptions(raw)).toThrow(message);
  });

  test('registered as graphMail', () => {
    expect(CONNECTORS.graphMail).toBe(graphMailConnector);
  });
});

describe("Outlook's upload budget per mailbox", () => {
  test("over 150 MB in 5 minutes: throttled with the service's Retry-After (too long to wait in place), for the deliverer to hold the mailbox", async () => {
    const srv = await start({ mailboxUploadBytes: 3 * MIB });
    const ctx = context(srv);
    await graphMailConnector.deliver(job([file(randomBytes(MIB))]), options(), ctx);
    await graphMailConnector.deliver(job([file(randomBytes(MIB))]), options(), ctx);
    const err = await graphMailConnector.deliver(job([file(randomBytes(MIB))]), options(), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientDeliveryError);
    expect(err).toMatchObject({ code: 'destination_throttled' });
    expect((err as TransientDeliveryError).retryAfterSeconds).toBeGreaterThan(250);
    expect(srv.sentMail).toHaveLength(2);
    expect(srv.mail.throttled(ME).uploadBytes).toBe(1);
  });
});
