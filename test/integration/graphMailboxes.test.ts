/**
 * The Outlook mailboxes of the local Microsoft Graph server (test/helpers/graphMailboxes.ts, mounted by
 * graphServer.ts) driven over loopback with plain fetch and node:http: application and delegated
 * tokens, folders, messages and attachments, ids that change on move unless ImmutableId is asked for,
 * soft and permanent delete, delta rounds, subscriptions validated against a small receiver, the
 * notifications and lifecycle events it gets, and the per-mailbox concurrency limit. Nothing waits
 * on a timer: tests wait for the events themselves (a response, a received POST, notificationsSettled).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { MIB, startGraphServer, type GraphServer } from '../helpers/graphServer';
import { recordProcessWarnings } from '../helpers/processWarnings';

const ALICE = 'alice@contoso.example';
const BOB = 'bob@contoso.example';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const IMMUTABLE = { prefer: 'IdType="ImmutableId"' };

let graph: GraphServer;
beforeAll(async () => {
  graph = await startGraphServer({ meUpn: ALICE });
  graph.acceptToken((t) => (t === 'app-token' ? { app: true } : t === 'bob-token' ? BOB : t === 'alice-token' ? ALICE : false));
});
afterAll(async () => {
  await graph.mail.notificationsSettled();
  await graph.stop();
});

type Who = 'app' | 'alice' | 'bob';
const call = (path: string, init: RequestInit & { as?: Who } = {}) => {
  const { as = 'app', ...rest } = init;
  return fetch(path.startsWith('http') ? path : `${graph.baseUrl}${path}`, {
    ...rest,
    headers: {
      authorization: `Bearer ${as}-token`,
      ...(rest.body ? { 'content-type': 'application/json' } : {}),
      ...(rest.headers as Record<string, string>),
    },
  });
};
const json = async (res: Response) => (await res.json()) as any;
const post = (path: string, body: unknown, init: RequestInit & { as?: Who } = {}) =>
  call(path, { ...init, method: 'POST', body: JSON.stringify(body) });
const users = (upn: string) => `/users/${encodeURIComponent(upn)}`;

/** A unique mailbox per test, so that tests don't see each other's messages. */
let n = 0;
const freshUpn = () => `box${++n}-${randomBytes(3).toString('hex')}@contoso.example`;

function mail(subject: string, extra: Partial<Parameters<GraphServer['mail']['deliver']>[1]> = {}) {
  return { from: { address: 'scanner@fabrikam.example', name: 'MFP 3F' }, subject, body: `body of ${subject}`, ...extra };
}

// ---------- a notification receiver (the app's webhook) ----------

interface Received {
  query: URLSearchParams;
  rawQuery: string;
  headers: IncomingMessage['headers'];
  text: string;
}

interface Hook {
  url: string;
  /** How validation requests are answered. */
  validation: 'echo' | 'json' | 'encoded' | 'status500';
  /** Status for notification POSTs. */
  status: number;
  /** Hold notification answers until release(). */
  hold: boolean;
  validations: Received[];
  posts: Received[];
  /** The `value` items of every notification POST. */
  readonly items: any[];
  release(): void;
  /** Resolves when `count` notification POSTs arrived. */
  waitFor(count: number): Promise<void>;
  stop(): Promise<void>;
}

async function startHook(path = '/api/graph/notifications'): Promise<Hook> {
  const held: ServerResponse[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const hook: Hook = {
    url: '',
    validation: 'echo',
    status: 202,
    hold: false,
    validations: [],
    posts: [],
    get items() {
      return hook.posts.flatMap((p) => (JSON.parse(p.text) as { value: any[] }).value);
    },
    release() {
      for (const r of held.splice(0)) if (!r.destroyed) r.writeHead(hook.status).end();
    },
    waitFor: (count) => (hook.posts.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))),
    stop: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const r: Received = { query: u.searchParams, rawQuery: u.search, headers: req.headers, text: Buffer.concat(parts).toString('utf8') };
      const token = u.searchParams.get('validationToken');
      if (token !== null) {
        hook.validations.push(r);
        if (hook.validation === 'status500') return res.writeHead(500).end();
        if (hook.validation === 'json') return res.writeHead(200, { 'content-type': 'application/json' }).end(token); // the right body, the wrong type
        const body = hook.validation === 'encoded' ? encodeURIComponent(token) : token;
        return res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
      }
      hook.posts.push(r);
      for (const w of waiters.filter((x) => hook.posts.length >= x.count)) w.resolve();
      if (hook.hold) held.push(res);
      else res.writeHead(hook.status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return hook;
}

const inMinutes = (min: number) => new Date(Date.now() + min * 60_000).toISOString();

async function subscribe(hook: Hook, resource: string, extra: Record<string, unknown> = {}, init: RequestInit & { as?: Who } = {}) {
  const res = await post(
    '/subscriptions',
    {
      changeType: 'created',
      notificationUrl: hook.url,
      resource,
      expirationDateTime: inMinutes(60),
      clientState: 'secret-state',
      ...extra,
    },
    init,
  );
  return { res, body: await json(res) };
}

// ---------- tests ----------

describe('tokens and mailboxes', () => {
  test('an application token: /me → 400, any /users/{upn} mailbox works; the user id (GUID) works too', async () => {
    const me = await call('/me/mailFolders/inbox');
    expect(me.status).toBe(400);
    expect((await json(me)).error).toMatchObject({
      code: 'BadRequest',
      message: '/me request is only valid with delegated authentication flow.',
    });
    expect((await call('/me/sendMail', { method: 'POST', body: '{}' })).status).toBe(400);

    const inbox = await json(await call(`${users(BOB)}/mailFolders/inbox`));
    expect(inbox.displayName).toBe('Inbox');
    const { userId } = graph.mail.mailbox('BOB@contoso.example'); // case-insensitive: the same mailbox
    expect((await json(await call(`/users/${userId}/mailFolders/inbox`))).id).toBe(inbox.id);
    expect(await json(await call(`/users/${userId}?$select=userPrincipalName`))).toEqual({ id: userId, userPrincipalName: BOB });
    const unknown = await call('/users/00000000-0000-0000-0000-000000000000/messages');
    expect(unknown.status).toBe(404);
    expect((await json(unknown)).error.code).toBe('ErrorInvalidUser');
  });

  test("a delegated token: its own mailbox (/me or /users/{self}); another's → 403 until access is granted", async () => {
    const own = await json(await call('/me/mailFolders/inbox', { as: 'alice' }));
    expect((await json(await call(`${users(ALICE)}/mailFolders/inbox`, { as: 'alice' }))).id).toBe(own.id);
    const other = `${users(BOB)}/mailFolders/inbox/messages`;
    const denied = await call(other, { as: 'alice' });
    expect(denied.status).toBe(403);
    expect((await json(denied)).error.code).toBe('ErrorAccessDenied');
    graph.mail.grantMailboxAccess(ALICE, BOB);
    expect((await call(other, { as: 'alice' })).status).toBe(200);
    expect((await call(`${users(ALICE)}/messages`, { as: 'bob' })).status).toBe(403); // not the other way round
  });
});

describe('folders', () => {
  test('well-known names, create, 409 on a duplicate name, children, $filter with a quote, paging, 404', async () => {
    const upn = freshUpn();
    const base = `${users(upn)}/mailFolders`;
    const top = await json(await call(base));
    expect(top.value.map((f: any) => f.displayName)).toEqual(['Inbox', 'Drafts', 'Sent Items', 'Deleted Items', 'Junk Email', 'Archive']);
    const inbox = await json(await call(`${base}/InBox`));
    expect(inbox).toMatchObject({ displayName: 'Inbox', childFolderCount: 0, totalItemCount: 0, unreadItemCount: 0 });
    expect(inbox.parentFolderId).toBe((await json(await call(`${base}/msgfolderroot`))).id);

    const created = await post(base, { displayName: 'ScanRelay' });
    expect(created.status).toBe(201);
    const scanRelay = await json(created);
    const dup = await post(base, { displayName: 'scanrelay' });
    expect(dup.status).toBe(409);
    expect((await json(dup)).error.code).toBe('ErrorFolderExists');
    const child = await post(`${base}/${encodeURIComponent(scanRelay.id)}/childFolders`, { displayName: 'Processed' });
    expect(child.status).toBe(201);
    expect((await json(child)).parentFolderId).toBe(scanRelay.id);
    await post(`${base}('${scanRelay.id}')/childFolders`, { displayName: "O'Brien" }); // key syntax
    expect(graph.mail.folders(upn)).toEqual(
      expect.arrayContaining(['ScanRelay/Processed', "ScanRelay/O'Brien", 'Recoverable Items/Deletions']),
    );

    const filtered = await json(
      await call(`${base}/${scanRelay.id}/childFolders?$filter=${encodeURIComponent("displayName eq 'o''brien'")}`),
    );
    expect(filtered.value.map((f: any) => f.displayName)).toEqual(["O'Brien"]);
    expect((await json(await call(`${base}?$filter=${encodeURIComponent("displayName eq 'ScanRelay'")}`))).value).toHaveLength(1);

    const page1 = await json(await call(`${base}?$top=4`));
    expect(page1.value).toHaveLength(4);
    const page2 = await json(await call(page1['@odata.nextLink']));
    expect(page2.value.map((f: any) => f.displayName)).toEqual(['Junk Email', 'Archive', 'ScanRelay']);
    expect(page2['@odata.nextLink']).toBeUndefined();

    const missing = await call(`${base}/AAMkNoSuchFolder=`);
    expect(missing.status).toBe(404);
    expect((await json(missing)).error.code).toBe('ErrorItemNotFound');
  });
});

describe('messages and attachments', () => {
  test('list with $top paging, $select, get by id, 404s; attachments with and without contentBytes; $value of file and item', async () => {
    const upn = freshUpn();
    const pdf = randomBytes(70_000);
    const first = graph.mail.deliver(upn, mail('one', { receivedDateTime: '2024-05-01T10:00:00Z' }));
    graph.mail.deliver(upn, mail('two', { receivedDateTime: '2024-05-02T10:00:00Z' }));
    const third = graph.mail.deliver(
      upn,
      mail('three', {
        receivedDateTime: '2024-05-03T10:00:00Z',
        attachments: [
          { kind: 'file', name: 'scan.pdf', contentType: 'application/pdf', content: pdf },
          { kind: 'file', name: 'logo.png', contentType: 'image/png', content: Buffer.from('png'), isInline: true, contentId: 'logo@x' },
          { kind: 'item', name: 'Forwarded', subject: 'Original scan', from: { address: 'carol@fabrikam.example' }, body: 'see this' },
        ],
      }),
    );
    expect(first.internetMessageId).toMatch(/^<.+@.+>$/);
    const inbox = `${users(upn)}/mailFolders/inbox/messages`;

    const p1 = await json(await call(`${inbox}?$top=2&$select=subject,hasAttachments`));
    expect(p1.value.map((m: any) => m.subject)).toEqual(['three', 'two']); // newest first
    expect(Object.keys(p1.value[0]).sort()).toEqual(['@odata.etag', 'hasAttachments', 'id', 'subject']);
    expect(p1.value[0]).toMatchObject({ id: third.id, hasAttachments: true });
    const p2 = await json(await call(p1['@odata.nextLink']));
    expect(p2.value.map((m: any) => m.subject)).toEqual(['one']);
    expect(p2.value[0].hasAttachments).toBe(false); // $select carried in the nextLink
    expect((await call(`${inbox}?$select=subject,nope`)).status).toBe(400);

    const full = await json(await call(`${users(upn)}/messages/${encodeURIComponent(third.id)}`));
    expect(full).toMatchObject({
      subject: 'three',
      internetMessageId: third.internetMessageId,
      from: { emailAddress: { name: 'MFP 3F', address: 'scanner@fabrikam.example' } },
      toRecipients: [{ emailAddress: { address: upn } }],
      receivedDateTime: '2024-05-03T10:00:00Z',
      isRead: false,
      body: { contentType: 'text', content: 'body of three' },
      bodyPreview: 'body of three',
      categories: [],
    });
    expect(full.parentFolderId).toBe((await json(await call(`${users(upn)}/mailFolders/inbox`))).id);
    for (const path of [
      `${users(upn)}/messages/AAMkNoSuchMessage=`,
      `${users(upn)}/mailFolders/drafts/messages/${encodeURIComponent(third.id)}`,
    ]) {
      const r = await call(path);
      expect(r.status).toBe(404);
      expect((await json(r)).error.code).toBe('ErrorItemNotFound');
    }
    expect((await call(`${users(freshUpn())}/messages/${encodeURIComponent(third.id)}`)).status).toBe(404); // another mailbox

    const atts = `${users(upn)}/messages/${encodeURIComponent(third.id)}/attachments`;
    const meta = await json(await call(`${atts}?$select=id,name,size,contentType,isInline`));
    expect(meta.value.map((a: any) => [a['@odata.type'], a.name, a.size, a.contentBytes])).toEqual([
      ['#microsoft.graph.fileAttachment', 'scan.pdf', pdf.length, undefined],
      ['#microsoft.graph.fileAttachment', 'logo.png', 3, undefined],
      ['#microsoft.graph.itemAttachment', 'Forwarded', expect.any(Number), undefined],
    ]);
    const withBytes = await json(await call(atts));
    expect(Buffer.from(withBytes.value[0].contentBytes, 'base64').equals(pdf)).toBe(true);
    expect(withBytes.value[1]).toMatchObject({ isInline: true, contentId: 'logo@x' });
    // The request log shows which requests asked for the bytes in JSON (no $select): only that one.
    expect(graph.requests.filter((r) => /\/attachments(\/[^/$?]+)?(\?|$)/.test(r.url) && !r.url.includes('$select'))).toHaveLength(1);

    const one = await json(
      await call(`${atts}/${encodeURIComponent(meta.value[0].id)}?$select=name,microsoft.graph.fileAttachment/contentBytes`),
    );
    expect(Buffer.from(one.contentBytes, 'base64').equals(pdf)).toBe(true);
    const raw = await call(`${atts}/${encodeURIComponent(meta.value[0].id)}/$value`);
    expect(raw.headers.get('content-type')).toBe('application/pdf');
    expect(raw.headers.get('content-length')).toBe(String(pdf.length));
    expect(Buffer.from(await raw.arrayBuffer()).equals(pdf)).toBe(true);
    const item = await call(`${atts}/${encodeURIComponent(meta.value[2].id)}/%24value`);
    expect(item.headers.get('content-type')).toBe('message/rfc822');
    const parsedItem = await simpleParser(Buffer.from(await item.arrayBuffer()));
    expect(parsedItem.subject).toBe('Original scan');
    expect(parsedItem.text?.trim()).toBe('see this');
    expect((await call(`${atts}/AAMkNoSuchAttachment=/$value`)).status).toBe(404);

    const mime = await simpleParser(
      Buffer.from(await (await call(`${users(upn)}/messages/${encodeURIComponent(third.id)}/$value`)).arrayBuffer()),
    );
    expect(mime.messageId).toBe(third.internetMessageId);
    expect(mime.attachments.map((a) => a.filename)).toEqual(['scan.pdf', 'logo.png', 'Forwarded']);
    expect(sha256(mime.attachments[0]!.content)).toBe(sha256(pdf));
  });

  test('PATCH isRead and categories; subject only on drafts', async () => {
    const upn = freshUpn();
    const m = graph.mail.deliver(upn, mail('patch me'));
    const path = `${users(upn)}/messages/${encodeURIComponent(m.id)}`;
    const res = await call(path, { method: 'PATCH', body: JSON.stringify({ isRead: true, categories: ['ScanRelay: done'] }) });
    expect(res.status).toBe(200);
    expect(graph.mail.messages(upn, 'Inbox')[0]).toMatchObject({ isRead: true, categories: ['ScanRelay: done'] });
    const subject = await call(path, { method: 'PATCH', body: JSON.stringify({ subject: 'x' }) });
    expect(subject.status).toBe(400);
    expect((await json(subject)).error.code).toBe('ErrorInvalidPropertyUpdateSentMessage');
  });
});

describe('ids, move and delete', () => {
  test('a move changes the regular id (the old one → 404); with Prefer: IdType="ImmutableId" the id stays; both kinds work in paths', async () => {
    const upn = freshUpn();
    graph.mail.addFolder(upn, 'ScanRelay/Processed');
    const a = graph.mail.deliver(upn, mail('a'));
    const folders = await json(await call(`${users(upn)}/mailFolders?$filter=${encodeURIComponent("displayName eq 'ScanRelay'")}`));
    const processed = (await json(await call(`${users(upn)}/mailFolders/${folders.value[0].id}/childFolders`))).value[0];

    const moved = await post(`${users(upn)}/messages/${encodeURIComponent(a.id)}/move`, { destinationId: processed.id });
    expect(moved.status).toBe(201);
    const body = await json(moved);
    expect(body.id).not.toBe(a.id);
    expect(body.parentFolderId).toBe(processed.id);
    const old = await call(`${users(upn)}/messages/${encodeURIComponent(a.id)}`);
    expect(old.status).toBe(404);
    expect((await json(old)).error.code).toBe('ErrorItemNotFound');
    expect((await call(`${users(upn)}/messages/${encodeURIComponent(body.id)}`)).status).toBe(200);
    expect(graph.mail.messages(upn, 'ScanRelay/Processed').map((m) => m.internetMessageId)).toEqual([a.internetMessageId]);
    expect(graph.mail.messages(upn, 'Inbox')).toEqual([]);

    const b = graph.mail.deliver(upn, mail('b'));
    const asImmutable = await call(`${users(upn)}/messages/${encodeURIComponent(b.id)}?$select=id`, { headers: IMMUTABLE });
    expect(asImmutable.headers.get('preference-applied')).toBe('IdType="ImmutableId"');
    expect((await json(asImmutable)).id).toBe(b.immutableId);
    const movedB = await json(
      await post(`${users(upn)}/messages/${encodeURIComponent(b.immutableId)}/move`, { destinationId: 'archive' }, { headers: IMMUTABLE }),
    );
    expect(movedB.id).toBe(b.immutableId);
    expect((await call(`${users(upn)}/messages/${encodeURIComponent(b.immutableId)}`)).status).toBe(200);
    expect((await call(`${users(upn)}/mailFolders/archive/messages/${encodeURIComponent(b.immutableId)}`)).status).toBe(200);
    expect((await call(`${users(upn)}/messages/${encodeURIComponent(b.id)}`)).status).toBe(404); // the regular id changed

    const nowhere = await post(`${users(upn)}/messages/${encodeURIComponent(b.immutableId)}/move`, { destinationId: 'AAMkNoSuchFolder=' });
    expect(nowhere.status).toBe(404);
  });

  test('DELETE is a soft delete (Recoverable Items/Deletions, not Deleted Items); permanentDelete removes it and is recorded', async () => {
    const upn = freshUpn();
    const m = graph.mail.deliver(upn, mail('to delete'));
    expect((await call(`${users(upn)}/messages/${encodeURIComponent(m.id)}`, { method: 'DELETE' })).status).toBe(204);
    expect(graph.mail.messages(upn, 'Deleted Items')).toEqual([]);
    expect(graph.mail.messages(upn, 'Recoverable Items/Deletions').map((x) => x.internetMessageId)).toEqual([m.internetMessageId]);
    expect((await call(`${users(upn)}/messages/${encodeURIComponent(m.id)}`)).status).toBe(404);
    expect((await json(await call(`${users(upn)}/messages`))).value).toEqual([]); // not in the information store
    const again = await call(`${users(upn)}/messages/${encodeURIComponent(m.immutableId)}`, { method: 'DELETE' });
    expect(again.status).toBe(400);
    expect((await json(again)).error.code).toBe('ErrorCannotDeleteObject');

    const toBin = graph.mail.deliver(upn, mail('to the bin'));
    await post(`${users(upn)}/messages/${encodeURIComponent(toBin.id)}/move`, { destinationId: 'deleteditems' });
    expect(graph.mail.messages(upn, 'deleteditems').map((x) => x.subject)).toEqual(['to the bin']);

    const purge = await call(`${users(upn)}/messages/${encodeURIComponent(m.immutableId)}/permanentDelete`, { method: 'POST' });
    expect(purge.status).toBe(204);
    expect(graph.mail.permanentlyDeleted(upn)).toEqual([m.internetMessageId]);
    expect((await call(`${users(upn)}/messages/${encodeURIComponent(m.immutableId)}`)).status).toBe(404);
    expect(graph.mail.messages(upn, 'Recoverable Items/Deletions')).toEqual([]);
  });
});

describe('sendMail and drafts in the mailbox', () => {
  test('sendMail keeps a copy in Sent Items unless saveToSentItems is false; a sent draft moves to Sent Items with its immutable id', async () => {
    const to = [{ emailAddress: { address: 'dest@fabrikam.example' } }];
    const sent = await post(`${users(ALICE)}/sendMail`, {
      message: { subject: 'app mode', toRecipients: to, body: { contentType: 'HTML', content: '<p>hi</p>' } },
    });
    expect(sent.status).toBe(202);
    expect(graph.sentMail.at(-1)).toMatchObject({ from: ALICE, via: 'sendMail', saveToSentItems: true });
    expect(graph.mail.messages(ALICE, 'Sent Items').map((m) => [m.subject, m.body.contentType])).toEqual([['app mode', 'html']]);
    await post('/me/sendMail', { message: { subject: 'not kept', toRecipients: to }, saveToSentItems: false }, { as: 'alice' });
    expect(graph.mail.messages(ALICE, 'Sent Items')).toHaveLength(1);

    const draft = await json(await post(`${users(ALICE)}/messages`, { subject: 'draft', toRecipients: to }, { headers: IMMUTABLE }));
    expect(graph.mail.messages(ALICE, 'Drafts').map((m) => m.immutableId)).toEqual([draft.id]);
    expect(graph.openDrafts).toBe(1);
    expect((await call(`${users(ALICE)}/messages/${encodeURIComponent(draft.id)}/send`, { method: 'POST' })).status).toBe(202);
    expect(graph.openDrafts).toBe(0);
    expect(graph.mail.messages(ALICE, 'Drafts')).toEqual([]);
    expect(graph.mail.messages(ALICE, 'Sent Items').find((m) => m.subject === 'draft')).toMatchObject({
      immutableId: draft.id,
      isDraft: false,
    });
    expect(graph.sentMail.at(-1)).toMatchObject({ via: 'draft', message: { subject: 'draft' } });
  });
});

describe('delta', () => {
  test('first round in pages; then added and moved-in messages, @removed for those that left; empty round; bad and expired tokens', async () => {
    const upn = freshUpn();
    const ms = ['d1', 'd2', 'd3'].map((s, i) => graph.mail.deliver(upn, mail(s, { receivedDateTime: `2024-06-0${i + 1}T08:00:00Z` })));
    const start = `${users(upn)}/mailFolders/inbox/messages/delta?$select=subject,isRead`;
    const page = { prefer: 'odata.maxpagesize=2' };
    const r1 = await json(await call(start, { headers: page }));
    expect(r1.value).toHaveLength(2);
    expect(r1['@odata.deltaLink']).toBeUndefined();
    expect(new URL(r1['@odata.nextLink']).origin).toBe(graph.origin);
    const r2 = await json(await call(r1['@odata.nextLink'], { headers: page }));
    expect(r2['@odata.nextLink']).toBeUndefined();
    expect((await json(await call(r1['@odata.nextLink']))).value).toEqual(r2.value); // the same page again
    expect([...r1.value, ...r2.value].map((m: any) => m.subject).sort()).toEqual(['d1', 'd2', 'd3']);
    expect(Object.keys(r2.value[0]).sort()).toEqual(['@odata.etag', '@odata.type', 'id', 'isRead', 'subject']);

    const added = graph.mail.deliver(upn, mail('d4'));
    const other = graph.mail.deliver(upn, mail('elsewhere'), 'archive');
    await post(`${users(upn)}/messages/${encodeURIComponent(other.id)}/move`, { destinationId: 'inbox' }); // moved in
    await post(`${users(upn)}/messages/${encodeURIComponent(ms[0]!.id)}/move`, { destinationId: 'archive' }); // moved away
    await call(`${users(upn)}/messages/${encodeURIComponent(ms[1]!.id)}`, { method: 'DELETE' }); // deleted
    const r3 = await json(await call(r2['@odata.deltaLink']));
    expect(r3['@odata.deltaLink']).toBeDefined();
    const removed = r3.value.filter((m: any) => m['@removed']);
    expect(removed.map((m: any) => m.id).sort()).toEqual([ms[0]!.id, ms[1]!.id].sort()); // the ids the client knew
    expect(removed[0]['@removed']).toEqual({ reason: 'deleted' });
    const inboxNow = graph.mail.messages(upn, 'Inbox');
    expect(
      r3.value
        .filter((m: any) => !m['@removed'])
        .map((m: any) => m.subject)
        .sort(),
    ).toEqual(['d4', 'elsewhere']);
    expect(r3.value.find((m: any) => m.subject === 'd4').id).toBe(added.id);
    expect(inboxNow.map((m) => m.subject).sort()).toEqual(['d3', 'd4', 'elsewhere']);

    const r4 = await json(await call(r3['@odata.deltaLink']));
    expect(r4.value).toEqual([]);
    const bad = await call(r3['@odata.deltaLink'].replace(/deltatoken=[^&]+/, 'deltatoken=garbled'));
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.code).toBe('ErrorInvalidSyncStateData');

    graph.mail.expireDeltaTokens(upn);
    const gone = await call(r4['@odata.deltaLink']);
    expect(gone.status).toBe(410);
    expect((await json(gone)).error.code).toBe('syncStateNotFound');
    const restart = await json(await call(gone.headers.get('location')!));
    expect(restart.value.map((m: any) => m.subject).sort()).toEqual(['d3', 'd4', 'elsewhere']);
    expect(Object.keys(restart.value[0]).sort()).toEqual(['@odata.etag', '@odata.type', 'id', 'isRead', 'subject']);
  });

  test('with ImmutableId the ids stay: a move out and back is an update, a message moved away is removed by its immutable id', async () => {
    const upn = freshUpn();
    const m = graph.mail.deliver(upn, mail('stays'));
    const gone = graph.mail.deliver(upn, mail('goes'));
    const r1 = await json(await call(`${users(upn)}/mailFolders/inbox/messages/delta?$select=subject`, { headers: IMMUTABLE }));
    expect(r1.value.map((x: any) => x.id).sort()).toEqual([m.immutableId, gone.immutableId].sort());
    await post(`${users(upn)}/messages/${encodeURIComponent(m.immutableId)}/move`, { destinationId: 'archive' });
    await post(`${users(upn)}/messages/${encodeURIComponent(m.immutableId)}/move`, { destinationId: 'inbox' });
    await post(`${users(upn)}/messages/${encodeURIComponent(gone.immutableId)}/move`, { destinationId: 'archive' });
    const r2 = await json(await call(r1['@odata.deltaLink'], { headers: IMMUTABLE }));
    expect(r2.value).toEqual([
      expect.objectContaining({ id: m.immutableId, subject: 'stays' }),
      { '@odata.type': '#microsoft.graph.message', id: gone.immutableId, '@removed': { reason: 'deleted' } },
    ]);
  });
});

describe('subscriptions', () => {
  let hook: Hook;
  beforeEach(async () => {
    hook = await startHook();
  });
  afterEach(async () => {
    hook.release();
    await graph.mail.notificationsSettled();
    await hook.stop();
  });

  test('validation: the token is POSTed URL-encoded as text/plain and must come back decoded, as text/plain, with 200', async () => {
    const upn = freshUpn();
    const { res, body } = await subscribe(hook, `users/${upn}/mailFolders('inbox')/messages`, {
      lifecycleNotificationUrl: `${hook.url}?lifecycle=1`,
    });
    expect(res.status).toBe(201);
    expect(body).toMatchObject({
      resource: `users/${upn}/mailFolders('inbox')/messages`,
      changeType: 'created',
      clientState: 'secret-state',
    });
    expect(typeof body.id).toBe('string');
    expect(typeof body.applicationId).toBe('string');
    expect(typeof body.creatorId).toBe('string');
    expect(hook.validations).toHaveLength(2); // notificationUrl and lifecycleNotificationUrl
    const v = hook.validations[0]!;
    expect(v.headers['content-type']).toMatch(/^text\/plain/);
    expect(v.query.get('validationToken')).toMatch(/ /); // opaque text: the client must decode it
    expect(v.rawQuery).not.toMatch(/ /);
    expect(hook.validations[1]!.query.get('lifecycle')).toBe('1');

    for (const mode of ['json', 'encoded', 'status500'] as const) {
      hook.validation = mode;
      const failed = await subscribe(hook, `users/${upn}/messages`);
      expect(failed.res.status).toBe(400);
      expect(failed.body.error.code).toBe('ValidationError');
      expect(failed.body.error.message).toMatch(/^Subscription validation request failed/);
    }
    expect(
      graph.mail.notifications
        .filter((x) => x.kind === 'validation')
        .map((x) => x.ok)
        .slice(-3),
    ).toEqual([false, false, false]);
    expect(graph.mail.subscriptions().filter((s) => s.mailbox === upn)).toHaveLength(1);
  });

  test('bad requests: lifetime over 10,070 minutes, in the past, http off loopback, clientState > 128, unknown resource; delegated on another mailbox → 403', async () => {
    const upn = freshUpn();
    const resource = `users/${upn}/mailFolders('inbox')/messages`;
    const tooLong = await subscribe(hook, resource, { expirationDateTime: inMinutes(10_071) });
    expect(tooLong.res.status).toBe(400);
    expect(tooLong.body.error).toMatchObject({
      code: 'ExtensionError',
      message: 'Subscription expiration can only be 10070 minutes in the future.',
    });
    expect((await subscribe(hook, resource, { expirationDateTime: inMinutes(-1) })).res.status).toBe(400);
    expect((await subscribe(hook, resource, { notificationUrl: 'http://hooks.fabrikam.example/graph' })).res.status).toBe(400);
    expect((await subscribe(hook, resource, { clientState: 'x'.repeat(129) })).res.status).toBe(400);
    expect((await subscribe(hook, `users/${upn}/events`)).res.status).toBe(400);
    expect((await subscribe(hook, `users/${upn}/mailFolders('AAMkNoSuchFolder=')/messages`)).res.status).toBe(404);
    expect((await subscribe(hook, `users/${upn}/messages`, {}, { as: 'alice' })).res.status).toBe(403);
    expect(hook.validations).toHaveLength(0); // nothing reached validation

    const short = await subscribe(hook, resource, { expirationDateTime: inMinutes(5) });
    expect(short.res.status).toBe(201);
    expect(Date.parse(short.body.expirationDateTime)).toBeGreaterThanOrEqual(Date.now() + 44 * 60_000); // raised to 45 minutes
    const longest = await subscribe(hook, resource, { expirationDateTime: inMinutes(10_069) });
    expect(longest.res.status).toBe(201);
    const mine = await subscribe(hook, '/ME/mailFolders/Inbox/Messages', {}, { as: 'alice' });
    expect(mine.res.status).toBe(201);
  });

  test('get, list, renew (PATCH, same limit), reauthorize → 204, delete → 204 then 404; an expired subscription is gone and silent', async () => {
    const upn = freshUpn();
    const { body: sub } = await subscribe(hook, `users/${upn}/mailFolders('inbox')/messages`);
    const path = `/subscriptions/${sub.id}`;
    expect((await json(await call(path))).id).toBe(sub.id);
    expect((await json(await call('/subscriptions'))).value.map((s: any) => s.id)).toContain(sub.id);
    expect((await json(await call('/subscriptions', { as: 'alice' }))).value.map((s: any) => s.id)).not.toContain(sub.id);
    const renewed = await call(path, { method: 'PATCH', body: JSON.stringify({ expirationDateTime: inMinutes(3000) }) });
    expect(renewed.status).toBe(200);
    expect(Date.parse((await json(renewed)).expirationDateTime)).toBeGreaterThan(Date.now() + 2999 * 60_000);
    expect((await call(path, { method: 'PATCH', body: JSON.stringify({ expirationDateTime: inMinutes(20_000) }) })).status).toBe(400);
    expect((await call(`${path}/reauthorize`, { method: 'POST' })).status).toBe(204);

    graph.mail.expireSubscriptionIn(sub.id, 0);
    expect((await call(path)).status).toBe(404);
    graph.mail.deliver(upn, mail('after expiry'));
    await graph.mail.notificationsSettled();
    expect(hook.posts).toHaveLength(0);

    const { body: other } = await subscribe(hook, `users/${upn}/messages`);
    expect((await call(`/subscriptions/${other.id}`, { method: 'DELETE' })).status).toBe(204);
    const after = await call(`/subscriptions/${other.id}`);
    expect(after.status).toBe(404);
    expect((await json(after)).error.code).toBe('ResourceNotFound');
  });

  test('notifications: the documented shape, for delivered and moved-in messages, asynchronous; ImmutableId subscriptions use immutable ids', async () => {
    const upn = freshUpn();
    const { userId } = graph.mail.mailbox(upn);
    const processedId = graph.mail.addFolder(upn, 'ScanRelay/Processed');
    const { body: inboxSub } = await subscribe(hook, `users/${upn}/mailFolders('inbox')/messages`);
    const { body: immutableSub } = await subscribe(
      hook,
      `/Users/${userId}/mailFolders/${processedId}/messages`,
      { clientState: undefined },
      { headers: IMMUTABLE },
    );

    const m = graph.mail.deliver(upn, mail('notify me'));
    await hook.waitFor(1);
    const [item] = hook.items;
    expect(hook.posts[0]!.headers['content-type']).toMatch(/^application\/json/);
    expect(item).toEqual({
      subscriptionId: inboxSub.id,
      subscriptionExpirationDateTime: inboxSub.expirationDateTime,
      changeType: 'created',
      resource: `Users/${userId}/Messages/${m.id}`,
      resourceData: {
        '@odata.type': '#Microsoft.Graph.Message',
        '@odata.id': `Users/${userId}/Messages/${m.id}`,
        '@odata.etag': expect.stringMatching(/^W\/"/),
        id: m.id,
      },
      clientState: 'secret-state',
      tenantId: expect.any(String),
    });
    // The app can follow the resource path as is (segments are case-insensitive).
    expect((await json(await call(`${graph.baseUrl}/${item.resource}?$select=subject`))).subject).toBe('notify me');

    // The move answers while the notification it causes is still unanswered.
    hook.hold = true;
    const moved = await post(`${users(upn)}/messages/${encodeURIComponent(m.id)}/move`, { destinationId: processedId });
    expect(moved.status).toBe(201);
    await hook.waitFor(2);
    expect(hook.items[1]).toMatchObject({
      subscriptionId: immutableSub.id,
      changeType: 'created',
      resource: `Users/${userId}/Messages/${m.immutableId}`,
      clientState: null,
    });
    const ours = () =>
      graph.mail.notifications.filter((x) => x.kind === 'change' && [inboxSub.id, immutableSub.id].includes(x.subscriptionId));
    expect(ours()).toHaveLength(1); // the second one is unanswered
    hook.release();
    await graph.mail.notificationsSettled();
    const changes = ours();
    expect(changes.map((x) => [x.subscriptionId, x.messageId, x.status, x.ok])).toEqual([
      [inboxSub.id, m.id, 202, true],
      [immutableSub.id, m.immutableId, 202, true],
    ]);
    expect(changes.every((x) => typeof x.ms === 'number')).toBe(true);
  });

  test('lost, held, repeated and forged notifications; PATCH → updated; failures can be retried', async () => {
    const upn = freshUpn();
    const { body: sub } = await subscribe(hook, `users/${upn}/mailFolders('inbox')/messages`, { changeType: 'created,updated' });
    const lost = graph.mail.deliver(upn, mail('lost'), 'inbox', { notify: false });
    graph.mail.pauseNotifications();
    const held = graph.mail.deliver(upn, mail('held'));
    await graph.mail.notificationsSettled();
    expect(hook.posts).toHaveLength(0);
    graph.mail.resumeNotifications();
    await hook.waitFor(1);
    expect(hook.items.map((x) => x.resourceData.id)).toEqual([held.id]);

    expect(await graph.mail.notify(sub.id, held.id)).toBe(202); // a duplicate
    expect(await graph.mail.notify(sub.id, lost.id, { clientState: 'forged' })).toBe(202);
    expect(hook.items.slice(1).map((x) => [x.resourceData.id, x.clientState])).toEqual([
      [held.id, 'secret-state'],
      [lost.id, 'forged'],
    ]);

    await call(`${users(upn)}/messages/${encodeURIComponent(held.id)}`, { method: 'PATCH', body: JSON.stringify({ isRead: true }) });
    await hook.waitFor(4);
    expect(hook.items[3]).toMatchObject({ changeType: 'updated', resourceData: { id: held.id } });

    hook.status = 500;
    graph.mail.deliver(upn, mail('refused'));
    await graph.mail.notificationsSettled();
    expect(graph.mail.notifications.at(-1)).toMatchObject({ kind: 'change', status: 500, ok: false });
    hook.status = 202;
    expect(await graph.mail.retryFailedNotifications()).toEqual([202]);
    expect(await graph.mail.retryFailedNotifications()).toEqual([]);
  });

  test('a receiver that does not answer in time is a failure (status 0, ok false)', async () => {
    const slow = await startGraphServer({ notificationTimeoutMs: 150 });
    slow.acceptToken(() => ({ app: true }));
    try {
      const upn = freshUpn();
      const res = await fetch(`${slow.baseUrl}/subscriptions`, {
        method: 'POST',
        headers: { authorization: 'Bearer app', 'content-type': 'application/json' },
        body: JSON.stringify({
          changeType: 'created',
          notificationUrl: hook.url,
          resource: `users/${upn}/messages`,
          expirationDateTime: inMinutes(60),
        }),
      });
      expect(res.status).toBe(201);
      hook.hold = true; // never answers
      slow.mail.deliver(upn, mail('slow'));
      await slow.mail.notificationsSettled();
      expect(slow.mail.notifications.at(-1)).toMatchObject({ kind: 'change', status: 0, ok: false, error: 'no answer within 150 ms' });
    } finally {
      await slow.stop();
    }
  });

  test('lifecycle events: the documented shape to lifecycleNotificationUrl; subscriptionRemoved removes; reauthorization pauses until reauthorize', async () => {
    const upn = freshUpn();
    const lifecycleHook = await startHook('/api/graph/lifecycle');
    try {
      const { body: sub } = await subscribe(hook, `users/${upn}/mailFolders('inbox')/messages`, {
        lifecycleNotificationUrl: lifecycleHook.url,
      });
      for (const event of ['reauthorizationRequired', 'missed'] as const) expect(await graph.mail.lifecycle(sub.id, event)).toBe(202);
      expect(lifecycleHook.items).toEqual([
        {
          subscriptionId: sub.id,
          subscriptionExpirationDateTime: sub.expirationDateTime,
          tenantId: expect.any(String),
          clientState: 'secret-state',
          lifecycleEvent: 'reauthorizationRequired',
        },
        expect.objectContaining({ lifecycleEvent: 'missed' }),
      ]);
      expect(hook.posts).toHaveLength(0); // not to the notificationUrl

      await graph.mail.lifecycle(sub.id, 'reauthorizationRequired', { pause: true });
      graph.mail.deliver(upn, mail('during the pause'));
      await graph.mail.notificationsSettled();
      expect(hook.posts).toHaveLength(0);
      expect(graph.mail.notifications.at(-1)).toMatchObject({ kind: 'change', ok: false, error: expect.stringMatching(/^paused/) });
      expect((await call(`/subscriptions/${sub.id}/reauthorize`, { method: 'POST' })).status).toBe(204);
      graph.mail.deliver(upn, mail('after reauthorize'));
      await hook.waitFor(1);

      expect(await graph.mail.lifecycle(sub.id, 'subscriptionRemoved')).toBe(202);
      expect((await call(`/subscriptions/${sub.id}`)).status).toBe(404);

      const { body: bare } = await subscribe(hook, `users/${upn}/messages`);
      expect(await graph.mail.lifecycle(bare.id, 'missed')).toBeNull(); // no lifecycleNotificationUrl: none sent
      graph.mail.removeSubscription(bare.id); // silently
      expect((await call(`/subscriptions/${bare.id}`)).status).toBe(404);
    } finally {
      await lifecycleHook.stop();
    }
  });
});

describe('streaming and the mailbox concurrency limit', () => {
  /** GET with node:http; the body is not read until the caller resumes it (backpressure holds the server). */
  function held(path: string): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = get(`${graph.baseUrl}${path}`, { headers: { authorization: 'Bearer app-token' }, agent: false }, (res) => {
        res.pause();
        resolve(res);
      });
      req.on('error', reject);
    });
  }
  const hashOf = (res: IncomingMessage) =>
    new Promise<{ sha: string; size: number }>((resolve, reject) => {
      const h = createHash('sha256');
      let size = 0;
      res.on('data', (c: Buffer) => (h.update(c), (size += c.length)));
      res.on('end', () => resolve({ sha: h.digest('hex'), size }));
      res.on('error', reject);
      res.resume();
    });

  test('$value of a 50 MB attachment (stored in 4 MiB chunks) is streamed byte for byte', async () => {
    const upn = freshUpn();
    const chunks = Array.from({ length: 12 }, (_, i) => randomBytes(i === 11 ? 50 * 1000 * 1000 - 11 * 4 * MIB : 4 * MIB));
    const whole = createHash('sha256');
    for (const c of chunks) whole.update(c);
    const m = graph.mail.deliver(
      upn,
      mail('big', { attachments: [{ kind: 'file', name: 'big.pdf', contentType: 'application/pdf', content: chunks }] }),
    );
    const [att] = graph.mail.messages(upn, 'Inbox')[0]!.attachments;
    expect(att!.size).toBe(50 * 1000 * 1000);
    const warnings = recordProcessWarnings();
    const res = await held(`${users(upn)}/messages/${encodeURIComponent(m.id)}/attachments/${encodeURIComponent(att!.id)}/$value`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(50 * 1000 * 1000));
    const got = await hashOf(res);
    await warnings.stop();
    expect(got).toEqual({ sha: whole.digest('hex'), size: 50 * 1000 * 1000 });
    expect(att!.sha256).toBe(got.sha);
    expect(warnings.warnings).toEqual([]);
  });

  test('a fifth request in flight to one mailbox → 429 ApplicationThrottled with Retry-After; other mailboxes are not affected', async () => {
    const upn = freshUpn();
    const content = randomBytes(32 * MIB);
    const m = graph.mail.deliver(
      upn,
      mail('shared', { attachments: [{ kind: 'file', name: 'scan.tif', contentType: 'image/tiff', content }] }),
    );
    const att = graph.mail.messages(upn, 'Inbox')[0]!.attachments[0]!;
    const path = `${users(upn)}/messages/${encodeURIComponent(m.id)}/attachments/${encodeURIComponent(att.id)}/$value`;

    const four = await Promise.all([1, 2, 3, 4].map(() => held(path))); // answering, bodies not read yet
    expect(four.map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
    const fifth = await call(path);
    expect(fifth.status).toBe(429);
    expect(fifth.headers.get('retry-after')).toBe('1');
    expect((await json(fifth)).error).toMatchObject({
      code: 'ApplicationThrottled',
      message: 'Application is over its MailboxConcurrency limit.',
    });
    expect((await call(`${users(freshUpn())}/mailFolders/inbox`)).status).toBe(200);
    expect((await call(`${users(upn)}/mailFolders/inbox`)).status).toBe(429); // any mail resource of that mailbox

    const hashes = await Promise.all(four.map(hashOf));
    expect(hashes.every((h) => h.sha === sha256(content) && h.size === content.length)).toBe(true);
    expect(graph.mail.maxConcurrent(upn)).toBe(4);
    expect((await call(`${users(upn)}/mailFolders/inbox`)).status).toBe(200); // free again
  });
});

describe("Outlook's upload and request budgets per app and mailbox (lowered here)", () => {
  let small: GraphServer;
  beforeAll(async () => {
    small = await startGraphServer({ meUpn: ALICE, mailboxUploadBytes: 3 * MIB, mailboxRequests: 6, mailboxRequestWindowMs: 60_000 });
    small.acceptToken((t) => (t === 'app-token' ? { app: true } : false));
  });
  afterAll(() => small.stop());
  const at = (path: string, init: RequestInit = {}) =>
    fetch(`${small.baseUrl}${path}`, { ...init, headers: { authorization: 'Bearer app-token', 'content-type': 'application/json' } });
  const sendMail = (upn: string, bytes: number) =>
    at(`${users(upn)}/sendMail`, {
      method: 'POST',
      body: JSON.stringify({
        message: {
          subject: 'scan',
          toRecipients: [{ emailAddress: { address: 'ada@contoso.example' } }],
          attachments: [
            { '@odata.type': '#microsoft.graph.fileAttachment', name: 'a.pdf', contentBytes: randomBytes(bytes).toString('base64') },
          ],
        },
      }),
    });

  test('an upload over the bytes of the window → 429 IncomingBytes with Retry-After; other mailboxes and reads go on', async () => {
    const upn = freshUpn();
    expect((await sendMail(upn, MIB)).status).toBe(202);
    expect((await sendMail(upn, MIB)).status).toBe(202);
    const third = await sendMail(upn, MIB);
    expect(third.status).toBe(429);
    const wait = Number(third.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(299);
    expect(wait).toBeLessThanOrEqual(300);
    expect((await json(third)).error).toMatchObject({
      code: 'ApplicationThrottled',
      message: 'Application is over its IncomingBytes limit.',
    });
    expect((await at(`${users(upn)}/mailFolders/inbox`)).status).toBe(200);
    expect((await sendMail(freshUpn(), MIB)).status).toBe(202);
    expect(small.mail.sentTimes(upn)).toHaveLength(2);
    expect(small.mail.throttled(upn)).toEqual({ concurrency: 0, requests: 0, uploadBytes: 1 });
  });

  test("an attachment upload session's bytes count against its mailbox", async () => {
    const upn = freshUpn();
    const draft = await json(await at(`${users(upn)}/messages`, { method: 'POST', body: JSON.stringify({ subject: 'big scan' }) }));
    const session = await json(
      await at(`${users(upn)}/messages/${encodeURIComponent(draft.id)}/attachments/createUploadSession`, {
        method: 'POST',
        body: JSON.stringify({ AttachmentItem: { attachmentType: 'file', name: 'big.pdf', size: 3.5 * MIB } }),
      }),
    );
    const bytes = randomBytes(3.5 * MIB);
    const put = await fetch(session.uploadUrl, {
      method: 'PUT',
      headers: { 'content-range': `bytes 0-${bytes.length - 1}/${bytes.length}`, 'content-length': String(bytes.length) },
      body: bytes,
    });
    expect(put.status).toBe(429);
    expect(put.headers.get('retry-after')).toBeTruthy();
    expect(small.mail.throttled(upn).uploadBytes).toBe(1);
  });

  test("a request over the window's count → 429 with Retry-After, counted per mailbox", async () => {
    const upn = freshUpn();
    for (let i = 0; i < 6; i++) expect((await at(`${users(upn)}/mailFolders/inbox`)).status).toBe(200);
    const seventh = await at(`${users(upn)}/mailFolders/inbox`);
    expect(seventh.status).toBe(429);
    expect(Number(seventh.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect((await at(`${users(freshUpn())}/mailFolders/inbox`)).status).toBe(200);
    expect(small.mail.throttled(upn)).toEqual({ concurrency: 0, requests: 1, uploadBytes: 0 });
  });
});
