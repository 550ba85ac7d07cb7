/**
 * The mailbox sources admin API over real HTTP (the local host, Azurite): create (201 with its
 * ETag), nothing invalid saved (400 validation_failed with every problem by its path), a duplicate
 * id refused (409), replace and delete guarded by If-Match (428 without, 412 stale), an unknown
 * source 404, a Reader's session reads and may change nothing, and each change in the audit log.
 */
import { writeFileSync } from 'node:fs';
import { csrfToken, READER_ROLE, SESSION_COOKIE } from '../../shared/access';
import { newKeyRingSecret } from '../../shared/oauth';
import { startScanHost, type ScanHost } from '../helpers/scanStack';

const KEY = 'm'.repeat(40);
let host: ScanHost;
let base: string;
let reader: Record<string, string>;

beforeAll(async () => {
  host = await startScanHost({});
  base = host.server.url;
  writeFileSync(host.secretsFile, JSON.stringify({ 'token-encryption-keys': newKeyRingSecret('k1'), 'admin-key': KEY }));
  const user = { oid: 'o-reader', tid: 't-1', upn: 'reader@contoso.com', name: 'Rita Reader' };
  const { session, cookie } = await host.services.accessDeps().sessions.start(user, [READER_ROLE], 'entra');
  reader = { cookie: `${SESSION_COOKIE}=${cookie.value}`, origin: base, 'x-csrf-token': csrfToken(session) };
});
afterAll(() => host?.stop());

interface Answer {
  status: number;
  etag: string | null;
  location: string | null;
  body: Record<string, any>;
}

/** A request with the admin key (or the credentials in `as`), and the headers given. */
async function call(
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string>; as?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...(options.as ?? { 'x-functions-key': KEY }), ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}/api/${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  return {
    status: res.status,
    etag: res.headers.get('etag'),
    location: res.headers.get('location'),
    body: text ? (JSON.parse(text) as Answer['body']) : {},
  };
}

const source = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  mailbox: 'Scans@Contoso.com',
  connectionId: 'scans-mailbox',
  workflowName: 'Scan to e-mail',
  allowedSenders: ['contoso.com'],
  ...extra,
});

const paths = (a: Answer) => (a.body.fields as Array<{ path: string }>).map((f) => f.path);

describe('creating', () => {
  it('creates a source (201, its ETag and where it is), with the defaults filled in', async () => {
    const created = await call('POST', 'mailboxes', { body: source('scans') });
    expect(created.status).toBe(201);
    expect(created.etag).toBeTruthy();
    expect(created.etag).toBe(created.body.etag);
    expect(created.location).toBe('/api/mailboxes/scans');
    expect(created.body).toMatchObject({
      id: 'scans',
      updatedBy: 'the admin key',
      options: {
        mailbox: 'scans@contoso.com',
        folder: 'Inbox',
        access: 'delegated',
        connectionId: 'scans-mailbox',
        allowedSenders: ['contoso.com'],
        afterStored: 'move',
        enabled: true,
      },
    });

    const list = await call('GET', 'mailboxes');
    expect(list.status).toBe(200);
    expect(list.body.sources.map((s: { id: string }) => s.id)).toContain('scans');
    const read = await call('GET', 'mailboxes/scans');
    expect(read.status).toBe(200);
    expect(read.etag).toBe(created.etag);
    expect(read.body).toMatchObject({ id: 'scans', status: {}, messages: [] });
  });

  it.each<[string, unknown, string[]]>([
    ['allowedSenders missing', { ...source('bad'), allowedSenders: undefined }, ['allowedSenders']],
    ['delegated without connectionId', { ...source('bad'), connectionId: undefined }, ['connectionId']],
    ['application with connectionId', source('bad', { access: 'application' }), ['connectionId']],
    ['a mailbox that is no address', source('bad', { mailbox: 'Scans <scans@contoso.com>' }), ['mailbox']],
    [
      'an allowed sender that is no address or domain',
      source('bad', { allowedSenders: ['contoso.com', 'not an address'] }),
      ['allowedSenders.1'],
    ],
    ['an option that does not exist', source('bad', { folders: 'Inbox' }), ['']],
    ['a hostile id', source('../x'), ['id']],
    ['no id', { ...source('x'), id: undefined }, ['id']],
  ])('refuses %s: 400 validation_failed naming it, nothing saved', async (_what, body, expected) => {
    const refused = await call('POST', 'mailboxes', { body });
    expect([refused.status, refused.body.error]).toEqual([400, 'validation_failed']);
    expect(paths(refused)).toEqual(expected);
    for (const f of refused.body.fields) expect(f.message).toEqual(expect.any(String));
    const ids = (await call('GET', 'mailboxes')).body.sources.map((s: { id: string }) => s.id);
    expect(ids).not.toContain('bad');
    expect(ids).not.toContain('x');
  });

  it('refuses a body that is not JSON (400) and a duplicate id (409), keeping the first', async () => {
    const res = await fetch(`${base}/api/mailboxes`, {
      method: 'POST',
      headers: { 'x-functions-key': KEY, 'content-type': 'application/json' },
      body: '{"id":',
    });
    expect(res.status).toBe(400);
    await call('POST', 'mailboxes', { body: source('dup', { workflowName: 'First' }) });
    const again = await call('POST', 'mailboxes', { body: source('dup', { workflowName: 'Second' }) });
    expect([again.status, again.body.error]).toEqual([409, 'mailbox_source_exists']);
    expect((await call('GET', 'mailboxes/dup')).body.options.workflowName).toBe('First');
  });
});

describe('replacing and deleting', () => {
  it('needs If-Match (428), refuses a stale ETag (412), and replaces with the right one (200, a new ETag)', async () => {
    const created = await call('POST', 'mailboxes', { body: source('edit') });
    const changed = source('edit', { workflowName: 'Invoices', folder: 'Inbox/Scans' });

    const missing = await call('PUT', 'mailboxes/edit', { body: changed });
    expect([missing.status, missing.body.error]).toEqual([428, 'if_match_required']);
    const replaced = await call('PUT', 'mailboxes/edit', { body: changed, headers: { 'if-match': created.etag! } });
    expect(replaced.status).toBe(200);
    expect(replaced.etag).toBeTruthy();
    expect(replaced.etag).not.toBe(created.etag);
    expect(replaced.body.options).toMatchObject({ workflowName: 'Invoices', folder: 'Inbox/Scans' });

    const stale = await call('PUT', 'mailboxes/edit', { body: source('edit'), headers: { 'if-match': created.etag! } });
    expect([stale.status, stale.body.error]).toEqual([412, 'mailbox_source_changed']);
    expect(stale.body.message).toContain('GET /api/mailboxes/edit');
    expect((await call('GET', 'mailboxes/edit')).body.options.workflowName).toBe('Invoices');

    const invalid = await call('PUT', 'mailboxes/edit', {
      body: source('edit', { maxMessageBytes: 0 }),
      headers: { 'if-match': replaced.etag! },
    });
    expect([invalid.status, paths(invalid)]).toEqual([400, ['maxMessageBytes']]);
    const renamed = await call('PUT', 'mailboxes/edit', { body: source('other'), headers: { 'if-match': '*' } });
    expect([renamed.status, paths(renamed)]).toEqual([400, ['id']]);
    const unknown = await call('PUT', 'mailboxes/nope', { body: source('nope'), headers: { 'if-match': '*' } });
    expect([unknown.status, unknown.body.error]).toEqual([404, 'mailbox_source_not_found']);
  });

  it('deletes with If-Match (204; 428 without, 412 stale); then it is gone (404)', async () => {
    const created = await call('POST', 'mailboxes', { body: source('gone') });
    expect((await call('DELETE', 'mailboxes/gone')).status).toBe(428);
    const stale = await call('DELETE', 'mailboxes/gone', { headers: { 'if-match': '"not-its-etag"' } });
    expect([stale.status, stale.body.error]).toEqual([412, 'mailbox_source_changed']);
    const deleted = await call('DELETE', 'mailboxes/gone', { headers: { 'if-match': created.etag! } });
    expect(deleted.status).toBe(204);
    const read = await call('GET', 'mailboxes/gone');
    expect([read.status, read.body.error]).toEqual([404, 'mailbox_source_not_found']);
    expect((await call('DELETE', 'mailboxes/gone', { headers: { 'if-match': '*' } })).status).toBe(404);
    expect((await call('GET', 'mailboxes')).body.sources.map((s: { id: string }) => s.id)).not.toContain('gone');
  });

  it('answers 404 for a source that does not exist, and for an id that cannot be one', async () => {
    for (const path of ['mailboxes/unknown', 'mailboxes/NOT-AN-ID', `mailboxes/${'a'.repeat(60)}`]) {
      const res = await call('GET', path);
      expect([path, res.status, res.body.error]).toEqual([path, 404, 'mailbox_source_not_found']);
    }
  });
});

describe('access and the audit log', () => {
  it("gives a Reader's session the reads and refuses every change (403) naming the role", async () => {
    await call('POST', 'mailboxes', { body: source('readable') });
    for (const path of ['mailboxes', 'mailboxes/readable']) {
      expect((await call('GET', path, { as: reader })).status).toBe(200);
    }
    for (const [method, path, body] of [
      ['POST', 'mailboxes', source('by-reader')],
      ['PUT', 'mailboxes/readable', source('readable')],
      ['DELETE', 'mailboxes/readable', undefined],
    ] as const) {
      const res = await call(method, path, { body, as: reader, headers: { 'if-match': '*' } });
      expect([method, res.status, res.body.error]).toEqual([method, 403, 'forbidden']);
      expect(res.body.message).toContain('ScanRelay.Admin');
    }
    expect((await call('GET', 'mailboxes/by-reader')).status).toBe(404);
    expect((await call('GET', 'mailboxes', { as: {} })).status).toBe(401);
  });

  it('records the create, the update and the delete with their actor, before and after', async () => {
    const created = await call('POST', 'mailboxes', { body: source('audited', { workflowName: 'Before' }) });
    const replaced = await call('PUT', 'mailboxes/audited', {
      body: source('audited', { workflowName: 'After' }),
      headers: { 'if-match': created.etag! },
    });
    await call('DELETE', 'mailboxes/audited', { headers: { 'if-match': replaced.etag! } });
    const audit = await call('GET', 'audit?q=mailbox:audited');
    expect(audit.body.entries.map((e: { action: string; target: string }) => [e.action, e.target])).toEqual([
      ['mailbox.delete', 'mailbox:audited'],
      ['mailbox.update', 'mailbox:audited'],
      ['mailbox.create', 'mailbox:audited'],
    ]);
    expect(audit.body.entries[2]).toMatchObject({ actor: { kind: 'key' }, after: { workflowName: 'Before' } });
    expect(audit.body.entries[1]).toMatchObject({
      actor: { kind: 'key' },
      before: { workflowName: 'Before' },
      after: { workflowName: 'After' },
    });
    expect(audit.body.entries[0]).toMatchObject({ before: { workflowName: 'After' } });
  });
});
